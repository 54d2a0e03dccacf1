/**
 * Idle deactivation (options.idleAfterMs): an actor that took no message for its
 * kernel's idleAfterMs gives its slot and directory entry back, its state kept (host
 * memory, or the store with options.persist); its next message, ask or K2K message brings
 * it back with the same state and id, without init. Sweeps are driven through
 * cluster.sweepIdle() (an actor goes after two sweeps without a message), so the tests
 * coordinate through the API, not through time. States are checked against a model
 * computed in TS on fresh random inputs, on both backends.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Cluster, ErrorCode, counter, defineKernel, type ClusterOptions } from '../../src/index.ts';
import { gpuOrSkip, NO_GPU } from '../helpers/gpu.ts';
import { seededRng } from '../helpers/random.ts';
import { parseExposition, valueOf } from '../helpers/exposition.ts';
import { hang } from '../helpers/kernels.ts';

/** Counts messages, sums them, and counts how often init ran (once per actor, ever). */
const tally = defineKernel({
  name: 'tally',
  state: { total: 'u32', count: 'u32', inits: 'u32' },
  request: { add: 'u32' },
  reply: { total: 'u32', count: 'u32', inits: 'u32' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).total += msg.add;
  (*state).count += 1u;
  return Reply((*state).total, (*state).count, (*state).inits);
}
fn init(ctx: ptr<function, RingContext>, state: ptr<function, State>) {
  (*state).inits += 1u;
}`,
  reference: {
    handle: (s, m) => {
      s.total = (s.total + m.add) >>> 0;
      s.count = (s.count + 1) >>> 0;
      return { total: s.total, count: s.count, inits: s.inits };
    },
    init: (s) => {
      s.inits = (s.inits + 1) >>> 0;
    },
  },
});

/** Sends 1 to the counter whose id it is given. */
const relay = defineKernel({
  name: 'relay',
  state: { sent: 'u32' },
  request: { to: 'u32' },
  reply: { sent: 'u32' },
  sends: { add: 'counter' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  if (send_add(ctx, msg.to, AddRequest(1u))) { (*state).sent += 1u; }
  return Reply((*state).sent);
}`,
  reference: (s, m, ctx) => {
    if (ctx.send('add', m.to, { add: 1 })) s.sent = (s.sent + 1) >>> 0;
    return { sent: s.sent };
  },
});

async function start(t: TestContext, backend: 'cpu' | 'webgpu', options: Partial<ClusterOptions> = {}): Promise<Cluster | undefined> {
  if (backend === 'webgpu' && !(await gpuOrSkip())) {
    t.skip(NO_GPU);
    return undefined;
  }
  const cluster = await Cluster.start({ kernels: [tally, counter, relay], backend, shards: 2, logger: false, idleAfterMs: 60_000, ...options });
  t.after(() => cluster.shutdown());
  return cluster;
}

const metric = async (cluster: Cluster, name: string, labels: Record<string, string> = {}) => valueOf(parseExposition(await cluster.registry.metrics()), name, labels);

