/**
 * Every actor in this process, kept across process restarts in an embedded store
 * (options.persist). Placement and the directory are LocalLocator's; what it adds:
 *
 *   - activation restores: an actor the store knows comes back lazily, on its first
 *     message (or a K2K message to its id) after a start: its last snapshot, then the
 *     calls journaled after it, in order, before anything sent to it now (ActorCustody;
 *     the records sent meanwhile wait in a MovingLink). Start-up reads nothing per actor,
 *     so a store of millions of actors opens as fast as an empty one;
 *   - its id is the one it had (the store keeps identity <-> id), so ids that actors keep
 *     in their state for K2K stay right across restarts;
 *   - 'message' durability: every message is journaled (JournalingLink) and a tell
 *     resolves, an ask's reply is given, only once its call is on disk; snapshots taken
 *     every snapshotEveryMs trim the journal behind them;
 *   - leave (shutdown): every actor is snapshotted and deactivated, not terminated: its
 *     shutdown hook does not run, and the next start finds it as it was.
 */
import { activationEvent, deactivationEvent, diagnostics } from '../diagnostics.ts';
import type { ActorEntry } from '../coordinator/actor-directory.ts';
import { actorIdentity, newActor, type ActorDirectory } from '../coordinator/actor-directory.ts';
import type { ActorSpec } from '../coordinator/actor-handle.ts';
import type { StoreCounters } from '../coordinator/actor-locator.ts';
import type { DeadLetterReason } from '../coordinator/dead-letters.ts';
import { LocalLocator, type ActivationHooks, type LifecycleHost } from '../coordinator/local-locator.ts';
import { MovingLink } from '../coordinator/moving-link.ts';
import type { PlacementStrategy } from '../coordinator/placement.ts';
import type { ShardLink } from '../coordinator/shard-link.ts';
import { SendHeader } from '../layout/record.ts';
import { ActorCustody, type CustodyHost } from '../recovery/actor-custody.ts';
import { storeKey } from '../recovery/state-store.ts';
import type { LmdbStore } from './lmdb-store.ts';
import { schemaHash, upgradeState } from './schemas.ts';
import { ActorIds } from '../coordinator/actor-ids.ts';
import { rawCodec } from '../layout/raw-words.ts';
import { armedTimers } from '../layout/timer-table.ts';

export interface PersistentLocatorOptions {
  readonly directory: ActorDirectory;
  readonly shards: readonly ShardLink[];
  readonly placement: PlacementStrategy;
  readonly hooks: ActivationHooks;
  readonly host: CustodyHost;
  readonly store: LmdbStore;
  readonly snapshotEveryMs: number;
  readonly durability: 'message' | 'checkpoint';
  /** What activating an actor by its identity and deactivating one need (the cluster's local locator's). */
  readonly life: LifecycleHost;
  /** The metrics' counts now, kept with every snapshot round (the next start goes on from them). */
  readonly countsNow: (() => Array<[string, number]>) | undefined;
}

export class PersistentLocator extends LocalLocator {
  private readonly custody: ActorCustody;
  private readonly store: LmdbStore;
  private readonly host: CustodyHost;
  private readonly snapshotTimer: NodeJS.Timeout;
  private readonly countsNow: (() => Array<[string, number]>) | undefined;
  readonly sendNumbers: ((source: number) => number) | undefined;

  constructor(options: PersistentLocatorOptions) {
    super(options.directory, options.shards, options.placement, options.hooks, options.life);
    this.store = options.store;
    this.host = options.host;
    const store = options.store;
    this.custody = new ActorCustody(
      'local',
      store,
      options.host,
      options.durability === 'message' ? 'journal' : 'snapshots',
      () => false,
      {
        upgrade: (kernel, snapshot) => upgradeState(store, kernel, snapshot),
        schemaOf: (kernel) => schemaHash(kernel.storedState),
        k2k: true,
        idsFirst: true,
        timersOf: (actorId, kernel, state) => (kernel.timers > 0 ? { actorId, timers: armedTimers(state, kernel.codecs.userState.words, kernel.timers) } : undefined),
      },
    );
    this.sendNumbers = this.custody.sendNumbers;
    // A new id is registered (before anything of its actor is journaled) with where the
    // id sequence resumes after a restart: ids are never given twice.
    store.nextOrdinal = () => this.directory.ordinal;
    this.countsNow = options.countsNow;
    this.snapshotTimer = setInterval(() => void this.snapshotRound(), options.snapshotEveryMs);
    this.snapshotTimer.unref();
  }

  /** When the metrics' counts were last kept (performance.now()). */
  private countsKeptAt = -Infinity;

  /**
   * Snapshots the actors that changed, and keeps the metrics' counts beside them, at most
   * every METRIC_COUNTS_EVERY_MS (and at the `last` round, the clean shutdown's): every
   * series of every actor is written each time, ~50-80 us of main-thread work per actor
   * with 1,024 actors (measured), too much for every round.
   */
  private async snapshotRound(last = false): Promise<void> {
    await this.custody.snapshotDirty();
    const now = performance.now();
    if (this.countsNow && (last || now - this.countsKeptAt >= METRIC_COUNTS_EVERY_MS)) {
      this.countsKeptAt = now;
      await this.store.putMeta(METRIC_COUNTS, this.countsNow()).catch(() => {});
    }
  }

