/**
 * Throughput benchmark, all in one run so the ratios are fair on a noisy machine:
 *   - ringshard tell and askMany throughput and single-ask round trip, 1 and 2 shards
 *   - the same on Dawn's null GPU (1 shard; no shader runs, settled messages counted):
 *     ringshard's host path alone
 *   - beside ringshard's rates, CPU ns per message of the caller's thread and the shard
 *     worker's (bench/lib/thread-cpu.ts)
 *   - the same counter handler through piscina, one task per message
 *   - the same handler as one WebGPU dispatch (and readback) per message
 *   - the ring-only limit (records through the SAB rings, no GPU), the one-record ring
 *     round trip, and the kernel-only limit (batches through one shard's kernel set)
 *   - the demo's verified mix against a single-kernel tell from the same load generator
 *   - what metrics cost (on vs off in alternating pairs)
 * and checks the goals as ratios within the run.
 * Prints a table and writes bench/results/throughput.json.
 *
 *   npm run bench        RINGSHARD_BENCH_SECONDS (default 3) per case
 */
import { Cluster, counter, type ActorRef } from '../src/index.ts';
import { LatencyRecorder, type LatencySummary } from '../src/load/latency.ts';
import { requestAdapter } from '../src/worker/gpu/gpu-host.ts';
import { measureNaiveDispatch } from './baselines/naive-dispatch.ts';
import { measurePiscinaPerMessage } from './baselines/piscina-per-message.ts';
import { measureKernelOnly } from './lib/kernel-only.ts';
import { ringRoundTrip, ringThroughput } from './lib/ring-measure.ts';
import { runDemo } from '../src/cli/demo.ts';
import { runBench } from '../src/cli/bench-command.ts';
import { printTable, writeJson, type BenchRow } from './report.ts';
import { measureAskMany, measureTell, settle } from './lib/load.ts';
import { formatThreads, measureThreads, type ThreadCpu } from './lib/thread-cpu.ts';

const SECONDS = Number(process.env.RINGSHARD_BENCH_SECONDS ?? 3);
const ACTORS = 1024;
const ASK_MANY = 256; // messages per askMany (bench/lib/load.ts)
const RTT_SAMPLES = 2000;

type Ref = ActorRef<typeof counter.state, typeof counter.request, typeof counter.reply>;

async function measureRtt(refs: Ref[], settled = false): Promise<LatencySummary> {
  const latency = new LatencyRecorder();
  for (let i = 0; i < RTT_SAMPLES; i++) {
    const t = performance.now();
    const asked = refs[i % refs.length]!.ask({ add: 0 });
    await (settled ? settle(asked) : asked);
    latency.record((performance.now() - t) * 1000);
  }
  return latency.summary();
}