for (const backend of ['cpu', 'webgpu'] as const) {
  test(`${backend}: actors deactivate and come back while messages flow: same state, same id, init once; each transition counted once`, { timeout: 180_000 }, async (t) => {
    const cluster = await start(t, backend);
    if (!cluster) return;
    const rng = seededRng(t);
    const keys = Array.from({ length: 120 }, (_, i) => `a${i}`);
    const model = new Map(keys.map((k) => [k, { total: 0, count: 0 }]));
    const ids = new Map<string, number>();
    const calls: Array<Promise<unknown>> = [];
    const send = (key: string) => {
      const ref = cluster.actor(tally, key);
      const m = model.get(key)!;
      const add = rng.int(0, 1000);
      m.total = (m.total + add) >>> 0;
      m.count++;
      const expected = { ...m, inits: 1 };
      const r = rng.float();
      if (r < 0.4) calls.push(ref.tell({ add }));
      else if (r < 0.8) calls.push(ref.ask({ add }).then((reply) => assert.deepEqual(reply, expected, `${key}'s reply`)));
      else {
        const second = rng.int(0, 1000);
        m.total = (m.total + second) >>> 0;
        m.count++;
        const last = { ...m, inits: 1 };
        calls.push(ref.askMany([{ add }, { add: second }]).then((replies) => assert.deepEqual(replies[1], last, `${key}'s askMany`)));
      }
      const id = ref.id;
      if (ids.has(key)) assert.equal(id, ids.get(key), `${key} keeps its id`);
      else ids.set(key, id);
    };
    for (let round = 0; round < 8; round++) {
      // A third of the keys take messages this round; the rest go idle.
      for (const key of keys) if (rng.float() < 0.33) send(key);
      // Sweeps run while those messages are in flight, and messages come while the
      // sweeps' exports are: some deactivations are given up, none loses a message.
      const sweeps = cluster.sweepIdle().then(() => cluster.sweepIdle());
      for (let i = 0; i < 40; i++) send(rng.pick(keys));
      await sweeps;
      await Promise.all(calls.splice(0));
      assert.ok(cluster.info().actors < keys.length || round === 0, `round ${round}: ${cluster.info().actors} active`);
    }
    await cluster.sweepIdle();
    await cluster.sweepIdle();
    await cluster.sweepIdle();
    const used = keys.filter((k) => model.get(k)!.count > 0).length;
    assert.equal(cluster.info().actors, 0, 'every actor idle for two sweeps is deactivated');
    assert.equal(cluster.info().deactivated, used);
    assert.equal(await metric(cluster, 'ringshard_actors_deactivated'), used);
    for (const key of keys) {
      const m = model.get(key)!;
      if (m.count === 0) continue;
      assert.deepEqual(await cluster.actor(tally, key).snapshot(), { ...m, inits: 1 }, `${key} after deactivations`);
      assert.equal(cluster.actor(tally, key).id, ids.get(key));
    }
    const created = await metric(cluster, 'ringshard_actor_activations_total', { cause: 'new' });
    const reactivated = await metric(cluster, 'ringshard_actor_activations_total', { cause: 'reactivated' });
    const idle = await metric(cluster, 'ringshard_actor_deactivations_total', { cause: 'idle' });
    assert.equal(created, used, 'one new activation per actor, ever');
    assert.ok(reactivated > used, `actors came back ${reactivated} times`);
    t.diagnostic(`deactivations: ${idle}, given up (a message came meanwhile): ${await metric(cluster, 'ringshard_actor_deactivations_total', { cause: 'given-up' })}`);
    // Every deactivation ends in one reactivation or is still deactivated now.
    assert.equal(idle, reactivated + (await metric(cluster, 'ringshard_actors_deactivated')));
  });
}

test('cpu: 200,000 distinct keys, one message each, with sweeps along the way: slots stay bounded, every state is kept, nothing lost or doubled', { timeout: 300_000 }, async (t) => {
  const cluster = await start(t, 'cpu', { shards: 1, maxActorsPerShard: 65_536 });
  if (!cluster) return;
  const rng = seededRng(t);
  const KEYS = 200_000;
  const STEP = 10_000;
  let mostActive = 0;
  for (let base = 0; base < KEYS; base += STEP) {
    const sends: Array<Promise<void>> = [];
    for (let i = base; i < base + STEP; i++) sends.push(cluster.actor(counter, `k${i}`).tell({ add: i }));
    await Promise.all(sends);
    mostActive = Math.max(mostActive, cluster.info().actors);
    await cluster.sweepIdle();
  }
  await cluster.drain();
  await cluster.sweepIdle();
  await cluster.sweepIdle();
  t.diagnostic(`most active at once: ${mostActive}; deactivated: ${await metric(cluster, 'ringshard_actors_deactivated')}`);
  // Two sweeps per 10,000 keys: at most three steps' worth are active at a time.
  assert.ok(mostActive <= 3 * STEP, `${mostActive} actors were active at once`);
  assert.equal(cluster.info().actors, 0);
  assert.equal(await metric(cluster, 'ringshard_actors_deactivated'), KEYS);
  const sample = new Set<number>();
  while (sample.size < 2_000) sample.add(rng.int(0, KEYS - 1));
  for (const i of sample) assert.deepEqual(await cluster.actor(counter, `k${i}`).ask({ add: 0 }), { total: i, count: 2 }, `k${i}`);
});

