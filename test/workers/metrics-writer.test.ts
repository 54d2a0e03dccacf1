import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Status, actorId } from '../../src/layout/record.ts';
import { LATENCY_US, REJECTED, ROW_LATENCY_AT, ROW_LATENCY_SUM, ROW_WORDS, bucketOf, createMetricTables } from '../../src/metrics/tables.ts';
import { MetricsWriter } from '../../workers/metrics-writer.ts';
import { seededRng } from '../helpers/random.ts';

test('latencies land in the same buckets as bucketOf says, statuses in their columns', (t) => {
  const rng = seededRng(t);
  const tables = createMetricTables(2, 64, 64);
  const slotRows = new Int32Array(tables.slotRows);
  // Slot 5 holds a tracked actor (row 2); slots 7 and 8 untracked actors of kernels 0 and 1,
  // whose rows are their kernels' "_other" rows, as the coordinator would write them.
  slotRows[5] = 2;
  slotRows[7] = 0;
  slotRows[8] = 1;
  const writer = new MetricsWriter(tables, 2, 0);
  const expected = new Float64Array(3 * ROW_WORDS);
  const boundaries = LATENCY_US.flatMap((b) => [b - 1, b, b + 1]);
  for (let i = 0; i < 20_000; i++) {
    const us = i < boundaries.length ? boundaries[i]! : rng.float() < 0.1 ? rng.u32() : rng.int(0, 2_000_000);
    const kernel = rng.int(0, 1);
    const slot = rng.float() < 0.5 ? 5 : 7 + kernel;
    const status = rng.pick([Status.OK, Status.OK, 3, Status.REJECTED]);
    writer.message(kernel, actorId(0, slot), status, us);
    const row = status === Status.REJECTED ? kernel : slot === 5 ? 2 : kernel;
    const column = status === Status.OK ? 0 : status === Status.REJECTED ? REJECTED : 1;
    const counted = us > 0x7fffffff ? 0 : us;
    expected[row * ROW_WORDS + column]!++;
    expected[row * ROW_WORDS + ROW_LATENCY_AT + bucketOf(LATENCY_US, counted)]!++;
    expected[row * ROW_WORDS + ROW_LATENCY_SUM]! += counted;
  }
  assert.deepEqual(new Float64Array(tables.actors).slice(0, 3 * ROW_WORDS), expected);
});
