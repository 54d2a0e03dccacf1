/**
 * Recovery: workers that die or lose their device under load are replaced, restore the
 * last checkpoint and replay the records after it. Every ask resolves once, with the
 * reply the reference model computes for the send order; every tell takes effect once;
 * metrics count every message once. Faults are injected through cluster.injectFault and
 * coordinated through the API (awaited calls), never through sleeps.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Cluster, counter, echo, type ActorRef, type ClusterOptions } from '../../src/index.ts';
import { gpuOrSkip, NO_GPU } from '../helpers/gpu.ts';
import { KernelModel, assertMatches } from '../helpers/model.ts';
import { seededRng, type Rng } from '../helpers/random.ts';
import { parseExposition, valueOf } from '../helpers/exposition.ts';

type CounterRef = ActorRef<typeof counter.state, typeof counter.request, typeof counter.reply>;

async function start(t: TestContext, backend: 'cpu' | 'webgpu', options: Partial<ClusterOptions> = {}): Promise<Cluster | undefined> {
  if (backend === 'webgpu' && !(await gpuOrSkip())) {
    t.skip(NO_GPU);
    return undefined;
  }
  return Cluster.start({ kernels: [counter, echo], backend, shards: 2, logger: false, askTimeoutMs: 60_000, metrics: { labels: ['key'] }, ...options });
}

/** Sends random asks, askManys and tells, applying each to the model in send order. */
class Traffic {
  readonly model = new KernelModel(counter);
  readonly sent = new Map<string, number>();
  readonly checks: Array<Promise<void>> = [];
  constructor(
    private readonly refs: readonly CounterRef[],
    private readonly rng: Rng,
  ) {}

  private count(ref: CounterRef, n: number): void {
    this.sent.set(ref.key, (this.sent.get(ref.key) ?? 0) + n);
  }

  send(n: number): void {
    const { rng, model } = this;
    for (let i = 0; i < n; i++) {
      const ref = this.refs[rng.int(0, this.refs.length - 1)]!;
      const roll = rng.float();
      if (roll < 0.4) {
        const msg = { add: rng.int(0, 1000) };
        const expected = model.message(ref.key, msg);
        this.count(ref, 1);
        this.checks.push(ref.ask(msg).then((reply) => assertMatches(reply, expected, counter.reply, `ask to ${ref.key}`)));
      } else if (roll < 0.7) {
        const msgs = Array.from({ length: rng.int(1, 20) }, () => ({ add: rng.int(0, 1000) }));
        const expected = msgs.map((m) => model.message(ref.key, m));
        this.count(ref, msgs.length);
        this.checks.push(ref.askMany(msgs).then((replies) => replies.forEach((r, k) => assertMatches(r, expected[k]!, counter.reply, `askMany to ${ref.key}`))));
      } else {
        const msg = { add: rng.int(0, 1000) };
        model.apply(ref.key, msg);
        this.count(ref, 1);
        this.checks.push(ref.tell(msg));
      }
    }
  }

  /**
   * Every ask resolved with the model's reply, nothing rejected; final states equal the
   * model. Metrics count each message at most once: a worker killed between marking a
   * batch counted and adding its counts leaves that batch short (the designed side of the
   * trade: never twice), so after `faults` kills the counts may fall short by at most one
   * batch each (at most `maxBatch` messages: the load keeps ~2,000 outstanding).
   */
  async verify(cluster: Cluster, faults: number, maxBatch = 2050): Promise<void> {
    const settled = await Promise.allSettled(this.checks);
    const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    assert.equal(failed.length, 0, failed.slice(0, 3).map((f) => String(f.reason?.message ?? f.reason)).join('\n'));
    for (const ref of this.refs) {
      const state = await ref.snapshot();
      assertMatches(state, this.model.state(ref.key), counter.state, `final state of ${ref.key}`);
      // counter counts every message it handles: none lost, none handled twice.
      assert.equal(state.count, this.sent.get(ref.key) ?? 0, `${ref.key}: messages handled`);
    }
    const families = parseExposition(await cluster.registry.metrics());
    let short = 0;
    for (const ref of this.refs) {
      const counted = valueOf(families, 'ringshard_actor_messages_total', { key: ref.key, status: 'ok' });
      const sent = this.sent.get(ref.key) ?? 0;
      assert.ok(counted <= sent, `${ref.key}: counted ${counted} of ${sent} (counted twice)`);
      short += sent - counted;
    }
    assert.ok(short <= faults * maxBatch, `${short} messages not counted after ${faults} faults`);
  }
}

