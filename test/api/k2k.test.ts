/**
 * Kernel-to-kernel messages: handlers send with send_<name> (WGSL) or ctx.send (the TS
 * twin), the coordinator routes by actor id, cluster.drain() waits for every message and
 * everything it caused. Each test runs on both backends with the same expectations,
 * computed in TS, so the GPU is checked against the reference. Counts and orders are
 * checked exactly: nothing lost, nothing doubled, FIFO per sender -> receiver.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Cluster, ErrorCode, defineKernel, type ClusterOptions } from '../../src/index.ts';
import { hang } from '../helpers/kernels.ts';
import { gpuOrSkip, NO_GPU } from '../helpers/gpu.ts';
import { seededRng } from '../helpers/random.ts';
import { parseExposition, valueOf } from '../helpers/exposition.ts';
import { fanout, fwd, pingpong, sink, SENDERS } from '../helpers/k2k-kernels.ts';

const BACKENDS = ['cpu', 'webgpu'] as const;
const KERNELS = [sink, fwd, fanout, pingpong];

async function start(t: TestContext, backend: 'cpu' | 'webgpu', options: Partial<ClusterOptions> = {}): Promise<Cluster | undefined> {
  if (backend === 'webgpu' && !(await gpuOrSkip())) {
    t.skip(NO_GPU);
    return undefined;
  }
  const cluster = await Cluster.start({ kernels: KERNELS, backend, shards: 2, logger: false, askTimeoutMs: 60_000, ...options });
  t.after(() => cluster.shutdown());
  return cluster;
}

interface Expected {
  total: number;
  count: number;
  last: number[];
}

/**
 * Sends `n` random tells and asks to forwarders on both shards, each to a random sink on
 * either shard, and returns what every sink must hold once it is all delivered.
 */
async function forwardRandomly(cluster: Cluster, t: TestContext, n: number, during?: (i: number) => Promise<void>) {
  const rng = seededRng(t);
  const sinks = Array.from({ length: 4 }, (_, i) => cluster.actor(sink, `sink-${i}`, { shard: i % 2 }));
  const forwarders = Array.from({ length: SENDERS - 1 }, (_, i) => cluster.actor(fwd, `fwd-${i}`, { shard: i % 2 }));
  const expected: Expected[] = sinks.map(() => ({ total: 0, count: 0, last: new Array(SENDERS).fill(0) }));
  const sentBy = forwarders.map(() => 0);
  const asks: Array<Promise<unknown>> = [];
  for (let i = 0; i < n; i++) {
    const f = rng.int(0, forwarders.length - 1);
    const s = rng.int(0, sinks.length - 1);
    const amount = rng.int(0, 1000);
    const msg = { to: sinks[s]!.id, amount, sink: s, me: f };
    const e = expected[s]!;
    e.total = (e.total + amount) >>> 0;
    e.count++;
    e.last[f]!++;
    sentBy[f]!++;
    if (rng.float() < 0.2) {
      const sent = sentBy[f]!;
      asks.push(forwarders[f]!.ask(msg).then((r) => assert.equal(r.sent, sent, `fwd-${f}'s ask ${sent}`)));
    } else {
      await forwarders[f]!.tell(msg);
    }
    if (during) await during(i);
  }
  await Promise.all(asks);
  await cluster.drain();
  return { sinks, forwarders, expected, sentBy };
}

async function checkSinks(run: Awaited<ReturnType<typeof forwardRandomly>>): Promise<void> {
  for (let s = 0; s < run.sinks.length; s++) {
    const state = await run.sinks[s]!.snapshot();
    const e = run.expected[s]!;
    assert.equal(state.count, e.count, `sink-${s} count`);
    assert.equal(state.total, e.total, `sink-${s} total`);
    assert.deepEqual(state.last, e.last, `sink-${s}: last sequence number per sender`);
    assert.equal(state.disorder, 0, `sink-${s}: messages out of order per sender`);
    assert.equal(state.early, 0, `sink-${s}: messages whose clock was not after their sender's`);
  }
  for (let f = 0; f < run.forwarders.length; f++) {
    const state = await run.forwarders[f]!.snapshot();
    assert.equal(state.sent, run.sentBy[f], `fwd-${f} sent`);
    assert.equal(state.refused, 0, `fwd-${f} refused`);
  }
}

