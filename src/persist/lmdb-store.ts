/**
 * The StateStore on one host, with no server: an LMDB environment (the `lmdb` package)
 * in a directory of its own.
 *
 *   snapshots  store key -> { seq, state words, schema, k2k }  the state and what it covers
 *   timers     store key -> the actor's armed timers
 *   ids        actor id -> identity; identity -> actor id       stable ids across restarts
 *   meta       'seq' -> a call sequence past every snapshot's, 'format', 'idKeys', 'nextOrdinal'
 *
 * and beside it the journal: the calls after the snapshots, in order, in append-only
 * segment files (JournalFile, journal/ in the same directory). The calls journaled in one
 * turn of the event loop are one frame, keyed by an increasing turn number, and frames go
 * to the disk with group commit: one synced write at a time, carrying every frame that
 * came while the one before was on its way. A call's promise resolves once its frame is
 * on disk.
 *
 * Trimming: each turn counts the actors whose calls in it no snapshot covers yet; a
 * snapshot that covers an actor's last call in a turn takes it off the count, and a turn
 * at 0 is released once the snapshot's transaction is on disk (a segment goes when all its
 * turns are). Opening the store reads what is left of the journal once (it is bounded by
 * the snapshot rounds), indexed by actor.
 *
 * One process at a time: a lock file (`ringshard.lock`, the holder's pid) is created
 * exclusively; a second process fails at once with ERR_RINGSHARD_STORE_LOCKED, and a lock
 * whose process is gone is taken over.
 */
