/**
 * Throughput benchmark, all in one run so the ratios are fair on a noisy machine:
 *   - ringshard tell and askMany throughput and single-ask round trip, 1 and 2 shards
 *   - the same counter handler through piscina, one task per message
 *   - the same handler as one WebGPU dispatch (and readback) per message
 *   - the ring-only limit (records through the SAB rings, no GPU) and the kernel-only
 *     limit (batches through one shard's kernel set, no rings)
 * Prints a table and writes bench/results/throughput.json.
 *
 *   npm run bench        RINGSHARD_BENCH_SECONDS (default 3) per case
 */
import { Cluster, counter, type ActorRef } from '../src/index.ts';
import { LatencyRecorder, type LatencySummary } from '../src/cli/latency.ts';
import { requestAdapter } from '../workers/gpu-host.ts';
import { measureNaiveDispatch } from './baselines/naive-dispatch.ts';
import { measurePiscinaPerMessage } from './baselines/piscina-per-message.ts';
import { measureKernelOnly } from './lib/kernel-only.ts';
import { ringThroughput } from './lib/ring-measure.ts';
import { printTable, writeJson, type BenchRow } from './report.ts';

const SECONDS = Number(process.env.RINGSHARD_BENCH_SECONDS ?? 3);
const ACTORS = 1024;
const TELL_CHUNK = 8192; // tells between awaits: the await is where backpressure applies
const ASK_MANY = 256; // messages per askMany
const ASK_MANY_IN_FLIGHT = 64;
const RTT_SAMPLES = 2000;

type Ref = ActorRef<typeof counter.state, typeof counter.request, typeof counter.reply>;

async function measureTell(refs: Ref[], seconds: number): Promise<{ msgsPerSec: number; messages: number }> {
  const msg = { add: 1 };
  let sent = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const waiting: Array<Promise<void>> = [];
  while (performance.now() < deadline) {
    // Every shard's backpressure counts: wait for all of the chunk to be in the rings.
    // tell() returns one shared promise while rings have room and one per queued chunk
    // when they do not, so collecting the distinct ones is cheap.
    let previous: Promise<void> | undefined;
    for (let i = 0; i < TELL_CHUNK; i++) {
      const p = refs[(sent + i) % refs.length]!.tell(msg);
      if (p !== previous) waiting.push((previous = p));
    }
    sent += TELL_CHUNK;
    await Promise.all(waiting);
    waiting.length = 0;
  }
  // Handled, not just enqueued: a snapshot of every actor comes after its tells.
  await Promise.all(refs.map((r) => r.snapshot()));
  const elapsed = (performance.now() - t0) / 1000;
  return { msgsPerSec: sent / elapsed, messages: sent };
}

async function measureAskMany(refs: Ref[], seconds: number): Promise<{ msgsPerSec: number; messages: number }> {
  const batch = Array.from({ length: ASK_MANY }, () => ({ add: 1 }));
  let messages = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  let next = 0;
  const lane = async () => {
    while (performance.now() < deadline) {
      const ref = refs[next++ % refs.length]!;
      const replies = await ref.askMany(batch);
      if (replies.length !== ASK_MANY) throw new Error(`askMany returned ${replies.length} replies`);
      messages += ASK_MANY;
    }
  };
  await Promise.all(Array.from({ length: ASK_MANY_IN_FLIGHT }, lane));
  return { msgsPerSec: messages / ((performance.now() - t0) / 1000), messages };
}

async function measureRtt(refs: Ref[]): Promise<LatencySummary> {
  const latency = new LatencyRecorder();
  for (let i = 0; i < RTT_SAMPLES; i++) {
    const t = performance.now();
    await refs[i % refs.length]!.ask({ add: 0 });
    latency.record((performance.now() - t) * 1000);
  }
  return latency.summary();
}

/**
 * What metrics cost tell throughput: two 1-shard clusters, metrics off and on, alive
 * together and measured in alternating short slices (only one works at a time), so that
 * drift in the machine's speed hits both alike. The pair is made twice, in both orders,
 * because which cluster starts first decides where its threads run (measured: that alone
 * moved the ratio by +-10% on this machine). Returns per-slice throughputs.
 */
