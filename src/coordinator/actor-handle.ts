/**
 * What a ref holds of an active actor: who it is, its ids, and the link its messages go
 * through. An actor of this process is an ActorEntry of the directory (its shard and
 * state slot); an actor another node owns is a RemoteActor (its node), reached through
 * that node's RemoteLink. Neither carries the other's fields.
 */
import type { MessageLink, RecordTarget, ShardLink } from './shard-link.ts';

/** Who a call to another node is for: an actor's names. */
export interface RemoteTarget {
  readonly identity: string;
  readonly kernelName: string;
  readonly tenant: string;
  readonly key: string;
}

/** What a ref tells of the actor it names (an ActorRef is one). */
export interface ActorSpec {
  readonly identity: string;
  readonly key: string;
  readonly kernel: { readonly name: string };
  readonly kernelId: number;
  readonly tenant: string;
  readonly tenantId: number;
  /** The shard the ref pins the actor to, if any. */
  readonly pinnedShard: number | undefined;
}

/** What every actor handle has, wherever the actor lives. */
export interface ActorBase extends RemoteTarget {
  /** Its cluster-wide id (ctx.actor; what K2K messages address). */
  readonly actorId: number;
  readonly kernelId: number;
  readonly tenantId: number;
  /** Its shard on the node it lives on. */
  readonly shard: number;
  /** False once terminate() was called: the next message activates a new actor. */
  active: boolean;
  /** The activity epoch of its last message (idle deactivation: src/coordinator/idle-sweeper.ts). */
  seen: number;
}

/** An actor of this process: its shard and state slot. */
export interface ActorEntry extends ActorBase, RecordTarget {
  readonly remote: false;
  /** Where its records go: its shard's link (a MovingLink while it moves). */
  link: ShardLink;
  /** Its shard and state slot; `location` is the two as the header carries them. */
  shard: number;
  slot: number;
  location: number;
  /** The shard's slot generation when the slot was taken (see resetShard). */
  generation: number;
}

/** An actor another node owns. */
export interface RemoteActor extends ActorBase {
  readonly remote: true;
  readonly link: MessageLink<RemoteTarget>;
  /** Its owner in this node's view when the handle was made. */
  readonly node: string;
}

/** An active actor, here or on another node; `remote` tells which. */
export type ActorHandle = ActorEntry | RemoteActor;

/** A handle on an actor that `node` owns, reached through `link`. */
export function remoteActor(spec: ActorSpec, actorId: number, link: MessageLink<RemoteTarget>, node: string, shard: number): RemoteActor {
  return {
    identity: spec.identity,
    key: spec.key,
    kernelName: spec.kernel.name,
    tenant: spec.tenant,
    actorId,
    kernelId: spec.kernelId,
    tenantId: spec.tenantId,
    shard,
    link,
    active: true,
    seen: 0,
    remote: true,
    node,
  };
}

/**
 * The link a handle's messages go through, as one type for both kinds. Sound because a
 * handle is only ever given to its own link, and each kind's link takes its own kind
 * (a shard's link an ActorEntry, the remote link a RemoteActor).
 */
export function linkOf(handle: ActorHandle): MessageLink<ActorHandle> {
  return handle.link as MessageLink<ActorHandle>;
}
