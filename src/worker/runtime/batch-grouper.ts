/**
 * Groups a batch of request records by actor for one dispatch, keeping arrival order
 * inside each actor, and checks each record against the shard's actor table (defense in
 * depth behind the coordinator: a record for an inactive slot, or for a slot of another
 * kernel or tenant, is rejected and never reaches a handler).
 *
 * Two counting passes over typed arrays, no allocation per batch:
 *   1. per record: check it, find its actor's segment (first appearance order)
 *   2. order segments by kernel (each kernel's pipeline dispatches its own range), give
 *      each segment its start in `order`, and place the records.
 */
import { ActorTable } from './actor-table.ts';
import { createBatchSegments, type BatchSegments } from '../../layout/batch-segments.ts';
import { ACTOR_SLOT_BITS, ACTOR_SLOT_MASK, KERNEL_ID_SHIFT, NO_ACTOR, OP_MASK, Op, RequestHeader } from '../../layout/record.ts';
import { RANGE_WORDS, SEGMENT_WORDS, type BatchLayout } from '../../layout/batch.ts';

const NO_SEGMENT = -1;
/** A `rejected` mark: the record's actor is quarantined (1 marks any other refusal). */
export const QUARANTINED_MARK = 2;

export { createBatchSegments, type BatchSegments } from '../../layout/batch-segments.ts';

export interface GroupedBatch {
  /** Records accepted into this batch (a prefix of those offered). */
  count: number;
  /** Segments (actors) in the batch. */
  segments: number;
  /** Per kernel: segments to dispatch. */
  readonly kernelSegments: Uint32Array;
  /** Highest actor slot the batch touches, -1 if none. */
  maxSlot: number;
  /** True when some record wants a payload back (an ask, snapshot or shutdown). */
  needsPayloads: boolean;
  /** Per record: non-zero when the shard rejected it (QUARANTINED_MARK: its actor is quarantined). */
  readonly rejected: Uint8Array;
  rejectedCount: number;
}

export class BatchGrouper {
  private readonly layout: BatchLayout;
  private readonly shard: number;
  // Per actor slot, grown on demand.
  /** Which actor holds each slot (kernel, tenant, id), and the slots' per-batch marks. */
  readonly table: ActorTable;
  private epoch = 0;
  // Per record / per segment scratch, sized by maxBatch.
  private readonly own: BatchSegments;
  private readonly segmentKernel: Uint32Array;
  private readonly segmentPosition: Uint32Array;
  private readonly segmentCursor: Uint32Array;
  private readonly kernelCursor: Uint32Array;
  /** 0, 1, 2, ...: the order of a batch whose actors' records already lie together. */
  private readonly identity: Uint32Array;
  readonly result: GroupedBatch;

  /**
   * `latency`: also gather what per-actor latency metrics need (BatchSegments'
   * segmentMessages, segmentEnqueuedSum, enqueuedInOrder) while each record is at hand.
   */
  constructor(layout: BatchLayout, shard: number, private readonly maxSlots: number, private readonly latency = false) {
    this.layout = layout;
    this.table = new ActorTable(maxSlots);
    this.shard = shard;
    const n = layout.maxBatch;
    this.own = createBatchSegments(n);
    this.segmentKernel = new Uint32Array(n);
    this.segmentPosition = new Uint32Array(n);
    this.segmentCursor = new Uint32Array(n);
    this.kernelCursor = new Uint32Array(layout.kernels);
    this.identity = Uint32Array.from({ length: n }, (_, i) => i);
    this.result = {
      count: 0,
      segments: 0,
      kernelSegments: new Uint32Array(layout.kernels),
      maxSlot: -1,
      needsPayloads: false,
      rejected: new Uint8Array(n),
      rejectedCount: 0,
    };
  }

