/**
 * The links an actor's messages go through. MessageLink is what every link carries
 * (tell, ask, snapshot, terminate); ShardLink adds what only a shard of this process
 * does (K2K forwarding, activation, migration). ShardClient is a shard (SAB rings + a
 * worker thread), MovingLink stands in for an actor being moved, JournalingLink journals
 * a durable node's actor, and RemoteLink (NATS) is a MessageLink to another node.
 * Modelled on Proto.Actor's PID -> Process: the locator resolves an actor to its link,
 * the link delivers.
 *
 * A link owns what a record needs on the way: correlations, pending replies and their
 * settlement, and the activation and termination records of the actors it hosts.
 */
import type { Codec } from '../layout/codec.ts';
import type { MessageBatch } from '../layout/columns.ts';
import { NO_ACTOR } from '../layout/record.ts';

/** Who a record is for: what the header needs besides op, sender and payload. */
export interface RecordTarget {
  /** The actor's cluster-wide id (ctx.actor). */
  readonly actorId: number;
  /** Where it lives: shard << 24 | slot (header word target). Changes when it moves. */
  readonly location: number;
  readonly kernelId: number;
  readonly tenantId: number;
}

/** Who a message is from: the ref's principal and role bits (ctx.principal, ctx.roles). */
export interface Caller {
  readonly principalId: number;
  readonly roles: number;
  /** The sending actor, NO_ACTOR for messages from outside. */
  readonly sourceId: number;
  /**
   * The caller's tenant id, which its records carry (the shard refuses a record whose
   * tenant is not its actor's); absent for records ringshard sends itself, which carry
   * their actor's.
   */
  readonly tenantId?: number;
  /**
   * A call from another node: its sender's incarnation and call id ('node#inc/42'). A
   * durable journal keeps it, so a call a dead node had taken is not run twice when its
   * sender sends it again to the actor's new node.
   */
  readonly callId?: string;
}

/** The caller of records ringshard sends itself (activation, snapshot, shutdown, moves). */
export const SYSTEM_CALLER: Caller = { principalId: 0, roles: 0, sourceId: NO_ACTOR };

/** What a send returns when its records went straight into the ring: nothing to wait for (one shared promise). */
export const IN_RING: Promise<void> = Promise.resolve();

/** What an ask waits for: its reply codec, how errors name it, and for how long. */
export interface AskSpec {
  /** Decodes the reply payload (the reply schema for messages, the state otherwise). */
  readonly codec: Codec;
  /** "ask to kernel 'counter' actor 'user-42'": how errors name the request. */
  readonly what: string;
  readonly timeoutMs: number;
  /** Runs once the reply came, before the promise settles (terminate frees the slot). */
  readonly onDone?: () => void;
  /** Where an askMany's replies go instead of decoded objects (typed columns). */
  readonly sink?: ReplySink;
  /** Who asks, for a snapshot or terminate that may travel to another node (its policy checks the caller). */
  readonly caller?: Caller;
  /** ask / askMany's: an abort settles the pending entry (its reply is dropped when it comes). */
  readonly signal?: AbortSignal;
}

/** Collects an askMany's replies as they come, in place of an array of objects. */
export interface ReplySink {
  put(index: number, u32: Uint32Array, f32: Float32Array, offset: number): void;
  /** What the askMany resolves with (also `error.replies` when some failed). */
  result(): unknown;
}

/**
 * Messaging: what every link an actor's messages go through carries, whether the actor
 * lives in a shard of this process (ShardLink) or on another node (RemoteLink). `T` is
 * what the link needs to know of its target.
 */
export interface MessageLink<T> {
  /** A message without a reply; resolves once it is on its way (in the ring). */
  tell(to: T, from: Caller, codec: Codec, msg: unknown): Promise<void>;
  /** Many messages to one actor, all checked before any is sent, all or none sent. */
  tellMany(to: T, from: Caller, msgs: MessageBatch): Promise<void>;
  /** A message; resolves with the handler's reply. */
  ask(to: T, from: Caller, codec: Codec, msg: unknown, reply: AskSpec): Promise<unknown>;
  /** Many messages to one actor, handled in order; resolves with their replies in order (an array, or reply.sink's result). */
  askMany(to: T, from: Caller, msgs: MessageBatch, reply: AskSpec): Promise<unknown>;
  /** The actor's state, after the records sent before. */
  snapshot(to: T, reply: AskSpec): Promise<unknown>;
  /** Runs `shutdown` after the records sent before; resolves with the final state. */
  terminate(to: T, reply: AskSpec): Promise<unknown>;
  /** The link has failed for good (its worker keeps dying), if it has. */
  readonly failed: Error | undefined;
}

/** A shard of this process: messaging, plus what only a local shard does. */
export interface ShardLink extends MessageLink<RecordTarget> {
  /** The shard's index in the cluster (placement data). */
  readonly index: number;
  /**
   * A move of the actor between shards is under way through this link: resolves once it
   * is over. Undefined when none is (a shard's own link).
   */
  readonly moving: Promise<void> | undefined;
  /**
   * A kernel-to-kernel message: the send record at word `offset` of `send` (the layout in
   * src/layout/record.ts) becomes a request record for `to`, with `payloadWords` words of
   * payload. Waits for ring room within the shard's K2K budget (maxK2KQueuedPerShard;
   * past it `onDead` is told, a dead letter 'overflow'); throws when the shard cannot
   * take it at all (failed, quarantined). A link that must hold it for later calls
   * `onDead` if it cannot be delivered then. `sendId`: the send's number among its
   * sender's sends (persist 'message', see K2KMarks), 0 when sends are not numbered.
   */
  forward(to: RecordTarget, send: Uint32Array, offset: number, payloadWords: number, onDead: (error: Error) => void, sendId?: number): void;
  /** Sends the activation record (INIT) ahead of the actor's first message. */
  activate(to: RecordTarget): Promise<void>;
  /** Sends a termination record whose reply nobody waits for (cluster shutdown). */
  retire(to: RecordTarget): Promise<void>;
  /** Migration, leaving: the state after the records sent before; frees the slot, no hook. */
  exportState(to: RecordTarget, reply: AskSpec): Promise<unknown>;
  /** Migration, arriving: takes `state` into the actor's new slot, no hook. */
  importState(to: RecordTarget, stateCodec: Codec, state: unknown): Promise<void>;
}
