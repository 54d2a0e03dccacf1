/**
 * Records waiting for room in a shard's request ring (backpressure policy 'wait').
 *
 * Records are written straight into chunks of a few thousand slots, and every record of
 * a chunk shares the chunk's promise: a burst of tells that overflows costs a copy, not
 * an array and a promise per record. A drain moves chunks into the ring, oldest first,
 * as the consumer commits; a chunk's promise resolves once all of it is in the ring.
 *
 * K2K messages (records a kernel sent) have a budget of their own, `maxK2K`: past it a
 * K2K send is refused (the router makes it a dead letter 'overflow'), and K2K records
 * never use the room callers' records have (maxQueued). So a kernel that sends copies
 * to itself cannot grow memory without bound, nor lock callers out: a caller's record
 * waits behind at most the ring and maxK2K K2K records.
 */
import { ErrorCode, RingshardError } from '../errors.ts';
import type { SpscRing } from '../rings/spsc-ring.ts';

const CHUNK_RECORDS = 4096;

interface Chunk {
  readonly words: Uint32Array;
  readonly floats: Float32Array;
  readonly capacity: number;
  count: number;
  done: number;
  /** K2K records among count (their budget comes back when the chunk is in the ring). */
  k2k: number;
  /** No more records may be added (the drain has finished with it). */
  sealed: boolean;
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export class OverflowQueue {
  private readonly chunks: Chunk[] = [];
  private queued = 0;
  /** K2K records waiting (counted until their chunk is in the ring). */
  private k2kQueued = 0;
  // True from the moment a drain starts until its loop has seen the queue empty, set and
  // cleared synchronously, so a record queued at any moment is always drained.
  // (Regression: clearing it one microtask late stranded records; see backpressure tests.)
  private draining = false;
  private drainTask: Promise<void> = Promise.resolve();
  /** Records that had to wait, and records refused: for the backpressure metrics. */
  readonly counts = { waits: 0, rejections: 0 };
  /** Where claim() put the record: write it at `offset` words into `words` / `floats`. */
  words: Uint32Array = new Uint32Array(0);
  floats: Float32Array = new Float32Array(0);
  promise: Promise<void> = Promise.resolve();

  constructor(
    private readonly ring: SpscRing,
    private readonly recordWords: number,
    private readonly policy: 'wait' | 'reject',
    private readonly maxQueued: number,
    private readonly shardIndex: number,
    /** K2K records that may wait. @default maxQueued */
    private readonly maxK2K = maxQueued,
  ) {}

  /** Records waiting. */
  get size(): number {
    return this.queued;
  }

  get empty(): boolean {
    return this.chunks.length === 0;
  }

  /**
   * Throws ERR_RINGSHARD_TOO_LARGE for `count` records sent as one unit (askMany,
   * tellMany) that could never be admitted, however empty the ring: a clearer answer
   * than a backpressure refusal that no amount of waiting would lift.
   */
  checkFits(count: number): void {
    const capacity = this.ring.capacity;
    const most = this.policy === 'reject' ? capacity : capacity + this.maxQueued;
    if (count <= most) return;
    const room =
      this.policy === 'reject'
        ? `shard ${this.shardIndex}'s request ring holds ${capacity} records and backpressure is 'reject'`
        : `shard ${this.shardIndex}'s request ring holds ${capacity} records and at most ${this.maxQueued} may wait for it (maxQueuedPerShard)`;
    throw new RingshardError(
      ErrorCode.TOO_LARGE,
      `${count} messages sent as one unit can never fit: ${room}; send at most ${most} at a time, or raise ringCapacity`,
    );
  }

  // Throws (rather than rejects) when it refuses, so that callers learn it before they
  // register anything that waits for a reply.
  admit(count: number): void {
    if (this.policy === 'reject' || this.queued - this.k2kQueued + count > this.maxQueued) {
      this.counts.rejections += count;
      const why =
        this.policy === 'reject'
          ? `shard ${this.shardIndex}'s request ring is full (${this.ring.capacity} records) and backpressure is 'reject'`
          : `shard ${this.shardIndex} cannot queue ${count} more record${count === 1 ? '' : 's'}: ${this.queued - this.k2kQueued} already wait for ring space and at most ${this.maxQueued} may (maxQueuedPerShard); await tell() to apply backpressure`;
      throw new RingshardError(ErrorCode.RING_FULL, why);
    }
  }

  private tail(records: number): Chunk {
    const last = this.chunks[this.chunks.length - 1];
    if (last !== undefined && !last.sealed && last.count + records <= last.capacity) return last;
    const capacity = Math.max(CHUNK_RECORDS, records);
    const words = new Uint32Array(capacity * this.recordWords);
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers may drop the promise (tell without await); a failure is reported to the
    // callers that do hold it, and must not crash the process as unhandled.
    promise.catch(() => {});
    const chunk: Chunk = { words, floats: new Float32Array(words.buffer), capacity, count: 0, done: 0, k2k: 0, sealed: false, promise, resolve, reject };
    this.chunks.push(chunk);
    return chunk;
  }

  /**
   * Reserves one record at the tail and returns its word offset in `this.words`; the
   * caller writes it and then calls commit(), or unclaim() if writing failed.
   */
  claim(): number {
    this.admit(1);
    const chunk = this.tail(1);
    this.words = chunk.words;
    this.floats = chunk.floats;
    this.promise = chunk.promise;
    return chunk.count * this.recordWords;
  }

  /**
   * claim() for a K2K record: -1 when maxK2K K2K records wait already (the caller makes
   * it a dead letter), else its offset; commit() it.
   */
  claimK2K(): number {
    if (this.k2kQueued >= this.maxK2K) {
      this.counts.rejections++;
      return -1;
    }
    const chunk = this.tail(1);
    chunk.k2k++;
    this.k2kQueued++;
    this.words = chunk.words;
    this.floats = chunk.floats;
    this.promise = chunk.promise;
    return chunk.count * this.recordWords;
  }

  /** K2K records waiting now. */
  get k2kSize(): number {
    return this.k2kQueued;
  }

  /** Queues the record written at the offset claim() returned. */
  commit(): Promise<void> {
    const chunk = this.chunks[this.chunks.length - 1]!;
    chunk.count++;
    this.queued++;
    this.counts.waits++;
    this.startDrain();
    return chunk.promise;
  }

  /** Queues `count` packed records. */
  append(words: Uint32Array, count: number): Promise<void> {
    this.admit(count);
    const chunk = this.tail(count);
    chunk.words.set(words.subarray(0, count * this.recordWords), chunk.count * this.recordWords);
    chunk.count += count;
    this.queued += count;
    this.counts.waits += count;
    this.startDrain();
    return chunk.promise;
  }

  private startDrain(): void {
    if (this.draining) return;
    this.draining = true;
    this.drainTask = this.drain();
  }

  private async drain(): Promise<void> {
    const ring = this.ring;
    try {
      while (this.chunks.length > 0) {
        const chunk = this.chunks[0]!;
        const n = ring.tryPush(chunk.words, chunk.count - chunk.done, chunk.done * this.recordWords);
        chunk.done += n;
        this.queued -= n;
        if (chunk.done === chunk.count) {
          chunk.sealed = true;
          this.k2kQueued -= chunk.k2k;
          this.chunks.shift();
          chunk.resolve();
          continue;
        }
        await ring.waitWritableAsync(1000);
      }
    } finally {
      this.draining = false;
    }
  }

  /** Resolves when everything queued is in the ring. */
  async flushed(): Promise<void> {
    while (this.draining) await this.drainTask;
  }

  /** Fails every waiting record. */
  rejectAll(error: Error): void {
    for (const chunk of this.chunks.splice(0)) {
      chunk.sealed = true;
      chunk.reject(error);
    }
    this.queued = 0;
    this.k2kQueued = 0;
  }
}
