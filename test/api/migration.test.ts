/**
 * Live migration: actors move between shards while asks, askManys and tells keep
 * flowing. Every message sent before, during and after a move is handled exactly once,
 * in send order: each reply equals the reference model's, applied in send order; final
 * snapshots equal the model; ids, metric series and pending asks carry over.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Cluster, counter, echo, type ActorRef } from '../../src/index.ts';
import { gpuOrSkip, NO_GPU } from '../helpers/gpu.ts';
import { KernelModel, assertMatches } from '../helpers/model.ts';
import { seededRng } from '../helpers/random.ts';
import { parseExposition, valueOf } from '../helpers/exposition.ts';

type CounterRef = ActorRef<typeof counter.state, typeof counter.request, typeof counter.reply>;

async function start(t: TestContext, backend: 'cpu' | 'webgpu', shards: number): Promise<Cluster | undefined> {
  if (backend === 'webgpu' && !(await gpuOrSkip())) {
    t.skip(NO_GPU);
    return undefined;
  }
  return Cluster.start({ kernels: [counter, echo], backend, shards, logger: false, askTimeoutMs: 20_000, metrics: { labels: ['key'] } });
}

for (const backend of ['cpu', 'webgpu'] as const) {
  test(`migration under load: nothing lost, doubled or reordered, snapshots equal the model (${backend})`, { timeout: 120_000 }, async (t) => {
    const rng = seededRng(t);
    const cluster = await start(t, backend, 3);
    if (!cluster) return;
    try {
      const model = new KernelModel(counter);
      const refs: CounterRef[] = Array.from({ length: 24 }, (_, i) => cluster.actor(counter, `m-${i}`));
      const ids = new Map<CounterRef, number>();
      for (const r of refs) ids.set(r, r.id);
      const sentTo = new Map<string, number>();
      let stop = false;
      const problems: string[] = [];
      const checks: Array<Promise<void>> = [];
      // Each send applies the message to the model at once, in program order: the order
      // the cluster must handle them in, since every send is synchronous.
      const sendOne = () => {
        const ref = refs[rng.int(0, refs.length - 1)]!;
        sentTo.set(ref.key, (sentTo.get(ref.key) ?? 0) + 1);
        const roll = rng.float();
        if (roll < 0.4) {
          const msg = { add: rng.int(0, 1000) };
          const expected = model.message(ref.key, msg);
          checks.push(ref.ask(msg).then((reply) => assertMatches(reply, expected, counter.reply, `ask to ${ref.key}`)));
        } else if (roll < 0.7) {
          const msgs = Array.from({ length: rng.int(1, 20) }, () => ({ add: rng.int(0, 1000) }));
          sentTo.set(ref.key, sentTo.get(ref.key)! + msgs.length - 1);
          const expected = msgs.map((m) => model.message(ref.key, m));
          checks.push(ref.askMany(msgs).then((replies) => replies.forEach((r, i) => assertMatches(r, expected[i]!, counter.reply, `askMany to ${ref.key}`))));
        } else {
          const msg = { add: rng.int(0, 1000) };
          model.apply(ref.key, msg);
          checks.push(ref.tell(msg));
        }
      };
      const traffic = (async () => {
        while (!stop) {
          for (let i = 0; i < 40; i++) sendOne();
          await new Promise((r) => setImmediate(r));
        }
      })();
      let moves = 0;
      for (let m = 0; m < 40; m++) {
        const ref = refs[rng.int(0, refs.length - 1)]!;
        const from = cluster.locate(ref).shard;
        const to = (from + rng.int(1, 2)) % 3;
        // Some moves overlap: the second waits for the first.
        const second = rng.float() < 0.2 ? cluster.migrate(ref, (to + 1) % 3) : undefined;
        await cluster.migrate(ref, to);
        await second;
        moves++;
        if (ref.id !== ids.get(ref)) problems.push(`${ref.key}: id changed from ${ids.get(ref)} to ${ref.id}`);
      }
      stop = true;
      await traffic;
      const settled = await Promise.allSettled(checks);
      const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
      assert.equal(failed.length, 0, failed.slice(0, 3).map((f) => String(f.reason?.message ?? f.reason)).join('\n'));
      assert.deepEqual(problems, []);
      assert.equal(moves, 40);
      for (const ref of refs) {
        const state = await ref.snapshot();
        assertMatches(state, model.state(ref.key), counter.state, `final state of ${ref.key}`);
        // Counter counts every message: none lost, none handled twice.
        assert.equal(state.count, sentTo.get(ref.key) ?? 0, `${ref.key}: messages handled`);
      }
      // The actors' series continued across shards: each counts every message once.
      const families = parseExposition(await cluster.registry.metrics());
      for (const ref of refs) {
        assert.equal(valueOf(families, 'ringshard_actor_messages_total', { key: ref.key, status: 'ok' }), sentTo.get(ref.key) ?? 0, `${ref.key}: metric`);
      }
      // And every shard's totals add up to all messages handled.
      const all = [...sentTo.values()].reduce((a, b) => a + b, 0);
      const perShard = [0, 1, 2].map((shard) => valueOf(families, 'ringshard_messages_total', { shard: String(shard), kernel: 'counter', status: 'ok' }));
      assert.equal(perShard.reduce((a, b) => a + b, 0), all);
    } finally {
      await cluster.shutdown();
    }
  });

  test(`ref.id is what the handler sees in ctx.actor, and stays across moves (${backend})`, async (t) => {
    const cluster = await start(t, backend, 2);
    if (!cluster) return;
    try {
      const a = cluster.actor(echo, 'who');
      const b = cluster.actor(echo, 'other');
      const id = a.id;
      assert.ok(Number.isInteger(id) && id >= 0 && id < 0xffffffff);
      assert.notEqual(b.id, id, 'ids are unique');
      const msg = { seq: 1, value: 2, data: [1, 2, 3, 4] };
      assert.equal((await a.ask(msg)).actor, id);
      const from = cluster.locate(a).shard;
      await cluster.migrate(a, 1 - from);
      assert.equal(cluster.locate(a).shard, 1 - from);
      assert.equal(a.id, id);
      const reply = await a.ask(msg);
      assert.equal(reply.actor, id, 'ctx.actor after the move');
      assert.equal(reply.count, 2, 'the state came along');
      // Moving to where it is resolves at once; a new life gets a new id.
      await cluster.migrate(a, 1 - from);
      await a.terminate();
      assert.notEqual(a.id, id);
    } finally {
      await cluster.shutdown();
    }
  });
}

test('migrate: a shard that does not exist, an actor that is not active', async () => {
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 2, logger: false });
  try {
    const a = cluster.actor(counter, 'a');
    await a.ask({ add: 1 });
    for (const bad of [2, -1, 0.5, '1' as unknown as number]) {
      await assert.rejects(cluster.migrate(a, bad), (err: any) => err.code === 'ERR_RINGSHARD_INVALID_OPTION' && /toShard must be a shard index from 0 to 1/.test(err.message));
    }
    await a.terminate();
    await assert.rejects(cluster.migrate(a, 1), (err: any) => err.code === 'ERR_RINGSHARD_UNKNOWN_ACTOR' && /cannot migrate kernel 'counter' actor 'a': it is not active/.test(err.message));
    const never = cluster.actor(counter, 'never');
    await assert.rejects(cluster.migrate(never, 0), (err: any) => err.code === 'ERR_RINGSHARD_UNKNOWN_ACTOR');
  } finally {
    await cluster.shutdown();
  }
});

test('a terminate sent while the actor moves runs on its new shard, after what came before', async () => {
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 2, logger: false });
  try {
    const a = cluster.actor(counter, 'a', { shard: 0 });
    await a.ask({ add: 1 });
    const moved = cluster.migrate(a, 1);
    const told = a.tell({ add: 2 });
    const final = a.terminate();
    await moved;
    await told;
    assert.deepEqual(await final, { total: 3, count: 2 });
    assert.equal(cluster.info().actors, 0);
    assert.deepEqual(cluster.info().shards.map((s) => s.actors), [0, 0]);
  } finally {
    await cluster.shutdown();
  }
});
