/**
 * The StateStore on one host, with no server: an LMDB environment (the `lmdb` package)
 * in a directory of its own.
 *
 *   snapshots  store key -> { seq, state words, schema, k2k }  the state and what it covers
 *   journal    turn number -> every call journaled in a turn    the calls after them, in order
 *   ids        actor id -> identity; identity -> actor id       stable ids across restarts
 *   meta       'seq' -> a call sequence past every snapshot's, 'format', 'idKeys', 'nextOrdinal'
 *
 * Group commit: the calls journaled in one turn of the event loop are one journal entry
 * (one put of their words, keyed by an increasing turn number: LMDB appends it at the
 * B-tree's right edge), and lmdb-js commits the puts of a turn in one transaction; with
 * overlappingSync off, LMDB flushes a transaction to disk before its commit returns, so
 * the put's promise resolves once the calls are on disk. (One put per actor per turn,
 * as before, wrote 1,024 keys all over the tree: 34 ms a commit against ~2 ms for the
 * same words in one entry, measured.)
 *
 * Trimming: each turn counts the actors whose calls in it no snapshot covers yet; a
 * snapshot that covers an actor's last call in a turn takes it off the count, and the
 * turn's entry is deleted in the snapshot's transaction when the count reaches 0.
 * Opening the store reads what is left of the journal once (it is bounded by the
 * snapshot rounds), indexed by actor.
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
import type { Acquired, JournaledCall, K2KMarks, Snapshot, StateStore, StoredTimers } from '../recovery/state-store.ts';
import { STORE_COMMIT_BUCKETS } from '../coordinator/actor-locator.ts';

const LOCK_FILE = 'ringshard.lock';
const DATA_FILE = 'state.mdb';
/** LMDB's meta pages (the first two pages) carry this magic at byte 24 (after the 16-byte page header and 8 bytes). */
const LMDB_MAGIC = 0xbeefc0de;
const META_MAGIC_AT = 24;
const PAGE = 4096;
/** The meta name of where the id sequence resumes (see PersistentLocator). */
const NEXT_ORDINAL = 'nextOrdinal';
/** The writer name journal reads are asked for: one process writes this store. */
export const LOCAL_WRITER = 'local';

/** The calls journaled in one turn of the event loop, not yet written. */
interface Turn {
  readonly number: number;
  readonly strings: string[];
  readonly index: Map<string, number>;
  committed: Promise<void>;
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
 * A journal entry: every call of one turn. `w` holds per call CALL_WORDS header words
 * (its actor's id, which the ids table names; sequence high and low; id; op; count;
 * words per message; roles; source; its principal's and its sender's index in `s`),
 * then its payload words.
 */
interface StoredEntry {
  readonly s: string[];
  /** The words as bytes (msgpack keeps bytes as they are; a typed array it would not). */
  readonly w: Uint8Array;
}

const CALL_WORDS = 11;
/** The journal's layout; a store written in another is refused (ERR_RINGSHARD_STORE). */
const FORMAT = 2;

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
}

/** The calls of a stored entry, decoded, with their actors' names (`identityOf` an actor id). */
function* readEntry(entry: StoredEntry, identityOf: (id: number) => string | undefined): Generator<{ key: string; kernel: string; tenant: string; actorKey: string; call: JournaledCall }> {
  const s = entry.s;
  const w = wordsOf(entry.w);
  for (let c = 0; c < w.length; ) {
    const count = w[c + 5]!;
    const words = w[c + 6]!;
    const identity = identityOf(w[c]!);
    if (identity === undefined) throw new Error(`the journal names actor id ${w[c]!}, which the store does not know`);
    const { kernel, tenant, key: actorKey } = identityParts(identity);
    const key = storeKey(identity);
    yield {
      key,
      kernel,
      tenant,
      actorKey,
      call: {
        seq: w[c + 1]! * 2 ** 32 + w[c + 2]!,
        sender: s[w[c + 10]!]!,
        call: {
          id: w[c + 3]!,
          epoch: 0,
          op: w[c + 4]! as CallOp,
          kernel,
          tenant,
          key: actorKey,
          principal: s[w[c + 9]!]!,
          roles: w[c + 7]!,
          source: w[c + 8]!,
          hlcHi: 0,
          hlcLo: 0,
          count,
          words,
          payload: w.subarray(c + CALL_WORDS, c + CALL_WORDS + count * words),
        },
      },
    };
    c += CALL_WORDS + count * words;
  }
}

