/**
 * A durable node's custody of its actors. Taking one over: the lease, then its state
 * (snapshot, then the journal after it, replayed in order when the lease came from a
 * dead incarnation), then the calls that waited for it. Handing one over to its new
 * owner: its state exported after the messages before it and snapshotted, its lease
 * released, and what was sent to it meanwhile follows it in order. And, while it is
 * here, periodic snapshots that let the journal be trimmed behind them.
 */
import type { Kernel } from '../kernels/define-kernel.ts';
import type { ActorEntry } from '../coordinator/actor-directory.ts';
import { MovingLink } from '../coordinator/moving-link.ts';
import type { AskSpec, Caller, ShardLink } from '../coordinator/shard-link.ts';
import { wordsBatch } from '../layout/columns.ts';
import { storeKey, type K2KMarks, type Snapshot, type StateStore, type StoredTimers } from './state-store.ts';
import { JournalingLink, K2K_SENDER, type ReplayedCalls } from './journaling-link.ts';
import { MarkingLink } from './marking-link.ts';
import { rawCodec, wordsSink } from '../layout/raw-words.ts';
import { failingLink } from '../coordinator/stand-in-links.ts';
import { CallOp, timerRecordOfCall, type Call } from '../coordinator/actor-call.ts';
import { SEND_HEADER_WORDS } from '../layout/record.ts';
import { writeTimerSend } from '../layout/timer-table.ts';
import type { ActorDirectory } from '../coordinator/actor-directory.ts';

const EMPTY = new Uint32Array(0);

/**
 * How actors are kept: 'journal' (every message journaled, replayed after the snapshot
 * on a takeover: NATS durable nodes, persist 'message'); 'snapshots' (periodic snapshots
 * of changed actors, nothing replayed: persist 'checkpoint'); 'handover' (a snapshot only
 * when an actor moves to another node, used once: NATS nodes that are not durable).
 */
export type CustodyMode = 'journal' | 'snapshots' | 'handover';

/** What a store-backed custody adds (options.persist). */
export interface CustodyExtras {
  /** A snapshot's state in the kernel's schema now (a store that keeps schemas: migrate). */
  readonly upgrade?: (kernel: Kernel<any, any, any>, snapshot: Snapshot) => Uint32Array;
  /** The hash of a kernel's state schema, written with each snapshot. */
  readonly schemaOf?: (kernel: Kernel<any, any, any>) => string;
  /**
   * K2K exactly once across a restart ('journal' mode): sends are numbered per sender
   * (sendNumbers), K2K messages are journaled at their receiver, and snapshots keep the
   * marks (K2KMarks).
   */
  readonly k2k?: boolean;
  /** The actor's id is registered before its restore goes on (a journal that names actors by id). */
  readonly idsFirst?: boolean;
  /** The armed timers a snapshot of this state keeps apart (kernels with timers). */
  readonly timersOf?: (actorId: number, kernel: Kernel<any, any, any>, state: Uint32Array) => StoredTimers | undefined;
}

/** Where an actor's waiting records go once it is handed over (its link on the owner's side). */
export type Departure = (entry: ActorEntry, from: ShardLink) => ShardLink;

/** What custody needs of its process (a NATS node's LocalNode is one). */
export interface CustodyHost {
  readonly directory: ActorDirectory;
  readonly askTimeoutMs: number;
  kernel(name: string): Kernel<any, any, any> | undefined;
  principalName(id: number): string;
  principalId(name: string): number;
  /** An actor's slot was freed (metrics). */
  retired(entry: ActorEntry): void;
  log(line: string): void;
  /** A stored state was taken into `entry`'s slot (the timer service indexes its timers). */
  restoredState?(entry: ActorEntry, kernel: Kernel<any, any, any>, state: Uint32Array): void;
}

export class ActorCustody {
  /** Local actors whose lease and state are on their way (their entries hold a MovingLink). */
  readonly restoring = new Map<string, Promise<void>>();
  readonly handingOver = new Map<string, Promise<void>>();
  /** Per store key: the journal sequence the actor's state here covers. */
  private readonly covered = new Map<string, number>();
  /** Actors that took a message since the last round, by store key: the next round snapshots them. */
  private readonly touched = new Map<string, { readonly link: MarkingLink | JournalingLink; readonly entry: ActorEntry }>();
  /** The journaling links this custody made (an actor whose link is one is snapshotted). */
  private readonly journals = new WeakSet<ShardLink>();
  readonly takeovers = new Map<string, number>([['free', 0], ['own', 0], ['dead', 0], ['handed-over', 0]]);
  handovers = 0;
  replayedCalls = 0;
  /** Actors taken over (restored from the store) and the time that took, summed (ms). */
  restored = 0;
  restoreMs = 0;

