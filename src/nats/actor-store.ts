/**
 * What a cluster of nodes keeps in JetStream, per actor (named by a 64-bit hash of its
 * identity, `storeKey`):
 *   - its owner: a KV entry naming the node that holds it (a lease; taken over by
 *     compare-and-set when that node is dead, handed over when it is alive);
 *   - its snapshot: a KV entry of its state words and the journal sequence it covers;
 *   - durable: its journal, one subject per actor in one stream, each entry a frame of
 *     the calls (messages) it received, in the order they went into its ring.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { ErrorCode, RingshardError } from '../errors.ts';
import { decodeCalls, encodeCalls, type Call } from './wire.ts';
import { hash32 } from './rendezvous.ts';

/** An actor's name in subjects and keys: 64 bits of hash of its identity. */
export function storeKey(identity: string): string {
  return `a${hash32(identity).toString(16).padStart(8, '0')}${hash32(identity, 0x9e3779b9).toString(16).padStart(8, '0')}`;
}

export interface JournaledCall {
  readonly call: Call;
  /** The stream sequence of its entry. */
  readonly seq: number;
  /** The sender's incarnation ('' for a call from this node's own refs): with call.id, its dedupe id. */
  readonly sender: string;
}

interface Pending {
  calls: Call[];
  senders: string[];
  waiters: Array<{ resolve: (seq: number) => void; reject: (e: Error) => void }>;
}