  /** A stored actor's id (one terminate() forgot has an empty state: not kept). */
  override keptId(spec: ActorSpec): number | undefined {
    const id = this.store.idOf(spec.identity);
    return id !== undefined && this.store.hasState(storeKey(spec.identity)) ? id : undefined;
  }

  /** Deactivates an idle actor into the store (ActorCustody.deactivate); its next message restores it. */
  override async deactivate(entry: ActorEntry): Promise<void> {
    const state = this.life?.stateCodec(entry.kernelName);
    if (!state) return;
    const codec = rawCodec(state);
    const gone = await this.custody.deactivate(entry, (state, moving, current) => this.keep(entry, current, moving, codec, state));
    if (!gone) return;
    this.lifecycle.idle++;
    if (diagnostics.deactivation.hasSubscribers) diagnostics.deactivation.publish(deactivationEvent(entry));
  }

  override activate(spec: ActorSpec): ActorEntry {
    const existing = this.directory.lookup(spec.identity);
    if (existing) return existing;
    const real = this.shards[spec.pinnedShard ?? this.place(spec)]!;
    const moving = new MovingLink(real);
    const known = this.store.idOf(spec.identity);
    const entry = this.directory.add(newActor(spec, moving), known);
    this.hooks.activated(entry);
    if (known === undefined) this.lifecycle.created++;
    else this.lifecycle.reactivated++;
    if (diagnostics.activation.hasSubscribers) diagnostics.activation.publish(activationEvent(entry, known === undefined ? 'new' : 'reactivated'));
    this.custody.takeOver(entry, this.host.kernel(spec.kernel.name)!, real, moving);
    return entry;
  }

  /**
   * A K2K message for an id with no active actor: the store may know it (an actor not
   * activated since the start); then it is activated and the message routed again, with
   * every check the router makes. Else a dead letter.
   */
  override routeElsewhere(words: Uint32Array, o: number, dead: (reason: DeadLetterReason) => void): void {
    const id = words[o + SendHeader.to]!;
    const identity = this.store.identityOfSync(id);
    if (identity === undefined) return super.routeElsewhere(words, o, dead);
    if (!this.activateByIdentity(identity)) return dead('no-such-actor');
    this.life!.reroute(words, o);
  }

  /**
   * Restores, in the background, every actor whose journal a previous process left with
   * calls no snapshot covers (it crashed): their next snapshots trim that journal, which
   * would otherwise wait for each of them to be used again. Bounded by what one snapshot
   * round leaves; every other stored actor stays on disk until it is used.
   */
  restoreUnfinished(): number {
    let n = 0;
    for (const names of this.store.unfinished()) {
      try {
        if (this.activateByIdentity(actorIdentity(names.kernel, names.tenant, names.key))) n++;
        else this.host.log(`ringshard: the store journaled calls for kernel '${names.kernel}', which this cluster does not run: they wait for it`);
      } catch (error) {
        this.host.log(`ringshard: could not restore '${names.key}' of kernel '${names.kernel}' at start: ${(error as Error).message}`);
      }
    }
    return n;
  }

  /** A migrated actor stays journaled (or marked) on its new shard. */
  override linkOn(entry: ActorEntry, shard: ShardLink): ShardLink {
    return this.custody.keep(entry, shard);
  }

  /** Snapshots every actor and deactivates it (no shutdown hook): the next start finds it as it was. */
  override async leave(): Promise<void> {
    clearInterval(this.snapshotTimer);
    await Promise.allSettled([...this.custody.restoring.values()]);
    // Every change since an actor's last snapshot is in the journal: a last round of
    // snapshots only makes the next start replay less.
    await this.snapshotRound(true);
    for (const entry of [...this.directory.entries()]) {
      this.directory.remove(entry);
      this.hooks.retired(entry);
    }
  }

  override storeCounters(): StoreCounters {
    const store = this.store;
    return {
      commitSeconds: store.commitSeconds,
      bytesWritten: store.bytesWritten,
      journalEntries: store.journalLength,
      snapshots: store.snapshotsWritten,
      storedActors: store.storedActors,
      actorsRestored: this.custody.restored,
      restoreSeconds: this.custody.restoreMs / 1000,
    };
  }

  /** After the shards stopped: nothing more is journaled. */
  override close(): Promise<void> {
    return this.store.close();
  }
}

/** The store's meta names for the id permutation: its keys and where its sequence resumes. */
export const ID_KEYS = 'idKeys';
export const NEXT_ORDINAL = 'nextOrdinal';
/** The store's meta name for the metrics' counts at the last snapshot round. */
export const METRIC_COUNTS = 'metricCounts';
/** How often a snapshot round keeps the metrics' counts (a crash rolls them back to then). */
export const METRIC_COUNTS_EVERY_MS = 15_000;

/**
 * The ids a persisted cluster gives: the same permutation as before, resuming its
 * sequence. A new store's permutation is on disk before any id is given (another one
 * next time could give a stored actor's id to a new actor).
 */
export async function persistedIds(store: LmdbStore): Promise<{ ids: ActorIds; firstOrdinal: number }> {
  let keys = store.getMeta<number[]>(ID_KEYS);
  const ids = keys ? new ActorIds(Uint32Array.from(keys)) : new ActorIds();
  if (!keys) {
    keys = [...ids.keys];
    await store.putMeta(ID_KEYS, keys);
  }
  return { ids, firstOrdinal: store.getMeta<number>(NEXT_ORDINAL) ?? 1 };
}
