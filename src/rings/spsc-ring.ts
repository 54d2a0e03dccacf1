/**
 * SpscRing: a single-producer single-consumer ring of fixed-size slots over a
 * SharedArrayBuffer, used for every hop of the data path (coordinator -> shard requests,
 * shard -> coordinator replies).
 *
 * Its memory (control words on cache lines of their own, then the slots) is laid out in
 * ring-layout.ts.
 *
 * Indices are monotonic int32 counters that wrap at 2^32; a slot is `index & mask`, and
 * every distance is `(a - b) | 0`, correct while capacity < 2^31.
 *
 * Three consumer cursors: READ moves when the consumer takes records, HANDLED when their
 * replies are out, COMMITTED when the consumer no longer needs them (at once, or only
 * once a checkpoint covers them). The producer reuses slots only below COMMITTED, so
 * records not committed survive the consumer: a new consumer rewinds and sees them again
 * (replay after a worker dies), and HANDLED tells it which of them were answered already.
 *
 * Waking: a side about to sleep sets its WAITING flag, re-reads the other side's index
 * and only then waits. The other side stores its index and then reads the flag. With
 * sequentially consistent Atomics one of the two must see the other's store, so a wake-up
 * is never lost, and a side that is not asleep is never sent a notify (it costs a lock).
 */

import {
  HEAD,
  CLOSED,
  READ,
  COMMITTED,
  HANDLED,
  CONSUMER_WAITING,
  PRODUCER_WAITING,
  CAPACITY,
  SLOT_WORDS,
  CONTROL_INT32S,
  RING_CONTROL_BYTES,
  type RingOptions,
  type RingSlots,
  ringByteLength,
  checkShape,
  type WaitResult,
  waitAsync,
} from './ring-layout.ts';

export { MAX_RING_CAPACITY, RING_CONTROL_BYTES, ringByteLength, type RingOptions, type RingSlots, type WaitResult } from './ring-layout.ts';

export class SpscRing implements RingSlots {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  readonly slotWords: number;
  /** The slots as words; record `seq` starts at `slotOffset(seq)`. */
  readonly words: Uint32Array;
  /** The same memory as `words`, for f32 fields. */
  readonly floats: Float32Array;
  private readonly control: Int32Array;
  private readonly mask: number;
  // Producer-side caches (only meaningful in the producer's thread).
  private head: number;
  private claimed = 0;
  private committedSeen: number;
  // Consumer-side cache.
  private read: number;

  /** Allocates a new ring. */
  static create(options: RingOptions): SpscRing {
    checkShape(options);
    const buffer = new SharedArrayBuffer(ringByteLength(options));
    const control = new Int32Array(buffer, 0, CONTROL_INT32S);
    control[CAPACITY] = options.capacity;
    control[SLOT_WORDS] = options.slotWords;
    const start = (options.startIndex ?? 0) | 0;
    control[HEAD] = control[READ] = control[COMMITTED] = control[HANDLED] = start;
    return new SpscRing(buffer);
  }