/** `text`'s index in the turn's strings (added once). */
function stringAt(turn: Turn, text: string): number {
  let i = turn.index.get(text);
  if (i === undefined) turn.index.set(text, (i = turn.strings.push(text) - 1));
  return i;
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
  /** Turn number -> the calls journaled in that turn. */
  private readonly journal: Database<StoredEntry, number>;
  /** The calls journaled in this turn, not yet written. */
  private turn: Turn | undefined;
  private readonly ids: Database<string | number, number | string>;
  private readonly meta: Database<unknown, string>;
  /** Store key -> the actor's armed timers (StoredTimers), for actors that have some. */
  private readonly timers: Database<StoredTimers, string>;
  private seq: number;
  private lastTurn: number;
  /** The words of this turn's calls (CALL_WORDS each, then the payload), reused turn after turn. */
  private words = new Uint32Array(4096);
  private length = 0;
  /** Per store key: its calls no snapshot covers yet (see Tail). */
  private readonly tails = new Map<string, Tail>();
  /** Per turn on disk: the actors whose calls in it no snapshot covers yet. */
  private readonly liveInTurn = new Map<number, number>();
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
    this.journal = root.openDB<StoredEntry, number>({ name: 'journal' });
    this.ids = root.openDB<string | number, number | string>({ name: 'ids' });
    this.meta = root.openDB<unknown, string>({ name: 'meta' });
    this.timers = root.openDB<StoredTimers, string>({ name: 'timers' });
    const format = this.meta.get('format');
    if (format === undefined && this.journal.getCount() === 0) quiet(this.meta.put('format', FORMAT)); // written again next time
    else if (format !== FORMAT) throw new Error(`its journal is in format ${String(format ?? 1)}, this version reads format ${FORMAT}`);
    this.seq = (this.meta.get('seq') as number | undefined) ?? 0;
    this.lastTurn = 0;
    this.readTails();
  }

  /** What a previous process journaled and no snapshot covers: indexed by actor, once. */
  private readTails(): void {
    const drop: number[] = [];
    const covered = new Map<string, number>();
    for (const { key: turn, value } of this.journal.getRange()) {
      this.lastTurn = turn;
      let live = 0;
      for (const { key, kernel, tenant, actorKey, call } of readEntry(value, (id) => this.identityOfSync(id))) {
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
      if (live > 0) this.liveInTurn.set(turn, live);
      else drop.push(turn);
    }
    // Covered entries cost only space: a failed removal is tried again next time.
    if (drop.length > 0) quiet(this.root.transaction(() => drop.forEach((turn) => quiet(this.journal.remove(turn)))));
  }

  private tailOf(key: string): Tail {
    let tail = this.tails.get(key);
    if (!tail) this.tails.set(key, (tail = { turns: [], lastSeqs: [], lastSeq: 0, committed: undefined, turn: 0, calls: undefined, identity: undefined }));
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
      for (const turn of done) quiet(this.journal.remove(turn));
      // Where sequences resume at open: past every snapshot's (and the journal's own).
      quiet(this.meta.put('seq', this.seq));
    }));
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
      const live = this.liveInTurn.get(turn)! - 1;
      if (live > 0) this.liveInTurn.set(turn, live);
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
   * entry, written in one LMDB transaction. The promise (one for the whole turn) resolves
   * once that transaction is on disk; journaled(key) gives the sequence.
   */
  append(key: string, call: Call, sender: string, actorId = 0): Promise<void> {
    if (this.closed) return Promise.reject(new RingshardError(ErrorCode.CLOSED, 'the store is closed'));
    const o = this.header(key, actorId, call.id, call.op, call.count, call.words, call.roles, call.source, call.principal, sender, call.payload.length);
    this.words.set(call.payload, o);
    return this.turn!.committed;
  }

  /** Journals a run of `count` tells of `words` words each (the first count * words of `payload`), as append does, without a Call. */
  appendTells(key: string, actorId: number, principal: string, roles: number, source: number, count: number, words: number, payload: Uint32Array): Promise<void> {
    if (this.closed) return Promise.reject(new RingshardError(ErrorCode.CLOSED, 'the store is closed'));
    const n = count * words;
    const o = this.header(key, actorId, 0, 0 /* CallOp.TELL */, count, words, roles, source, principal, '', n);
    const w = this.words;
    for (let i = 0; i < n; i++) w[o + i] = payload[i]!;
    return this.turn!.committed;
  }

  /**
   * A call's sequence and its actor's place in this turn (the turn counts an actor once),
   * then its CALL_WORDS header words; returns where its `payloadWords` words go.
   */
  private header(key: string, actorId: number, id: number, op: number, count: number, words: number, roles: number, source: number, principal: string, sender: string, payloadWords: number): number {
    const seq = ++this.seq;
    this.entries++;
    const turn = this.turn ?? this.startTurn();
    const tail = this.tailOf(key);
    if (tail.turn !== turn.number) {
      tail.turn = turn.number;
      tail.turns.push(turn.number);
      tail.lastSeqs.push(seq);
      this.liveInTurn.set(turn.number, (this.liveInTurn.get(turn.number) ?? 0) + 1);
    } else tail.lastSeqs[tail.lastSeqs.length - 1] = seq;
    tail.lastSeq = seq;
    tail.committed = turn.committed;
    const need = this.length + CALL_WORDS + payloadWords;
    if (need > this.words.length) {
      const grown = new Uint32Array(Math.max(need, this.words.length * 2));
      grown.set(this.words.subarray(0, this.length));
      this.words = grown;
    }
    const w = this.words;
    const o = this.length;
    w[o] = actorId;
    w[o + 1] = Math.floor(seq / 2 ** 32);
    w[o + 2] = seq >>> 0;
    w[o + 3] = id;
    w[o + 4] = op;
    w[o + 5] = count;
    w[o + 6] = words;
    w[o + 7] = roles;
    w[o + 8] = source;
    w[o + 9] = stringAt(turn, principal);
    w[o + 10] = stringAt(turn, sender);
    this.length = o + CALL_WORDS + payloadWords;
    return o + CALL_WORDS;
  }

  private startTurn(): Turn {
    const started = performance.now();
    const turn: Turn = { number: ++this.lastTurn, strings: [], index: new Map(), committed: undefined as unknown as Promise<void> };
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

  /** The turn as one entry (appended at the journal's end) and the sequence reached, in one transaction. */
  private flush(turn: Turn): Promise<unknown> {
    const bytes = new Uint8Array(this.words.buffer, 0, this.length * 4);
    this.bytesWritten += bytes.byteLength;
    // lmdb-js encodes a put's value as it is called: the words are free again after it.
    const entry = this.journal.put(turn.number, { s: turn.strings, w: bytes });
    entry.catch(absorb);
    this.length = 0;
    return entry;
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
    if (tail && tail.turns.length === 0) this.tails.delete(key);
  }

  sweep(): Promise<number> {
    return Promise.resolve(0);
  }

  /** Journal entries (turns) on disk not yet covered by snapshots. */
  get journalLength(): number {
    return this.journal.getCount();
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
