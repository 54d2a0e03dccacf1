/**
 * Metric tables: SharedArrayBuffers that a shard worker writes as it finishes batches
 * and the coordinator's collectors read at scrape time, so metrics cost no message and
 * no lock. One writer per table: the worker writes the shard and actor tables, the
 * coordinator writes the slot -> row map. The coordinator allocates all three, so they
 * (and the counters in them) outlive any one worker.
 *
 * Histograms are stored as non-cumulative bucket counts, then +Inf, sum and count;
 * readers make them cumulative. Latencies are kept in microseconds, exported in seconds.
 *
 * Shard table (Float64Array):
 *   0 batches            1 state bytes (gauge)     2 state slots (gauge)
 *   3 records dropped on restart
 *   dispatch round-trip histogram (us)      batch size histogram (records)
 *
 * Actor table (Float64Array, growable): one row per tracked actor, and row k for the
 *   actors of kernel k that are not tracked ("_other"). A row: ok, error, rejected, forbidden, the
 *   latency sum, then the latency histogram's buckets (+Inf included), the timer fires
 *   (ok, error, stale), padded to whole
 *   cache lines; its count is ok + error + rejected + forbidden. Per-kernel totals are sums of rows, made at scrape time, so the worker
 *   writes each message once: three stores.
 *
 * Slot rows (Int32Array, growable): actor slot -> actor-table row.
 */

/** Message latency buckets, seconds (enqueue to handled). */
export const LATENCY_BUCKETS = [25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1, 5] as const;
/** GPU dispatch round-trip buckets, seconds (submit to results mapped). */
export const DISPATCH_BUCKETS = [50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1] as const;
/** Batch size buckets, records. */
export const BATCH_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536] as const;

export const STATUS_COLUMNS = ['ok', 'error', 'rejected', 'forbidden'] as const;
export const OK = 0;
export const ERROR = 1;
export const REJECTED = 2;
/** Refused by handle_secure (Status.FORBIDDEN). */
export const FORBIDDEN = 3;

/** Words of a histogram with `buckets` finite bounds: buckets, +Inf, sum, count. */
export function histogramWords(buckets: number): number {
  return buckets + 3;
}

export const LATENCY_US = LATENCY_BUCKETS.map((s) => Math.round(s * 1e6));
export const DISPATCH_US = DISPATCH_BUCKETS.map((s) => Math.round(s * 1e6));

const SHARD_HEADER = 4;
export const ShardCell = { batches: 0, stateBytes: 1, stateSlots: 2, dropped: 3 } as const;
export const DISPATCH_AT = SHARD_HEADER;
export const BATCH_AT = DISPATCH_AT + histogramWords(DISPATCH_BUCKETS.length);
const SHARD_TABLE_WORDS = BATCH_AT + histogramWords(BATCH_BUCKETS.length);
/** Where a row's latency sum (us) is: beside the status counters, in the same cache line. */
export const ROW_LATENCY_SUM = STATUS_COLUMNS.length;
/** Where a row's latency buckets start; the +Inf bucket follows the finite ones. */
export const ROW_LATENCY_AT = ROW_LATENCY_SUM + 1;
/**
 * Timer fires (TIMER records) per row, after the latency buckets: on_timer ran and
 * succeeded (ok), or failed (error), or the timer was no longer armed for that time (stale).
 */
export const TIMER_COLUMNS = ['ok', 'error', 'stale'] as const;
export const ROW_TIMERS_AT = ROW_LATENCY_AT + LATENCY_BUCKETS.length + 1;
/** Words per actor row, padded to whole 64-byte lines so a row starts a line. */
export const ROW_WORDS = Math.ceil((ROW_TIMERS_AT + TIMER_COLUMNS.length) / 8) * 8;

const ACTOR_ROWS_INITIAL = 256;
const SLOT_ROWS_INITIAL = 1024;

export interface MetricTables {
  readonly shard: SharedArrayBuffer;
  readonly actors: SharedArrayBuffer;
  readonly slotRows: SharedArrayBuffer;
}

/** Allocates one shard's tables. `maxRows` bounds the actor table (tracked + _other rows). */
export function createMetricTables(kernels: number, maxRows: number, maxSlots: number): MetricTables {
  const rowBytes = ROW_WORDS * 8;
  const rows = Math.min(maxRows, Math.max(kernels, ACTOR_ROWS_INITIAL));
  const slots = Math.min(maxSlots, SLOT_ROWS_INITIAL);
  return {
    shard: new SharedArrayBuffer(SHARD_TABLE_WORDS * 8),
    actors: new SharedArrayBuffer(rows * rowBytes, { maxByteLength: maxRows * rowBytes }),
    slotRows: new SharedArrayBuffer(slots * 4, { maxByteLength: maxSlots * 4 }),
  };
}

/** Grows a growable buffer (doubling) until it holds `bytes`. */
export function ensureBytes(buffer: SharedArrayBuffer, bytes: number): void {
  if (buffer.byteLength >= bytes) return;
  let size = Math.max(buffer.byteLength, 8);
  while (size < bytes) size *= 2;
  buffer.grow(Math.min(size, buffer.maxByteLength));
}

/** Index of the bucket for `value` among ascending `bounds`; bounds.length means +Inf. */
export function bucketOf(bounds: readonly number[], value: number): number {
  let i = 0;
  while (i < bounds.length && value > bounds[i]!) i++;
  return i;
}

/** Adds one observation to the histogram at `at` (a single writer's table). */
export function observe(table: Float64Array, at: number, bounds: readonly number[], value: number): void {
  table[at + bucketOf(bounds, value)]!++;
  table[at + bounds.length + 1]! += value;
  table[at + bounds.length + 2]!++;
}
