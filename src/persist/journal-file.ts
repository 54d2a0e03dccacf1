/**
 * The journal of an embedded store: append-only segment files of CRC-checked frames
 * (one frame per turn of the event loop), written with true group commit. One write is
 * on its way to the disk at a time (a single positioned write to a file opened O_DSYNC:
 * the disk has the bytes when it returns); every frame that arrives meanwhile joins the
 * next write. So a lone call waits for one synced write, and a loaded process writes
 * everything that piled up during the last one in the next, however many turns it was.
 *
 * Why not LMDB's own journal table, as before: an LMDB commit syncs twice (the data
 * pages, then the meta page) and hands over to a writer thread, ~0.5-0.7 ms a commit on
 * this disk against ~0.2 ms for one O_DSYNC write (measured, 2026-12-06), and it commits
 * one transaction at a time, each turn its own. Snapshots, ids and meta stay in LMDB.
 *
 * A frame (little-endian u32 words, 4-byte aligned):
 *   MAGIC, body bytes, crc32(body), then the body:
 *   turn high, turn low, string count, word count, per string (bytes, utf8 padded to 4),
 *   words (src/persist/journal-turn.ts says what they hold)
 * A frame that does not check (a write the process died in, or a failed one) ends its
 * segment's readable part: it was never acknowledged, and every later frame is in a
 * newer segment (each process writes a new one).
 *
 * Segments (journal/<number>.log, 64 MiB or so each) go once no turn in them is live:
 * the store says which turns its snapshots covered (release), after those snapshots are
 * on disk.
 *
 * Segments are zero-filled and synced before they take frames (the next one is prepared
 * in the background once the current one is half full; one left unused by the last
 * process is taken at open): an O_DSYNC write into blocks the file already has syncs the
 * data alone, while one that grows the file syncs its size too (~0.135 against ~0.17 ms
 * here, measured 2026-12-06). Until one is ready, a process writes to a new file in
 * append mode, and switches as soon as it is.
 */
import { close, closeSync, constants, fdatasync, fsyncSync, mkdirSync, open, openSync, readdirSync, readFileSync, readSync, rm, rmSync, statSync, statfs, write } from 'node:fs';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';

const MAGIC = 0x4c4a5352; // 'RSJL'
const FRAME_HEAD = 12;
const BODY_HEAD = 16;
/** A segment takes writes until it holds this many bytes. */
export const SEGMENT_BYTES = 64 * 2 ** 20;
const SEGMENT_NAME = /^(\d{12})\.log$/;
const ZEROS = Buffer.alloc(2 ** 20);
/** After a failed preparation (a full disk), the next try waits this long. */
const PREPARE_RETRY_MS = 1000;
/** A segment is prepared only while the disk has room for this many more. */
const MIN_FREE_SEGMENTS = 4;

/** A frame read back at open. */
export interface ReadFrame {
  readonly turn: number;
  readonly strings: string[];
  readonly words: Uint32Array;
}

function segmentName(n: number): string {
  return `${String(n).padStart(12, '0')}.log`;
}

/** The frames of one segment's bytes, up to the first that does not check. */
export function* framesOf(bytes: Buffer): Generator<ReadFrame> {
  let at = 0;
  while (at + FRAME_HEAD + BODY_HEAD <= bytes.length) {
    if (bytes.readUInt32LE(at) !== MAGIC) return;
    const length = bytes.readUInt32LE(at + 4);
    const body = at + FRAME_HEAD;
    if (length < BODY_HEAD || length % 4 !== 0 || body + length > bytes.length) return;
    if ((crc32(bytes.subarray(body, body + length)) >>> 0) !== bytes.readUInt32LE(at + 8)) return;
    const turn = bytes.readUInt32LE(body) * 2 ** 32 + bytes.readUInt32LE(body + 4);
    const stringCount = bytes.readUInt32LE(body + 8);
    const wordCount = bytes.readUInt32LE(body + 12);
    let p = body + BODY_HEAD;
    const strings: string[] = [];
    for (let i = 0; i < stringCount; i++) {
      const n = bytes.readUInt32LE(p);
      strings.push(bytes.toString('utf8', p + 4, p + 4 + n));
      p += 4 + ((n + 3) & ~3);
    }
    const words = new Uint32Array(wordCount);
    new Uint8Array(words.buffer).set(bytes.subarray(p, p + wordCount * 4));
    yield { turn, strings, words };
    at = body + length;
  }
}

