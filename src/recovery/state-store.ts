/**
 * The seam between durable actor state and where it is kept, split the way
 * protoactor-go's persistence is: a snapshot store (an actor's state and the journal
 * position it covers) and a journal (the calls after it, appended with group commit and
 * trimmed behind the snapshots). Where several processes share the store, leases say who
 * runs an actor, and an id registry lets a K2K sender elsewhere find an actor by its id.
 *
 * Today's implementation is JetStream's (src/nats/actor-store.ts), used by a NATS node;
 * the node runtime and the JournalingLink know only these interfaces. An embedded store
 * for one host implements the same. The shards' own checkpoints are not behind it: they
 * are the workers' working memory (shared memory written by the worker itself,
 * src/recovery/checkpoint-store.ts), which a durable store persists through SnapshotStore.
 */
import type { Call } from '../coordinator/actor-call.ts';
import type { Codec } from '../layout/codec.ts';
import { hash32 } from '../coordinator/placement.ts';

/** An actor's name in keys: 64 bits of hash of its identity. */
export function storeKey(identity: string): string {
  return `a${hash32(identity).toString(16).padStart(8, '0')}${hash32(identity, 0x9e3779b9).toString(16).padStart(8, '0')}`;
}

/** A snapshot: the actor's state words and the journal sequence its state covers. */
export interface Snapshot {
  readonly seq: number;
  /** Empty: the actor starts afresh (it was terminated): INIT, then the calls after `seq`. */
  readonly state: Uint32Array;
  /** The hash of the state schema the words are laid out in (a store that keeps it). */
  readonly schema?: string;
  /** Its K2K marks when the snapshot was taken (a store that keeps them). */
  readonly k2k?: K2KMarks;
}

/**
 * What a snapshot keeps of an actor's K2K traffic, so that a K2K send made again by a
 * replayed message is taken once (persist 'message'). Sends are numbered per sending
 * actor in the order it makes them, which a replay repeats; a receiver keeps, per sender,
 * the last number it took, and drops a send at or below it.
 */
export interface K2KMarks {
  /** Sends the actor had made (its next send is numbered sends + 1). */
  readonly sends: number;
  /** Per sender actor id, the last send number taken from it: [sender, number, ...]. */
  readonly received: readonly number[];
}

/**
 * An actor's armed timers, which a store keeps apart from its state (in the snapshot's
 * transaction), so that a start finds every timer without reading every stored state.
 */
export interface StoredTimers {
  readonly actorId: number;
  /** [table entry, timer id, due ms] per armed timer; empty: none (the row goes). */
  readonly timers: readonly number[];
}

export interface SnapshotStore {
  readSnapshot(key: string): Promise<Snapshot | undefined>;
  /** `schema`, `k2k` and `timers`: see Snapshot and StoredTimers (a store may not keep them). */
  writeSnapshot(key: string, seq: number, state: Uint32Array, schema?: string, k2k?: K2KMarks, timers?: StoredTimers): Promise<void>;
  deleteSnapshot(key: string): Promise<void>;
  /** Snapshots written so far (a metric). */
  readonly snapshotsWritten: number;
}

/** A journaled call and where it stands. */
export interface JournaledCall {
  readonly call: Call;
  /** Its entry's sequence in the journal. */
  readonly seq: number;
  /** The sender's incarnation ('' for a call from the process's own refs): with call.id, its dedupe id. */
  readonly sender: string;
}

/** An actor as a store's appendTell knows it (what else it holds is the store's). */
export interface TellTarget {
  readonly key: string;
  readonly actorId: number;
}

export interface Journal {
  /**
   * Journals a call; resolves once it is durable (calls of one turn share a commit, and
   * may share the promise). journaled(key) says the sequence it reached. `actorId`: the
   * actor's id, for a store that names actors by it (registered with registerId first).
   */
  append(key: string, call: Call, sender: string, actorId?: number): Promise<unknown>;
  /**
   * A store that can: journals one tell from a caller of this process (no call id),
   * encoding `msg` itself, like append without a Call or a payload of its own. `target`:
   * from tellTarget, kept by the actor's link.
   */
  appendTell?(target: TellTarget, principal: string, roles: number, source: number, codec: Codec, msg: unknown): Promise<void>;
  tellTarget?(key: string, actorId: number): TellTarget;
  /** Commits what is buffered and resolves with the sequence of the actor's newest entry (0: none). */
  journaled(key: string): Promise<number>;
  /** The actor's calls that the (dead) writer `from` journaled after sequence `after`, oldest first. */
  read(key: string, after: number, from: string): Promise<JournaledCall[]>;
  /** Trims this writer's journal behind what every local actor's state covers (`coveredOf`). */
  trimOwn(localKeys: Iterable<string>, coveredOf: (key: string) => number): Promise<void>;
  /**
   * A terminated actor starts afresh: what was journaled of it before is covered. Its
   * K2K marks stay (its sends' numbers go on; a repeat of what it took is still one).
   */
  forget(key: string, k2k?: K2KMarks): Promise<void>;
  /** The actor left this writer (handed over): it needs none of its entries any more. */
  forgetLocal(key: string): void;
  /** Purges the journals of dead writers no lease names any more; returns how many. */
  sweep(live: Iterable<string>): Promise<number>;
  /** Entries journaled so far (a metric). */
  readonly entries: number;
}

/** How a lease came, and whose it was (a writer whose journal may hold the actor's latest calls). */
export interface Acquired {
  readonly how: 'free' | 'own' | 'dead' | 'handed-over';
  readonly previous?: string;
}

export interface LeaseStore {
  /** Makes this writer the actor's owner (free, dead or own: taken; live: waits for its handover, up to timeoutMs). */
  acquire(key: string, isLive: (writer: string) => boolean, timeoutMs: number): Promise<Acquired>;
  /** Gives the actor up, if this writer holds it. */
  release(key: string): Promise<void>;
}

export interface IdRegistry {
  registerId(id: number, identity: string): Promise<void>;
  identityOf(id: number): Promise<string | undefined>;
}

/** Everything a durable node keeps of its actors. */
export interface StateStore extends SnapshotStore, Journal, LeaseStore, IdRegistry {}