import { accessSync, closeSync, constants, mkdirSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { ErrorCode, RingshardError } from '../errors.ts';
import type { Call, CallOp } from '../coordinator/actor-call.ts';
import { identityParts } from '../coordinator/actor-directory.ts';
import { storeKey } from '../recovery/state-store.ts';
import { JournalFile } from './journal-file.ts';
import { TurnWords, readTurn } from './journal-turn.ts';
import type { Codec } from '../layout/codec.ts';
import type { Acquired, JournaledCall, K2KMarks, Snapshot, StateStore, StoredTimers, TellTarget } from '../recovery/state-store.ts';
import { STORE_COMMIT_BUCKETS } from '../coordinator/actor-locator.ts';

const LOCK_FILE = 'ringshard.lock';
const DATA_FILE = 'state.mdb';
const JOURNAL_DIR = 'journal';
/** LMDB's meta pages (the first two pages) carry this magic at byte 24 (after the 16-byte page header and 8 bytes). */
const LMDB_MAGIC = 0xbeefc0de;
const META_MAGIC_AT = 24;
const PAGE = 4096;
/** The meta name of where the id sequence resumes (see PersistentLocator). */
const NEXT_ORDINAL = 'nextOrdinal';
/** The writer name journal reads are asked for: one process writes this store. */
export const LOCAL_WRITER = 'local';

/** The turn of the event loop whose calls are being journaled (their words: TurnWords). */
interface Turn {
  readonly number: number;
  committed: Promise<void>;
  /** Its actors whose calls here no snapshot covers yet (liveInTurn holds it too). */
  readonly live: { n: number };
}

/** What a link journals its tells through (appendTell): its actor's names and tail, found once. */
interface LmdbTellTarget extends TellTarget {
  tail: Tail;
}

interface StoredSnapshot {
  readonly seq: number;
  readonly state: Uint8Array;
  /** The hash of its state schema (src/persist/schemas.ts). */
  readonly schema?: string;
  /** Its K2K marks (sends made, last send taken per sender: [sender, id, ...]). */
  readonly sends?: number;
  readonly received?: readonly number[];
}

/**
 * The journal's layout; a store written in another is refused (ERR_RINGSHARD_STORE).
 * 3: the journal in segment files (frames: journal-turn.ts). 2 (a journal table in LMDB)
 * opens if that table is empty.
 */
const FORMAT = 3;

/** An actor's calls in the journal that no snapshot covers yet: per turn, its last sequence there. */
interface Tail {
  readonly turns: number[];
  readonly lastSeqs: number[];
  /** Its newest call's sequence, and the commit that carries it. */
  lastSeq: number;
  committed: Promise<void> | undefined;
  /** The last turn it has calls in. */
  turn: number;
  /** Read at open: the calls a previous process journaled (given once, to its restore). */
  calls: JournaledCall[] | undefined;
  /** Read at open: its kernel, tenant and key. */
  identity: { readonly kernel: string; readonly tenant: string; readonly key: string } | undefined;
  /** Left the tails (forgetLocal): a tell target holding it looks its actor's up again. */
  gone: boolean;
}

/** The calls of a journal frame, decoded, with their actors' names (`identityOf` an actor id). */
function* readEntry(strings: readonly string[], w: Uint32Array, identityOf: (id: number) => string | undefined): Generator<{ key: string; kernel: string; tenant: string; actorKey: string; call: JournaledCall }> {
  for (const c of readTurn(strings, w)) {
    const identity = identityOf(c.actorId);
    if (identity === undefined) throw new Error(`the journal names actor id ${c.actorId}, which the store does not know`);
    const { kernel, tenant, key: actorKey } = identityParts(identity);
    yield {
      key: storeKey(identity),
      kernel,
      tenant,
      actorKey,
      call: {
        seq: c.seq,
        sender: c.sender,
        call: { id: c.id, epoch: 0, op: c.op as CallOp, kernel, tenant, key: actorKey, principal: c.principal, roles: c.roles, source: c.source, hlcHi: 0, hlcLo: 0, count: c.count, words: c.words, payload: c.payload },
      },
    };
  }
}

/**
 * A write inside a transaction callback: lmdb-js gives each its own promise, which fails
 * with the transaction (the transaction's own promise says so to its caller).
 */
function quiet(write: Promise<unknown>): void {
  write.catch(absorb);
}

/**
 * A failed commit's error from lmdb-js carries `commitError`, a second promise rejected
 * with the cause, which nobody else handles (an unhandled rejection ends the process).
 */
function absorb(error: unknown): void {
  (error as { commitError?: Promise<unknown> } | undefined)?.commitError?.catch(() => {});
}

/** `write`, failing as ERR_RINGSHARD_STORE saying `what` (its lmdb-js side promise handled: see absorb). */
function settled<T>(path: string, what: string, write: Promise<T>): Promise<T> {
  return write.catch((error: unknown) => {
    absorb(error);
    throw storeError(ErrorCode.STORE, path, what, error);
  });
}

function storeError(code: ErrorCode, path: string, what: string, error?: unknown): RingshardError {
  // A failed commit's own message says only that: its cause (ENOSPC, EIO) is what LMDB logs.
  const failedCommit = (error as { commitError?: unknown } | undefined)?.commitError !== undefined;
  const detail = error instanceof Error ? `: ${error.message}${failedCommit ? ' (the disk is full, or it failed: LMDB logged the cause)' : ''}` : '';
  return new RingshardError(code, `options.persist.path '${path}': ${what}${detail}`, error === undefined ? undefined : { cause: error });
}

/** Words as bytes, a copy (LMDB may hand out buffers it reuses). */
function bytesOf(words: Uint32Array): Uint8Array {
  return new Uint8Array(words.buffer.slice(words.byteOffset, words.byteOffset + words.byteLength));
}

function wordsOf(bytes: Uint8Array): Uint32Array {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Uint32Array(copy.buffer, 0, copy.byteLength >>> 2);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class LmdbStore implements StateStore {
  private readonly root: RootDatabase;
  private readonly snapshots: Database<StoredSnapshot, string>;
  /** The calls after the snapshots, a frame per turn. */
  private readonly journal: JournalFile;
  /** The calls journaled in this turn, not yet written. */
  private turn: Turn | undefined;
  private readonly ids: Database<string | number, number | string>;
  private readonly meta: Database<unknown, string>;
  /** Store key -> the actor's armed timers (StoredTimers), for actors that have some. */
  private readonly timers: Database<StoredTimers, string>;
  private seq: number;
  private lastTurn: number;
  /** This turn's calls, as the words of its frame (reused turn after turn). */
  private readonly building = new TurnWords();
  /** Per store key: its calls no snapshot covers yet (see Tail). */
  private readonly tails = new Map<string, Tail>();
  /** Per turn on disk: the actors whose calls in it no snapshot covers yet. */
  private readonly liveInTurn = new Map<number, { n: number }>();
  private closed = false;
  entries = 0;
  snapshotsWritten = 0;
  bytesWritten = 0;
  /** Journal commit latency (see STORE_COMMIT_BUCKETS). */
  readonly commitSeconds = new Float64Array(STORE_COMMIT_BUCKETS.length + 3);

  private constructor(
    readonly path: string,
    root: RootDatabase,
  ) {
    this.root = root;
    this.snapshots = root.openDB<StoredSnapshot, string>({ name: 'snapshots' });
    this.ids = root.openDB<string | number, number | string>({ name: 'ids' });
    this.meta = root.openDB<unknown, string>({ name: 'meta' });
    this.timers = root.openDB<StoredTimers, string>({ name: 'timers' });
    const format = this.meta.get('format');
    // Format 2 kept the journal in LMDB: a store it left with no journal (a clean shutdown) opens.
    const upgradable = format === undefined || (format === 2 && root.openDB({ name: 'journal' }).getCount() === 0);
    if (upgradable) quiet(this.meta.put('format', FORMAT)); // written again next time
    else if (format !== FORMAT) throw new Error(`its journal is in format ${String(format ?? 1)}, this version reads format ${FORMAT} (start the version that wrote it once and shut it down cleanly: that leaves no journal)`);
    this.journal = JournalFile.open(join(path, JOURNAL_DIR));
    this.seq = (this.meta.get('seq') as number | undefined) ?? 0;
    this.lastTurn = 0;
    this.readTails();
  }

  /** What a previous process journaled and no snapshot covers: indexed by actor, once. */
  private readTails(): void {
    const covered = new Map<string, number>();
    for (const { turn, segment, strings, words } of this.journal.read()) {
      this.lastTurn = Math.max(this.lastTurn, turn);
      let live = 0;
      for (const { key, kernel, tenant, actorKey, call } of readEntry(strings, words, (id) => this.identityOfSync(id))) {
        let upTo = covered.get(key);
        if (upTo === undefined) covered.set(key, (upTo = this.snapshots.get(key)?.seq ?? 0));
        if (call.seq <= upTo) continue;
        const tail = this.tailOf(key);
        if (tail.turn !== turn) {
          tail.turn = turn;
          tail.turns.push(turn);
          tail.lastSeqs.push(call.seq);
          live++;
        } else tail.lastSeqs[tail.lastSeqs.length - 1] = call.seq;
        tail.lastSeq = call.seq;
        if (call.seq > this.seq) this.seq = call.seq;
        (tail.calls ??= []).push(call);
        tail.identity ??= { kernel, tenant, key: actorKey };
      }
      if (live > 0) {
        this.liveInTurn.set(turn, { n: live });
        this.journal.keep(turn, segment);
      }
    }
    this.journal.dropUnneeded();
  }

  private tailOf(key: string): Tail {
    let tail = this.tails.get(key);
    if (!tail) this.tails.set(key, (tail = { turns: [], lastSeqs: [], lastSeq: 0, committed: undefined, turn: 0, calls: undefined, identity: undefined, gone: false }));
    return tail;
  }

  /**
   * Opens (creating it if needed) the store in directory `path`. Fails with
   * ERR_RINGSHARD_STORE_LOCKED when another live process has it open, and with
   * ERR_RINGSHARD_STORE when the directory cannot be made, written or read as a store.
   */
  static open(path: string): LmdbStore {
    try {
      mkdirSync(path, { recursive: true });
      accessSync(path, constants.W_OK | constants.R_OK);
    } catch (error) {
      throw storeError(ErrorCode.STORE, path, 'the directory cannot be created or written', error);
    }
    takeLock(path);
    let root: RootDatabase | undefined;
    try {
      checkHeader(join(path, DATA_FILE));
      root = open({ path: join(path, DATA_FILE), noSubdir: true, overlappingSync: false, eventTurnBatching: false, maxDbs: 8, mapSize: 2 ** 34 });
      return new LmdbStore(path, root);
    } catch (error) {
      void root?.close();
      releaseLock(path);
      throw storeError(ErrorCode.STORE, path, 'cannot be opened as a ringshard store (corrupt, or not one)', error);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.journal.close();
    await this.root.close();
    releaseLock(this.path);
  }

  // ---- leases: one process holds the whole store (the lock file)

  acquire(): Promise<Acquired> {
    return Promise.resolve({ how: 'own', previous: LOCAL_WRITER });
  }

  release(): Promise<void> {
    return Promise.resolve();
  }

  // ---- ids

  /** Where the id sequence resumes after a restart (kept with every new id). */
  nextOrdinal: (() => number) | undefined;

  async registerId(id: number, identity: string): Promise<void> {
    if (this.ids.get(id) === identity) return;
    const next = this.nextOrdinal?.();
    await settled(this.path, `the id of actor '${identity.replaceAll('\u0000', '/')}' could not be written`, this.root.transaction(() => {
      quiet(this.ids.put(id, identity));
      quiet(this.ids.put(identity, id));
      if (next !== undefined) quiet(this.meta.put(NEXT_ORDINAL, Math.max(next, (this.meta.get(NEXT_ORDINAL) as number | undefined) ?? 1)));
    }));
  }

  async identityOf(id: number): Promise<string | undefined> {
    return this.identityOfSync(id);
  }

  /** The identity of the actor that had `id` (LMDB reads are synchronous). */
  identityOfSync(id: number): string | undefined {
    return this.ids.get(id) as string | undefined;
  }

  /** The id an actor had before (undefined: never stored). */
  idOf(identity: string): number | undefined {
    return this.ids.get(identity) as number | undefined;
  }

  /** A value kept across restarts (the id permutation's keys, its next ordinal). */
  getMeta<T>(name: string): T | undefined {
    return this.meta.get(name) as T | undefined;
  }

  putMeta(name: string, value: unknown): Promise<boolean> {
    return settled(this.path, `'${name}' could not be written`, this.meta.put(name, value));
  }

  // ---- snapshots

  async readSnapshot(key: string): Promise<Snapshot | undefined> {
    const s = this.snapshots.get(key);
    if (!s) return undefined;
    return {
      seq: s.seq,
      state: wordsOf(s.state),
      ...(s.schema !== undefined ? { schema: s.schema } : {}),
      ...(s.sends !== undefined ? { k2k: { sends: s.sends, received: s.received ?? [] } } : {}),
    };
  }

  /** Writes the snapshot and drops the journal entries no actor needs any more, in one transaction. */
  async writeSnapshot(key: string, seq: number, state: Uint32Array, schema?: string, k2k?: K2KMarks, timers?: StoredTimers): Promise<void> {
    const bytes = bytesOf(state);
    this.bytesWritten += bytes.byteLength;
    const value: StoredSnapshot = { seq, state: bytes, ...(schema !== undefined ? { schema } : {}), ...(k2k ? { sends: k2k.sends, received: k2k.received } : {}) };
    const done = this.coveredTurns(key, seq);
    await settled(this.path, 'a snapshot could not be written', this.root.transaction(() => {
      quiet(this.snapshots.put(key, value));
      if (timers !== undefined) quiet(timers.timers.length > 0 ? this.timers.put(key, timers) : this.timers.remove(key));
      // Where sequences resume at open: past every snapshot's (and the journal's own).
      quiet(this.meta.put('seq', this.seq));
    }));
    // The snapshot is on disk: the turns it finished may go.
    if (done.length > 0) this.journal.release(done);
    this.snapshotsWritten++;
  }

  /** Takes the actor's turns up to `seq` off their counts; returns the turns no actor needs now. */
  private coveredTurns(key: string, seq: number): number[] {
    const tail = this.tails.get(key);
    const done: number[] = [];
    if (!tail) return done;
    let n = 0;
    while (n < tail.turns.length && tail.lastSeqs[n]! <= seq) {
      const turn = tail.turns[n++]!;
      const live = this.liveInTurn.get(turn)!;
      if (--live.n > 0) continue;
      else {
        this.liveInTurn.delete(turn);
        done.push(turn);
      }
    }
    tail.turns.splice(0, n);
    tail.lastSeqs.splice(0, n);
    return done;
  }

  /** Whether the store holds a state for the actor (a terminated one's is empty). */
  hasState(key: string): boolean {
    const s = this.snapshots.get(key);
    return s !== undefined && s.state.byteLength > 0;
  }

  async deleteSnapshot(key: string): Promise<void> {
    await settled(this.path, 'a snapshot could not be deleted', this.snapshots.remove(key));
  }

  // ---- journal

  /**
   * Journals a call. The calls of one turn (up to the next microtask) are one journal
   * frame, written with the frames of the turns around it in one synced write. The
   * promise (one for the whole turn) resolves once the frame is on disk; journaled(key)
   * gives the sequence.
   */
  append(key: string, call: Call, sender: string, actorId = 0): Promise<void> {
    if (this.closed) return Promise.reject(new RingshardError(ErrorCode.CLOSED, 'the store is closed'));
    const turn = this.turn ?? this.startTurn();
    const b = this.building;
    const seq = this.nextSeq(key, turn);
    const o = b.call(seq, actorId, b.caller(call.op, call.words, call.roles, call.source, call.principal, sender), call.id, call.count, call.payload.length);
    b.words.set(call.payload, o);
    return turn.committed;
  }

  /**
   * Journals one tell from a caller of this process (no call id), encoding `msg` straight
   * into the turn's words: consecutive tells of one caller to one actor are one call.
   * Throws ERR_RINGSHARD_SCHEMA (nothing journaled) if `msg` does not fit `codec`.
   */
  appendTell(target: TellTarget, principal: string, roles: number, source: number, codec: Codec, msg: unknown): Promise<void> {
    if (this.closed) return Promise.reject(new RingshardError(ErrorCode.CLOSED, 'the store is closed'));
    const turn = this.turn ?? this.startTurn();
    const b = this.building;
    const t = target as LmdbTellTarget;
    if (b.tell(this.seq + 1, t.actorId, b.caller(0 /* CallOp.TELL */, codec.words, roles, source, principal, ''), codec, msg)) {
      if (t.tail.gone) t.tail = this.tailOf(t.key);
      this.count(t.tail, turn);
    }
    return turn.committed;
  }

  /** A handle for appendTell, kept by the actor's link (no lookup per tell). */
  tellTarget(key: string, actorId: number): TellTarget {
    const target: LmdbTellTarget = { key, actorId, tail: this.tailOf(key) };
    return target;
  }

  /** The next call's sequence, counted in its actor's tail and its turn's actors. */
  private nextSeq(key: string, turn: Turn): number {
    return this.count(this.tailOf(key), turn);
  }

  private count(tail: Tail, turn: Turn): number {
    const seq = ++this.seq;
    this.entries++;
    if (tail.turn !== turn.number) {
      tail.turn = turn.number;
      tail.turns.push(turn.number);
      tail.lastSeqs.push(seq);
      turn.live.n++;
    } else tail.lastSeqs[tail.lastSeqs.length - 1] = seq;
    tail.lastSeq = seq;
    tail.committed = turn.committed;
    return seq;
  }

  private startTurn(): Turn {
    const started = performance.now();
    const turn: Turn = { number: ++this.lastTurn, committed: undefined as unknown as Promise<void>, live: { n: 0 } };
    this.liveInTurn.set(turn.number, turn.live);
    turn.committed = new Promise<void>((resolve, reject) =>
      queueMicrotask(() => {
        this.turn = undefined;
        this.flush(turn).then(() => {
          this.countCommit((performance.now() - started) / 1000);
          resolve();
        }, (error: unknown) => reject(storeError(ErrorCode.STORE, this.path, 'messages could not be journaled', error)));
      }),
    );
    // Nobody may be waiting (a tell whose promise was dropped): not an unhandled rejection here.
    turn.committed.catch(() => {});
    this.turn = turn;
    return turn;
  }

  /** The turn as one frame at the journal's end (copied in: the words are free again after). */
  private flush(turn: Turn): Promise<unknown> {
    const b = this.building;
    const head = b.head();
    this.bytesWritten += (head.length + b.length) * 4;
    const written = this.journal.append(turn.number, b.strings, head, b.words, b.length);
    b.reset();
    return written;
  }

  private countCommit(seconds: number): void {
    const h = this.commitSeconds;
    const bounds = STORE_COMMIT_BUCKETS;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    h[i]!++;
    h[bounds.length + 1]! += seconds;
    h[bounds.length + 2]!++;
  }

  journaled(key: string): Promise<number> {
    const tail = this.tails.get(key);
    if (!tail) return Promise.resolve(this.snapshots.get(key)?.seq ?? 0);
    const seq = tail.lastSeq;
    return tail.committed ? tail.committed.then(() => seq) : Promise.resolve(Math.max(seq, this.snapshots.get(key)?.seq ?? 0));
  }

  /** The calls a previous process journaled for the actor after `after`, oldest first (given once). */
  async read(key: string, after: number): Promise<JournaledCall[]> {
    const tail = this.tails.get(key);
    const calls = tail?.calls ?? [];
    if (tail) tail.calls = undefined;
    return calls.filter((c) => c.seq > after);
  }

  /** The actors a previous process journaled calls for that no snapshot covers (restored at start). */
  unfinished(): Array<{ readonly kernel: string; readonly tenant: string; readonly key: string }> {
    const out = [];
    for (const tail of this.tails.values()) if (tail.calls && tail.identity) out.push(tail.identity);
    return out;
  }

  /** Snapshots trim the journal as they are written (writeSnapshot). */
  trimOwn(): Promise<void> {
    return Promise.resolve();
  }

  async forget(key: string, k2k?: K2KMarks): Promise<void> {
    const seq = await this.journaled(key);
    await this.writeSnapshot(key, seq, new Uint32Array(0), undefined, k2k, { actorId: 0, timers: [] });
  }

  /** Every stored actor's armed timers (as their last snapshots hold them). */
  armedTimers(): StoredTimers[] {
    return [...this.timers.getRange().map(({ value }) => value)];
  }

  /** The actor left this process's memory (deactivated): what it needs of the journal is on disk. */
  forgetLocal(key: string): void {
    const tail = this.tails.get(key);
    if (tail && tail.turns.length === 0) {
      tail.gone = true;
      this.tails.delete(key);
    }
  }

  sweep(): Promise<number> {
    return Promise.resolve(0);
  }

  /** Journal entries (turns) some actor still needs: a snapshot does not cover its calls there yet. */
  get journalLength(): number {
    return this.liveInTurn.size;
  }

  /** Stored actors (snapshots), for metrics and tests. */
  get storedActors(): number {
    return this.snapshots.getCount();
  }
}

/**
 * Refuses a data file whose meta pages are not LMDB's: LMDB maps the file and trusts it,
 * and a file of garbage crashed the process (SIGSEGV, measured) instead of failing.
 * Corruption past the meta pages is not caught here.
 */
function checkHeader(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // a new store
    throw error;
  }
  try {
    const head = Buffer.alloc(2 * PAGE);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n < 2 * PAGE || head.readUInt32LE(META_MAGIC_AT) !== LMDB_MAGIC || head.readUInt32LE(PAGE + META_MAGIC_AT) !== LMDB_MAGIC) {
      throw new Error(`${file} is not an LMDB data file (its meta pages do not carry LMDB's magic)`);
    }
  } finally {
    closeSync(fd);
  }
}

function takeLock(path: string): void {
  const file = join(path, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw storeError(ErrorCode.STORE, path, 'cannot create its lock file', error);
    }
    const holder = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
      throw storeError(ErrorCode.STORE_LOCKED, path, `another process (pid ${holder}) has it open; one process at a time may`);
    }
    if (holder === process.pid) throw storeError(ErrorCode.STORE_LOCKED, path, 'this process has it open already (another cluster)');
    // Its holder is gone (killed): the lock is stale.
    rmSync(file, { force: true });
  }
  throw storeError(ErrorCode.STORE_LOCKED, path, 'its lock file keeps coming back');
}

function releaseLock(path: string): void {
  try {
    const file = join(path, LOCK_FILE);
    if (Number(readFileSync(file, 'utf8').trim()) === process.pid) rmSync(file, { force: true });
  } catch {
    // Gone already.
  }
}
