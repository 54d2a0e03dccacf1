/**
 * AbortSignal on ask and askMany, both backends: an aborted signal sends nothing; an
 * abort in flight rejects with an AbortError carrying the reason, the message is still
 * handled once, and its reply is dropped with its pending entry; an abort after the
 * reply changes nothing; no listener stays on a signal shared by many calls.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { Cluster, counter } from '../../src/index.ts';
import { gpuOrSkip, NO_GPU } from '../helpers/gpu.ts';

const isAbortError = (reason: unknown) => (error: unknown) => {
  const e = error as Error & { code?: string };
  assert.equal(e.name, 'AbortError');
  assert.equal(e.code, 'ABORT_ERR');
  assert.equal(e.cause, reason);
  return true;
};

async function withCluster(backend: 'cpu' | 'webgpu', fn: (cluster: Cluster) => Promise<void>): Promise<void> {
  const cluster = await Cluster.start({ kernels: [counter], backend, shards: 1, logger: false });
  try {
    await fn(cluster);
  } finally {
    await cluster.shutdown();
  }
}

for (const backend of ['cpu', 'webgpu'] as const) {
  test(`${backend}: ask and askMany with an AbortSignal: before send, in flight, after the reply; nothing pending or listening after`, async (t) => {
    if (backend === 'webgpu' && !(await gpuOrSkip())) return t.skip(NO_GPU);
    await withCluster(backend, async (cluster) => {
      const a = cluster.actor(counter, 'a');
      const asks = () => cluster.info().shards[0]!.asks;

      // Aborted already: nothing is sent, not even the activation.
      const gone = new AbortController();
      const why = new Error('the client left');
      gone.abort(why);
      await assert.rejects(a.ask({ add: 100 }, { signal: gone.signal }), isAbortError(why));
      await assert.rejects(a.askMany([{ add: 100 }, { add: 100 }], { signal: gone.signal }), isAbortError(why));
      await assert.rejects(a.askMany({ add: Uint32Array.of(100) }, { signal: gone.signal }), isAbortError(why));
      assert.equal(cluster.info().actors, 0, 'nothing was activated');

      // In flight: the abort comes before the reply could (same turn); the messages are handled once.
      const inFlight = new AbortController();
      const one = a.ask({ add: 1 }, { signal: inFlight.signal });
      const many = a.askMany([{ add: 2 }, { add: 3 }], { signal: inFlight.signal });
      assert.equal(asks().waiting, 2);
      const reason = new Error('stop');
      inFlight.abort(reason);
      await assert.rejects(one, isAbortError(reason));
      await assert.rejects(many, isAbortError(reason));
      assert.equal(asks().waiting, 0, 'no caller waits any more');
      // The snapshot's reply comes after theirs (replies come in ring order): their entries are gone.
      assert.deepEqual(await a.snapshot(), { total: 6, count: 3 });
      assert.deepEqual(asks(), { pending: 0, waiting: 0 });

      // After the reply: the abort changes nothing.
      const late = new AbortController();
      assert.deepEqual(await a.ask({ add: 4 }, { signal: late.signal }), { total: 10, count: 4 });
      assert.deepEqual(await a.askMany([{ add: 5 }], { signal: late.signal }), [{ total: 15, count: 5 }]);
      late.abort();
      assert.equal(getEventListeners(late.signal, 'abort').length, 0, 'the listeners went when the calls settled');

      // One signal for many calls: no listener left behind by any of them.
      const shared = new AbortController();
      const replies = await Promise.all(Array.from({ length: 100 }, () => a.ask({ add: 1 }, { signal: shared.signal })));
      assert.equal(replies.at(-1)!.count, 105);
      assert.equal(getEventListeners(shared.signal, 'abort').length, 0);

      // AbortSignal.timeout: its reason (a TimeoutError) is the cause.
      const timed = AbortSignal.timeout(1);
      await new Promise((resolve) => timed.addEventListener('abort', resolve, { once: true }));
      await assert.rejects(a.ask({ add: 1 }, { signal: timed }), isAbortError(timed.reason));
      assert.deepEqual(await a.snapshot(), { total: 115, count: 105 }, 'what was aborted before sending never ran');
    });
  });
}

test('options.signal that is not an AbortSignal is refused with ERR_RINGSHARD_INVALID_OPTION, and nothing is sent', async () => {
  await withCluster('cpu', async (cluster) => {
    const a = cluster.actor(counter, 'a');
    for (const signal of [{ aborted: true }, 'yes', 1]) {
      await assert.rejects(a.ask({ add: 1 }, { signal: signal as never }), (e: Error & { code?: string }) => e.code === 'ERR_RINGSHARD_INVALID_OPTION' && /options\.signal must be an AbortSignal/.test(e.message));
      await assert.rejects(a.askMany([{ add: 1 }], { signal: signal as never }), (e: Error & { code?: string }) => e.code === 'ERR_RINGSHARD_INVALID_OPTION');
    }
    assert.equal(cluster.info().actors, 0);
  });
});