/** A load's result with what it cost the caller's thread and each shard worker per message. */
async function byThread<T extends { messages: number }>(workerTids: readonly (number | undefined)[], run: () => Promise<T>): Promise<T & { threads: ThreadCpu }> {
  const end = measureThreads(workerTids);
  const result = await run();
  return { ...result, threads: end(result.messages) };
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

/** One cluster's tell, askMany and lone-ask figures. On the null GPU (`nullGpu`) settled messages count and nothing is checked. */
async function measureCluster(backend: 'webgpu' | 'cpu', shards: number, nullGpu = false) {
  const cluster = await Cluster.start({ kernels: [counter], shards, backend, logger: false, ...(nullGpu ? { dawnFlags: ['backend=null'] } : {}) });
  try {
    const tids = cluster.info().shards.map((s) => s.tid);
    const options = { settled: nullGpu };
    const refs: Ref[] = Array.from({ length: ACTORS }, (_, i) => cluster.actor(counter, `bench-${i}`));
    await Promise.all(refs.map((r) => (nullGpu ? settle(r.ask({ add: 0 })) : r.ask({ add: 0 })))); // activate, compile paths warm
    await measureTell(refs, Math.min(1, SECONDS), { add: 1 }, options); // warm-up
    const count = async () => (nullGpu ? 0 : (await Promise.all(refs.map((r) => r.snapshot()))).reduce((n, s) => n + s.count, 0));
    const before = await count();
    const tell = await byThread(tids, () => measureTell(refs, SECONDS, { add: 1 }, options));
    const after = await count();
    if (!nullGpu && after - before !== tell.messages) throw new Error(`tell: ${tell.messages} sent but ${after - before} handled`);
    const askMany = await byThread(tids, () => measureAskMany(refs, SECONDS, { add: 1 }, options));
    const rtt = await measureRtt(refs, nullGpu);
    return { tell, askMany, rtt, adapter: cluster.info().shards[0]?.adapter };
  } finally {
    await cluster.shutdown();
  }
}

const backend = (await requestAdapter().catch(() => null)) ? 'webgpu' : 'cpu';
const day = new Date().toISOString().slice(0, 10);
console.log(`ringshard throughput benchmark: backend ${backend}, ${SECONDS}s per case, counter kernel, ${ACTORS} actors, ${day}`);
const one = await measureCluster(backend, 1);
// Right after the 1-shard tell, so that both see the machine in the same state.
const kernelOnly = backend === 'webgpu' ? await measureKernelOnly({ seconds: SECONDS, batch: 16384, actors: ACTORS, frames: 3 }) : undefined;
const two = await measureCluster(backend, 2);
const onNull = backend === 'webgpu' ? await measureCluster(backend, 1, true) : undefined;
const piscina = await measurePiscinaPerMessage({ seconds: SECONDS, actors: 64, inFlight: 64 });
const naive = backend === 'webgpu' ? await measureNaiveDispatch({ seconds: SECONDS, actors: 64 }) : undefined;
const ringOnly = await ringThroughput(SECONDS, 10, 256, false);
const ringRtt = await ringRoundTrip(Math.min(2, SECONDS));
const { off: metricsOff, on: metricsOn } = await measureMetricsCost(backend, 12, Math.max(0.5, SECONDS / 3));
// The median of the pairs' ratios: each pair ran back to back on the same machine state.
const metricsCost = 1 - median(metricsOn.map((x, i) => x / metricsOff[i]!));
// The demo's mix (verified, open-loop tells beside closed-loop asks) against a
// single-kernel tell driven by the same load generator and checks, one after the other.
const quiet = () => {};
const demo = await runDemo({ seconds: Math.max(3, SECONDS), shards: 2, backend, metricsPort: 0 }, quiet);
const soloTell = await runBench({
  shards: 2, backend, kernel: 'counter', mode: 'tell', actors: 1000, batch: 256, rate: undefined, concurrency: 4,
  durationSeconds: Math.max(3, SECONDS), warmupSeconds: 1, json: true, metricsPort: undefined, verify: true,
});

const ratio = (x: number, base: number | undefined) => (base ? Math.round(x / base) : '');
const rows: BenchRow[] = [];
const measured: Array<[string, Awaited<ReturnType<typeof measureCluster>>]> = [['1 shard', one], ['2 shards', two], ...(onNull ? [['1 shard, null GPU', onNull] as [string, typeof onNull]] : [])];
for (const [where, r] of measured) {
  rows.push({ case: `ringshard tell, ${where}`, 'msgs/s': Math.round(r.tell.msgsPerSec), 'caller / worker ns': formatThreads(r.tell.threads), 'p50 us': '', 'p99 us': '', 'x piscina': ratio(r.tell.msgsPerSec, piscina.msgsPerSec), 'x naive': ratio(r.tell.msgsPerSec, naive?.msgsPerSec) });
  rows.push({ case: `ringshard askMany(${ASK_MANY}), ${where}`, 'msgs/s': Math.round(r.askMany.msgsPerSec), 'caller / worker ns': formatThreads(r.askMany.threads), 'p50 us': '', 'p99 us': '', 'x piscina': ratio(r.askMany.msgsPerSec, piscina.msgsPerSec), 'x naive': ratio(r.askMany.msgsPerSec, naive?.msgsPerSec) });
  rows.push({ case: `ringshard ask, one in flight, ${where}`, 'msgs/s': Math.round(1e6 / r.rtt.meanUs), 'caller / worker ns': '', 'p50 us': r.rtt.p50Us, 'p99 us': r.rtt.p99Us, 'x piscina': '', 'x naive': '' });
}
rows.push({ case: 'demo mix, 2 shards (verified; tells open loop)', 'msgs/s': Math.round(demo.messagesPerSecond), 'p50 us': demo.askP50Us, 'p99 us': demo.askP99Us, 'x piscina': ratio(demo.messagesPerSecond, piscina.msgsPerSec), 'x naive': ratio(demo.messagesPerSecond, naive?.msgsPerSec) });
rows.push({ case: 'counter tell alone, same generator and checks, 2 shards', 'msgs/s': Math.round(soloTell.measured.messagesPerSecond), 'p50 us': '', 'p99 us': '', 'x piscina': ratio(soloTell.measured.messagesPerSecond, piscina.msgsPerSec), 'x naive': '' });
rows.push({ case: 'piscina run(), one task per message (64 in flight)', 'msgs/s': Math.round(piscina.msgsPerSec), 'p50 us': piscina.p50Us, 'p99 us': piscina.p99Us, 'x piscina': 1, 'x naive': '' });
if (naive) rows.push({ case: 'WebGPU, one dispatch per message', 'msgs/s': Math.round(naive.msgsPerSec), 'p50 us': naive.p50Us, 'p99 us': naive.p99Us, 'x piscina': '', 'x naive': 1 });
rows.push({ case: 'limit: ring only (40-byte records, round trip)', 'msgs/s': Math.round(ringOnly.msgsPerSec), 'p50 us': '', 'p99 us': '', 'x piscina': '', 'x naive': '' });
rows.push({ case: 'limit: ring, one record in flight (round trip)', 'msgs/s': Math.round(1e6 / ringRtt.mean), 'p50 us': Math.round(ringRtt.p50), 'p99 us': Math.round(ringRtt.p99), 'x piscina': '', 'x naive': '' });
if (kernelOnly) rows.push({ case: 'limit: kernel only (batches of 16384, no rings)', 'msgs/s': Math.round(kernelOnly.msgsPerSec), 'p50 us': '', 'p99 us': '', 'x piscina': '', 'x naive': '' });
printTable(`ringshard vs baselines (${backend}, ${day})`, rows);
printTable(`Metrics cost (tell, 1 shard, ${metricsOff.length} alternating pairs)`, [
  { case: 'metrics off', 'median msgs/s': Math.round(median(metricsOff)), 'per slice, M msgs/s': metricsOff.map((x) => (x / 1e6).toFixed(1)).join(' ') },
  { case: 'metrics on (default)', 'median msgs/s': Math.round(median(metricsOn)), 'per slice, M msgs/s': metricsOn.map((x) => (x / 1e6).toFixed(1)).join(' ') },
  { case: 'cost (median of pair ratios)', 'median msgs/s': `${(metricsCost * 100).toFixed(1)}%`, 'per slice, M msgs/s': '' },
]);

// Goals are ratios within this run (the machine's speed varies ~2x between sessions).
interface Goal { readonly goal: string; readonly value: number; readonly target: number; readonly higherIsBetter: boolean; readonly format: (x: number) => string }
const times = (x: number) => `${x.toFixed(2)}x`;
const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
const askBudget = naive ? ringRtt.p50 + naive.p50Us : undefined;
const goals: Goal[] = [
  ...(kernelOnly ? [{ goal: 'tell (1 shard) / kernel-only limit >= 0.7', value: one.tell.msgsPerSec / kernelOnly.msgsPerSec, target: 0.7, higherIsBetter: true, format: times }] : []),
  { goal: 'demo mix / single-kernel tell (same generator) >= 0.5', value: demo.messagesPerSecond / soloTell.measured.messagesPerSecond, target: 0.5, higherIsBetter: true, format: times },
  ...(askBudget ? [{ goal: 'ask p50 / (ring RTT p50 + one-dispatch p50) <= 1.2', value: one.rtt.p50Us / askBudget, target: 1.2, higherIsBetter: false, format: times }] : []),
  { goal: 'metrics cost of tell throughput < 3%', value: metricsCost, target: 0.03, higherIsBetter: false, format: percent },
  { goal: 'tell >= 100x piscina per message', value: Math.max(one.tell.msgsPerSec, two.tell.msgsPerSec) / piscina.msgsPerSec, target: 100, higherIsBetter: true, format: times },
  ...(naive ? [{ goal: 'tell >= 50x naive dispatch per message', value: Math.max(one.tell.msgsPerSec, two.tell.msgsPerSec) / naive.msgsPerSec, target: 50, higherIsBetter: true, format: times }] : []),
];
const met = (g: Goal) => (g.higherIsBetter ? g.value >= g.target : g.value <= g.target);
printTable('Goals (ratios measured in this run)', goals.map((g) => ({ goal: g.goal, measured: g.format(g.value), met: met(g) ? 'yes' : 'NO' })));
if (!demo.ok) console.log('\nWARNING: the demo mix reported mismatches or failures');

const file = writeJson('throughput', {
  bench: 'throughput',
  backend,
  adapter: one.adapter,
  seconds: SECONDS,
  actors: ACTORS,
  ringshard: {
    shards1: { tellMsgsPerSec: one.tell.msgsPerSec, askManyMsgsPerSec: one.askMany.msgsPerSec, askRtt: one.rtt },
    shards2: { tellMsgsPerSec: two.tell.msgsPerSec, askManyMsgsPerSec: two.askMany.msgsPerSec, askRtt: two.rtt },
    nullGpu1: onNull ? { tellMsgsPerSec: onNull.tell.msgsPerSec, askManyMsgsPerSec: onNull.askMany.msgsPerSec, askRtt: onNull.rtt, tellThreads: onNull.tell.threads, askManyThreads: onNull.askMany.threads } : null,
    threads: { shards1: { tell: one.tell.threads, askMany: one.askMany.threads }, shards2: { tell: two.tell.threads, askMany: two.askMany.threads } },
    demoMix: demo,
    soloTellSameGenerator: { msgsPerSec: soloTell.measured.messagesPerSecond, shards: soloTell.cluster.shards },
  },
  baselines: { piscinaPerMessage: piscina, naiveDispatch: naive ?? null },
  limits: { ringOnlyMsgsPerSec: ringOnly.msgsPerSec, ringRoundTripUs: ringRtt, kernelOnlyMsgsPerSec: kernelOnly?.msgsPerSec ?? null },
  metrics: { tellOffMsgsPerSec: metricsOff, tellOnMsgsPerSec: metricsOn, cost: metricsCost },
  goals: goals.map((g) => ({ goal: g.goal, value: g.value, target: g.target, met: met(g) })),
});
console.log(`\nJSON: ${file}`);
