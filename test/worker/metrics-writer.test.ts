import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Op, REQUEST_HEADER_WORDS, RequestHeader, Status, actorLocation, kernelOp } from '../../src/layout/record.ts';
import { ERROR, LATENCY_US, OK, REJECTED, ROW_LATENCY_AT, ROW_LATENCY_SUM, ROW_WORDS, bucketOf, createMetricTables } from '../../src/metrics/tables.ts';
import { MetricsWriter } from '../../src/metrics/metrics-writer.ts';
import { BatchGrouper, createBatchSegments } from '../../src/worker/runtime/batch-grouper.ts';
import { batchLayout } from '../../src/layout/batch.ts';
import { seededRng } from '../helpers/random.ts';

test('counts per batch segment reach the actors’ rows exactly; rejected records go to _other', (t) => {
  const rng = seededRng(t);
  const kernels = 2;
  const tables = createMetricTables(kernels, 64, 64);
  const slotRows = new Int32Array(tables.slotRows);
  // Slots 10..13 hold actors: 10 and 11 tracked (rows 2 and 3), 12 and 13 untracked
  // actors of kernels 0 and 1 (their kernels' "_other" rows), as the coordinator writes.
  const rowOfSlot = new Map([[10, 2], [11, 3], [12, 0], [13, 1]]);
  const kernelOfSlot = new Map([[10, 0], [11, 1], [12, 0], [13, 1]]);
  for (const [slot, row] of rowOfSlot) slotRows[slot] = row;
  const writer = new MetricsWriter(tables, kernels, 0);
  const expected = new Float64Array(4 * ROW_WORDS);
  const boundaries = LATENCY_US.flatMap((b) => [b - 1, b, b + 1]);
  // A request ring of 512 slots; batches start anywhere in it and wrap.
  const capacity = 512;
  const slotWords = REQUEST_HEADER_WORDS + 1;
  const ring = new Uint32Array(capacity * slotWords);
  const nowUs = 0xfff0_0000; // near the u32 wrap: enqueue times wrap below it
  let n = 0;
  let start = 300;
  for (let batch = 0; batch < 60; batch++) {
    const count = 400;
    // Latencies fall along a real ring (enqueue times rise); every third batch is
    // shuffled, so the bucket search is exercised both ways.
    const monotonic = batch % 3 !== 2;
    let falling = rng.int(0, 3_000_000);
    const segments = new Int32Array(count);
    const statuses = new Uint32Array(count);
    const rejected = new Uint8Array(count);
    const segmentSlot = new Uint32Array(4);
    const segmentOf = new Map<number, number>();
    for (let i = 0; i < count; i++) {
      let us: number;
      if (n < boundaries.length) us = boundaries[n++]!;
      else if (monotonic) us = falling = Math.max(0, falling - rng.int(0, 20_000));
      else us = rng.float() < 0.05 ? rng.u32() : rng.int(0, 2_000_000);
      const slot = rng.int(10, 13);
      const kernel = kernelOfSlot.get(slot)!;
      const op = rng.float() < 0.1 ? Op.INIT : Op.MESSAGE;
      const status = rng.pick([Status.OK, Status.OK, 3, Status.REJECTED]);
      // Rejection shows two ways: the grouper's flag (status from the GPU is then
      // meaningless) or a REJECTED status.
      const flagged = status === Status.REJECTED && rng.float() < 0.5;
      let segment = -1;
      if (status !== Status.REJECTED) {
        if (!segmentOf.has(slot)) {
          segmentOf.set(slot, segmentOf.size);
          segmentSlot[segmentOf.size - 1] = slot;
        }
        segment = segmentOf.get(slot)!;
      }
      const o = ((start + i) % capacity) * slotWords;
      ring[o + RequestHeader.kernelOp] = kernelOp(kernel, op);
      ring[o + RequestHeader.enqueuedUs] = (nowUs - us) >>> 0;
      segments[i] = segment;
      statuses[i] = flagged ? Status.OK : status;
      rejected[i] = flagged ? 1 : 0;
      if (op !== Op.MESSAGE) continue;
      const row = status === Status.REJECTED ? kernel : rowOfSlot.get(slot)!;
      const counted = us > 0x7fffffff ? 0 : us;
      expected[row * ROW_WORDS + (status === Status.OK ? OK : status === Status.REJECTED ? REJECTED : ERROR)]!++;
      expected[row * ROW_WORDS + ROW_LATENCY_AT + bucketOf(LATENCY_US, counted)]!++;
      expected[row * ROW_WORDS + ROW_LATENCY_SUM]! += counted;
    }
    writer.countBatch({ words: ring, capacity, slotWords }, start, count, segments, segmentOf.size, statuses, rejected, nowUs);
    writer.flush(segmentSlot);
    start = (start + count) >>> 0;
  }
  assert.deepEqual(new Float64Array(tables.actors).slice(0, 4 * ROW_WORDS), expected);
});