test('cpu: a K2K message to a deactivated actor brings it back and is delivered; terminate() of a deactivated actor runs its shutdown with its state and forgets it', { timeout: 60_000 }, async (t) => {
  const cluster = await start(t, 'cpu');
  if (!cluster) return;
  const target = cluster.actor(counter, 'target');
  await target.ask({ add: 10 });
  const id = target.id;
  await cluster.sweepIdle();
  await cluster.sweepIdle();
  await cluster.sweepIdle();
  assert.equal(cluster.info().actors, 0);
  assert.equal(target.actorId, id, 'a deactivated actor keeps its id (reading it activates nothing)');
  assert.equal(cluster.info().actors, 0);
  assert.deepEqual(await cluster.actor(relay, 'r').ask({ to: id }), { sent: 1 });
  await cluster.drain();
  assert.equal(cluster.deadLetterCounts()['no-such-actor'], 0);
  assert.equal(cluster.deadLetterCounts().terminated, 0);
  assert.deepEqual(await target.snapshot(), { total: 11, count: 2 });
  await cluster.sweepIdle();
  await cluster.sweepIdle();
  await cluster.sweepIdle();
  assert.equal(cluster.info().actors, 0);
  assert.deepEqual(await target.terminate(), { total: 11, count: 2 });
  assert.equal(target.actorId, undefined);
  assert.deepEqual(await target.ask({ add: 1 }), { total: 1, count: 1 }, 'terminated: it starts afresh');
});

test('cpu, persist: idle actors go to the store, come back from it, and are there after a restart', { timeout: 120_000 }, async (t) => {
  const path = mkdtempSync(join(tmpdir(), 'ringshard-idle-'));
  t.after(() => rmSync(path, { recursive: true, force: true }));
  const rng = seededRng(t);
  const model = new Map<string, number>();
  for (const durability of ['message', 'checkpoint'] as const) {
    const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', logger: false, idleAfterMs: 60_000, persist: { path, durability } });
    try {
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 50; i++) {
          const key = `p${rng.int(0, 99)}`;
          const add = rng.int(1, 100);
          model.set(key, (model.get(key) ?? 0) + add);
          await cluster.actor(counter, key).tell({ add });
        }
        await cluster.sweepIdle();
        await cluster.sweepIdle();
        await cluster.sweepIdle();
        assert.equal(cluster.info().actors, 0, `round ${round}: all deactivated into the store`);
      }
      for (const [key, total] of model) assert.equal((await cluster.actor(counter, key).snapshot()).total, total, key);
    } finally {
      await cluster.shutdown();
    }
  }
  const again = await Cluster.start({ kernels: [counter], backend: 'cpu', logger: false, persist: { path } });
  try {
    for (const [key, total] of model) assert.equal((await again.actor(counter, key).snapshot()).total, total, `${key} after a restart`);
  } finally {
    await again.shutdown();
  }
});

