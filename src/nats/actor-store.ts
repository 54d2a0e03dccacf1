/**
 * What a cluster of nodes keeps in JetStream, per actor (named by a 64-bit hash of its
 * identity, `storeKey`):
 *   - its owner: a KV entry naming the node incarnation that holds it (a lease; taken
 *     over by compare-and-set when that node is dead or is this node restarted, handed
 *     over when it is alive);
 *   - its snapshot: a KV entry of its state words and the journal sequence it covers;
 *   - its id's identity (K2K addresses);
 *   - durable: the journal. Each node incarnation publishes to its own subject of one
 *     stream, one entry per turn of the event loop holding the calls (messages) of every
 *     actor it journaled in that turn, each actor's in the order they went into its ring.
 *     One publish a turn, however many actors: JetStream's cost is per message. A node
 *     that takes an actor over from a dead incarnation reads that incarnation's subject
 *     once (an index by actor) and replays the actor's calls after its snapshot.
 */
import { storeKey, type Acquired, type JournaledCall, type StateStore } from '../recovery/state-store.ts';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { ErrorCode, RingshardError } from '../errors.ts';
import { decodeCalls, encodeCalls, type Call } from './wire.ts';
import { actorIdentity } from '../coordinator/actor-directory.ts';
import { nodeOf } from './membership.ts';

export { storeKey } from '../recovery/state-store.ts';

export type { Acquired, JournaledCall } from '../recovery/state-store.ts';

interface Pending {
  readonly calls: Call[];
  readonly senders: string[];
  readonly keys: Set<string>;
  readonly waiters: Array<{ resolve: (seq: number) => void; reject: (e: Error) => void }>;
}

