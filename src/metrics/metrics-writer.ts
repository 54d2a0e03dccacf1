/**
 * The shard worker's side of the metric tables (src/metrics/tables.ts): it is the one
 * writer of the shard and actor tables, so plain stores suffice; a scrape may read a
 * value one batch old, never a torn one (aligned float64 stores).
 */
import type { RingSlots } from '../rings/ring-layout.ts';
import { KERNEL_ID_SHIFT, OP_MASK, Op, RequestHeader, Status } from '../layout/record.ts';
import type { BatchSegments } from '../layout/batch-segments.ts';
import {
  BATCH_AT, BATCH_BUCKETS, DISPATCH_AT, DISPATCH_US, ERROR, FORBIDDEN, LATENCY_US, OK, REJECTED, ROW_LATENCY_AT, ROW_LATENCY_SUM, ROW_TIMERS_AT, ROW_WORDS, ShardCell, TIMER_COLUMNS,
  observe, type MetricTables,
} from './tables.ts';

const LATENCY_BOUNDS = Float64Array.from(LATENCY_US);
const LATENCY_COUNT = LATENCY_BOUNDS.length;
// For a latency of b significant bits (32 - clz32), the first bucket it can fall in:
// the bucket search then takes a comparison or two instead of a scan.
const FIRST_BUCKET = Uint8Array.from({ length: 33 }, (_, bits) => {
  const smallest = bits === 0 ? 0 : 2 ** (bits - 1);
  let b = 0;
  while (b < LATENCY_COUNT && smallest > LATENCY_BOUNDS[b]!) b++;
  return b;
});

/** The latency histogram bucket of `us` (LATENCY_COUNT is +Inf). */
function bucketOfLatency(us: number): number {
  let bucket = FIRST_BUCKET[32 - Math.clz32(us)]!;
  while (bucket < LATENCY_COUNT && us > LATENCY_BOUNDS[bucket]!) bucket++;
  return bucket;
}

/** The bucket of the record at batch position `p`, from the buckets' edges. */
function bucketAtPosition(edge: Uint32Array, p: number, newest: number, oldest: number): number {
  let b = newest;
  while (b < oldest && edge[b]! > p) b++;
  return b;
}

export class MetricsWriter {
  private readonly shard: Float64Array;
  // The coordinator grows these buffers as actors arrive. Views are fixed-length and
  // re-made when the buffer has grown: a length-tracking view over a growable buffer
  // costs ~35 ns per element access in Node 20's V8 (measured), a fixed one ~2 ns.
  private actors: Float64Array;
  private slotRows: Int32Array;
  private readonly kernels: number;
  /** Per batch segment: a row of counts, added to the actor's row in flush(). */
  private scratch = new Float64Array(256 * ROW_WORDS);
  /** The latency buckets the last counted batch can have reached (flush adds only those). */
  private lowBucket = 0;
  private highBucket = LATENCY_COUNT;
  /** Batches counted per actor and per record (countSegments' two paths), for tests. */
  readonly paths = { perActor: 0, perRecord: 0 };
  /** Per latency bucket: the first batch position in it or below (countSegments). */
  private readonly edges = new Uint32Array(LATENCY_COUNT);
  private touched = 0;
  /** The last counted batch had timer fires (flush adds their columns). */
  private timersTouched = false;

  constructor(
    private readonly tables: MetricTables,
    kernels: number,
    private readonly epochMs: number,
  ) {
    this.shard = new Float64Array(tables.shard);
    this.actors = new Float64Array(0);
    this.slotRows = new Int32Array(0);
    this.kernels = kernels;
    this.refresh();
  }

  /** Picks up growth of the actor table and slot map; call once per batch. */
  refresh(): void {
    const { actors, slotRows } = this.tables;
    if (actors.byteLength !== this.actors.byteLength) this.actors = new Float64Array(actors, 0, actors.byteLength / 8);
    if (slotRows.byteLength !== this.slotRows.byteLength) this.slotRows = new Int32Array(slotRows, 0, slotRows.byteLength / 4);
  }

  /** Microseconds since the cluster epoch, the clock of header word enqueuedUs. */
  nowUs(): number {
    return Math.floor((performance.timeOrigin + performance.now() - this.epochMs) * 1000) >>> 0;
  }