  /**
   * Groups up to `offered` records from `records` (recordWords each) and writes the
   * ranges, segments and order of the batch into `index` (the batch layout's rs_index).
   *
   * Two loops: a fast one for the common record (a MESSAGE or SNAPSHOT for a slot the
   * tables already cover), which calls nothing, so V8 need not reload the typed arrays'
   * bases and lengths per record (with the calls in the loop: ~18 ns a record in a
   * micro-benchmark, ~11-15 without); and, for any other record, one pass of the
   * general path below it (arrivals, departures, growth, refusals), after which the fast
   * loop resumes.
   */
  group(records: Uint32Array, offered: number, baseMessageId: number, index: Uint32Array, segmentsOut: BatchSegments = this.own, maxSegments = Infinity): GroupedBatch {
    const L = this.layout;
    const out = this.result;
    const epoch = (this.epoch = (this.epoch + 1) >>> 0 || 1);
    const rw = L.recordWords;
    const kernels = L.kernels;
    const shard = this.shard;
    const maxSlots = this.maxSlots;
    const table = this.table;
    // Locals: typed-array stores would otherwise force a reload of every field per use.
    const rejected = out.rejected;
    const recordSegment = segmentsOut.recordSegment;
    const segmentSlot = segmentsOut.segmentSlot;
    const segmentActor = segmentsOut.segmentActor;
    const segmentKernel = this.segmentKernel;
    const segmentCount = segmentsOut.segmentCount;
    const segmentEnqueuedSum = segmentsOut.segmentEnqueuedSum;
    const latency = this.latency;
    const enqueuedWord = RequestHeader.enqueuedUs;
    const opMessage = Op.MESSAGE;
    const opSnapshot = Op.SNAPSHOT;
    const firstEnqueued = offered > 0 ? records[enqueuedWord]! : 0;
    let previousEnqueued = firstEnqueued;
    let inOrder = true;
    let onlyMessages = true;
    // Imported constants read once: module bindings are re-checked on every use
    // (hoisting them halved a loop like this one, measured).
    const targetWord = RequestHeader.target;
    const principalWord = RequestHeader.principal;
    const noActor = NO_ACTOR;
    const kernelOpWord = RequestHeader.kernelOp;
    const correlationWord = RequestHeader.correlation;
    const tenantWord = RequestHeader.tenant;
    const kernelShift = KERNEL_ID_SHIFT;
    const opMask = OP_MASK;
    const slotMask = ACTOR_SLOT_MASK;
    const slotBits = ACTOR_SLOT_BITS;
    const sourceWord = RequestHeader.source;
    const lastOp = Op.CLEAR_TIMER;
    const opInit = Op.INIT;
    const opImport = Op.IMPORT;
    const opShutdown = Op.SHUTDOWN;
    const opExport = Op.EXPORT;
    const quarantinedMark = QUARANTINED_MARK;
    let segments = 0;
    let maxSlot = -1;
    let needsPayloads = false;
    let rejectedCount = 0;
    let count = 0;
    // The segment of the last accepted record, and whether every actor's records so far
    // lie together (then `order` is 0, 1, 2, ...: tellMany and askMany batches).
    let lastSegment = -1;
    let grouped = true;
    while (count < offered) {
      // The tables as they are now (the general path below may grow them).
      const slotKernel = table.slotKernel;
      const slotTenant = table.slotTenant;
      const slotActor = table.slotActor;
      const slotEpoch = table.slotEpoch;
      const slotSegment = table.slotSegment;
      const slotQuarantined = table.slotQuarantined;
      const tableSlots = slotKernel.length;
      // The last accepted record's words and segment: a run of records for one actor
      // (tellMany, askMany) skips the table lookups.
      let runLocation = -1;
      let runKernelOp = -1;
      let runTenant = -1;
      let runSegment = 0;
      let runActor = 0;
      // Counts and latency sums gather in locals while records keep to one segment and
      // are added once it changes: a load and store of the same element per record is a
      // dependency chain (segmentCount[seg]++ on a run was a sixth of this loop, measured).
      let accSegment = -1;
      let accCount = 0;
      let accSum = 0;
      let stop = false;
      for (; count < offered; count++) {
        const o = count * rw;
        const location = records[o + targetWord]!;
        const ko = records[o + kernelOpWord]!;
        const tenant = records[o + tenantWord]!;
        const op = ko & opMask;
        if (records[o + correlationWord] !== 0) needsPayloads = true;
        let seg: number;
        if (location === runLocation && ko === runKernelOp && tenant === runTenant) {
          seg = runSegment;
          records[o + targetWord] = runActor;
        } else {
          const slot = location & slotMask;
          // Anything that changes a slot, or lies outside the tables: the general path.
          if ((op !== opMessage && op !== opSnapshot) || location >>> slotBits !== shard || slot >= tableSlots) break;
          // The slot must hold an actor of this kernel (0 never matches: inactive) and tenant.
          if (slotKernel[slot] !== (ko >>> kernelShift) + 1 || slotTenant[slot] !== tenant) {
            rejected[count] = 1;
            rejectedCount++;
            recordSegment[count] = NO_SEGMENT;
            continue;
          }
          if (slotQuarantined !== null && slotQuarantined[slot] === 1) {
            rejected[count] = quarantinedMark;
            rejectedCount++;
            recordSegment[count] = NO_SEGMENT;
            continue;
          }
          const actor = slotActor[slot]!;
          records[o + targetWord] = actor; // the GPU sees the actor's id (ctx.actor)
          if (slotEpoch[slot] === epoch) {
            seg = slotSegment[slot]!;
            // An actor's records again after another's: the batch is not in actor order.
            if (seg !== lastSegment) grouped = false;
          } else {
            // Suspects of a hung dispatch are replayed one actor per batch.
            if (segments >= maxSegments) {
              records[o + targetWord] = location;
              stop = true;
              break;
            }
            seg = segments++;
            slotEpoch[slot] = epoch;
            slotSegment[slot] = seg;
            segmentSlot[seg] = slot;
            segmentActor[seg] = actor;
            segmentKernel[seg] = ko >>> kernelShift;
            segmentCount[seg] = 0;
            if (latency) segmentEnqueuedSum[seg] = 0;
            if (slot > maxSlot) maxSlot = slot;
          }
          runLocation = location;
          runKernelOp = ko;
          runTenant = tenant;
          runSegment = seg;
          runActor = actor;
        }
        if (seg !== accSegment) {
          if (accSegment >= 0) {
            segmentCount[accSegment]! += accCount;
            segmentEnqueuedSum[accSegment] = (segmentEnqueuedSum[accSegment]! + accSum) | 0;
          }
          accSegment = seg;
          accCount = 0;
          accSum = 0;
        }
        accCount++;
        lastSegment = seg;
        rejected[count] = 0;
        recordSegment[count] = seg;
        if (latency) {
          const enqueued = records[o + enqueuedWord]!;
          if (((enqueued - previousEnqueued) | 0) < 0) inOrder = false;
          previousEnqueued = enqueued;
          // Wraps at 2^32; the reader checks the batch's span makes that impossible.
          accSum = (accSum + enqueued - firstEnqueued) | 0;
          if (op !== opMessage) onlyMessages = false;
        }
      }
      if (accSegment >= 0) {
        segmentCount[accSegment]! += accCount;
        if (latency) segmentEnqueuedSum[accSegment] = (segmentEnqueuedSum[accSegment]! + accSum) | 0;
      }
      if (stop || count >= offered) break;

      // The general path, for record `count`.
      const o = count * rw;
      const location = records[o + targetWord]!;
      const ko = records[o + kernelOpWord]!;
      const kernel = ko >>> kernelShift;
      const op = ko & opMask;
      const slot = location & slotMask;
      let ok = location >>> slotBits === shard && kernel < kernels && slot < maxSlots && op <= lastOp;
      if (ok) {
        if (slot >= table.slotKernel.length) table.ensureSlots(slot);
        const slotKernel = table.slotKernel;
        const slotTenant = table.slotTenant;
        const slotActor = table.slotActor;
        const slotEpoch = table.slotEpoch;
        const slotSegment = table.slotSegment;
        const seen = slotEpoch[slot] === epoch;
        // An IMPORT's first part (offset 0, in the source word) is the actor arriving;
        // its later parts go to the actor that part made the slot's.
        const arrives = op === opInit || (op === opImport && records[o + principalWord] === 0);
        // One segment is one actor, so a slot that another actor takes inside the batch
        // (freed and reused) ends the batch here. (A record of another kernel for a slot
        // in the batch is rejected below: the slot is not active for that kernel.)
        if (seen && arrives) break;
        // Suspects of a hung dispatch are replayed one actor per batch.
        if (!seen && segments >= maxSegments) break;
        const active = slotKernel[slot]!;
        const tenant = records[o + tenantWord]!;
        if (arrives) {
          ok = active === 0;
          if (ok) {
            slotKernel[slot] = kernel + 1;
            slotTenant[slot] = tenant;
            slotActor[slot] = records[o + sourceWord]!; // an arriving actor's id
            records[o + sourceWord] = noActor; // nobody sent it
            if (table.quarantinedIds.size > 0) {
              table.ensureQuarantineFlags();
              table.slotQuarantined![slot] = table.quarantinedIds.has(slotActor[slot]!) ? 1 : 0;
            }
          }
        } else {
          ok = active === kernel + 1 && slotTenant[slot] === tenant;
          if (ok && (op === opShutdown || op === opExport)) slotKernel[slot] = 0;
        }
        if (records[o + correlationWord] !== 0) needsPayloads = true;
        if (ok && table.slotQuarantined !== null && table.slotQuarantined[slot] === 1) {
          rejected[count] = quarantinedMark;
          rejectedCount++;
          recordSegment[count] = NO_SEGMENT;
          count++;
          continue;
        }
        if (ok) {
          records[o + targetWord] = slotActor[slot]!;
          rejected[count] = 0;
          if (slot > maxSlot) maxSlot = slot;
          let seg: number;
          if (seen) {
            seg = slotSegment[slot]!;
            segmentCount[seg]!++;
            if (seg !== lastSegment) grouped = false;
          } else {
            seg = segments++;
            slotEpoch[slot] = epoch;
            slotSegment[slot] = seg;
            segmentSlot[seg] = slot;
            segmentActor[seg] = slotActor[slot]!;
            segmentKernel[seg] = kernel;
            segmentCount[seg] = 1;
            if (latency) segmentEnqueuedSum[seg] = 0;
          }
          recordSegment[count] = seg;
          lastSegment = seg;
          if (latency) {
            const enqueued = records[o + enqueuedWord]!;
            if (((enqueued - previousEnqueued) | 0) < 0) inOrder = false;
            previousEnqueued = enqueued;
            segmentEnqueuedSum[seg] = (segmentEnqueuedSum[seg]! + enqueued - firstEnqueued) | 0;
            if (op !== opMessage) onlyMessages = false;
          }
          count++;
          continue;
        }
      } else if (records[o + correlationWord] !== 0) needsPayloads = true;
      rejected[count] = 1;
      rejectedCount++;
      recordSegment[count] = NO_SEGMENT;
      count++;
    }

    // Kernel ranges: segments of kernel k occupy [rangeStart[k], rangeStart[k] + n[k]).
    const kernelSegments = out.kernelSegments;
    kernelSegments.fill(0);
    for (let s = 0; s < segments; s++) kernelSegments[segmentKernel[s]!]!++;
    let start = 0;
    for (let k = 0; k < L.kernels; k++) {
      index[L.rangesWord + k * RANGE_WORDS] = start;
      index[L.rangesWord + k * RANGE_WORDS + 1] = kernelSegments[k]!;
      this.kernelCursor[k] = start;
      start += kernelSegments[k]!;
    }
    // Segment table in kernel order; each segment's records start where the previous end.
    const segmentPosition = this.segmentPosition;
    const segmentStart = segmentsOut.segmentStart;
    const kernelCursor = this.kernelCursor;
    let orderStart = 0;
    if (kernels === 1) {
      // One kernel: the table is the segments in order of first appearance.
      for (let s = 0; s < segments; s++) {
        const w = L.segmentsWord + s * SEGMENT_WORDS;
        index[w] = segmentSlot[s]!;
        index[w + 1] = orderStart;
        index[w + 2] = segmentCount[s]!;
        segmentStart[s] = orderStart;
        segmentPosition[s] = orderStart; // from here on: next free place in `order`
        orderStart += segmentCount[s]!;
      }
    } else {
      for (let s = 0; s < segments; s++) segmentPosition[s] = kernelCursor[segmentKernel[s]!]!++;
      // Offsets into `order` follow the segment table's order, so compute them in that order.
      const atPosition = this.segmentCursor; // segment index at each table position
      for (let s = 0; s < segments; s++) atPosition[segmentPosition[s]!] = s;
      for (let p = 0; p < segments; p++) {
        const s = atPosition[p]!;
        const w = L.segmentsWord + p * SEGMENT_WORDS;
        index[w] = segmentSlot[s]!;
        index[w + 1] = orderStart;
        index[w + 2] = segmentCount[s]!;
        segmentStart[s] = orderStart;
        segmentPosition[s] = orderStart;
        orderStart += segmentCount[s]!;
      }
    }
    const order = segmentsOut.order;
    if (kernels === 1 && grouped && rejectedCount === 0) {
      // Each actor's records already lie together, in the segment table's order.
      order.set(this.identity.subarray(0, count));
    } else {
      for (let i = 0; i < count; i++) {
        const s = recordSegment[i]!;
        if (s !== NO_SEGMENT) order[segmentPosition[s]!++] = i;
      }
    }
    index.set(order.subarray(0, orderStart), L.orderWord);
    segmentsOut.firstEnqueuedUs = firstEnqueued;
    segmentsOut.enqueuedInOrder = latency && inOrder;
    segmentsOut.onlyMessages = onlyMessages;
    segmentsOut.lastEnqueuedUs = previousEnqueued;
    index[L.baseIdWord] = baseMessageId;
    index[L.countWord] = count;

    out.count = count;
    out.segments = segments;
    out.maxSlot = maxSlot;
    out.needsPayloads = needsPayloads;
    out.rejectedCount = rejectedCount;
    return out;
  }
}
