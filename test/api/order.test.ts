/**
 * Per-actor order: an actor's messages are handled strictly one after another in the
 * order they were sent, across batches, frames in flight, ring wrap-around and overflow,
 * while other actors' messages interleave.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Cluster, counter } from '../../src/index.ts';
import { gpuTest } from '../helpers/gpu.ts';
import { seededRng } from '../helpers/random.ts';

async function orderRun(t: TestContext, backend: 'webgpu' | 'cpu'): Promise<void> {
  const rng = seededRng(t);
  // A small ring and small batches: many batches, wrap-around and overflow queueing.
  const cluster = await Cluster.start({ kernels: [counter], shards: 2, backend, ringCapacity: 256, maxBatch: 64, maxQueuedPerShard: 1 << 20, logger: false });
  try {
    const watched = ['a', 'b', 'c'].map((k) => cluster.actor(counter, `watched-${k}`));
    const others = Array.from({ length: 50 }, (_, i) => cluster.actor(counter, `other-${i}`));
    const N = 2000;
    const replies: Array<Array<Promise<{ total: number; count: number } | Array<{ total: number; count: number }>>>> = watched.map(() => []);
    const sentTo = watched.map(() => 0);
    const otherSent = new Array(others.length).fill(0);
    while (sentTo.some((n) => n < N)) {
      const w = rng.int(0, watched.length - 1);
      if (sentTo[w]! < N) {
        if (rng.float() < 0.2) {
          const k = Math.min(N - sentTo[w]!, rng.int(1, 20));
          replies[w]!.push(watched[w]!.askMany(Array.from({ length: k }, () => ({ add: 1 }))));
          sentTo[w]! += k;
        } else {
          replies[w]!.push(watched[w]!.ask({ add: 1 }));
          sentTo[w]!++;
        }
      }
      // Other actors' traffic between the watched actors' messages.
      for (let j = rng.int(0, 3); j > 0; j--) {
        const o = rng.int(0, others.length - 1);
        void others[o]!.tell({ add: 2 });
        otherSent[o]++;
      }
    }
    for (let w = 0; w < watched.length; w++) {
      const flat = (await Promise.all(replies[w]!)).flat();
      assert.deepEqual(flat.map((r) => r.count), Array.from({ length: N }, (_, i) => i + 1), `actor ${w}: counts must be exactly 1..${N}`);
      assert.deepEqual(flat.map((r) => r.total), Array.from({ length: N }, (_, i) => i + 1), `actor ${w}: totals must be exactly 1..${N}`);
    }
    for (let o = 0; o < others.length; o++) {
      assert.deepEqual(await others[o]!.snapshot(), { total: 2 * otherSent[o], count: otherSent[o] }, `other-${o}`);
    }
  } finally {
    await cluster.shutdown();
  }
}

gpuTest('webgpu: each actor sees its messages strictly in order, interleaved with others', (t) => orderRun(t, 'webgpu'), { timeout: 300_000 });
test('cpu: each actor sees its messages strictly in order, interleaved with others', { timeout: 300_000 }, (t) => orderRun(t, 'cpu'));