  constructor(
    private readonly self: string,
    private readonly store: StateStore,
    private readonly local: CustodyHost,
    /** How actors are kept (see CustodyMode). */
    private readonly mode: CustodyMode,
    /** Whether a lease holder's incarnation is alive. */
    private readonly isAlive: (incarnation: string) => boolean,
    private readonly extras: CustodyExtras = {},
  ) {
    if (extras.k2k && mode === 'journal') {
      const sends = this.sends;
      this.sendNumbers = (source) => {
        const n = (sends.get(source) ?? 0) + 1;
        sends.set(source, n);
        return n;
      };
    }
  }

  /** Per actor id: the K2K sends it made (k2k marks). */
  private readonly sends = new Map<number, number>();
  /** Numbers a K2K send of actor `source` (k2k marks; see K2KRouter.numberSends). */
  readonly sendNumbers: ((source: number) => number) | undefined;

  /** Takes over `entry` (its records wait in `moving`) on shard link `real`. */
  takeOver(entry: ActorEntry, kernel: Kernel<any, any, any>, real: ShardLink, moving: MovingLink): void {
    const restored = this.restore(entry, kernel, real, moving).finally(() => this.restoring.delete(entry.identity));
    this.restoring.set(entry.identity, restored);
  }

  /** Takes the lease, restores the state (snapshot, then the journal after it), then lets the waiting calls in. */
  private async restore(entry: ActorEntry, kernel: Kernel<any, any, any>, real: ShardLink, moving: MovingLink): Promise<void> {
    const key = storeKey(entry.identity);
    const what = `kernel '${kernel.name}' actor '${entry.key}'`;
    const started = performance.now();
    try {
      const { how, previous } = await this.store.acquire(key, this.isAlive, this.local.askTimeoutMs);
      this.takeovers.set(how, this.takeovers.get(how)! + 1);
      // Other nodes' K2K senders find the actor by its id.
      const registered = this.store.registerId(entry.actorId, entry.identity);
      if (this.extras.idsFirst) await registered;
      else registered.catch(() => {});
      const snap = await this.store.readSnapshot(key);
      const stateCodec = rawCodec(kernel.codecs.state);
      // An empty snapshot is a terminated actor's: it starts afresh.
      const upgrade = this.extras.upgrade;
      if (snap && snap.state.length > 0) {
        const state = upgrade ? upgrade(kernel, snap) : snap.state;
        await real.importState(entry, stateCodec, state);
        this.local.restoredState?.(entry, kernel, state);
      } else await real.activate(entry);
      let covered = snap?.seq ?? 0;
      const replayed: ReplayedCalls = new Map();
      // Its sends go on from its snapshot's number (a replay makes them again, numbered alike).
      const received = this.sendNumbers ? new Map<number, number>() : undefined;
      if (received && snap?.k2k) {
        this.sends.set(entry.actorId, snap.k2k.sends);
        const r = snap.k2k.received;
        for (let i = 0; i + 1 < r.length; i += 2) received.set(r[i]!, r[i + 1]!);
      }
      if (this.mode === 'journal' && previous !== undefined) {
        // The lease came from a dead incarnation (another node's, or this node's before a
        // restart): what it journaled after the snapshot runs again, in order.
        const work: Array<Promise<unknown>> = [];
        for (const j of await this.store.read(key, covered, previous)) {
          work.push(this.replay(entry, kernel, real, j.call, j.sender, replayed, received));
          covered = j.seq;
        }
        await Promise.all(work);
      } else if (snap && this.mode === 'handover') {
        await this.store.deleteSnapshot(key); // a handover's, used once
      }
      this.covered.set(key, covered);
      const final = this.keep(entry, real, replayed, received);
      // A replayed actor is snapshotted by the next round: the journal behind it is trimmed.
      if (covered !== (snap?.seq ?? 0) && final instanceof JournalingLink) final.mark();
      entry.link = final;
      moving.arrived(final);
      this.restored++;
      this.restoreMs += performance.now() - started;
    } catch (error) {
      this.local.log(`ringshard: node '${this.self}' could not take over ${what}: ${(error as Error).message}`);
      this.local.directory.remove(entry);
      this.local.retired(entry);
      // What waited fails with the reason; the next message tries again.
      moving.arrived(failingLink(real, error as Error));
    }
  }