export class JournalFile {
  private fd = -1;
  /** The segment taking writes, and how many bytes it holds. */
  private segment: number;
  private position = 0;
  /** Frames waiting for the next write, and the buffer the write in flight holds. */
  private pending: Buffer = Buffer.alloc(1 << 16);
  private pendingLength = 0;
  private spare: Buffer = Buffer.alloc(1 << 16);
  private pendingTurns: number[] = [];
  private group: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined;
  private writing = false;
  private idle: Array<() => void> = [];
  /** Per turn written, its segment; per segment, its live turns. */
  private readonly turnSegment = new Map<number, number>();
  private readonly liveTurns = new Map<number, number>();
  /** Turns the store released before their frame's write started. */
  private readonly releasedEarly = new Set<number>();
  /** Frame bytes written so far, and the writes (group commits) that took them. */
  bytesWritten = 0;
  writes = 0;

  /** Whether the segment taking writes was zero-filled before (writes into it do not grow it). */
  private preallocated = false;
  /** The highest segment number made so far (a new one takes the next). */
  private highest: number;
  /** The next segment, being zero-filled (ready: it may take writes). */
  private next: { readonly number: number; ready: boolean } | undefined;
  private prepareAfter = 0;

  private constructor(
    private readonly dir: string,
    private readonly segments: number[],
    private readonly segmentBytes: number,
    private readonly preallocate: boolean,
    /** A zero-filled segment the last process prepared and did not use: the first to take writes. */
    unused: number | undefined,
  ) {
    this.highest = Math.max(segments.at(-1) ?? 0, unused ?? 0);
    this.segment = 0;
    if (unused !== undefined) this.next = { number: unused, ready: true };
  }