for (const backend of ['cpu', 'webgpu'] as const) {
  test(`worker exits and lost devices under mixed load: every ask answered once, states equal the model (${backend})`, { timeout: 180_000 }, async (t) => {
    const rng = seededRng(t);
    const cluster = await start(t, backend, { maxRestartsPerMinute: 100 });
    if (!cluster) return;
    try {
      const refs: CounterRef[] = Array.from({ length: 32 }, (_, i) => cluster.actor(counter, `r-${i}`));
      const traffic = new Traffic(refs, rng);
      let stop = false;
      const load = (async () => {
        while (!stop) {
          traffic.send(50);
          // Backpressure: at most ~2,000 sends outstanding (a recovery takes a while).
          const behind = traffic.checks[traffic.checks.length - 2000];
          await (behind ? behind.catch(() => undefined) : new Promise((r) => setImmediate(r)));
        }
      })();
      const faults = backend === 'cpu' ? 16 : 8;
      const kinds: string[] = [];
      for (let f = 0; f < faults; f++) {
        // Let some records through between faults: wait for an ask sent now.
        await refs[f % refs.length]!.snapshot();
        const kind = rng.float() < 0.5 ? 'worker-exit' : 'device-lost';
        kinds.push(kind);
        await cluster.injectFault(rng.int(0, 1), kind);
      }
      stop = true;
      await load;
      await traffic.verify(cluster, faults);
      const families = parseExposition(await cluster.registry.metrics());
      const sum = (name: string, labels: Record<string, string> = {}) => [0, 1].reduce((n, shard) => n + (valueOf(families, name, { shard: String(shard), ...labels }) ?? 0), 0);
      const recoveries = sum('ringshard_recoveries_total', { cause: 'worker-exit' }) + sum('ringshard_recoveries_total', { cause: 'device-lost' });
      // Every fault was one recovery, and every replacement kept its actors' state.
      assert.equal(recoveries, faults, `recoveries for faults ${kinds}`);
      assert.equal(sum('ringshard_shard_restarts_total'), recoveries, 'every replacement was a recovery');
      assert.equal(sum('ringshard_records_dropped_total'), 0);
      assert.ok([0, 1].some((shard) => valueOf(families, 'ringshard_checkpoints_total', { shard: String(shard) }) > 0), 'checkpoints were taken');
    } finally {
      await cluster.shutdown();
    }
  });

  test(`faults at awkward moments: after activation, during a snapshot, during terminate, twice in a row (${backend})`, { timeout: 120_000 }, async (t) => {
    const cluster = await start(t, backend, { shards: 1 });
    if (!cluster) return;
    try {
      // Right after activation: the INIT and the first message are in the ring.
      const fresh = cluster.actor(counter, 'fresh');
      const first = fresh.ask({ add: 7 });
      await cluster.injectFault(0, 'worker-exit');
      assert.deepEqual(await first, { total: 7, count: 1 });

      // During a snapshot: it is answered once, with the state before it.
      const a = cluster.actor(counter, 'a');
      await a.askMany(Array.from({ length: 100 }, () => ({ add: 1 })));
      a.tell({ add: 5 });
      const snap = a.snapshot();
      await cluster.injectFault(0, 'device-lost');
      assert.deepEqual(await snap, { total: 105, count: 101 });

      // Twice in a row: the second fault hits the replacement before its replay is done.
      const b = cluster.actor(counter, 'b');
      const asks = Array.from({ length: 300 }, (_, i) => b.ask({ add: i }));
      await cluster.injectFault(0, 'worker-exit');
      await cluster.injectFault(0, 'device-lost');
      const replies = await Promise.all(asks);
      replies.forEach((r, i) => assert.deepEqual(r, { total: (i * (i + 1)) / 2, count: i + 1 }, `ask ${i}`));

      // During terminate: the final state comes back once; the next message starts afresh.
      const c = cluster.actor(counter, 'c');
      c.tell({ add: 3 });
      const final = c.terminate();
      await cluster.injectFault(0, 'worker-exit');
      assert.deepEqual(await final, { total: 3, count: 1 });
      assert.deepEqual(await c.ask({ add: 1 }), { total: 1, count: 1 });

      // restartShard keeps state as well.
      await cluster.restartShard(0);
      assert.deepEqual(await a.ask({ add: 0 }), { total: 105, count: 102 });
      assert.deepEqual(await fresh.ask({ add: 0 }), { total: 7, count: 2 });
    } finally {
      await cluster.shutdown();
    }
  });

  test(`checkpoints after every batch: faults land during checkpoints, nothing lost or doubled (${backend})`, { timeout: 120_000 }, async (t) => {
    const rng = seededRng(t);
    const cluster = await start(t, backend, { checkpointEvery: { records: 1, ms: 0 }, maxRestartsPerMinute: 100 });
    if (!cluster) return;
    try {
      const refs: CounterRef[] = Array.from({ length: 16 }, (_, i) => cluster.actor(counter, `k-${i}`));
      const traffic = new Traffic(refs, rng);
      for (let f = 0; f < 6; f++) {
        traffic.send(400);
        await cluster.injectFault(f % 2, f % 3 === 0 ? 'device-lost' : 'worker-exit');
      }
      traffic.send(400);
      await traffic.verify(cluster, 6);
    } finally {
      await cluster.shutdown();
    }
  });
}

