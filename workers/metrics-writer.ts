/**
 * The shard worker's side of the metric tables (src/metrics/tables.ts): it is the one
 * writer of the shard and actor tables, so plain stores suffice; a scrape may read a
 * value one batch old, never a torn one (aligned float64 stores).
 */
import { ACTOR_SLOT_MASK, Status } from '../src/layout/record.ts';
import {
  BATCH_AT, BATCH_BUCKETS, DISPATCH_AT, DISPATCH_US, ERROR, LATENCY_US, OK, REJECTED, ROW_LATENCY_AT, ROW_LATENCY_SUM, ROW_WORDS, ShardCell,
  observe, type MetricTables,
} from '../src/metrics/tables.ts';

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

export class MetricsWriter {
  private readonly shard: Float64Array;
  // The coordinator grows these buffers as actors arrive. Views are fixed-length and
  // re-made when the buffer has grown: a length-tracking view over a growable buffer
  // costs ~35 ns per element access in Node 20's V8 (measured), a fixed one ~2 ns.
  private actors: Float64Array;
  private slotRows: Int32Array;
  private readonly kernels: number;

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
   * One handled (or rejected) message of `kernel` for the actor in `actor`'s slot: its
   * status and latency go into the actor's row. A rejected record may name a slot that
   * is not (or no longer) its actor's, so it counts under its kernel's "_other" row.
   */
  message(kernel: number, actor: number, status: number, latencyUs: number): void {
    if (kernel >= this.kernels) return;
    let row = kernel;
    let column = REJECTED;
    if (status !== Status.REJECTED) {
      column = status === Status.OK ? OK : ERROR;
      const slot = actor & ACTOR_SLOT_MASK;
      if (slot < this.slotRows.length) row = this.slotRows[slot]!;
    }
    const a = this.actors;
    const r = row * ROW_WORDS;
    if (r + ROW_WORDS > a.length) return;
    // Clock skew between threads could make a latency "negative": count it as zero.
    const us = latencyUs > 0x7fffffff ? 0 : latencyUs;
    let bucket = FIRST_BUCKET[32 - Math.clz32(us)]!;
    while (bucket < LATENCY_COUNT && us > LATENCY_BOUNDS[bucket]!) bucket++;
    a[r + column]!++;
    a[r + ROW_LATENCY_AT + bucket]!++;
    a[r + ROW_LATENCY_SUM]! += us;
  }
}