  /**
   * Opens the journal in `dir` (creating it); `read` then gives what earlier processes
   * wrote. `preallocate: false`: segments grow as frames are written (tests).
   */
  static open(dir: string, segmentBytes = SEGMENT_BYTES, { preallocate = true } = {}): JournalFile {
    mkdirSync(dir, { recursive: true });
    const segments = readdirSync(dir)
      .map((name) => SEGMENT_NAME.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const last = segments.at(-1);
    let unused: number | undefined;
    if (preallocate && last !== undefined && isUnusedSegment(join(dir, segmentName(last)), segmentBytes)) unused = segments.pop();
    return new JournalFile(dir, segments, segmentBytes, preallocate, unused);
  }

  /** Every frame earlier processes wrote, oldest first, with its segment. */
  *read(): Generator<ReadFrame & { readonly segment: number }> {
    for (const segment of this.segments) {
      for (const frame of framesOf(readFileSync(join(this.dir, segmentName(segment))))) yield { ...frame, segment };
    }
  }

  /** A turn read back that some actor still needs: its segment stays. */
  keep(turn: number, segment: number): void {
    this.turnSegment.set(turn, segment);
    this.liveTurns.set(segment, (this.liveTurns.get(segment) ?? 0) + 1);
  }

  /** After read and keep: removes the old segments no kept turn is in. */
  dropUnneeded(): void {
    for (const segment of this.segments) if (!this.liveTurns.has(segment)) rmSync(join(this.dir, segmentName(segment)), { force: true });
  }

  /**
   * Appends a frame (the turn's strings, then its words: `head`, then the first
   * `wordCount` of `words`) to the next write; resolves once it
   * is on disk. Frames reach the disk in the order they are appended.
   */
  append(turn: number, strings: readonly string[], head: Uint32Array, words: Uint32Array, wordCount: number): Promise<void> {
    let size = FRAME_HEAD + BODY_HEAD + (head.length + wordCount) * 4;
    for (const s of strings) size += 4 + ((Buffer.byteLength(s) + 3) & ~3);
    this.reserve(size);
    const b = this.pending;
    const at = this.pendingLength;
    const body = at + FRAME_HEAD;
    b.writeUInt32LE(MAGIC, at);
    b.writeUInt32LE(size - FRAME_HEAD, at + 4);
    b.writeUInt32LE(Math.floor(turn / 2 ** 32), body);
    b.writeUInt32LE(turn >>> 0, body + 4);
    b.writeUInt32LE(strings.length, body + 8);
    b.writeUInt32LE(head.length + wordCount, body + 12);
    let p = body + BODY_HEAD;
    for (const s of strings) {
      const n = b.write(s, p + 4, 'utf8');
      b.writeUInt32LE(n, p);
      const padded = (n + 3) & ~3;
      b.fill(0, p + 4 + n, p + 4 + padded);
      p += 4 + padded;
    }
    b.set(new Uint8Array(head.buffer, head.byteOffset, head.byteLength), p);
    b.set(new Uint8Array(words.buffer, words.byteOffset, wordCount * 4), p + head.byteLength);
    b.writeUInt32LE(crc32(b.subarray(body, at + size)) >>> 0, at + 8);
    this.pendingLength = at + size;
    this.pendingTurns.push(turn);
    const group = (this.group ??= newGroup());
    if (!this.writing) this.startWrite();
    return group.promise;
  }

  /** Turns every actor's snapshot now covers (on disk): a segment whose turns all are goes. */
  release(turns: readonly number[]): void {
    for (const turn of turns) {
      const segment = this.turnSegment.get(turn);
      if (segment === undefined) {
        this.releasedEarly.add(turn);
        continue;
      }
      this.turnSegment.delete(turn);
      const live = this.liveTurns.get(segment)! - 1;
      if (live > 0) this.liveTurns.set(segment, live);
      else {
        this.liveTurns.delete(segment);
        if (segment !== this.segment) this.remove(segment);
      }
    }
  }

  /** Removes a segment no turn is live in, off the main thread (freeing 64 MiB of extents takes a while). */
  private remove(segment: number): void {
    this.background++;
    rm(join(this.dir, segmentName(segment)), { force: true }, () => {
      // A segment left behind (a failed removal) holds only covered turns: the next open removes it.
      this.background--;
      this.wakeIfIdle();
    });
  }

  /** Removals and a preparation under way (close waits for them). */
  private background = 0;

  private wakeIfIdle(): void {
    if (!this.writing && this.pendingLength === 0 && this.background === 0) for (const wake of this.idle.splice(0)) wake();
  }

  /**
   * Waits for every appended frame's write, every removal and the next segment's
   * preparation (kept for the next process); closes the segment (removed if no turn in it
   * is live).
   */
  async close(): Promise<void> {
    this.prepareAfter = Infinity;
    while (this.writing || this.pendingLength > 0 || this.background > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    if (this.fd >= 0) {
      closeSync(this.fd);
      this.fd = -1;
      if (!this.liveTurns.has(this.segment)) rmSync(join(this.dir, segmentName(this.segment)), { force: true });
    }
  }

  private reserve(size: number): void {
    if (this.pendingLength + size <= this.pending.length) return;
    const grown = Buffer.alloc(Math.max(this.pending.length * 2, this.pendingLength + size));
    this.pending.copy(grown, 0, 0, this.pendingLength);
    this.pending = grown;
  }

  /** Writes everything pending as one write (the frames that come meanwhile wait for the next). */
  private startWrite(): void {
    const group = this.group!;
    this.group = undefined;
    const bytes = this.pending;
    const length = this.pendingLength;
    this.pending = this.spare;
    this.pendingLength = 0;
    const turns = this.pendingTurns;
    this.pendingTurns = [];
    this.writing = true;
    try {
      const next = this.next;
      if (next?.ready && (this.fd < 0 || this.position >= this.segmentBytes || !this.preallocated)) this.useNext(next.number);
      // None zero-filled is ready: a new file that grows (the current one grows past its size while one is being prepared).
      else if (this.fd < 0 || (this.position >= this.segmentBytes && next === undefined)) this.newSegment();
      // The next one is prepared once this one is half full: a process that journals little never fills one.
      if (this.preallocate && this.next === undefined && this.position >= this.segmentBytes / 2 && performance.now() >= this.prepareAfter) this.prepare(++this.highest);
    } catch (error) {
      return this.finish(bytes, group, error);
    }
    for (const turn of turns) {
      if (this.releasedEarly.delete(turn)) continue;
      this.turnSegment.set(turn, this.segment);
      this.liveTurns.set(this.segment, (this.liveTurns.get(this.segment) ?? 0) + 1);
    }
    const start = this.position;
    const onWritten = (error: NodeJS.ErrnoException | null, n: number, done: number): void => {
      if (error) return this.finish(bytes, group, error);
      if (done + n < length) {
        // A short write (the disk filling up): the rest, which says why it cannot go.
        write(this.fd, bytes, done + n, length - done - n, start + done + n, (e, m) => onWritten(e, m, done + n));
        return;
      }
      this.position = start + length;
      this.bytesWritten += length;
      this.writes++;
      this.finish(bytes, group, undefined);
    };
    write(this.fd, bytes, 0, length, start, (e, n) => onWritten(e, n, 0));
  }

  /**
   * The write is done (or failed: the next one goes to the same place, over what of this
   * one reached the file, so a reader stops at neither).
   */
  private finish(bytes: Buffer, group: NonNullable<JournalFile['group']>, error: unknown): void {
    this.spare = bytes;
    this.writing = false;
    if (error === undefined) group.resolve();
    else group.reject(error);
    if (this.pendingLength > 0) this.startWrite();
    else this.wakeIfIdle();
  }

  /** Leaves the current segment (removed if no turn in it is live). */
  private leaveSegment(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
    if (!this.liveTurns.has(this.segment)) this.remove(this.segment);
  }

  /** A new segment that grows as it is written (none zero-filled is ready). */
  private newSegment(): void {
    this.leaveSegment();
    this.segment = ++this.highest;
    this.fd = openSync(join(this.dir, segmentName(this.segment)), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DSYNC, 0o644);
    this.position = 0;
    this.preallocated = false;
    syncDir(this.dir);
  }

  /** The zero-filled segment `number` takes the writes from now. */
  private useNext(number: number): void {
    this.leaveSegment();
    this.fd = openSync(join(this.dir, segmentName(number)), constants.O_WRONLY | constants.O_DSYNC);
    this.segment = number;
    this.position = 0;
    this.preallocated = true;
    this.next = undefined;
  }

  /** Zero-fills segment `number` and syncs it (and its name), in the background. */
  private prepare(number: number): void {
    const next = { number, ready: false };
    this.next = next;
    this.background++;
    const path = join(this.dir, segmentName(number));
    const done = (error: unknown): void => {
      if (error) {
        // A full disk, most likely: segments grow as they are written until a later try works.
        this.next = undefined;
        this.prepareAfter = performance.now() + PREPARE_RETRY_MS;
        rm(path, { force: true }, () => {
          this.background--;
          this.wakeIfIdle();
        });
        return;
      }
      next.ready = true;
      this.background--;
      this.wakeIfIdle();
    };
    // A disk short of room is not filled with zeros (to be given back a moment later).
    statfs(this.dir, (statError, disk) => {
      if (statError) return done(statError);
      if (disk.bavail * disk.bsize < MIN_FREE_SEGMENTS * this.segmentBytes) return done(new Error('little room left on the disk'));
      this.fill(path, done);
    });
  }

  private fill(path: string, done: (error: unknown) => void): void {
    open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644, (error, fd) => {
      if (error) return done(error);
      // A MiB at a time, each synced before the next: one flush of the whole segment would
      // hold the disk for seconds, and the journal's own writes would wait behind it
      // (timers 3 s late on llvmpipe, measured).
      const fill = (at: number): void => {
        if (at >= this.segmentBytes) {
          close(fd, () => {});
          try {
            syncDir(this.dir);
          } catch (dirError) {
            return done(dirError);
          }
          return done(undefined);
        }
        const n = Math.min(ZEROS.length, this.segmentBytes - at);
        write(fd, ZEROS, 0, n, at, (e, written) => {
          if (e || written !== n) {
            close(fd, () => {});
            return done(e ?? new Error('short write'));
          }
          fdatasync(fd, (synced) => {
            if (synced) {
              close(fd, () => {});
              return done(synced);
            }
            fill(at + n);
          });
        });
      };
      fill(0);
    });
  }
}

/** Makes a new file's name survive a power cut. */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A segment a process zero-filled and never wrote a frame into (full size, zeros where a frame would start). */
function isUnusedSegment(path: string, segmentBytes: number): boolean {
  try {
    if (statSync(path).size !== segmentBytes) return false;
    const fd = openSync(path, 'r');
    try {
      const head = Buffer.alloc(FRAME_HEAD);
      return readSync(fd, head, 0, FRAME_HEAD, 0) === FRAME_HEAD && head.every((b) => b === 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

function newGroup(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody may wait on it (every caller's promise was dropped): not an unhandled rejection.
  promise.catch(() => {});
  return { promise, resolve, reject };
}