async function measureMetricsCost(backend: 'webgpu' | 'cpu', pairs: number, slice: number): Promise<{ off: number[]; on: number[] }> {
  const result = { off: [] as number[], on: [] as number[] };
  for (const first of ['off', 'on'] as const) {
    const start = (metrics: boolean) => Cluster.start({ kernels: [counter], shards: 1, backend, logger: false, ...(metrics ? {} : { metrics: false }) });
    const a = await start(first === 'on');
    const b = await start(first !== 'on');
    const clusters = first === 'on' ? { on: a, off: b } : { off: a, on: b };
    try {
      const refsOf = (c: Cluster): Ref[] => Array.from({ length: ACTORS }, (_, i) => c.actor(counter, `bench-${i}`));
      const refs = { off: refsOf(clusters.off), on: refsOf(clusters.on) };
      for (const r of [refs.off, refs.on]) {
        await Promise.all(r.map((x) => x.ask({ add: 0 })));
        await measureTell(r, slice);
      }
      for (let i = 0; i < pairs / 2; i++) {
        const order = i % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
        for (const which of order) result[which].push((await measureTell(refs[which], slice)).msgsPerSec);
      }
    } finally {
      await Promise.all([a.shutdown(), b.shutdown()]);
    }
  }
  return result;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measureCluster(backend: 'webgpu' | 'cpu', shards: number) {
  const cluster = await Cluster.start({ kernels: [counter], shards, backend, logger: false });
  try {
    const refs: Ref[] = Array.from({ length: ACTORS }, (_, i) => cluster.actor(counter, `bench-${i}`));
    await Promise.all(refs.map((r) => r.ask({ add: 0 }))); // activate, compile paths warm
    await measureTell(refs, Math.min(1, SECONDS)); // warm-up
    const before = (await Promise.all(refs.map((r) => r.snapshot()))).reduce((n, s) => n + s.count, 0);
    const tell = await measureTell(refs, SECONDS);
    const after = (await Promise.all(refs.map((r) => r.snapshot()))).reduce((n, s) => n + s.count, 0);
    if (after - before !== tell.messages) throw new Error(`tell: ${tell.messages} sent but ${after - before} handled`);
    const askMany = await measureAskMany(refs, SECONDS);
    const rtt = await measureRtt(refs);
    return { tell, askMany, rtt, adapter: cluster.info().shards[0]?.adapter };
  } finally {
    await cluster.shutdown();
  }
}

const backend = (await requestAdapter().catch(() => null)) ? 'webgpu' : 'cpu';
console.log(`ringshard throughput benchmark: backend ${backend}, ${SECONDS}s per case, counter kernel, ${ACTORS} actors`);
const one = await measureCluster(backend, 1);
const two = await measureCluster(backend, 2);
const piscina = await measurePiscinaPerMessage({ seconds: SECONDS, actors: 64, inFlight: 64 });
const naive = backend === 'webgpu' ? await measureNaiveDispatch({ seconds: SECONDS, actors: 64 }) : undefined;
const ringOnly = await ringThroughput(SECONDS, 10, 256, false);
const { off: metricsOff, on: metricsOn } = await measureMetricsCost(backend, 12, Math.max(0.5, SECONDS / 3));
// The median of the pairs' ratios: each pair ran back to back on the same machine state.
const metricsCost = 1 - median(metricsOn.map((x, i) => x / metricsOff[i]!));
const kernelOnly = backend === 'webgpu' ? await measureKernelOnly({ seconds: SECONDS, batch: 16384, actors: ACTORS, frames: 3 }) : undefined;

const ratio = (x: number, base: number | undefined) => (base ? Math.round(x / base) : '');
const rows: BenchRow[] = [];
for (const [shards, r] of [[1, one], [2, two]] as const) {
  rows.push({ case: `ringshard tell, ${shards} shard${shards > 1 ? 's' : ''}`, 'msgs/s': Math.round(r.tell.msgsPerSec), 'p50 us': '', 'p99 us': '', 'x piscina': ratio(r.tell.msgsPerSec, piscina.msgsPerSec), 'x naive': ratio(r.tell.msgsPerSec, naive?.msgsPerSec) });
  rows.push({ case: `ringshard askMany(${ASK_MANY}), ${shards} shard${shards > 1 ? 's' : ''}`, 'msgs/s': Math.round(r.askMany.msgsPerSec), 'p50 us': '', 'p99 us': '', 'x piscina': ratio(r.askMany.msgsPerSec, piscina.msgsPerSec), 'x naive': ratio(r.askMany.msgsPerSec, naive?.msgsPerSec) });
  rows.push({ case: `ringshard ask, one in flight, ${shards} shard${shards > 1 ? 's' : ''}`, 'msgs/s': Math.round(1e6 / r.rtt.meanUs), 'p50 us': r.rtt.p50Us, 'p99 us': r.rtt.p99Us, 'x piscina': '', 'x naive': '' });
}
rows.push({ case: 'piscina run(), one task per message (64 in flight)', 'msgs/s': Math.round(piscina.msgsPerSec), 'p50 us': piscina.p50Us, 'p99 us': piscina.p99Us, 'x piscina': 1, 'x naive': '' });
if (naive) rows.push({ case: 'WebGPU, one dispatch per message', 'msgs/s': Math.round(naive.msgsPerSec), 'p50 us': naive.p50Us, 'p99 us': naive.p99Us, 'x piscina': '', 'x naive': 1 });
rows.push({ case: 'limit: ring only (40-byte records, round trip)', 'msgs/s': Math.round(ringOnly.msgsPerSec), 'p50 us': '', 'p99 us': '', 'x piscina': '', 'x naive': '' });
if (kernelOnly) rows.push({ case: 'limit: kernel only (batches of 16384, no rings)', 'msgs/s': Math.round(kernelOnly.msgsPerSec), 'p50 us': '', 'p99 us': '', 'x piscina': '', 'x naive': '' });
printTable(`ringshard vs baselines (${backend}, ${new Date().toISOString().slice(0, 10)})`, rows);
printTable(`Metrics cost (tell, 1 shard, ${metricsOff.length} alternating pairs)`, [
  { case: 'metrics off', 'median msgs/s': Math.round(median(metricsOff)), 'per slice, M msgs/s': metricsOff.map((x) => (x / 1e6).toFixed(1)).join(' ') },
  { case: 'metrics on (default)', 'median msgs/s': Math.round(median(metricsOn)), 'per slice, M msgs/s': metricsOn.map((x) => (x / 1e6).toFixed(1)).join(' ') },
  { case: 'cost (median of pair ratios)', 'median msgs/s': `${(metricsCost * 100).toFixed(1)}%`, 'per slice, M msgs/s': '' },
]);

const best = (f: (r: typeof one) => number) => Math.max(f(one), f(two));
const goals = [
  { goal: 'tell >= 10 M msgs/s', value: best((r) => r.tell.msgsPerSec), target: 10e6 },
  { goal: 'askMany >= 5 M msgs/s', value: best((r) => r.askMany.msgsPerSec), target: 5e6 },
  { goal: '>= 100x piscina per message', value: best((r) => r.tell.msgsPerSec) / piscina.msgsPerSec, target: 100 },
  ...(naive ? [{ goal: '>= 50x naive dispatch per message', value: best((r) => r.tell.msgsPerSec) / naive.msgsPerSec, target: 50 }] : []),
];
const metricsGoal = { goal: 'metrics cost < 5% of tell throughput', value: metricsCost, met: metricsCost < 0.05 };
printTable('Goals (best of 1 and 2 shards)', [
  ...goals.map((g) => ({ goal: g.goal, measured: g.value >= 1000 ? Math.round(g.value) : Number(g.value.toFixed(1)), met: g.value >= g.target ? 'yes' : 'NO' })),
  { goal: metricsGoal.goal, measured: `${(metricsCost * 100).toFixed(1)}%`, met: metricsGoal.met ? 'yes' : 'NO' },
]);

const file = writeJson('throughput', {
  bench: 'throughput',
  backend,
  adapter: one.adapter,
  seconds: SECONDS,
  actors: ACTORS,
  ringshard: {
    shards1: { tellMsgsPerSec: one.tell.msgsPerSec, askManyMsgsPerSec: one.askMany.msgsPerSec, askRtt: one.rtt },
    shards2: { tellMsgsPerSec: two.tell.msgsPerSec, askManyMsgsPerSec: two.askMany.msgsPerSec, askRtt: two.rtt },
  },
  baselines: { piscinaPerMessage: piscina, naiveDispatch: naive ?? null },
  limits: { ringOnlyMsgsPerSec: ringOnly.msgsPerSec, kernelOnlyMsgsPerSec: kernelOnly?.msgsPerSec ?? null },
  metrics: { tellOffMsgsPerSec: metricsOff, tellOnMsgsPerSec: metricsOn, cost: metricsCost },
  goals: [...goals.map((g) => ({ ...g, met: g.value >= g.target })), metricsGoal],
});
console.log(`\nJSON: ${file}`);
