/**
 * The StateStore on one host, with no server: an LMDB environment (the `lmdb` package)
 * in a directory of its own.
 *
 *   snapshots  store key -> { seq, state words, schema }   the state and what it covers
 *   journal    [store key, seq] -> a call                   the calls after it, in order
 *   ids        actor id -> identity; identity -> actor id   stable ids across restarts
 *   meta       'seq' -> the last journal sequence, 'idKeys', 'nextOrdinal'
 *
 * Group commit: lmdb-js writes every put issued in one turn of the event loop in one
 * transaction; with overlappingSync off, LMDB flushes a transaction to disk before its
 * commit returns, so a put's promise resolves once the call is on disk. Writing a
 * snapshot deletes the journal entries it covers in the same transaction.
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
import type { Acquired, JournaledCall, Snapshot, StateStore } from '../recovery/state-store.ts';
import { STORE_COMMIT_BUCKETS } from '../coordinator/actor-locator.ts';

const LOCK_FILE = 'ringshard.lock';
const DATA_FILE = 'state.mdb';
/** LMDB's meta pages (the first two pages) carry this magic at byte 24 (after the 16-byte page header and 8 bytes). */
const LMDB_MAGIC = 0xbeefc0de;
const META_MAGIC_AT = 24;
const PAGE = 4096;
/** The writer name journal reads are asked for: one process writes this store. */
export const LOCAL_WRITER = 'local';

interface Turn {
  readonly entries: Map<string, EntryWriter>;
  committed: Promise<void>;
}

interface StoredSnapshot {
  readonly seq: number;
  readonly state: Uint8Array;
  /** The hash of its state schema (src/persist/schemas.ts). */
  readonly schema?: string;
}

/**
 * A journal entry: an actor's calls of one turn. `w` holds per call CALL_WORDS header
 * words (sequence high and low, id, op, count, words per message, roles, source, its
 * principal's and its sender's index in `s`) then its payload words; `s` is the entry's
 * strings: kernel, tenant, key, then the principals and senders the calls name.
 */
interface StoredEntry {
  readonly s: string[];
  /** The words as bytes (msgpack keeps bytes as they are; a typed array it would not). */
  readonly w: Uint8Array;
}

const CALL_WORDS = 10;

/** Builds one entry from calls of one actor. */
class EntryWriter {
  private words = new Uint32Array(64);
  private length = 0;
  private readonly strings: string[] = [];
  private readonly index = new Map<string, number>();
  lastSeq = 0;

  private stringAt(text: string): number {
    let i = this.index.get(text);
    if (i === undefined) this.index.set(text, (i = this.strings.push(text) - 1));
    return i;
  }

  add(seq: number, call: Call, sender: string): void {
    if (this.strings.length === 0) {
      this.stringAt(call.kernel);
      this.stringAt(call.tenant);
      this.stringAt(call.key);
    }
    const need = this.length + CALL_WORDS + call.payload.length;
    if (need > this.words.length) {
      const grown = new Uint32Array(Math.max(need, this.words.length * 2));
      grown.set(this.words.subarray(0, this.length));
      this.words = grown;
    }
    const w = this.words;
    let o = this.length;
    w[o++] = Math.floor(seq / 2 ** 32);
    w[o++] = seq >>> 0;
    w[o++] = call.id;
    w[o++] = call.op;
    w[o++] = call.count;
    w[o++] = call.words;
    w[o++] = call.roles;
    w[o++] = call.source;
    w[o++] = this.stringAt(call.principal);
    w[o++] = this.stringAt(sender);
    w.set(call.payload, o);
    this.length = o + call.payload.length;
    this.lastSeq = seq;
  }

  finish(): StoredEntry {
    return { s: this.strings, w: new Uint8Array(this.words.buffer, 0, this.length * 4) };
  }
}

function readEntry(entry: StoredEntry): JournaledCall[] {
  const out: JournaledCall[] = [];
  const s = entry.s;
  const w = wordsOf(entry.w);
  for (let o = 0; o < w.length; ) {
    const seq = w[o]! * 2 ** 32 + w[o + 1]!;
    const count = w[o + 4]!;
    const words = w[o + 5]!;
    const payload = w.slice(o + CALL_WORDS, o + CALL_WORDS + count * words);
    out.push({
      seq,
      sender: s[w[o + 9]!]!,
      call: {
        id: w[o + 2]!,
        epoch: 0,
        op: w[o + 3]! as CallOp,
        kernel: s[0]!,
        tenant: s[1]!,
        key: s[2]!,
        principal: s[w[o + 8]!]!,
        roles: w[o + 6]!,
        source: w[o + 7]!,
        hlcHi: 0,
        hlcLo: 0,
        count,
        words,
        payload,
      },
    });
    o += CALL_WORDS + count * words;
  }
  return out;
}