  batch(records: number, dispatchUs: number, stateBytes: number, stateSlots: number): void {
    this.refresh();
    const t = this.shard;
    t[ShardCell.batches]!++;
    t[ShardCell.stateBytes] = stateBytes;
    t[ShardCell.stateSlots] = stateSlots;
    observe(t, DISPATCH_AT, DISPATCH_US, dispatchUs);
    observe(t, BATCH_AT, BATCH_BUCKETS, records);
  }

  dropped(records: number): void {
    this.shard[ShardCell.dropped]! += records;
  }

  /**
   * Counts a finished batch's MESSAGE records from what the grouper gathered per segment
   * (BatchSegments), with work per actor instead of per message: the latency sum of a
   * segment is its message count times the batch's oldest latency less its enqueue
   * offsets, and since enqueue times rise along the ring, each bucket of the latency
   * histogram covers a range of ring positions, found by binary search. Only statuses
   * are scanned per record (a compact array). Batches the grouper could not vouch for
   * (enqueue times out of order, records other than MESSAGE, a span that could wrap the
   * sums, clock skew) take countBatch's per-record path, with the same result.
   */
  countSegments(
    ring: RingSlots, start: number, count: number,
    batch: BatchSegments, segmentCount: number, statuses: Uint32Array, rejected: Uint8Array | null, nowUs: number,
  ): void {
    const oldest = (nowUs - batch.firstEnqueuedUs) | 0; // latency of the batch's first record
    const newest = (nowUs - batch.lastEnqueuedUs) | 0;
    const span = (batch.lastEnqueuedUs - batch.firstEnqueuedUs) >>> 0;
    const segmentCounts = batch.segmentCount;
    if (
      !batch.enqueuedInOrder || !batch.onlyMessages || rejected !== null || newest < 0 || oldest < newest ||
      span * count >= 0x80000000
    ) {
      this.paths.perRecord++;
      this.countBatch(ring, start, count, batch.recordSegment, segmentCount, statuses, rejected, nowUs);
      return;
    }
    this.paths.perActor++;
    const req = ring.words;
    const mask = ring.capacity - 1;
    const slotWords = ring.slotWords;
    if (segmentCount * ROW_WORDS > this.scratch.length) this.growScratch(segmentCount);
    const scratch = this.scratch;
    const rowWords = ROW_WORDS;
    const latencyAt = ROW_LATENCY_AT;
    const bounds = LATENCY_BOUNDS;
    const bucketCount = LATENCY_COUNT;
    const enqueuedWord = RequestHeader.enqueuedUs;
    const first = batch.firstEnqueuedUs;
    // Handler failures: rare, so found by one pass over the statuses.
    const recordSegment = batch.recordSegment;
    let i = 0;
    for (const quads = count & ~3; i < quads; i += 4) {
      if ((statuses[i]! | statuses[i + 1]! | statuses[i + 2]! | statuses[i + 3]!) === 0) continue;
      for (let j = i; j < i + 4; j++) if (statuses[j] !== 0) scratch[recordSegment[j]! * rowWords + failureColumn(statuses[j]!)]!++;
    }
    for (; i < count; i++) if (statuses[i] !== 0) scratch[recordSegment[i]! * rowWords + failureColumn(statuses[i]!)]!++;
    // edge[b]: the first batch position whose latency is <= bounds[b] (non-increasing in b);
    // records in bucket b lie in [edge[b], edge[b - 1]), with edge[-1] = count.
    const edge = this.edges;
    const oldestBucket = bucketOfLatency(oldest);
    const newestBucket = bucketOfLatency(newest);
    this.lowBucket = newestBucket;
    this.highBucket = oldestBucket;
    for (let b = 0; b < bucketCount; b++) {
      if (b < newestBucket) edge[b] = count;
      else if (b >= oldestBucket) edge[b] = 0;
      else {
        let lo = 0;
        let hi = count;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          const latency = oldest - ((req[((start + mid) & mask) * slotWords + enqueuedWord]! - first) >>> 0);
          if (latency <= bounds[b]!) hi = mid;
          else lo = mid + 1;
        }
        edge[b] = lo;
      }
    }
    const order = batch.order;
    const segmentStart = batch.segmentStart;
    const sums = batch.segmentEnqueuedSum;
    for (let s = 0; s < segmentCount; s++) {
      const n = segmentCounts[s]!;
      const c = s * rowWords;
      scratch[c + OK]! += n - scratch[c + ERROR]! - scratch[c + FORBIDDEN]!;
      scratch[c + ROW_LATENCY_SUM]! += n * oldest - (sums[s]! >>> 0);
      const from = segmentStart[s]!;
      const to = from + n;
      const firstBucket = bucketAtPosition(edge, order[from]!, newestBucket, oldestBucket);
      const lastBucket = bucketAtPosition(edge, order[to - 1]!, newestBucket, oldestBucket);
      if (firstBucket === lastBucket) {
        scratch[c + latencyAt + firstBucket]! += n;
        continue;
      }
      // The segment's records straddle bucket edges: count them between edges by binary
      // search over its (ascending) positions. below(x): its records at positions < x.
      let previousBelow = n; // below(edge[lastBucket - 1]), edge[-1] = count
      for (let b = lastBucket; b <= firstBucket; b++) {
        let below = 0;
        if (b < firstBucket) {
          const x = edge[b]!;
          let lo = from;
          let hi = to;
          while (lo < hi) {
            const mid = (lo + hi) >>> 1;
            if (order[mid]! < x) lo = mid + 1;
            else hi = mid;
          }
          below = lo - from;
        }
        scratch[c + latencyAt + b]! += previousBelow - below;
        previousBelow = below;
      }
    }
    this.touched = segmentCount;
  }

  /**
   * Counts the MESSAGE records of a finished batch: `count` records of the request ring
   * from index `start`, record i in batch segment `segments[i]` (-1 when the shard
   * rejected it) with status `statuses[i]` (REJECTED where `rejected[i]` is set), all
   * handled at `nowUs`. Counts gather in a small per-segment table and reach the actors'
   * rows in flush(): one visit per actor per batch instead of one per message.
   *
   * One tight loop over the batch, since it is the only per-message work metrics add on
   * the shard's critical path (a call per record measured ~20% of tell throughput).
   * Enqueue times rise along the ring, so latencies fall along it: the bucket of the
   * previous record is checked first and searched for only when the latency left it.
   */
  countBatch(
    ring: RingSlots, start: number, count: number,
    segments: Int32Array, segmentCount: number, statuses: Uint32Array, rejected: Uint8Array | null, nowUs: number,
  ): void {
    const req = ring.words;
    const mask = ring.capacity - 1;
    const slotWords = ring.slotWords;
    if ((segmentCount + this.kernels) * ROW_WORDS > this.scratch.length) this.growScratch(segmentCount);
    const scratch = this.scratch;
    const actors = this.actors;
    const kernels = this.kernels;
    const other = segmentCount * ROW_WORDS; // scratch rows past the segments: per kernel "_other"
    // Imported constants read once: module bindings are re-checked on every use.
    const kernelOpWord = RequestHeader.kernelOp;
    const enqueuedWord = RequestHeader.enqueuedUs;
    const message = Op.MESSAGE;
    const opMask = OP_MASK;
    const statusOk = Status.OK;
    const statusRejected = Status.REJECTED;
    const statusForbidden = Status.FORBIDDEN;
    const rowWords = ROW_WORDS;
    const okAt = OK;
    const errorAt = ERROR;
    const forbiddenAt = FORBIDDEN;
    const latencyAt = ROW_LATENCY_AT;
    const sumAt = ROW_LATENCY_SUM;
    const bounds = LATENCY_BOUNDS;
    const bucketCount = LATENCY_COUNT;
    let bucket = 0;
    let low = -1; // the current bucket holds latencies in (low, high]
    let high = LATENCY_BOUNDS[0]!;
    let others = false;
    let timers = false;
    const timer = Op.TIMER;
    const timersAt = ROW_TIMERS_AT;
    const statusNotDue = Status.TIMER_NOT_DUE;
    for (let i = 0; i < count; i++) {
      const o = ((start + i) & mask) * slotWords;
      const ko = req[o + kernelOpWord]!;
      if ((ko & opMask) !== message) {
        // A timer's fire: counted in columns of its own (ringshard_messages_total{kind="timer"}).
        if ((ko & opMask) === timer && segments[i]! >= 0 && (rejected === null || rejected[i] === 0)) {
          const status = statuses[i]!;
          scratch[segments[i]! * rowWords + timersAt + (status === statusOk ? 0 : status === statusNotDue ? 2 : 1)]!++;
          timers = true;
        }
        continue;
      }
      let us = (nowUs - req[o + enqueuedWord]!) >>> 0;
      // Clock skew between threads could make a latency "negative": count it as zero.
      if (us > 0x7fffffff) us = 0;
      if (us > high || us <= low) {
        bucket = bucketOfLatency(us);
        low = bucket === 0 ? -1 : bounds[bucket - 1]!;
        high = bucket < bucketCount ? bounds[bucket]! : Infinity;
      }
      const segment = segments[i]!;
      const status = rejected !== null && rejected[i] === 1 ? statusRejected : statuses[i]!;
      if (segment >= 0 && status !== statusRejected) {
        const c = segment * rowWords;
        scratch[c + (status === statusOk ? okAt : status === statusForbidden ? forbiddenAt : errorAt)]!++;
        scratch[c + latencyAt + bucket]!++;
        scratch[c + sumAt]! += us;
        continue;
      }
      // A rejected record may name a slot that is not (or no longer) its actor's: it
      // counts under its kernel's "_other" row.
      const kernel = ko >>> KERNEL_ID_SHIFT;
      if (kernel >= kernels) continue;
      const c = other + kernel * rowWords;
      scratch[c + REJECTED]!++;
      scratch[c + latencyAt + bucket]!++;
      scratch[c + sumAt]! += us;
      others = true;
    }
    this.touched = segmentCount;
    if (timers) this.timersTouched = true;
    if (others) {
      for (let k = 0; k < kernels; k++) {
        const c = other + k * ROW_WORDS;
        const r = k * ROW_WORDS;
        for (let w = 0; w < ROW_WORDS; w++) actors[r + w]! += scratch[c + w]!;
        scratch.fill(0, c, c + ROW_WORDS);
      }
    }
  }

  /** Adds the batch's per-segment counts to the actors' rows and clears them. */
  flush(segmentSlot: Uint32Array): void {
    const a = this.actors;
    const slotRows = this.slotRows;
    const scratch = this.scratch;
    const rowWords = ROW_WORDS;
    // Only the status columns, the sum and the buckets the batch reached can be non-zero.
    const head = ROW_LATENCY_AT;
    const from = ROW_LATENCY_AT + this.lowBucket;
    const to = ROW_LATENCY_AT + this.highBucket + 1;
    const timers = this.timersTouched;
    const timersAt = ROW_TIMERS_AT;
    const timersEnd = ROW_TIMERS_AT + TIMER_COLUMNS.length;
    this.timersTouched = false;
    for (let s = 0; s < this.touched; s++) {
      const c = s * rowWords;
      const slot = segmentSlot[s]!;
      const r = (slot < slotRows.length ? slotRows[slot]! : 0) * rowWords;
      if (timers) {
        // Timer fires, in a batch that had some (their columns are not in the ranges below).
        for (let w = timersAt; w < timersEnd; w++) {
          if (scratch[c + w] === 0) continue;
          if (r + rowWords <= a.length) a[r + w]! += scratch[c + w]!;
          scratch[c + w] = 0;
        }
      }
      // Segments with no MESSAGE records (only INIT, snapshots, timers) have nothing more to add.
      if (scratch[c + OK]! + scratch[c + ERROR]! + scratch[c + FORBIDDEN]! === 0) continue;
      if (r + rowWords <= a.length) {
        for (let w = 0; w < head; w++) a[r + w]! += scratch[c + w]!;
        for (let w = from; w < to; w++) a[r + w]! += scratch[c + w]!;
      }
      for (let w = 0; w < head; w++) scratch[c + w] = 0;
      for (let w = from; w < to; w++) scratch[c + w] = 0;
    }
    this.touched = 0;
    this.lowBucket = 0;
    this.highBucket = LATENCY_COUNT;
  }

  private growScratch(segments: number): void {
    const grown = new Float64Array(Math.max(this.scratch.length * 2, (segments + this.kernels) * ROW_WORDS));
    grown.set(this.scratch);
    this.scratch = grown;
  }
}

/** The metric column of a failed message's status: refused by handle_secure, or an error. */
function failureColumn(status: number): number {
  return status === Status.FORBIDDEN ? FORBIDDEN : ERROR;
}