/** Journal entries an actor may keep behind its snapshot before they are purged. */
export const TRIM_AFTER_ENTRIES = 1024;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ActorStore {
  private readonly buffered = new Map<string, Pending>();
  /** Per actor: the newest journal entry's publish (its stream sequence once acknowledged). */
  private readonly lastEntry = new Map<string, Promise<number>>();
  private flushScheduled = false;
  private dirty = new Set<string>();
  /** Per actor: journal entries published since its journal was last trimmed. */
  private readonly untrimmed = new Map<string, number>();
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
  ) {}

  static async open(nc: NatsConnection, prefix: string, durable: boolean): Promise<ActorStore> {
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
      const config = { name: stream, subjects: [`${prefix}.j.>`], allow_direct: true };
      try {
        await jsm.streams.info(stream);
      } catch {
        await jsm.streams.add(config as never);
      }
    }
    return new ActorStore(jetstream(nc), jsm, owners, snapshots, ids, prefix, stream, durable);
  }

  // ---- leases

  /**
   * Makes `self` the actor's owner. Free, or held by a dead node: taken (compare-and-set).
   * Held by a live node: waits until that node hands it over (it does once its view of
   * the members agrees), up to `timeoutMs`.
   */
  async acquire(key: string, self: string, isLive: (node: string) => boolean, timeoutMs: number): Promise<'free' | 'own' | 'dead' | 'handed-over'> {
    const deadline = Date.now() + timeoutMs;
    let waited = false;
    for (;;) {
      const e = await this.owners.get(key);
      if (!e || e.operation !== 'PUT') {
        try {
          await this.owners.create(key, Buffer.from(self));
          return waited ? 'handed-over' : 'free';
        } catch {
          continue; // someone else just took it
        }
      }
      const owner = e.string();
      if (owner === self) return 'own';
      if (!isLive(owner)) {
        try {
          await this.owners.update(key, Buffer.from(self), e.revision);
          return 'dead';
        } catch {
          continue;
        }
      }
      if (Date.now() > deadline) {
        throw new RingshardError(ErrorCode.TIMEOUT, `actor ${key}: node '${owner}' did not hand it over within ${timeoutMs} ms`);
      }
      waited = true;
      await sleep(10);
    }
  }

  /** Gives the actor up, if `self` holds it. */
  async release(key: string, self: string): Promise<void> {
    const e = await this.owners.get(key);
    if (e && e.operation === 'PUT' && e.string() === self) await this.owners.delete(key, { previousSeq: e.revision }).catch(() => {});
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

  private subject(key: string): string {
    return `${this.prefix}.j.${key}`;
  }

  /**
   * Journals a call; resolves with its entry's stream sequence once JetStream has it.
   * Calls appended in the same turn of the event loop share one entry per actor.
   */
  append(key: string, call: Call, sender: string): Promise<number> {
    let p = this.buffered.get(key);
    if (!p) this.buffered.set(key, (p = { calls: [], senders: [], waiters: [] }));
    p.calls.push(call);
    p.senders.push(sender);
    this.dirty.add(key);
    const done = new Promise<number>((resolve, reject) => p!.waiters.push({ resolve, reject }));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return done;
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const key of [...this.buffered.keys()]) this.flushKey(key);
  }

  private flushKey(key: string): void {
    const p = this.buffered.get(key);
    if (!p) return;
    this.buffered.delete(key);
    this.entries++;
    this.untrimmed.set(key, (this.untrimmed.get(key) ?? 0) + 1);
    const entry = this.js.publish(this.subject(key), encodeCalls('', p.calls, p.senders)).then((ack) => ack.seq);
    this.lastEntry.set(key, entry);
    entry.then(
      (seq) => p.waiters.forEach((w) => w.resolve(seq)),
      (error: Error) => {
        const e = new RingshardError(ErrorCode.REMOTE, `the journal did not take a message: ${error.message}`, { cause: error });
        p.waiters.forEach((w) => w.reject(e));
      },
    );
  }

  /**
   * Publishes what is buffered for the actor now and resolves with the sequence of its
   * newest entry (0 if it has none from this node): every call journaled before is at or
   * below it. JetStream acknowledges one publisher's messages in order.
   */
  journaled(key: string): Promise<number> {
    this.flushKey(key);
    return this.lastEntry.get(key) ?? Promise.resolve(0);
  }

  /** The actor's journal entries after sequence `after`, oldest first. */
  async *read(key: string, after: number): AsyncGenerator<JournaledCall> {
    let seq = after + 1;
    for (;;) {
      const m = await this.jsm.direct.getMessage(this.stream, { next_by_subj: this.subject(key), seq }).catch(() => null);
      if (!m) return;
      const { calls, senders } = decodeCalls(m.data);
      for (let i = 0; i < calls.length; i++) yield { call: calls[i]!, seq: m.seq, sender: senders?.[i] ?? '' };
      seq = m.seq + 1;
    }
  }

  /** The sequence of the actor's newest journal entry in the stream, 0 if none. */
  async lastSeq(key: string): Promise<number> {
    const m = await this.jsm.direct.getMessage(this.stream, { last_by_subj: this.subject(key) }).catch(() => null);
    return m?.seq ?? 0;
  }

  /** Actors journaled since the last call (the ones a periodic snapshot is for). */
  takeDirty(): Set<string> {
    const d = this.dirty;
    this.dirty = new Set();
    return d;
  }

  /** Drops the actor's journal entries up to and including `seq` (a snapshot covers them). */
  async trim(key: string, seq: number): Promise<void> {
    this.untrimmed.delete(key);
    await this.jsm.streams.purge(this.stream, { filter: this.subject(key), seq: seq + 1 }).catch(() => {});
  }

  /**
   * trim(), once the actor has journaled `TRIM_AFTER_ENTRIES` entries since its last
   * trim. A purge is a JetStream API call that costs far more than a publish (measured:
   * trimming at every periodic snapshot halved durable throughput), and entries a
   * snapshot covers cost only storage: a replay starts after the snapshot's sequence.
   */
  async trimIfLong(key: string, seq: number): Promise<void> {
    if ((this.untrimmed.get(key) ?? 0) >= TRIM_AFTER_ENTRIES) await this.trim(key, seq);
  }

  /** Drops the actor's whole journal and snapshot (terminated: it starts afresh). */
  async forget(key: string): Promise<void> {
    this.lastEntry.delete(key);
    if (this.durable) await this.jsm.streams.purge(this.stream, { filter: this.subject(key) }).catch(() => {});
    await this.deleteSnapshot(key);
  }

  forgetLocal(key: string): void {
    this.lastEntry.delete(key);
  }
}