/** Covered journal entries a node keeps before it purges them (a purge costs far more than a publish). */
export const TRIM_AFTER_ENTRIES = 1024;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The StateStore on JetStream: leases, ids and snapshots in KV buckets, the journal in a stream (one subject per writer incarnation). */
export class ActorStore implements StateStore {
  private buffered: Pending | undefined;
  private flushScheduled = false;
  /** Per actor: the newest journal entry with a call of it (its stream sequence once acknowledged). */
  private readonly lastEntry = new Map<string, Promise<number>>();
  /** Per actor: the sequence of the newest acknowledged entry with a call of it. */
  private readonly lastAcked = new Map<string, number>();
  private newestAcked = 0;
  private unacked = 0;
  private trimmedTo = 1;
  /** Per dead incarnation: its journal read once, by actor. */
  private readonly indexes = new Map<string, Promise<Map<string, JournaledCall[]>>>();
  /** Journal entries published, snapshots written (metrics). */
  entries = 0;
  snapshotsWritten = 0;

  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly owners: KV,
    private readonly snapshots: KV,
    private readonly ids: KV,
    private readonly prefix: string,
    private readonly stream: string,
    readonly durable: boolean,
    private readonly incarnation: string,
  ) {}

  static async open(nc: NatsConnection, prefix: string, durable: boolean, incarnation: string): Promise<ActorStore> {
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(nc, { timeout: 5000 });
    } catch (error) {
      throw new RingshardError(ErrorCode.NATS_UNREACHABLE, `options.nats: the NATS server has no JetStream (start it with -js): ${(error as Error).message}`, { cause: error });
    }
    const kvm = new Kvm(nc);
    const owners = await kvm.create(`${prefix}-owners`, { history: 1 });
    const snapshots = await kvm.create(`${prefix}-snapshots`, { history: 1 });
    const ids = await kvm.create(`${prefix}-ids`, { history: 1 });
    const stream = `${prefix}-journal`;
    if (durable) {
      try {
        await jsm.streams.info(stream);
      } catch {
        await jsm.streams.add({ name: stream, subjects: [`${prefix}.j.>`], allow_direct: true } as never);
      }
    }
    return new ActorStore(jetstream(nc), jsm, owners, snapshots, ids, prefix, stream, durable, incarnation);
  }

  // ---- leases

  /**
   * Makes this incarnation the actor's owner. Free, held by a dead incarnation (a dead
   * node, or a node since restarted), or by an earlier incarnation of this node: taken
   * (compare-and-set). Held by a live incarnation: waits until it hands the actor over
   * (it does once its view of the members agrees), up to `timeoutMs`.
   */
  async acquire(key: string, isLive: (incarnation: string) => boolean, timeoutMs: number): Promise<Acquired> {
    const self = this.incarnation;
    const deadline = Date.now() + timeoutMs;
    let waited = false;
    for (;;) {
      const e = await this.owners.get(key);
      if (!e || e.operation !== 'PUT') {
        try {
          await this.owners.create(key, Buffer.from(self));
          return { how: waited ? 'handed-over' : 'free' };
        } catch {
          continue; // someone else just took it
        }
      }
      const owner = e.string();
      if (owner === self) return { how: 'own' };
      const ownNode = nodeOf(owner) === nodeOf(self);
      if (ownNode || !isLive(owner)) {
        // Read the dead incarnation's journal before the lease names this one: once no
        // lease names it, sweep() may purge it.
        if (this.durable) await this.index(owner);
        try {
          await this.owners.update(key, Buffer.from(self), e.revision);
          return { how: ownNode ? 'own' : 'dead', previous: owner };
        } catch {
          continue;
        }
      }
      if (Date.now() > deadline) {
        throw new RingshardError(ErrorCode.TIMEOUT, `actor ${key}: node '${nodeOf(owner)}' did not hand it over within ${timeoutMs} ms`);
      }
      waited = true;
      await sleep(10);
    }
  }

  /** Gives the actor up, if this incarnation holds it. */
  async release(key: string): Promise<void> {
    const e = await this.owners.get(key);
    if (e && e.operation === 'PUT' && e.string() === this.incarnation) await this.owners.delete(key, { previousSeq: e.revision }).catch(() => {});
  }

  // ---- ids (K2K addresses: an actor id to the identity it was derived from)

  async registerId(id: number, identity: string): Promise<void> {
    await this.ids.put(`i${id.toString(16)}`, Buffer.from(identity));
  }

  async identityOf(id: number): Promise<string | undefined> {
    const e = await this.ids.get(`i${id.toString(16)}`);
    return e && e.operation === 'PUT' ? e.string() : undefined;
  }

  // ---- snapshots

  async readSnapshot(key: string): Promise<{ seq: number; state: Uint32Array } | undefined> {
    const e = await this.snapshots.get(key);
    if (!e || e.operation !== 'PUT' || e.value.byteLength < 8) return undefined;
    const bytes = new Uint8Array(e.value); // aligned copy
    const words = new Uint32Array(bytes.buffer, 0, bytes.byteLength / 4);
    return { seq: words[0]! + words[1]! * 2 ** 32, state: words.slice(2) };
  }

  /** An empty `state` marks an actor that starts afresh (terminated): INIT, then the calls after `seq`. */
  async writeSnapshot(key: string, seq: number, state: Uint32Array): Promise<void> {
    const words = new Uint32Array(2 + state.length);
    words[0] = seq % 2 ** 32;
    words[1] = Math.floor(seq / 2 ** 32);
    words.set(state, 2);
    await this.snapshots.put(key, new Uint8Array(words.buffer));
    this.snapshotsWritten++;
  }

  async deleteSnapshot(key: string): Promise<void> {
    await this.snapshots.delete(key).catch(() => {});
  }

  // ---- journal (durable)

  private subject(incarnation: string): string {
    return `${this.prefix}.j.${incarnation.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  }

  /**
   * Journals a call; resolves with its entry's stream sequence once JetStream has it.
   * Calls appended in the same turn of the event loop share one entry.
   */
  append(key: string, call: Call, sender: string): Promise<number> {
    let p = this.buffered;
    if (!p) this.buffered = p = { calls: [], senders: [], keys: new Set(), waiters: [] };
    p.calls.push(call);
    p.senders.push(sender);
    p.keys.add(key);
    const done = new Promise<number>((resolve, reject) => p!.waiters.push({ resolve, reject }));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
    return done;
  }

  private flush(): void {
    const p = this.buffered;
    if (!p) return;
    this.buffered = undefined;
    this.entries++;
    this.unacked++;
    const entry = this.js.publish(this.subject(this.incarnation), encodeCalls('', p.calls, { senders: p.senders })).then((ack) => ack.seq);
    for (const key of p.keys) this.lastEntry.set(key, entry);
    entry.then(
      (seq) => {
        this.unacked--;
        if (seq > this.newestAcked) this.newestAcked = seq;
        for (const key of p.keys) if (seq > (this.lastAcked.get(key) ?? 0)) this.lastAcked.set(key, seq);
        for (const w of p.waiters) w.resolve(seq);
      },
      (error: Error) => {
        this.unacked--;
        const e = new RingshardError(ErrorCode.REMOTE, `the journal did not take a message: ${error.message}`, { cause: error });
        for (const w of p.waiters) w.reject(e);
      },
    );
  }

  /**
   * Publishes what is buffered now and resolves with the sequence of the newest entry
   * with a call of the actor (0 if this incarnation journaled none): every call of it
   * journaled before is at or below it (JetStream acknowledges one publisher's messages
   * in order).
   */
  journaled(key: string): Promise<number> {
    this.flush();
    return this.lastEntry.get(key) ?? Promise.resolve(0);
  }

  /** The actor's calls that (dead) incarnation `from` journaled after sequence `after`, oldest first. */
  async read(key: string, after: number, from: string): Promise<JournaledCall[]> {
    return ((await this.index(from)).get(key) ?? []).filter((j) => j.seq > after);
  }

  private index(from: string): Promise<Map<string, JournaledCall[]>> {
    let index = this.indexes.get(from);
    if (!index) {
      index = this.readAll(from);
      this.indexes.set(from, index);
      index.catch(() => this.indexes.delete(from));
    }
    return index;
  }

  /**
   * Purges the journals of dead incarnations that no lease names any more: every actor
   * they held has been taken over (and the taker read the journal before its lease named
   * it). Live incarnations (`live`) trim their own. Any node may run it; it is
   * idempotent. Returns how many journals it purged.
   */
  async sweep(live: Iterable<string>): Promise<number> {
    if (!this.durable) return 0;
    const keep = new Set<string>([this.subject(this.incarnation)]);
    for (const incarnation of live) keep.add(this.subject(incarnation));
    for await (const key of await this.owners.keys()) {
      const e = await this.owners.get(key).catch(() => null);
      if (e && e.operation === 'PUT') keep.add(this.subject(e.string()));
    }
    const info = await this.jsm.streams.info(this.stream, { subjects_filter: `${this.prefix}.j.>` } as never);
    const subjects = Object.keys((info.state as { subjects?: Record<string, number> }).subjects ?? {});
    let purged = 0;
    for (const subject of subjects) {
      if (keep.has(subject)) continue;
      // (An index of it this node read for a takeover stays: that takeover may still be replaying.)
      await this.jsm.streams.purge(this.stream, { filter: subject }).catch(() => {});
      purged++;
    }
    return purged;
  }

  /** A dead incarnation's whole journal (it grows no more), by actor. */
  private async readAll(from: string): Promise<Map<string, JournaledCall[]>> {
    const byKey = new Map<string, JournaledCall[]>();
    const subject = this.subject(from);
    let seq = 1;
    for (;;) {
      const m = await this.jsm.direct.getMessage(this.stream, { next_by_subj: subject, seq }).catch(() => null);
      if (!m) return byKey;
      const { calls, senders } = decodeCalls(m.data);
      for (let i = 0; i < calls.length; i++) {
        const c = calls[i]!;
        const key = storeKey(actorIdentity(c.kernel, c.tenant, c.key));
        let list = byKey.get(key);
        if (!list) byKey.set(key, (list = []));
        list.push({ call: c, seq: m.seq, sender: senders?.[i] ?? '' });
      }
      seq = m.seq + 1;
    }
  }

  /**
   * Trims this incarnation's journal: the entries before the oldest one some local actor
   * still needs (an actor needs its entries after what its state covers, `coveredOf`).
   * One purge for all actors, and only once TRIM_AFTER_ENTRIES have gathered: covered
   * entries cost storage only, a replay starts after the snapshot.
   */
  async trimOwn(localKeys: Iterable<string>, coveredOf: (key: string) => number): Promise<void> {
    if (this.unacked > 0) return; // an entry's place is not known yet: next round
    let keepFrom = this.newestAcked + 1;
    for (const key of localKeys) {
      const covered = coveredOf(key);
      if ((this.lastAcked.get(key) ?? 0) > covered) keepFrom = Math.min(keepFrom, covered + 1);
    }
    if (keepFrom < this.trimmedTo + TRIM_AFTER_ENTRIES) return;
    this.trimmedTo = keepFrom;
    await this.jsm.streams.purge(this.stream, { filter: this.subject(this.incarnation), seq: keepFrom }).catch(() => {});
  }

  /**
   * A terminated actor starts afresh: an empty snapshot covering every call journaled
   * before it (a later takeover runs INIT and replays only what came after).
   */
  async forget(key: string): Promise<void> {
    const seq = this.durable ? await this.journaled(key) : 0;
    this.forgetLocal(key);
    await this.writeSnapshot(key, seq, new Uint32Array(0));
  }

  forgetLocal(key: string): void {
    this.lastEntry.delete(key);
    this.lastAcked.delete(key);
  }
}