for (const backend of BACKENDS) {
  test(`${backend}: forwarders on 2 shards reach sinks on both; after drain() totals, counts and per-sender FIFO are exact`, async (t) => {
    const cluster = await start(t, backend);
    if (!cluster) return;
    const run = await forwardRandomly(cluster, t, 3000);
    await checkSinks(run);
    // ctx.source is the sender's id: the last message to each sink came from some forwarder.
    const ids = new Set(run.forwarders.map((f) => f.id));
    for (const s of run.sinks) {
      const state = await s.snapshot();
      if (state.count > 0) assert.ok(ids.has(state.source), `ctx.source ${state.source} is a forwarder's id`);
    }
    const families = parseExposition(await cluster.registry.metrics());
    assert.equal(valueOf(families, 'ringshard_k2k_sends_total', { shard: '0' }) + valueOf(families, 'ringshard_k2k_sends_total', { shard: '1' }), 3000);
  });

  test(`${backend}: ping-pong over ctx.source across shards for 1,000 hops`, async (t) => {
    const cluster = await start(t, backend);
    if (!cluster) return;
    const a = cluster.actor(pingpong, 'a', { shard: 0 });
    const b = cluster.actor(pingpong, 'b', { shard: 1 });
    await a.tell({ left: 999, to: b.id });
    await cluster.drain();
    const [sa, sb] = [await a.snapshot(), await b.snapshot()];
    assert.deepEqual([sa.hops, sb.hops], [500, 500]);
    assert.deepEqual([sa.lost, sb.lost], [0, 0]);
    assert.deepEqual(Object.values(cluster.deadLetterCounts()), [0, 0, 0, 0, 0, 0, 0, 0]);
  });

  test(`${backend}: the outbox holds maxSendsPerMessage sends (default 4); a failed message sends nothing`, async (t) => {
    const cluster = await start(t, backend);
    if (!cluster) return;
    const target = cluster.actor(sink, 'target');
    const sender = cluster.actor(fanout, 'sender');
    assert.deepEqual(await sender.ask({ to: target.id, n: 6, amount: 10, fail: 0 }), { ok: 4, refused: 2 });
    await assert.rejects(sender.ask({ to: target.id, n: 3, amount: 1000, fail: 7 }), (e: { code: string }) => e.code === ErrorCode.HANDLER);
    await cluster.drain();
    const state = await target.snapshot();
    assert.equal(state.count, 4, 'only the first message\'s 4 sends arrived');
    assert.equal(state.total, 40);
    if (backend === 'webgpu') {
      // A message that spends its loop budget (WGSL only) fails, and its sends with it.
      const tight = await start(t, backend, { maxLoopIterations: 2 });
      if (!tight) return;
      const t2 = tight.actor(sink, 'target');
      await assert.rejects(tight.actor(fanout, 's').ask({ to: t2.id, n: 3, amount: 1, fail: 0 }), (e: { code: string }) => e.code === ErrorCode.BUDGET);
      assert.deepEqual(await tight.actor(fanout, 's').ask({ to: t2.id, n: 2, amount: 1, fail: 0 }), { ok: 2, refused: 0 });
      await tight.drain();
      assert.equal((await t2.snapshot()).count, 2, 'the over-budget message sent nothing');
    }
    const wide = await start(t, backend, { maxSendsPerMessage: 9 });
    if (!wide) return;
    const sender9 = wide.actor(fanout, 'sender');
    assert.deepEqual(await sender9.ask({ to: wide.actor(sink, 't').id, n: 12, amount: 1, fail: 0 }), { ok: 9, refused: 3 });
  });

  test(`${backend}: dead letters for each reason; nothing else is harmed`, async (t) => {
    const cluster = await start(t, backend);
    if (!cluster) return;
    const good = cluster.actor(sink, 'good');
    const gone = cluster.actor(sink, 'gone');
    const other = cluster.actor(sink, 'other-tenant', { tenant: 'b' });
    const f = cluster.actor(fwd, 'f');
    const wrongKind = cluster.actor(fwd, 'wrong-kind');
    const goneId = gone.id;
    await gone.terminate();
    const sends = [
      { to: 0x7ffffff0, times: 3 }, // no-such-actor
      { to: goneId, times: 2 }, // terminated
      { to: wrongKind.id, times: 4 }, // wrong-kernel: a fwd, declared as sink
      { to: other.id, times: 5 }, // cross-tenant
      { to: good.id, times: 6 },
    ];
    for (const { to, times } of sends) for (let i = 0; i < times; i++) await f.tell({ to, amount: 1, sink: 0, me: 0 });
    await cluster.drain();
    assert.deepEqual(cluster.deadLetterCounts(), { 'no-such-actor': 3, terminated: 2, 'wrong-kernel': 4, 'cross-tenant': 5, forbidden: 0, overflow: 0, quarantined: 0, 'shard-failed': 0 });
    const families = parseExposition(await cluster.registry.metrics());
    assert.equal(valueOf(families, 'ringshard_dead_letters_total', { reason: 'cross-tenant' }), 5);
    assert.equal(valueOf(families, 'ringshard_dead_letters_total', { reason: 'no-such-actor' }), 3);
    assert.equal((await good.snapshot()).count, 6);
    assert.equal((await other.snapshot()).count, 0, 'the other tenant\'s sink got nothing');
    assert.equal((await wrongKind.snapshot()).sent, 0, 'the fwd addressed as a sink got nothing');
  });

  test(`${backend}: two shards flooding each other through small rings complete`, async (t) => {
    // Rings of 64 slots: K2K records wait for room both ways, and workers wait for reply space.
    const cluster = await start(t, backend, { ringCapacity: 64, replyRingCapacity: 64, maxBatch: 32, maxQueuedPerShard: 1 << 20 });
    if (!cluster) return;
    const pairs = 64;
    const hops = 40;
    const left = Array.from({ length: pairs }, (_, i) => cluster.actor(pingpong, `l${i}`, { shard: 0 }));
    const right = Array.from({ length: pairs }, (_, i) => cluster.actor(pingpong, `r${i}`, { shard: 1 }));
    for (let i = 0; i < pairs; i++) {
      await left[i]!.tell({ left: hops, to: right[i]!.id });
      await right[i]!.tell({ left: hops, to: left[i]!.id });
    }
    await cluster.drain();
    let total = 0;
    for (const ref of [...left, ...right]) {
      const s = await ref.snapshot();
      assert.equal(s.lost, 0);
      total += s.hops;
    }
    // Each pair carries two chains of hops + 1 messages.
    assert.equal(total, pairs * 2 * (hops + 1));
  });

  test(`${backend}: K2K follows senders and receivers that migrate, in order and exactly once`, async (t) => {
    const cluster = await start(t, backend);
    if (!cluster) return;
    let moves = 0;
    const run = await forwardRandomly(cluster, t, 3000, async (i) => {
      if (i % 500 === 250) {
        // Alternately a sink and a forwarder changes shard while messages keep flowing.
        const ref = (i / 500) % 2 < 1 ? cluster.actor(sink, `sink-${((i / 500) | 0) % 4}`, { shard: 0 }) : cluster.actor(fwd, `fwd-${((i / 500) | 0) % 7}`, { shard: 0 });
        await cluster.migrate(ref, 1 - ref.shard);
        moves++;
      }
    });
    assert.equal(moves, 6);
    await checkSinks(run);
  });

  test(`${backend}: K2K is delivered exactly once, in order, through worker exits and lost devices`, async (t) => {
    const cluster = await start(t, backend);
    if (!cluster) return;
    let faults = 0;
    const run = await forwardRandomly(cluster, t, 3000, async (i) => {
      if (i === 800 || i === 2200) {
        await cluster.injectFault(0, 'worker-exit');
        faults++;
      }
      if (i === 1500) {
        await cluster.injectFault(1, 'device-lost');
        faults++;
      }
    });
    assert.equal(faults, 3);
    await checkSinks(run);
    const families = parseExposition(await cluster.registry.metrics());
    const sends = valueOf(families, 'ringshard_k2k_sends_total', { shard: '0' }) + valueOf(families, 'ringshard_k2k_sends_total', { shard: '1' });
    assert.equal(sends, 3000, 'every send passed on once (a replay\'s repeats were dropped)');
  });
}