function storeError(code: ErrorCode, path: string, what: string, error?: unknown): RingshardError {
  const detail = error instanceof Error ? `: ${error.message}` : '';
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
  /** [store key, the sequence of its last call in the entry] -> the actor's calls of one turn. */
  private readonly journal: Database<StoredEntry, [string, number]>;
  /** The calls appended in this turn, per actor, not yet written. */
  private turn: Turn | undefined;
  private readonly ids: Database<string | number, number | string>;
  private readonly meta: Database<unknown, string>;
  private seq: number;
  /** Per actor: the last journal write with a call of it (its sequence once on disk). */
  private readonly lastEntry = new Map<string, { readonly seq: number; readonly committed: Promise<void> }>();
  private dirty = new Set<string>();
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
    this.journal = root.openDB<StoredEntry, [string, number]>({ name: 'journal' });
    this.ids = root.openDB<string | number, number | string>({ name: 'ids' });
    this.meta = root.openDB<unknown, string>({ name: 'meta' });
    this.seq = (this.meta.get('seq') as number | undefined) ?? 0;
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
    let root: RootDatabase;
    try {
      checkHeader(join(path, DATA_FILE));
      root = open({ path: join(path, DATA_FILE), noSubdir: true, overlappingSync: false, maxDbs: 8, mapSize: 2 ** 34 });
      const store = new LmdbStore(path, root);
      return store;
    } catch (error) {
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

  async registerId(id: number, identity: string): Promise<void> {
    if (this.ids.get(id) === identity) return;
    await this.root.transaction(() => {
      this.ids.put(id, identity);
      this.ids.put(identity, id);
    });
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
    return this.meta.put(name, value);
  }

  // ---- snapshots

  async readSnapshot(key: string): Promise<Snapshot | undefined> {
    const s = this.snapshots.get(key);
    return s ? { seq: s.seq, state: wordsOf(s.state), ...(s.schema !== undefined ? { schema: s.schema } : {}) } : undefined;
  }

  /** Writes the snapshot and drops the journal entries it covers, in one transaction. */
  async writeSnapshot(key: string, seq: number, state: Uint32Array, schema?: string): Promise<void> {
    const bytes = bytesOf(state);
    this.bytesWritten += bytes.byteLength;
    await this.root.transaction(() => {
      this.snapshots.put(key, schema === undefined ? { seq, state: bytes } : { seq, state: bytes, schema });
      for (const k of this.journal.getKeys({ start: [key, 0], end: [key, seq + 1] })) this.journal.remove(k);
    });
    this.snapshotsWritten++;
  }

  async deleteSnapshot(key: string): Promise<void> {
    await this.snapshots.remove(key);
  }

  // ---- journal

  /**
   * Journals a call. The calls of one turn (up to the next microtask) are written
   * together, one journal entry per actor holding its calls of the turn as words, in one
   * LMDB transaction. The promise (one for the whole turn) resolves once that
   * transaction is on disk; journaled(key) gives the sequence.
   */
  append(key: string, call: Call, sender: string): Promise<void> {
    if (this.closed) return Promise.reject(new RingshardError(ErrorCode.CLOSED, 'the store is closed'));
    const seq = ++this.seq;
    this.entries++;
    this.dirty.add(key);
    const turn = this.turn ?? this.startTurn();
    let entry = turn.entries.get(key);
    if (!entry) turn.entries.set(key, (entry = new EntryWriter()));
    entry.add(seq, call, sender);
    this.bytesWritten += call.payload.byteLength;
    this.lastEntry.set(key, { seq, committed: turn.committed });
    return turn.committed;
  }

  private startTurn(): Turn {
    const started = performance.now();
    const turn: Turn = { entries: new Map(), committed: undefined as unknown as Promise<void> };
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

  /** One entry per actor ([key, its last sequence] -> its calls), and the sequence reached, in one transaction. */
  private flush(turn: Turn): Promise<unknown> {
    let last: Promise<unknown> = Promise.resolve();
    for (const [key, entry] of turn.entries) last = this.journal.put([key, entry.lastSeq], entry.finish());
    const seq = this.meta.put('seq', this.seq);
    // lmdb-js commits the puts of one turn together: the last one settles with all.
    return Promise.all([last, seq]);
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
    const last = this.lastEntry.get(key);
    return last ? last.committed.then(() => last.seq) : Promise.resolve(this.lastStored(key));
  }

  /** The sequence of the actor's newest journal entry on disk (0: none). */
  private lastStored(key: string): number {
    for (const k of this.journal.getKeys({ start: [key, Number.MAX_SAFE_INTEGER], end: [key, 0], reverse: true, limit: 1 })) return k[1];
    return this.snapshots.get(key)?.seq ?? 0;
  }

  async read(key: string, after: number): Promise<JournaledCall[]> {
    const out: JournaledCall[] = [];
    // An entry whose last call is past `after` may begin before it: calls are filtered.
    for (const { value } of this.journal.getRange({ start: [key, after + 1], end: [key, Number.MAX_SAFE_INTEGER] })) {
      for (const j of readEntry(value)) if (j.seq > after) out.push(j);
    }
    return out;
  }

  takeDirty(): Set<string> {
    const dirty = this.dirty;
    this.dirty = new Set();
    return dirty;
  }

  /** Snapshots trim the journal as they are written (writeSnapshot). */
  trimOwn(): Promise<void> {
    return Promise.resolve();
  }

  async forget(key: string): Promise<void> {
    const seq = await this.journaled(key);
    await this.writeSnapshot(key, seq, new Uint32Array(0));
  }

  forgetLocal(): void {}

  sweep(): Promise<number> {
    return Promise.resolve(0);
  }

  /** Journal entries on disk (not yet covered by a snapshot). */
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
