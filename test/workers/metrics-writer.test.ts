import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Status } from '../../src/layout/record.ts';
import { ERROR, LATENCY_US, OK, REJECTED, ROW_LATENCY_AT, ROW_LATENCY_SUM, ROW_WORDS, bucketOf, createMetricTables } from '../../src/metrics/tables.ts';
import { MetricsWriter } from '../../workers/metrics-writer.ts';
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
  let n = 0;
  for (let batch = 0; batch < 50; batch++) {
    // A batch: segments are numbered in first-appearance order, as the grouper does.
    const segmentSlot = new Uint32Array(4);
    const segmentOf = new Map<number, number>();
    for (let i = 0; i < 400; i++, n++) {
      const us = n < boundaries.length ? boundaries[n]! : rng.float() < 0.05 ? rng.u32() : rng.int(0, 2_000_000);
      const slot = rng.int(10, 13);
      const kernel = kernelOfSlot.get(slot)!;
      const status = rng.pick([Status.OK, Status.OK, 3, Status.REJECTED]);
      let segment = -1;
      if (status !== Status.REJECTED) {
        if (!segmentOf.has(slot)) {
          segmentOf.set(slot, segmentOf.size);
          segmentSlot[segmentOf.size - 1] = slot;
        }
        segment = segmentOf.get(slot)!;
      }
      writer.count(kernel, segment, status, us);
      const row = status === Status.REJECTED ? kernel : rowOfSlot.get(slot)!;
      const counted = us > 0x7fffffff ? 0 : us;
      expected[row * ROW_WORDS + (status === Status.OK ? OK : status === Status.REJECTED ? REJECTED : ERROR)]!++;
      expected[row * ROW_WORDS + ROW_LATENCY_AT + bucketOf(LATENCY_US, counted)]!++;
      expected[row * ROW_WORDS + ROW_LATENCY_SUM]! += counted;
    }
    writer.flush(segmentSlot);
  }
  assert.deepEqual(new Float64Array(tables.actors).slice(0, 4 * ROW_WORDS), expected);
});
