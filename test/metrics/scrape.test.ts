/**
 * Scrape the real /metrics endpoint after sending known numbers of messages to known
 * actors: every count must be exact, and the text must parse as valid exposition format.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Cluster, counter, stats } from '../../src/index.ts';
import { parseExposition, sumOf, valueOf } from '../helpers/exposition.ts';
import { gpuTest } from '../helpers/gpu.ts';
import { flaky } from '../helpers/kernels.ts';
import { seededRng } from '../helpers/random.ts';

async function scrape(url: string, accept?: string): Promise<{ text: string; type: string | null }> {
  const res = await fetch(url, accept ? { headers: { accept } } : {});
  assert.equal(res.status, 200);
  return { text: await res.text(), type: res.headers.get('content-type') };
}

async function exactCounts(t: TestContext, backend: 'webgpu' | 'cpu'): Promise<void> {
  const rng = seededRng(t);
  const cluster = await Cluster.start({ kernels: [counter, stats, flaky], shards: 2, backend, logger: false, metrics: { port: 0 } });
  try {
    const url = cluster.metricsUrl!;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    // Known numbers of messages to known actors, mixing tell, ask and askMany.
    const sent = new Map<string, number>();
    const counters = Array.from({ length: 20 }, (_, i) => cluster.actor(counter, `c${i}`));
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < 3000; i++) {
      const k = rng.int(0, counters.length - 1);
      const roll = rng.float();
      if (roll < 0.5) pending.push(counters[k]!.tell({ add: 1 }));
      else if (roll < 0.8) pending.push(counters[k]!.ask({ add: 1 }));
      else {
        pending.push(counters[k]!.askMany([{ add: 1 }, { add: 2 }]));
        sent.set(`c${k}`, (sent.get(`c${k}`) ?? 0) + 1);
      }
      sent.set(`c${k}`, (sent.get(`c${k}`) ?? 0) + 1);
    }
    const s = cluster.actor(stats, 'sensor');
    pending.push(s.askMany(Array.from({ length: 50 }, () => ({ samples: [1, 2, 3, 4, 5, 6, 7, 8], n: 8 }))));
    const f = cluster.actor(flaky, 'f');
    pending.push(...[0, 3, 0, 5, 0].map((fail) => f.ask({ fail }).catch(() => 'failed')));
    await Promise.all(pending);
    // Snapshots come after every message in their rings: all are handled when they return.
    await Promise.all([...counters, s, f].map((r) => r.snapshot()));
    // A worker publishes a batch's replies before it marks the batch handled (a
    // replacement must not skip records it never answered): the ring-depth gauge can
    // trail the replies by one batch. drain() waits for the mark (seen in CI, 10 records).
    await cluster.drain();

    const { text, type } = await scrape(url);
    assert.equal(type, 'text/plain; version=0.0.4; charset=utf-8');
    const m = parseExposition(text);
    const total = [...sent.values()].reduce((a, b) => a + b, 0);
    // Per-actor series are labelled by the actor's id (keys and tenants only with metrics.labels).
    for (const [key, n] of sent) {
      const actor = String(cluster.actor(counter, key).id);
      assert.equal(valueOf(m, 'ringshard_actor_messages_total', { kernel: 'counter', actor, status: 'ok' }), n, `actor ${key}`);
      assert.equal(valueOf(m, 'ringshard_actor_message_latency_seconds_count', { kernel: 'counter', actor }), n, `latency count of ${key}`);
    }
    assert.equal(sumOf(m, 'ringshard_messages_total', { kernel: 'counter', status: 'ok' }), total);
    assert.equal(sumOf(m, 'ringshard_message_latency_seconds_count', { kernel: 'counter' }), total);
    assert.equal(sumOf(m, 'ringshard_messages_total', { kernel: 'stats', status: 'ok' }), 50);
    assert.equal(sumOf(m, 'ringshard_messages_total', { kernel: 'flaky', status: 'ok' }), 3);
    assert.equal(sumOf(m, 'ringshard_messages_total', { kernel: 'flaky', status: 'error' }), 2);
    assert.equal(valueOf(m, 'ringshard_actor_messages_total', { kernel: 'flaky', actor: String(f.id), status: 'error' }), 2);
    // Every message is in a batch; batch sizes add up to all records (messages + INIT + snapshots).
    assert.ok(sumOf(m, 'ringshard_batch_size_records_sum') >= total + 55);
    assert.equal(sumOf(m, 'ringshard_batch_size_records_count'), sumOf(m, 'ringshard_batches_total'));
    assert.equal(sumOf(m, 'ringshard_dispatch_duration_seconds_count'), sumOf(m, 'ringshard_batches_total'));
    assert.ok(sumOf(m, 'ringshard_dispatch_duration_seconds_sum') > 0);
    // Idle: the rings are empty, and their capacity is reported.
    for (const shard of ['0', '1']) {
      assert.equal(valueOf(m, 'ringshard_ring_depth', { shard, ring: 'request' }), 0);
      assert.equal(valueOf(m, 'ringshard_ring_depth', { shard, ring: 'reply' }), 0);
      assert.equal(valueOf(m, 'ringshard_ring_capacity', { shard, ring: 'request' }), 262144);
      assert.ok(valueOf(m, 'ringshard_gpu_state_bytes', { shard }) > 0);
    }
    assert.equal(sumOf(m, 'ringshard_actors_active', { kernel: 'counter' }), 20);
    assert.equal(sumOf(m, 'ringshard_shard_restarts_total'), 0);
    assert.equal(valueOf(m, 'ringshard_info', { backend }), 1);
    for (const family of m.values()) assert.match(family.name, /^ringshard_/);

    // OpenMetrics when asked for, with counters named per that format.
    const om = await scrape(url, 'application/openmetrics-text; version=1.0.0');
    assert.equal(om.type, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    assert.match(om.text, /^# TYPE ringshard_messages counter$/m);
    assert.match(om.text, /^ringshard_messages_total\{shard="0",kernel="counter",status="ok"\} \d+$/m);
    assert.ok(om.text.endsWith('# EOF\n'));
    // ...and a Prometheus scrape afterwards still has the _total names.
    assert.match((await scrape(url)).text, /^# TYPE ringshard_messages_total counter$/m);
  } finally {
    await cluster.shutdown();
  }
}

gpuTest('webgpu: scraped counters and histograms equal what was sent, exactly', (t) => exactCounts(t, 'webgpu'));
test('cpu: scraped counters and histograms equal what was sent, exactly', (t) => exactCounts(t, 'cpu'));

test('per-actor series are bounded: extra actors fold into _other without losing counts', async (t) => {
  const rng = seededRng(t);
  const cluster = await Cluster.start({ kernels: [counter, stats], shards: 2, backend: 'cpu', logger: false, metrics: { perActor: 10 } });
  try {
    const refs = Array.from({ length: 40 }, (_, i) => cluster.actor(counter, `a${i}`));
    let total = 0;
    await Promise.all(
      refs.map((r) => {
        const n = rng.int(1, 30);
        total += n;
        return r.askMany(Array.from({ length: n }, () => ({ add: 1 })));
      }),
    );
    // Terminated tracked actors fold into _other as well.
    await Promise.all(refs.slice(0, 5).map((r) => r.terminate()));
    await Promise.all(refs.slice(20).map((r) => r.tell({ add: 1 })));
    total += 20;
    await Promise.all(refs.slice(5).map((r) => r.snapshot()));
    const m = parseExposition(await cluster.registry.metrics());
    const family = m.get('ringshard_actor_messages_total')!;
    const actors = new Set(family.series.filter((s) => s.labels.kernel === 'counter').map((s) => s.labels.actor));
    assert.ok(actors.has('_other'));
    assert.ok(actors.size <= 11, `at most 10 actors plus _other, got ${actors.size}`);
    assert.equal(sumOf(m, 'ringshard_actor_messages_total', { kernel: 'counter', status: 'ok' }), total);
    assert.equal(sumOf(m, 'ringshard_actor_message_latency_seconds_count', { kernel: 'counter' }), total);
    assert.equal(sumOf(m, 'ringshard_messages_total', { kernel: 'counter', status: 'ok' }), total);
  } finally {
    await cluster.shutdown();
  }
});

test("perActor 'none' keeps only _other, 'all' tracks every actor", async () => {
  for (const [perActor, expected] of [['none', 1], ['all', 31]] as const) {
    const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', logger: false, metrics: { perActor } });
    try {
      await Promise.all(Array.from({ length: 30 }, (_, i) => cluster.actor(counter, `x${i}`).ask({ add: 1 })));
      const m = parseExposition(await cluster.registry.metrics());
      const actors = new Set(m.get('ringshard_actor_messages_total')!.series.map((s) => s.labels.actor));
      assert.equal(actors.size, expected, `perActor ${perActor}`);
      assert.equal(sumOf(m, 'ringshard_actor_messages_total', { status: 'ok' }), 30);
    } finally {
      await cluster.shutdown();
    }
  }
});

test('counters keep their values when a shard worker is replaced (by restartShard and by a crash)', async () => {
  const cluster = await Cluster.start({ kernels: [counter], shards: 1, backend: 'cpu', logger: false });
  try {
    const a = cluster.actor(counter, 'a');
    await a.askMany(Array.from({ length: 100 }, () => ({ add: 1 })));
    const before = parseExposition(await cluster.registry.metrics());
    assert.equal(valueOf(before, 'ringshard_messages_total', { status: 'ok' }), 100);
    const batchesBefore = valueOf(before, 'ringshard_batches_total', { shard: '0' });

    await cluster.restartShard(0);
    let m = parseExposition(await cluster.registry.metrics());
    assert.equal(valueOf(m, 'ringshard_shard_restarts_total', { shard: '0' }), 1);
    assert.equal(valueOf(m, 'ringshard_recoveries_total', { shard: '0', cause: 'restart' }), 1);
    assert.equal(valueOf(m, 'ringshard_messages_total', { status: 'ok' }), 100, 'kept across the restart');
    assert.equal(valueOf(m, 'ringshard_batches_total', { shard: '0' }), batchesBefore);
    // The actor kept its state (from the checkpoint); counting goes on, nothing twice.
    assert.deepEqual(await a.ask({ add: 1 }), { total: 101, count: 101 });
    m = parseExposition(await cluster.registry.metrics());
    assert.equal(valueOf(m, 'ringshard_messages_total', { status: 'ok' }), 101);
    assert.equal(sumOf(m, 'ringshard_actor_messages_total', { status: 'ok' }), 101);

    // A worker that dies on its own is replaced automatically, the same way.
    const asks = Array.from({ length: 50 }, () => a.ask({ add: 1 }));
    await cluster.injectFault(0, 'worker-exit');
    assert.deepEqual(await asks.at(-1), { total: 151, count: 151 });
    m = parseExposition(await cluster.registry.metrics());
    assert.equal(valueOf(m, 'ringshard_shard_restarts_total', { shard: '0' }), 2);
    assert.equal(valueOf(m, 'ringshard_recoveries_total', { shard: '0', cause: 'worker-exit' }), 1);
    assert.equal(valueOf(m, 'ringshard_messages_total', { status: 'ok' }), 151, 'every message counted once');
  } finally {
    await cluster.shutdown();
  }
});

test('backpressure waits and rejections are counted', async () => {
  const cluster = await Cluster.start({ kernels: [counter], shards: 1, backend: 'cpu', logger: false, ringCapacity: 16, maxBatch: 16, maxQueuedPerShard: 100 });
  try {
    const a = cluster.actor(counter, 'a');
    const results = await Promise.allSettled(Array.from({ length: 200 }, () => a.tell({ add: 1 })));
    const refused = results.filter((r) => r.status === 'rejected').length;
    await a.snapshot();
    const m = parseExposition(await cluster.registry.metrics());
    assert.equal(valueOf(m, 'ringshard_backpressure_rejections_total', { shard: '0' }), refused);
    assert.equal(valueOf(m, 'ringshard_backpressure_waits_total', { shard: '0' }), 100);
    assert.equal(valueOf(m, 'ringshard_queued_records', { shard: '0' }), 0);
  } finally {
    await cluster.shutdown();
  }
});

test('metrics: false turns the tables off; the registry is empty', async () => {
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', logger: false, metrics: false });
  try {
    assert.deepEqual(await cluster.actor(counter, 'a').ask({ add: 2 }), { total: 2, count: 1 });
    assert.equal((await cluster.registry.metrics()).trim(), '');
  } finally {
    await cluster.shutdown();
  }
});
