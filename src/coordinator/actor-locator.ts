/**
 * The seam for "where does an actor live": the cluster asks its locator for the handle a
 * ref's messages go through, activating the actor where it belongs. LocalLocator keeps
 * every actor in this process (directory + placement over the shards); the NATS node
 * (src/nats/node-runtime.ts) places actors over the live nodes by rendezvous hashing and
 * leases. A third mode implements this interface and is chosen in
 * src/api/locator-choice.ts; the Cluster does not change.
 */
import type { DeadLetterReason } from './dead-letters.ts';
import type { ActorEntry, ActorHandle, ActorSpec } from './actor-handle.ts';
import type { ShardLink } from './shard-link.ts';

/** Where an actor lives: its node ('local' for a cluster without options.nats) and a shard of that node. */
export interface ActorLocation {
  readonly node: string;
  readonly shard: number;
}

/** A live node of the cluster. */
export interface MemberInfo {
  readonly node: string;
  /** Its shards (the placement's candidates are every (node, shard) pair). */
  readonly shards: number;
  /** True for the node this process runs. */
  readonly self: boolean;
}

/** Activations and deactivations, by cause (ringshard_actor_activations_total, _deactivations_total). */
export interface LifecycleCounts {
  /** New actors (INIT), and actors brought back (from host memory or the store). */
  created: number;
  reactivated: number;
  /** Deactivated for being idle; deactivations given up because a message came meanwhile. */
  idle: number;
  kept: number;
}

export interface ActorLocator {
  /** This process's node name ('local' without options.nats). */
  readonly nodeName: string;
  /** The live nodes, this one included. */
  members(): MemberInfo[];
  /** The handle the actor's messages go through; the actor is placed and activated if it is not active. */
  activate(spec: ActorSpec): ActorHandle;
  /** The actor's handle while it is active (activates nothing). */
  find(spec: ActorSpec): ActorHandle | undefined;
  /** Where the actor lives now, or would be placed if it activated now. */
  locate(spec: ActorSpec): ActorLocation;
  /** The actor was terminated: its handle stops being used (the next message activates it afresh). */
  retire(handle: ActorHandle): void;
  /** Its shard has run its shutdown: its state slot is free (nothing for an actor elsewhere). */
  freeSlot(handle: ActorHandle): void;
  /** A K2K send record (at word `o`) for an actor id with no entry in this process. */
  routeElsewhere(words: Uint32Array, o: number, dead: (reason: DeadLetterReason) => void): void;
  /** The link an actor of this process takes on `shard` after it moved there (cluster.migrate). */
  linkOn(entry: ActorEntry, shard: ShardLink): ShardLink;
  /** The id of an actor not active here but kept (deactivated, or stored); absent: none are kept. */
  keptId?(spec: ActorSpec): number | undefined;
  /** Deactivates an idle actor (idleAfterMs); absent: this locator does not. */
  deactivate?(entry: ActorEntry): Promise<void>;
  /** Activations and deactivations so far, by cause; absent where not counted. */
  readonly lifecycle?: LifecycleCounts;
  /** Deactivated actors waiting in host memory for their next message (undefined: kept elsewhere). */
  readonly deactivated?: number;
  /** Numbers K2K sends per sending actor (see K2KRouter.numberSends); undefined: not numbered. */
  readonly sendNumbers?: ((sourceId: number) => number) | undefined;
  /** Leaves the cluster before shutdown (a node hands its actors over). */
  leave(): Promise<void>;
  /** After the shards stopped: releases what the locator holds (a store). */
  close(): Promise<void>;
  /** What a node counts (ringshard_node_* metrics); undefined for a locator that is no node. */
  counters(): NodeCounters | undefined;
  /** What an embedded store counts (ringshard_store_* metrics); undefined without options.persist. */
  storeCounters(): StoreCounters | undefined;
}

/** Commit latency buckets of an embedded store, in seconds. */
export const STORE_COMMIT_BUCKETS: readonly number[] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** An embedded store (options.persist) counts these (src/persist/). */
export interface StoreCounters {
  /** Journal commits: per STORE_COMMIT_BUCKETS bucket, then past the last, then the sum of seconds, then the count. */
  readonly commitSeconds: Float64Array;
  readonly bytesWritten: number;
  /** Journal entries not yet covered by a snapshot. */
  readonly journalEntries: number;
  readonly snapshots: number;
  /** Actors with a stored state. */
  readonly storedActors: number;
  /** Actors brought back from the store since this start, and the time that took, summed. */
  readonly actorsRestored: number;
  readonly restoreSeconds: number;
}

/** A node of a multi-node cluster counts these (src/nats/node-runtime.ts). */
export interface NodeCounters {
  readonly members: number;
  /** Calls to other nodes by result (ok, refused, error, timeout), and calls of other nodes this node served. */
  readonly sent: ReadonlyMap<string, number>;
  readonly served: ReadonlyMap<string, number>;
  /** Other nodes' calls (or whole frames) this node refused by its checks, by reason (src/nats/call-checks.ts). */
  readonly refused: ReadonlyMap<string, number>;
  /** Membership messages (heartbeat, bye, gone) this node ignored, by reason (src/nats/membership.ts). */
  readonly heartbeatsIgnored: ReadonlyMap<string, number>;
  /** Actors this node took over, by how it got the lease: free, own (its own from before), dead (a dead node's), handed-over. */
  readonly takeovers: ReadonlyMap<string, number>;
  readonly handovers: number;
  readonly journalEntries: number;
  readonly snapshots: number;
  readonly replayedCalls: number;
}