  /**
   * The link `entry`'s messages take on shard `real`: journaled ('journal'), marked for
   * snapshots ('snapshots'), or the shard's own ('handover'). Also for an actor that
   * moved between this process's shards (cluster.migrate): it stays kept.
   */
  keep(entry: ActorEntry, real: ShardLink, replayed: ReplayedCalls = new Map(), received?: Map<number, number>): ShardLink {
    const key = storeKey(entry.identity);
    // A move within the process keeps what the actor took (one map, the old link's and the new).
    if (this.sendNumbers && received === undefined) received = entry.link instanceof JournalingLink ? entry.link.received : new Map();
    const touched = (link: MarkingLink | JournalingLink) => this.touched.set(key, { link, entry });
    const final =
      this.mode === 'journal'
        ? new JournalingLink(real, this.store, { key, actorId: entry.actorId, kernel: entry.kernelName, tenant: entry.tenant, actorKey: entry.key, principalName: (id) => this.local.principalName(id), sendsMade: () => this.sends.get(entry.actorId) ?? 0 }, replayed, received, touched)
        : this.mode === 'snapshots'
          ? new MarkingLink(real, touched, this.store, key)
          : real;
    if (final !== real) this.journals.add(final);
    return final;
  }

  private replay(entry: ActorEntry, kernel: Kernel<any, any, any>, real: ShardLink, call: Call, sender: string, replayed: ReplayedCalls, received: Map<number, number> | undefined): Promise<unknown> {
    const caller: Caller = { principalId: this.local.principalId(call.principal), roles: call.roles, sourceId: call.source };
    const batch = wordsBatch(call.payload, call.count, call.words);
    this.replayedCalls++;
    const timerOp = timerRecordOfCall(call.op);
    if (timerOp !== undefined) {
      // A timer's fire or a ref's timer call: the same record again (a fire for a due time already handled does nothing).
      const words = new Uint32Array(SEND_HEADER_WORDS + call.words);
      writeTimerSend(words, entry.actorId, entry.kernelId, timerOp, entry.tenantId, call.payload.subarray(0, call.words));
      // A refusal (the shard failed) is not the replay's to report: the actor's next call meets it.
      real.forward(entry, words, 0, call.words, () => {});
      return Promise.resolve();
    }
    if (sender === K2K_SENDER) {
      // A K2K message it took: taken again, and its number marked (a repeat is dropped).
      if (received && call.id > (received.get(call.source) ?? 0)) received.set(call.source, call.id);
      return real.tellMany(entry, caller, batch);
    }
    const id = sender !== '' ? `${sender}/${call.id}` : undefined;
    if (call.op === CallOp.TELL) {
      if (id) replayed.set(id, EMPTY);
      return real.tellMany(entry, caller, batch);
    }
    const sink = wordsSink(call.count, kernel.codecs.reply.words);
    return real
      .askMany(entry, caller, batch, { codec: kernel.codecs.reply, what: `replay of an ask to '${entry.key}'`, timeoutMs: this.local.askTimeoutMs, sink })
      .then(
        () => id && replayed.set(id, sink.words),
        () => {}, // it failed the first time too: the sender got that answer, or gets a timeout
      );
  }

  /** Moves a local actor to its new owner: state to the store, lease released, what waited follows. */
  handOver(entry: ActorEntry, departTo: Departure): Promise<void> {
    const running = this.handingOver.get(entry.identity);
    if (running) return running;
    const done = this.doHandOver(entry, departTo).finally(() => this.handingOver.delete(entry.identity));
    this.handingOver.set(entry.identity, done);
    return done;
  }

  private async doHandOver(entry: ActorEntry, departTo: Departure): Promise<void> {
    await this.restoring.get(entry.identity);
    if (!entry.active) return;
    const kernel = this.local.kernel(entry.kernelName)!;
    const key = storeKey(entry.identity);
    const current = entry.link;
    const moving = new MovingLink(current);
    entry.link = moving;
    try {
      const state = (await current.exportState(entry, { codec: rawCodec(kernel.codecs.state), what: `handover of '${entry.key}'`, timeoutMs: this.local.askTimeoutMs })) as Uint32Array;
      const seq = this.mode === 'journal' ? Math.max(this.covered.get(key) ?? 0, await this.store.journaled(key)) : 0;
      await this.writeSnapshot(entry, kernel, key, seq, state);
      this.covered.delete(key);
      this.store.forgetLocal(key);
      this.local.directory.remove(entry);
      this.local.retired(entry);
      await this.store.release(key);
      this.handovers++;
      moving.arrived(departTo(entry, current));
    } catch (error) {
      this.local.log(`ringshard: node '${this.self}' could not hand over '${entry.key}': ${(error as Error).message}`);
      entry.link = current;
      moving.arrived(current);
    }
  }