// countSegments (the per-actor path the shard runs) against the per-record definition:
// every MESSAGE record counts once in its actor's row, under its status, in the bucket
// of (now - enqueued) and in the sum, with a "negative" latency counted as 0.
test('countSegments (work per actor) counts exactly what a per-record count would', (t) => {
  const rng = seededRng(t);
  const kernels = 2;
  const actors = 24;
  const maxBatch = 256;
  const capacity = 1024;
  const layout = batchLayout({ kernels, maxBatch, recordWords: REQUEST_HEADER_WORDS + 1, resultWords: 2, stateStride: 2 });
  const rw = layout.recordWords;
  const grouper = new BatchGrouper(layout, 0, 64, true);
  const tables = createMetricTables(kernels, 64, 64);
  const slotRows = new Int32Array(tables.slotRows);
  // Actor slot a is row kernels + a (tracked); its kernel is a % kernels.
  for (let a = 0; a < actors; a++) slotRows[a] = kernels + a;
  const writer = new MetricsWriter(tables, kernels, 0);
  const expected = new Float64Array((kernels + actors) * ROW_WORDS);
  const ring = new Uint32Array(capacity * rw);
  const frame = new Uint32Array(maxBatch * rw);
  const index = new Uint32Array(layout.indexWords);
  let start = 1000; // ring index; wraps the ring many times
  let clock = 0xffff_0000 - rng.int(0, 5_000_000); // enqueue clock (u32 us), wraps at 2^32
  const put = (i: number, slot: number, op: Op, enqueued: number) => {
    const o = ((start + i) % capacity) * rw;
    ring.fill(0, o, o + rw);
    ring[o + RequestHeader.target] = actorLocation(0, slot);
    ring[o + RequestHeader.source] = 100 + slot;
    ring[o + RequestHeader.kernelOp] = kernelOp(slot % kernels, op);
    ring[o + RequestHeader.enqueuedUs] = enqueued >>> 0;
  };
  const segs = createBatchSegments(maxBatch);
  const group = (count: number) => {
    for (let i = 0; i < count; i++) frame.set(ring.subarray(((start + i) % capacity) * rw, ((start + i) % capacity) * rw + rw), i * rw);
    return grouper.group(frame, count, start, index, segs);
  };
  // Activate every actor (INIT records are not counted).
  for (let a = 0; a < actors; a++) put(a, a, Op.INIT, clock);
  const init = group(actors);
  assert.equal(init.count, actors);
  start += actors;
  const kinds = ['steady', 'straddling', 'shuffled', 'with INIT', 'with rejected', 'skewed', 'wide span', 'runs'] as const;
  for (let b = 0; b < 120; b++) {
    const kind = kinds[b % kinds.length]!;
    const count = rng.int(1, maxBatch);
    const step = kind === 'straddling' ? rng.int(5, 60) : kind === 'wide span' ? 40_000 : rng.int(0, 3);
    const enqueuedAt: number[] = [];
    const statuses = new Uint32Array(count);
    for (let i = 0; i < count; i++) {
      clock = (clock + rng.int(0, step)) >>> 0;
      enqueuedAt.push(clock);
      // 'runs': an actor's messages one after another (tellMany, askMany), its counts and
      // latency sums gathered in locals by the grouper until the actor changes.
      const previous = i > 0 ? ring[((start + i - 1) % capacity) * rw + RequestHeader.target]! & 0xffffff : 0;
      const slot = kind === 'with rejected' && rng.float() < 0.1 ? 40 + rng.int(0, 5) : kind === 'runs' && i > 0 && rng.float() < 0.8 ? previous : rng.int(0, actors - 1);
      const op = kind === 'with INIT' && rng.float() < 0.1 ? Op.SNAPSHOT : Op.MESSAGE;
      put(i, slot, op, clock);
      statuses[i] = rng.float() < 0.05 ? rng.int(1, 9) : 0;
    }
    if (kind === 'shuffled' && count > 1) {
      // Two records' enqueue times swapped: out of order.
      const [x, y] = [rng.int(0, count - 1), rng.int(0, count - 1)];
      const ox = ((start + x) % capacity) * rw + RequestHeader.enqueuedUs;
      const oy = ((start + y) % capacity) * rw + RequestHeader.enqueuedUs;
      [ring[ox], ring[oy]] = [ring[oy]!, ring[ox]!];
    }
    const now = kind === 'skewed' ? (clock - rng.int(1, 50)) >>> 0 : (clock + rng.int(0, kind === 'straddling' ? 20_000 : 3_000)) >>> 0;
    const batch = group(count);
    assert.equal(batch.count, count, 'no batch is cut short here');
    const segments = batch.segments;
    // Mirror the shard: statuses from the GPU, rejection flags from the grouper.
    const rejected = batch.rejectedCount > 0 ? batch.rejected.slice(0, count) : null;
    for (let i = 0; i < count; i++) {
      const o = ((start + i) % capacity) * rw;
      const ko = ring[o + RequestHeader.kernelOp]!;
      if ((ko & 0xffff) !== Op.MESSAGE) continue;
      let us = (now - ring[o + RequestHeader.enqueuedUs]!) >>> 0;
      if (us > 0x7fffffff) us = 0;
      const slot = ring[o + RequestHeader.target]! & 0xffffff;
      const isRejected = rejected !== null && rejected[i] === 1;
      const row = isRejected ? ko >>> 16 : kernels + slot;
      expected[row * ROW_WORDS + (isRejected ? REJECTED : statuses[i] === 0 ? OK : ERROR)]!++;
      expected[row * ROW_WORDS + ROW_LATENCY_AT + bucketOf(LATENCY_US, us)]!++;
      expected[row * ROW_WORDS + ROW_LATENCY_SUM]! += us;
    }
    writer.countSegments({ words: ring, capacity, slotWords: rw }, start, count, segs, segments, statuses, rejected, now);
    writer.flush(segs.segmentSlot);
    start += count;
  }
  assert.deepEqual(new Float64Array(tables.actors).slice(0, (kernels + actors) * ROW_WORDS), expected);
  // Both paths ran: steady and straddling batches per actor, the others per record.
  assert.ok(writer.paths.perActor >= 30, `per actor: ${writer.paths.perActor}`);
  assert.ok(writer.paths.perRecord >= 50, `per record: ${writer.paths.perRecord}`);
});