test('with checkpointEvery: false a replaced worker starts its actors afresh (the old behaviour)', async () => {
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 1, logger: false, checkpointEvery: false });
  try {
    const a = cluster.actor(counter, 'a');
    await a.ask({ add: 5 });
    await cluster.restartShard(0);
    assert.deepEqual(await a.ask({ add: 1 }), { total: 1, count: 1 });
    const families = parseExposition(await cluster.registry.metrics());
    assert.equal(valueOf(families, 'ringshard_recoveries_total', { shard: '0', cause: 'restart' }), 0, 'a restart without a checkpoint is no recovery');
    assert.equal(valueOf(families, 'ringshard_shard_restarts_total', { shard: '0' }), 1);
  } finally {
    await cluster.shutdown();
  }
});

test('checkpointEvery, maxDispatchMs and injectFault check their input', async () => {
  for (const [options, pattern] of [
    [{ checkpointEvery: { records: -1 } }, /options.checkpointEvery.records must be an integer from 0 to 262144/],
    [{ checkpointEvery: { ms: 'soon' } }, /options.checkpointEvery.ms must be a finite number >= 0/],
    [{ checkpointEvery: { records: 0, ms: 0 } }, /options.checkpointEvery must be a policy with records or ms above 0/],
    [{ checkpointEvery: 5 }, /options.checkpointEvery must be \{ records\?, ms\? \} or false/],
    [{ maxDispatchMs: 0 }, /options.maxDispatchMs must be a number > 0/],
  ] as const) {
    await assert.rejects(
      Cluster.start({ kernels: [counter], backend: 'cpu', logger: false, ...(options as object) }),
      (err: any) => err.code === 'ERR_RINGSHARD_INVALID_OPTION' && pattern.test(err.message),
    );
  }
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 1, logger: false });
  try {
    await assert.rejects(cluster.injectFault(1, 'worker-exit'), (err: any) => err.code === 'ERR_RINGSHARD_INVALID_OPTION' && /shard must be a shard index from 0 to 0/.test(err.message));
    await assert.rejects(cluster.injectFault(0, 'meteor' as never), (err: any) => err.code === 'ERR_RINGSHARD_INVALID_OPTION' && /kind must be 'worker-exit' or 'device-lost', got "meteor"/.test(err.message));
    // Nothing was harmed.
    assert.deepEqual(await cluster.actor(counter, 'x').ask({ add: 2 }), { total: 2, count: 1 });
  } finally {
    await cluster.shutdown();
  }
  await assert.rejects(cluster.injectFault(0, 'worker-exit'), (err: any) => err.code === 'ERR_RINGSHARD_CLOSED');
});