test('drain() resolves at once on an idle cluster and rejects nothing', async (t) => {
  const cluster = await start(t, 'cpu');
  if (!cluster) return;
  await cluster.drain();
  await cluster.actor(sink, 'x').tell({ amount: 1, seq: 1, me: 0, hlcHi: 0, hlcLo: 0 });
  await cluster.drain();
  assert.equal((await cluster.actor(sink, 'x').snapshot()).count, 1);
});

test('a sends entry naming a kernel the cluster does not run is a clear error', async () => {
  await assert.rejects(
    Cluster.start({ kernels: [fwd], backend: 'cpu', shards: 1, logger: false }),
    (e: { code: string; message: string }) => e.code === ErrorCode.UNKNOWN_KERNEL && /sends\.sink names kernel 'sink'/.test(e.message),
  );
});

/** Sends one message to a hang actor (the quarantine dead letter needs an addressable hang). */
const poke = defineKernel({
  name: 'poke',
  state: { sent: 'u32' },
  request: { to: 'u32' },
  reply: { sent: 'u32' },
  sends: { hang },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  if (send_hang(ctx, msg.to, HangRequest(0u))) { (*state).sent += 1u; }
  return Reply((*state).sent);
}`,
  reference: (s, m, ctx) => {
    if (ctx.send('hang', m.to, { spins: 0 })) s.sent = (s.sent + 1) >>> 0;
    return { sent: s.sent };
  },
});

test('cpu: K2K to a quarantined actor, and to an actor on a shard that failed for good, are dead letters', { timeout: 60_000 }, async (t) => {
  const cluster = await Cluster.start({ kernels: [hang, poke, sink, fwd], backend: 'cpu', shards: 2, logger: false, maxDispatchMs: 300, askTimeoutMs: 60_000, maxRestartsPerMinute: 2 });
  t.after(() => cluster.shutdown());
  const h = cluster.actor(hang, 'h', { shard: 0 });
  const p = cluster.actor(poke, 'p', { shard: 1 });
  assert.deepEqual(await h.ask({ spins: 0 }), { n: 1 });
  // Hangs twice (alone the second time): quarantined.
  await assert.rejects(h.ask({ spins: 1 }), (e: { code: string }) => e.code === ErrorCode.QUARANTINED);
  assert.deepEqual(await p.ask({ to: h.id }), { sent: 1 });
  await cluster.drain();
  assert.equal(cluster.deadLetterCounts().quarantined, 1);

  // Shard 0 used its restarts on the watchdog: one more fault fails it for good.
  const s0 = cluster.actor(sink, 's0', { shard: 0 });
  const f1 = cluster.actor(fwd, 'f1', { shard: 1 });
  const id = s0.id;
  await cluster.injectFault(0, 'worker-exit');
  while (!cluster.info().shards[0]!.failed) await new Promise((resolve) => setImmediate(resolve));
  await f1.ask({ to: id, amount: 1, sink: 0, me: 0 });
  await assert.rejects(cluster.drain(), (e: { code: string }) => e.code === ErrorCode.WORKER_EXIT);
  assert.equal(cluster.deadLetterCounts()['shard-failed'], 1);
});