  /** Attaches to a ring created elsewhere (usually in another thread). */
  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.control = new Int32Array(buffer, 0, CONTROL_INT32S);
    this.capacity = this.control[CAPACITY]!;
    this.slotWords = this.control[SLOT_WORDS]!;
    checkShape(this);
    if (buffer.byteLength !== ringByteLength(this)) {
      throw new RangeError(`ring buffer is ${buffer.byteLength} bytes, expected ${ringByteLength(this)}`);
    }
    this.mask = this.capacity - 1;
    this.words = new Uint32Array(buffer, RING_CONTROL_BYTES);
    this.floats = new Float32Array(buffer, RING_CONTROL_BYTES);
    this.head = Atomics.load(this.control, HEAD);
    this.committedSeen = Atomics.load(this.control, COMMITTED);
    this.read = Atomics.load(this.control, READ);
  }

  /** Word offset of record `seq` in `words`. */
  slotOffset(seq: number): number {
    return (seq & this.mask) * this.slotWords;
  }

  /**
   * Raises this side's WAITING `flag`, then re-reads the other side's `index`: returns the
   * value to sleep on if it is still `seen`, or undefined (flag lowered) if it moved, in
   * which case the caller must look again instead of sleeping (see the header comment).
   * A close() also counts as movement for a consumer, since it notifies HEAD.
   */
  private announceSleep(flag: number, index: number, seen: number): number | undefined {
    Atomics.store(this.control, flag, 1);
    const now = Atomics.load(this.control, index);
    if (now === seen && (index !== HEAD || Atomics.load(this.control, CLOSED) === 0)) return now;
    Atomics.store(this.control, flag, 0);
    return undefined;
  }

  // ---------------------------------------------------------------- producer side

  /**
   * Free slots as the producer sees them, claimed-but-unpublished ones excluded.
   * Stale only towards too few: the consumer may have committed more since.
   */
  availableWrite(): number {
    this.committedSeen = Atomics.load(this.control, COMMITTED);
    return this.capacity - ((this.head + this.claimed - this.committedSeen) | 0);
  }

  /**
   * Claims the next free slot and returns its word offset in `words`, or -1 when the
   * ring is full. The record becomes visible to the consumer at the next publish().
   */
  claim(): number {
    const seq = (this.head + this.claimed) | 0;
    if (((seq - this.committedSeen) | 0) >= this.capacity) {
      this.committedSeen = Atomics.load(this.control, COMMITTED);
      if (((seq - this.committedSeen) | 0) >= this.capacity) return -1;
    }
    this.claimed++;
    return (seq & this.mask) * this.slotWords;
  }

  /** Drops the most recent claim (its slot was not filled, e.g. encoding threw). */
  unclaim(): void {
    if (this.claimed > 0) this.claimed--;
  }

  /**
   * Claims up to `max` slots at once and returns how many (0 when the ring is full); they
   * start at index `headIndex` as it was before the call. Unused ones go back with
   * unclaimMany before the next publish.
   */
  claimMany(max: number): number {
    const n = Math.min(max, this.availableWrite());
    if (n <= 0) return 0;
    this.claimed += n;
    return n;
  }

  /**
   * Claims `n` slots that lie one after another in `words` (not across the ring's end)
   * and returns the first one's word offset, or -1 (nothing claimed) when they are not
   * free or would wrap: a producer then writes a run of records in place, with no copy.
   */
  claimRun(n: number): number {
    const seq = (this.head + this.claimed) | 0;
    const start = seq & this.mask;
    if (n <= 0 || start + n > this.capacity) return -1;
    if (((seq + n - this.committedSeen) | 0) > this.capacity) {
      this.committedSeen = Atomics.load(this.control, COMMITTED);
      if (((seq + n - this.committedSeen) | 0) > this.capacity) return -1;
    }
    this.claimed += n;
    return start * this.slotWords;
  }

  /** Drops the `n` most recent claims. */
  unclaimMany(n: number): void {
    this.claimed -= Math.min(n, this.claimed);
  }

  /** Records claimed and not yet published. */
  get pendingClaims(): number {
    return this.claimed;
  }

  /** Makes every claimed record visible with one store, and wakes a sleeping consumer. */
  publish(): number {
    const n = this.claimed;
    if (n === 0) return 0;
    this.head = (this.head + n) | 0;
    this.claimed = 0;
    Atomics.store(this.control, HEAD, this.head);
    if (Atomics.load(this.control, CONSUMER_WAITING) !== 0) Atomics.notify(this.control, HEAD);
    return n;
  }

  /**
   * Copies up to `count` records from `src` (packed slots of `slotWords`) and publishes
   * them. Returns how many it took: fewer than `count` when the ring fills.
   */
  tryPush(src: Uint32Array, count: number, srcOffset = 0): number {
    const free = this.availableWrite();
    const n = Math.min(count, free);
    if (n <= 0) return 0;
    const seq = (this.head + this.claimed) | 0;
    const start = seq & this.mask;
    const first = Math.min(n, this.capacity - start);
    const sw = this.slotWords;
    this.words.set(src.subarray(srcOffset, srcOffset + first * sw), start * sw);
    if (n > first) this.words.set(src.subarray(srcOffset + first * sw, srcOffset + n * sw), 0);
    this.claimed += n;
    this.publish();
    return n;
  }

  /** Blocking push for threads that may block (not the main thread): all `count` records. */
  push(src: Uint32Array, count: number, srcOffset = 0): void {
    let done = 0;
    while (done < count) {
      const n = this.tryPush(src, count - done, srcOffset + done * this.slotWords);
      done += n;
      if (done < count && n === 0) {
        if (this.waitWritable() === 'closed') throw new Error('ring closed by the consumer side');
      }
    }
  }

  /** Blocks until at least one slot is free. Not for threads with an event loop to keep. */
  waitWritable(timeoutMs = Infinity): WaitResult {
    this.publish(); // a consumer cannot free slots for records it cannot see
    return this.waitSync(PRODUCER_WAITING, timeoutMs);
  }

  /**
   * Resolves when at least one slot is free, without blocking the event loop.
   * `keepAlive` holds the event loop open while waiting (Atomics.waitAsync alone does not).
   */
  waitWritableAsync(timeoutMs = Infinity, keepAlive = true): Promise<WaitResult> {
    this.publish();
    return this.waitAsync(PRODUCER_WAITING, timeoutMs, keepAlive);
  }

  /** Index the next published record will get (after publishing what is claimed). */
  get headIndex(): number {
    return (this.head + this.claimed) | 0;
  }

  /** Records published so far (the HEAD word). Readable from any thread. */
  get publishedIndex(): number {
    return Atomics.load(this.control, HEAD);
  }

  /** Clears CLOSED: a replacement producer (a restarted shard worker) takes over the ring. */
  reopen(): void {
    Atomics.store(this.control, CLOSED, 0);
  }

  /** Marks the stream finished and wakes the consumer; records already published stay. */
  close(): void {
    this.publish();
    Atomics.store(this.control, CLOSED, 1);
    Atomics.notify(this.control, HEAD);
  }

  /** True while the producer sleeps in waitWritable (tests use it as a handshake). */
  get producerWaiting(): boolean {
    return Atomics.load(this.control, PRODUCER_WAITING) !== 0;
  }

  /** True while the consumer sleeps in waitReadable. */
  get consumerWaiting(): boolean {
    return Atomics.load(this.control, CONSUMER_WAITING) !== 0;
  }

  get closed(): boolean {
    return Atomics.load(this.control, CLOSED) !== 0;
  }

  // ---------------------------------------------------------------- consumer side

  /** Index of the next record take() will return. */
  get readIndex(): number {
    return this.read;
  }

  /** Index below which all records are committed. */
  get committedIndex(): number {
    return Atomics.load(this.control, COMMITTED);
  }

  /** Published records not yet taken. Stale only towards too few. */
  availableRead(): number {
    return (Atomics.load(this.control, HEAD) - this.read) | 0;
  }

  /** Records published and not yet handled (answered): the ring's depth. Readable from any thread. */
  depth(): number {
    return (Atomics.load(this.control, HEAD) - Atomics.load(this.control, HANDLED)) | 0;
  }

  /** Records handled but kept (not committed) until a checkpoint covers them. Readable from any thread. */
  retained(): number {
    return (Atomics.load(this.control, HANDLED) - Atomics.load(this.control, COMMITTED)) | 0;
  }

  /**
   * Takes up to `max` records starting at `readIndex` (read them with slotOffset or
   * copyOut) and returns how many. They stay in the ring until commit().
   */
  take(max: number): number {
    const n = Math.min(max, (Atomics.load(this.control, HEAD) - this.read) | 0);
    if (n <= 0) return 0;
    this.read = (this.read + n) | 0;
    Atomics.store(this.control, READ, this.read);
    return n;
  }

  /**
   * Copies `count` records starting at `seq` into `dst` at word `dstOffset`, as at most
   * two contiguous copies (the ring may wrap in the middle).
   */
  copyOut(seq: number, count: number, dst: Uint32Array, dstOffset = 0): void {
    const start = seq & this.mask;
    const first = Math.min(count, this.capacity - start);
    const sw = this.slotWords;
    dst.set(this.words.subarray(start * sw, (start + first) * sw), dstOffset);
    if (count > first) dst.set(this.words.subarray(0, (count - first) * sw), dstOffset + first * sw);
  }

  /** Frees `count` taken records for reuse, oldest first, and wakes a waiting producer. */
  commit(count: number): void {
    const committed = Atomics.load(this.control, COMMITTED);
    const next = (committed + count) | 0;
    if (((this.read - next) | 0) < 0) {
      throw new RangeError(`cannot commit ${count} records: only ${(this.read - committed) | 0} are taken`);
    }
    // Freed records were answered, whoever did not say so.
    if (((next - Atomics.load(this.control, HANDLED)) | 0) > 0) Atomics.store(this.control, HANDLED, next);
    Atomics.store(this.control, COMMITTED, next);
    if (Atomics.load(this.control, PRODUCER_WAITING) !== 0) Atomics.notify(this.control, COMMITTED);
  }

  /** Records below `index` were answered (their replies are out); they stay until released. */
  markHandled(index: number): void {
    if (((index - Atomics.load(this.control, HANDLED)) | 0) > 0) Atomics.store(this.control, HANDLED, index);
  }

  /** Index below which every record was answered. Readable from any thread. */
  get handledIndex(): number {
    return Atomics.load(this.control, HANDLED);
  }

  /** Frees every record below `index` (a checkpoint covers them) and wakes a waiting producer. */
  release(index: number): void {
    const committed = Atomics.load(this.control, COMMITTED);
    const by = (index - committed) | 0;
    if (by <= 0) return;
    this.commit(by);
  }

  /**
   * Moves READ to `index` (at or after COMMITTED): a replacement consumer resumes there.
   * Records from COMMITTED to `index` are freed (a checkpoint covers them).
   */
  rewindTo(index: number): void {
    const committed = Atomics.load(this.control, COMMITTED);
    const head = Atomics.load(this.control, HEAD);
    if (((index - committed) | 0) < 0 || ((head - index) | 0) < 0) {
      throw new RangeError(`cannot resume at record ${index}: records ${committed} to ${head} are in the ring`);
    }
    this.read = index;
    Atomics.store(this.control, READ, index);
    this.release(index);
  }

  /** Records taken and not yet committed. */
  uncommitted(): number {
    return (this.read - Atomics.load(this.control, COMMITTED)) | 0;
  }

  /**
   * Moves READ back to COMMITTED so that taken-but-uncommitted records are taken again.
   * A replacement consumer calls this before its first take().
   */
  rewind(): number {
    const committed = Atomics.load(this.control, COMMITTED);
    const replayed = (this.read - committed) | 0;
    this.read = committed;
    Atomics.store(this.control, READ, committed);
    return replayed;
  }

  /**
   * Blocks until a record is readable. Not for threads with an event loop to keep.
   * `spin` polls that many times before sleeping: a producer that publishes again within
   * microseconds then costs no futex wake on either side.
   */
  waitReadable(timeoutMs = Infinity, spin = 0): WaitResult {
    for (let i = 0; i < spin; i++) if (this.availableRead() > 0) return 'ok';
    return this.waitSync(CONSUMER_WAITING, timeoutMs);
  }

  /**
   * Resolves when a record is readable, keeping the event loop free meanwhile.
   * `keepAlive` holds the event loop open while waiting (Atomics.waitAsync alone does not).
   */
  waitReadableAsync(timeoutMs = Infinity, keepAlive = true): Promise<WaitResult> {
    return this.waitAsync(CONSUMER_WAITING, timeoutMs, keepAlive);
  }

  // ---------------------------------------------------------------- waiting, either side

  /** 'ok' when the side waiting on `flag` can go on, 'closed' when a consumer never will. */
  private ready(flag: number): WaitResult | undefined {
    if (flag === PRODUCER_WAITING) return this.availableWrite() > 0 ? 'ok' : undefined;
    if (this.availableRead() > 0) return 'ok';
    return this.closed ? 'closed' : undefined;
  }

  /**
   * Until the side waiting on `flag` can go on: its result, or the value to sleep on (its
   * WAITING flag is raised then, and the other side's index was still that value).
   */
  private nextWait(flag: number): WaitResult | number {
    for (;;) {
      const now = this.ready(flag);
      if (now !== undefined) return now;
      const value = flag === PRODUCER_WAITING ? this.announceSleep(flag, COMMITTED, this.committedSeen) : this.announceSleep(flag, HEAD, this.read);
      if (value !== undefined) return value;
    }
  }

  /** After a sleep: the flag lowered; a result if the wait timed out, else look again. */
  private woke(flag: number, r: string): WaitResult | undefined {
    Atomics.store(this.control, flag, 0);
    if (r === 'timed-out') return this.ready(flag) === 'ok' ? 'ok' : 'timed-out';
    return undefined;
  }

  private waitSync(flag: number, timeoutMs: number): WaitResult {
    const index = flag === PRODUCER_WAITING ? COMMITTED : HEAD;
    for (;;) {
      const step = this.nextWait(flag);
      if (typeof step !== 'number') return step;
      const done = this.woke(flag, Atomics.wait(this.control, index, step, timeoutMs));
      if (done !== undefined) return done;
    }
  }

  private async waitAsync(flag: number, timeoutMs: number, keepAlive: boolean): Promise<WaitResult> {
    const index = flag === PRODUCER_WAITING ? COMMITTED : HEAD;
    for (;;) {
      const step = this.nextWait(flag);
      if (typeof step !== 'number') return step;
      const done = this.woke(flag, await waitAsync(this.control, index, step, timeoutMs, keepAlive));
      if (done !== undefined) return done;
    }
  }
}