test('idleAfterMs is checked: a cluster option or a kernel option that is not whole milliseconds is refused; 0 never deactivates', { timeout: 60_000 }, async (t) => {
  await assert.rejects(Cluster.start({ kernels: [counter], backend: 'cpu', logger: false, idleAfterMs: -1 }), { code: ErrorCode.INVALID_OPTION });
  await assert.rejects(Cluster.start({ kernels: [counter], backend: 'cpu', logger: false, idleAfterMs: 1.5 }), { code: ErrorCode.INVALID_OPTION });
  assert.throws(() => defineKernel({ name: 'x', state: { a: 'u32' }, request: { a: 'u32' }, reply: { a: 'u32' }, idleAfterMs: 'soon' as unknown as number, wgsl: 'fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply { return Reply(0u); }' }), { code: ErrorCode.INVALID_KERNEL });
  // A kernel's 0 overrides the cluster's: its actors stay; the others go.
  const keeper = defineKernel({
    name: 'keeper',
    state: { n: 'u32' },
    request: { add: 'u32' },
    reply: { n: 'u32' },
    idleAfterMs: 0,
    wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).n += msg.add;
  return Reply((*state).n);
}`,
    reference: (s, m) => {
      s.n = (s.n + m.add) >>> 0;
      return { n: s.n };
    },
  });
  const cluster = await Cluster.start({ kernels: [counter, keeper], backend: 'cpu', logger: false, idleAfterMs: 60_000 });
  t.after(() => cluster.shutdown());
  await cluster.actor(counter, 'goes').ask({ add: 1 });
  await cluster.actor(keeper, 'stays').ask({ add: 1 });
  for (let i = 0; i < 3; i++) await cluster.sweepIdle();
  assert.equal(cluster.info().actors, 1);
  assert.deepEqual(await cluster.actor(keeper, 'stays').ask({ add: 1 }), { n: 2 });
  assert.equal(await metric(cluster, 'ringshard_actor_activations_total', { cause: 'new' }), 2);
});

test('cpu: deactivations while shard workers die and while actors migrate lose nothing and run nothing twice', { timeout: 120_000 }, async (t) => {
  const cluster = await start(t, 'cpu');
  if (!cluster) return;
  const rng = seededRng(t);
  const keys = Array.from({ length: 60 }, (_, i) => `f${i}`);
  const model = new Map(keys.map((k) => [k, { total: 0, count: 0 }]));
  const calls: Array<Promise<unknown>> = [];
  const send = (key: string) => {
    const m = model.get(key)!;
    const add = rng.int(0, 1000);
    m.total = (m.total + add) >>> 0;
    m.count++;
    const expected = { ...m, inits: 1 };
    calls.push(cluster.actor(tally, key).ask({ add }).then((reply) => assert.deepEqual(reply, expected, key)));
  };
  for (const key of keys) send(key);
  await Promise.all(calls.splice(0));
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 30; i++) send(rng.pick(keys));
    const sweeps = cluster.sweepIdle().then(() => cluster.sweepIdle());
    // A worker dies with exports in flight (its replacement answers them from the checkpoint),
    // and actors move between shards, some of them deactivated (migrate brings them back).
    const fault = cluster.injectFault(round % 2, 'worker-exit');
    for (let i = 0; i < 30; i++) send(rng.pick(keys));
    const moves = [rng.pick(keys), rng.pick(keys)].map((key) => cluster.migrate(cluster.actor(tally, key), rng.int(0, 1)).catch((e: Error) => assert.fail(`migrate ${key}: ${e.message}`)));
    await Promise.all([sweeps, fault, ...moves]);
    await Promise.all(calls.splice(0));
  }
  for (let i = 0; i < 3; i++) await cluster.sweepIdle();
  for (const key of keys) assert.deepEqual(await cluster.actor(tally, key).snapshot(), { ...model.get(key)!, inits: 1 }, `${key} at the end`);
});

test('cpu: a quarantined actor is not deactivated (its export is refused) and the others are', { timeout: 60_000 }, async (t) => {
  const cluster = await Cluster.start({ kernels: [hang, counter], backend: 'cpu', shards: 2, logger: false, maxDispatchMs: 300, askTimeoutMs: 60_000, idleAfterMs: 60_000 });
  t.after(() => cluster.shutdown());
  const h = cluster.actor(hang, 'h', { shard: 0 });
  assert.deepEqual(await h.ask({ spins: 0 }), { n: 1 });
  // Hangs twice (alone the second time): quarantined.
  await assert.rejects(h.ask({ spins: 1 }), (e: { code: string }) => e.code === ErrorCode.QUARANTINED);
  await cluster.actor(counter, 'c').ask({ add: 1 });
  for (let i = 0; i < 3; i++) await cluster.sweepIdle();
  assert.equal(cluster.info().actors, 1, 'the counter went, the quarantined actor stayed');
  assert.equal(cluster.info().deactivated, 1);
  await assert.rejects(h.ask({ spins: 0 }), (e: { code: string }) => e.code === ErrorCode.QUARANTINED);
  assert.deepEqual(await cluster.actor(counter, 'c').ask({ add: 1 }), { total: 2, count: 2 });
});
