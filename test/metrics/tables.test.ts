import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketOf, histogramWords, observe } from '../../src/metrics/tables.ts';
import { histogramSamples } from '../../src/metrics/collected-metric.ts';

test('bucketOf finds the first bound >= value, or +Inf', () => {
  const bounds = [1, 10, 100];
  assert.deepEqual([0, 1, 1.5, 10, 11, 100, 101].map((v) => bucketOf(bounds, v)), [0, 0, 1, 1, 2, 2, 3]);
});

test('observe and histogramSamples give cumulative buckets, sum and count', () => {
  const bounds = [1, 10];
  const table = new Float64Array(2 + histogramWords(bounds.length));
  for (const v of [0.5, 5, 5, 50]) observe(table, 2, bounds, v);
  const samples = histogramSamples('h', { s: '0' }, bounds, table, 2, 0.5);
  assert.deepEqual(
    samples.map((s) => [s.metricName, s.labels.le, s.value]),
    [['h_bucket', 1, 1], ['h_bucket', 10, 3], ['h_bucket', '+Inf', 4], ['h_sum', undefined, 30.25], ['h_count', undefined, 4]],
  );
});
