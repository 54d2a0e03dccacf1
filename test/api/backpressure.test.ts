/**
 * Backpressure: a full ring makes tell wait (in order) or fail, by policy, and the
 * waiting line itself is bounded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster, counter } from '../../src/index.ts';
import { busy } from '../helpers/kernels.ts';

test("policy 'reject': a full ring refuses at once with ERR_RINGSHARD_RING_FULL, and what was accepted is handled", async () => {
  const cluster = await Cluster.start({ kernels: [busy], backend: 'cpu', shards: 1, ringCapacity: 4, maxBatch: 4, backpressure: 'reject', logger: false });
  try {
    const a = cluster.actor(busy, 'a');
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => a.tell({ ms: 0 })));
    // INIT takes one slot, so three tells fit; the rest are refused in the same tick.
    const refused = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
    assert.equal(refused.length, 7);
    for (const r of refused) {
      assert.equal(r.reason.code, 'ERR_RINGSHARD_RING_FULL');
      assert.match(r.reason.message, /shard 0's request ring is full \(4 records\) and backpressure is 'reject'/);
    }
    // The snapshot is subject to the policy too: wait (a SAB read, no sleep) for room;
    // answered records leave the ring once a checkpoint covers them.
    const inRing = () => cluster.info().shards[0]!.ringDepth + cluster.info().shards[0]!.ringRetained;
    while (inRing() > 0) await new Promise((r) => setImmediate(r));
    assert.deepEqual(await a.snapshot(), { n: 3 });
  } finally {
    await cluster.shutdown();
  }
});

test("policy 'wait': tells beyond the ring wait and are delivered in order; the waiting line is bounded", async () => {
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 1, ringCapacity: 16, maxBatch: 16, maxQueuedPerShard: 100, logger: false });
  try {
    const a = cluster.actor(counter, 'a');
    const sends = Array.from({ length: 200 }, (_, i) => a.tell({ add: i }));
    const settled = await Promise.allSettled(sends);
    const refused = settled.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    // All 200 are sent in one tick: 15 slots (INIT takes one), 100 waiting, 85 refused.
    assert.equal(refused.length, 85);
    for (const r of refused) assert.match(r.reason.message, /cannot queue 1 more record: 100 already wait for ring space and at most 100 may \(maxQueuedPerShard\)/);
    const accepted = settled.map((r, i) => (r.status === 'fulfilled' ? i : -1)).filter((i) => i >= 0);
    const s = await a.snapshot();
    assert.equal(s.count, accepted.length);
    assert.equal(s.total, accepted.reduce((x, y) => x + y, 0));
    // Order: after the waiting line drained, asks see the running total in sequence.
    const replies = await Promise.all(Array.from({ length: 50 }, () => a.ask({ add: 1 })));
    assert.deepEqual(replies.map((r) => r.count), Array.from({ length: 50 }, (_, i) => accepted.length + i + 1));
  } finally {
    await cluster.shutdown();
  }
});

// Regression: the overflow drain was marked finished one microtask after its loop saw
// the queue empty. A tell made in that gap (by code continuing after an awaited tell,
// with the ring full again) was queued but never sent, and asks behind it hung (seen as
// a 30 s stall in the order test, about one run in four).
test('regression: a tell queued as the overflow drain finishes is still sent', async () => {
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 1, ringCapacity: 4, maxBatch: 4, askTimeoutMs: 5_000, logger: false });
  try {
    const a = cluster.actor(counter, 'a');
    // INIT and three tells fill the ring; four more wait. When the first batch commits,
    // the drain moves all four in and the ring is full again as the last one resolves.
    for (let i = 0; i < 6; i++) void a.tell({ add: 1 });
    await a.tell({ add: 1 });
    void a.tell({ add: 1 }); // queued in the gap
    assert.deepEqual(await a.ask({ add: 1 }), { total: 9, count: 9 });
  } finally {
    await cluster.shutdown();
  }
});

// Regression: under 'reject', an askMany larger than the room left was partly sent (the
// ring took what fit) and then refused, so a caller retrying it applied a prefix twice.
test("regression: an askMany refused by backpressure sends none of its messages", async () => {
  const cluster = await Cluster.start({ kernels: [busy], backend: 'cpu', shards: 1, ringCapacity: 4, maxBatch: 4, backpressure: 'reject', logger: false });
  try {
    const a = cluster.actor(busy, 'a');
    await a.ask({ ms: 0 }); // activated
    // The worker commits records just after their replies are out (a SAB read, no sleep).
    while (cluster.info().shards[0]!.ringDepth > 0) await new Promise((r) => setImmediate(r));
    // In one tick, so the worker cannot free slots in between: two tells leave room for
    // two records, and an askMany of three must not send the two that would fit.
    const tells = [a.tell({ ms: 0 }), a.tell({ ms: 0 })];
    await assert.rejects(a.askMany([{ ms: 0 }, { ms: 0 }, { ms: 0 }]), (err: any) => err.code === 'ERR_RINGSHARD_RING_FULL');
    await Promise.all(tells);
    // Under 'reject' the snapshot needs a free slot too: the tells leave the ring once
    // handled and covered by a checkpoint (a SAB read, no sleep).
    const room = () => { const s = cluster.info().shards[0]!; return s.ringCapacity - s.ringDepth - s.ringRetained; };
    while (room() < 1) await new Promise((r) => setImmediate(r));
    assert.deepEqual(await a.snapshot(), { n: 3 }, 'the two tells, none of the three asks');
    while (room() < 3) await new Promise((r) => setImmediate(r));
    assert.deepEqual((await a.askMany([{ ms: 0 }, { ms: 0 }, { ms: 0 }])).map((r) => r.n), [4, 5, 6]);
  } finally {
    await cluster.shutdown();
  }
});

test('an askMany or tellMany that could never fit is refused with ERR_RINGSHARD_TOO_LARGE, naming the limit', async () => {
  for (const backpressure of ['reject', 'wait'] as const) {
    const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 1, ringCapacity: 8, maxBatch: 8, maxQueuedPerShard: 8, backpressure, logger: false });
    try {
      const a = cluster.actor(counter, 'a');
      const most = backpressure === 'reject' ? 8 : 16;
      const tooMany = Array.from({ length: most + 1 }, () => ({ add: 1 }));
      for (const call of [() => a.askMany(tooMany), () => a.tellMany(tooMany)]) {
        await assert.rejects(call(), (err: any) => {
          assert.equal(err.code, 'ERR_RINGSHARD_TOO_LARGE');
          assert.match(err.message, new RegExp(`${most + 1} messages sent as one unit can never fit: shard 0's request ring holds 8 records`));
          assert.match(err.message, new RegExp(`send at most ${most} at a time`));
          return true;
        });
      }
      // Nothing was sent, and the largest unit that can fit goes through.
      assert.deepEqual(await a.snapshot(), { total: 0, count: 0 });
      if (backpressure === 'wait') {
        // The ring must be empty for the largest unit: the worker frees records once a
        // checkpoint covers them, soon after their replies are out (a SAB read, no sleep).
        const inRing = () => cluster.info().shards[0]!.ringDepth + cluster.info().shards[0]!.ringRetained;
        while (inRing() > 0) await new Promise((r) => setImmediate(r));
        const replies = await a.askMany(tooMany.slice(0, most));
        assert.deepEqual(replies.map((r) => r.count), Array.from({ length: most }, (_, i) => i + 1));
      }
    } finally {
      await cluster.shutdown();
    }
  }
});