  /**
   * Deactivates an idle actor into the store: its state exported after every record sent
   * before and snapshotted (with the journal sequence it covers and its K2K marks), its
   * slot and directory entry freed; its next message restores it (takeOver). Returns false
   * when it stays: a record came meanwhile (or a terminate), the state goes back into a
   * fresh slot through `keep`, and what waited follows.
   */
  async deactivate(entry: ActorEntry, keep: (state: Uint32Array, moving: MovingLink, current: ShardLink) => Promise<void>): Promise<boolean> {
    if (this.restoring.has(entry.identity) || this.handingOver.has(entry.identity)) return false;
    const kernel = this.local.kernel(entry.kernelName);
    const current = entry.link;
    if (!kernel || current.moving !== undefined || current.failed) return false;
    const key = storeKey(entry.identity);
    const moving = new MovingLink(current);
    entry.link = moving;
    let state: Uint32Array;
    try {
      const now = await this.stateNow(entry, key, kernel, current, `deactivation of kernel '${entry.kernelName}' actor '${entry.key}'`, (spec) => current.exportState(entry, spec));
      state = now.state;
      if (moving.hasWaiting || !entry.active) {
        await keep(state, moving, current);
        return false;
      }
      await this.writeSnapshot(entry, kernel, key, now.covered, state, now.marks);
    } catch (error) {
      this.local.log(`ringshard: could not deactivate '${entry.key}': ${(error as Error).message}`);
      entry.link = current;
      moving.arrived(current);
      return false;
    }
    if (moving.hasWaiting || !entry.active) {
      await keep(state, moving, current);
      return false;
    }
    this.covered.delete(key);
    this.store.forgetLocal(key);
    this.local.directory.remove(entry);
    this.local.retired(entry);
    moving.arrived(current);
    return true;
  }

  /**
   * The actor's state, asked through `ask` (a SNAPSHOT or EXPORT record after every message
   * the link took: it journals its pending tells first), with what that state covers: the
   * journal sequence asked right after, and its K2K marks (what it took, when the record
   * was sent; the sends it made, when the reply came, in ring order after the sends of
   * the messages before it).
   */
  private async stateNow(entry: ActorEntry, key: string, kernel: Kernel<any, any, any>, link: ShardLink, what: string, ask: (spec: AskSpec) => Promise<unknown>): Promise<{ state: Uint32Array; covered: number; marks: K2KMarks | undefined }> {
    const numbered = this.sendNumbers !== undefined;
    let sends = 0;
    const stateP = ask({ codec: rawCodec(kernel.codecs.state), what, timeoutMs: this.local.askTimeoutMs, ...(numbered ? { onDone: () => (sends = this.sends.get(entry.actorId) ?? 0) } : {}) });
    const received = numbered && link instanceof JournalingLink ? link.receivedMarks() : [];
    const [seq, state] = await Promise.all([this.store.journaled(key), stateP]);
    return { state: state as Uint32Array, covered: Math.max(seq, this.covered.get(key) ?? 0), marks: numbered ? { sends, received } : undefined };
  }

  /** A snapshot of `entry`'s state covering journal sequence `seq`, with what the store keeps beside it (schema, K2K marks, armed timers). */
  private writeSnapshot(entry: ActorEntry, kernel: Kernel<any, any, any>, key: string, seq: number, state: Uint32Array, marks?: K2KMarks): Promise<void> {
    const extras = this.extras;
    return this.store.writeSnapshot(key, seq, state, extras.schemaOf?.(kernel), marks, extras.timersOf?.(entry.actorId, kernel, state));
  }

  /** Writes the actor's state and the journal sequence it covers (a failure is logged; the journal still holds it all). */
  private async snapshot(key: string, entry: ActorEntry): Promise<void> {
    const kernel = this.local.kernel(entry.kernelName)!;
    try {
      const link = entry.link;
      const { state, covered, marks } = await this.stateNow(entry, key, kernel, link, `snapshot of '${entry.key}'`, (spec) => link.snapshot(entry, spec));
      await this.writeSnapshot(entry, kernel, key, covered, state, marks);
      this.covered.set(key, covered);
    } catch (error) {
      this.local.log(`ringshard: snapshot of '${entry.key}' failed: ${(error as Error).message}`);
    }
  }

  /**
   * durable: snapshots the actors journaled since the last round (all at once: their
   * snapshot records share batches), then trims this process's journal behind them.
   */
  async snapshotDirty(): Promise<void> {
    const rounds: Array<Promise<void>> = [];
    // Marks are taken before the snapshots are asked: a message after this marks again.
    // Only the actors that took messages are visited, not every actor of the process.
    const touched = [...this.touched];
    this.touched.clear();
    for (const [key, { link, entry }] of touched) {
      link.unmark();
      if (this.local.directory.lookup(entry.identity) !== entry || !entry.active || !this.journals.has(entry.link) || this.handingOver.has(entry.identity)) continue;
      rounds.push(this.snapshot(key, entry));
    }
    await Promise.all(rounds);
    // The actors local now (one that arrived during the round may have journaled already),
    // by key only if the store asks.
    const directory = this.local.directory;
    const now = { *[Symbol.iterator]() { for (const e of directory.entries()) yield storeKey(e.identity); } };
    await this.store.trimOwn(now, (key) => this.covered.get(key) ?? 0);
  }
}
