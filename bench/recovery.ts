/**
 * Recovery benchmark, all in one run:
 *   - what checkpointing costs: tell and askMany throughput of a 1-shard cluster with
 *     checkpointEvery at its default against checkpointEvery: false, both alive and
 *     measured in alternating slices (and made in both start orders: which cluster
 *     starts first moves ratios by +-10% on this machine)
 *   - time to recover a shard of 10k actors: from injectFault to the first reply after
 *     it, for 'worker-exit' and 'device-lost'
 *   - replay rate: with checkpoints held back, two faults per cluster, the second with N
 *     more records handled since the last checkpoint (the new worker runs them again);
 *     rate = (records replayed, second - first) / (time, second - first)
 * Prints tables and writes bench/results/recovery.json.
 *
 *   npm run bench:recovery     RINGSHARD_BENCH_SECONDS (default 1) per slice
 *   RINGSHARD_BENCH_ONLY=cost|recovery    one part only
 *   RINGSHARD_BENCH_CHECKPOINT_RECORDS=N, RINGSHARD_BENCH_RING=N, RINGSHARD_BENCH_BACKEND=cpu
 *                                         try another policy, ring size or backend
 */
import { Cluster, counter, type ActorRef, type ClusterOptions } from '../src/index.ts';
import { requestAdapter } from '../src/worker/gpu/gpu-host.ts';
import { measureAskMany, measureTell } from './lib/load.ts';
import { printTable, writeJson } from './report.ts';

type Ref = ActorRef<typeof counter.state, typeof counter.request, typeof counter.reply>;

const SLICE = Number(process.env.RINGSHARD_BENCH_SECONDS ?? 1);
const PAIRS = 6;
const ACTORS = 1024;
const RECOVER_ACTORS = 10_000;
const REPLAY_RECORDS = 200_000;

const backend = (process.env.RINGSHARD_BENCH_BACKEND as 'webgpu' | 'cpu' | undefined) ?? ((await requestAdapter()) ? 'webgpu' : 'cpu');
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const refsOf = (c: Cluster, n: number, prefix: string): Ref[] => Array.from({ length: n }, (_, i) => c.actor(counter, `${prefix}-${i}`));

async function checkpointCost(): Promise<Record<'on' | 'off', { tell: number[]; askMany: number[] }>> {
  const result = { on: { tell: [] as number[], askMany: [] as number[] }, off: { tell: [] as number[], askMany: [] as number[] } };
  for (const first of ['off', 'on'] as const) {
    // RINGSHARD_BENCH_CHECKPOINT_RECORDS tries another policy than the default.
    const records = process.env.RINGSHARD_BENCH_CHECKPOINT_RECORDS;
    const policy = records ? { checkpointEvery: { records: Number(records) } } : {};
    const ring = process.env.RINGSHARD_BENCH_RING ? { ringCapacity: Number(process.env.RINGSHARD_BENCH_RING) } : {};
    const start = (on: boolean) => Cluster.start({ kernels: [counter], shards: 1, backend, logger: false, ...ring, ...(on ? policy : { checkpointEvery: false }) });
    const a = await start(first === 'on');
    const b = await start(first !== 'on');
    const clusters = first === 'on' ? { on: a, off: b } : { off: a, on: b };
    try {
      const refs = { on: refsOf(clusters.on, ACTORS, 'bench'), off: refsOf(clusters.off, ACTORS, 'bench') };
      for (const r of [refs.off, refs.on]) {
        await Promise.all(r.map((x) => x.ask({ add: 0 })));
        await measureTell(r, SLICE / 2);
        await measureAskMany(r, SLICE / 2);
      }
      for (let i = 0; i < PAIRS / 2; i++) {
        const order = i % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
        for (const which of order) result[which].tell.push((await measureTell(refs[which], SLICE)).msgsPerSec);
        for (const which of order) result[which].askMany.push((await measureAskMany(refs[which], SLICE)).msgsPerSec);
      }
    } finally {
      await Promise.all([a.shutdown(), b.shutdown()]);
    }
  }
  return result;
}

/** Waits (no sleep: a SAB read per turn) until a checkpoint covers everything handled. */
async function covered(cluster: Cluster): Promise<void> {
  while (cluster.info().shards[0]!.ringRetained > 0 || cluster.info().shards[0]!.ringDepth > 0) await new Promise((r) => setImmediate(r));
}

/** ms from the fault to the first reply after it, `pendingRecords` handled but not checkpointed. */
async function recoveryTimes(
  kind: 'worker-exit' | 'device-lost',
  pendingRecords: number,
  options: Partial<ClusterOptions>,
  rounds: number,
  /** When set: one more fault after the rounds, with this many records handled before it. */
  thenPending?: number,
): Promise<{ ms: number[]; replayed: number[] }> {
  const cluster = await Cluster.start({ kernels: [counter], shards: 1, backend, logger: false, askTimeoutMs: 120_000, maxRestartsPerMinute: 100, ...options });
  const out = { ms: [] as number[], replayed: [] as number[] };
  try {
    const refs = refsOf(cluster, RECOVER_ACTORS, 'r');
    for (let i = 0; i < refs.length; i += 1000) await Promise.all(refs.slice(i, i + 1000).map((r) => r.ask({ add: 1 })));
    const probe = refs[0]!;
    for (let round = 0; round < rounds + (thenPending === undefined ? 0 : 1); round++) {
      if (!options.checkpointEvery) await covered(cluster);
      const pending = round < rounds ? pendingRecords : thenPending!;
      if (pending > 0) {
        // Handled, answered, not yet covered by a checkpoint (the policy waits long).
        for (let i = 0; i < pending; i++) void refs[i % refs.length]!.tell({ add: 1 });
        await Promise.all(refs.slice(0, Math.min(refs.length, pending)).map((r) => r.snapshot()));
      }
      const before = replayedSoFar(await cluster.registry.metrics());
      const t0 = performance.now();
      await cluster.injectFault(0, kind);
      await probe.ask({ add: 0 });
      out.ms.push(performance.now() - t0);
      out.replayed.push(replayedSoFar(await cluster.registry.metrics()) - before);
      if (process.env.RINGSHARD_BENCH_DEBUG) console.error(`${kind}, ${pending} pending, round ${round}: ${out.ms.at(-1)!.toFixed(0)} ms, ${out.replayed.at(-1)} replayed`);
    }
  } finally {
    await cluster.shutdown();
  }
  return out;
}

function replayedSoFar(exposition: string): number {
  const line = exposition.split('\n').find((l) => l.startsWith('ringshard_records_replayed_total{'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

console.log(`ringshard recovery benchmark: backend ${backend}, ${SLICE} s slices, ${PAIRS} pairs per start order`);
// RINGSHARD_BENCH_ONLY=recovery skips the cost pairs (for a quick look).
const only = process.env.RINGSHARD_BENCH_ONLY;
const cost = only === 'recovery' ? { on: { tell: [1], askMany: [1] }, off: { tell: [1], askMany: [1] } } : await checkpointCost();
const tellCost = 1 - median(cost.on.tell.map((x, i) => x / cost.off.tell[i]!));
const askManyCost = 1 - median(cost.on.askMany.map((x, i) => x / cost.off.askMany[i]!));
const M = (x: number) => (x / 1e6).toFixed(2);
printTable('Checkpoint cost (1 shard, 1,024 actors, alternating slices)', [
  { load: 'tell', 'off, median M/s': M(median(cost.off.tell)), 'on, median M/s': M(median(cost.on.tell)), 'cost (median of pair ratios)': `${(tellCost * 100).toFixed(1)}%` },
  { load: 'askMany(256) x 64', 'off, median M/s': M(median(cost.off.askMany)), 'on, median M/s': M(median(cost.on.askMany)), 'cost (median of pair ratios)': `${(askManyCost * 100).toFixed(1)}%` },
]);

// A checkpoint policy that waits (no checkpoint below a full ring): every record handled
// since activation is replayed at each fault. Two faults per cluster, the second with
// REPLAY_RECORDS more to replay; the rate is the difference over the difference.
const lazy: Partial<ClusterOptions> = { checkpointEvery: { records: 262_144, ms: 600_000 } };
if (only === 'cost') process.exit(0);
const exitTimes = await recoveryTimes('worker-exit', 0, {}, 5);
const lostTimes = await recoveryTimes('device-lost', 0, {}, 5);
const replayBase: { ms: number[]; replayed: number[] } = { ms: [], replayed: [] };
const replay: { ms: number[]; replayed: number[] } = { ms: [], replayed: [] };
const rates: number[] = [];
for (let c = 0; c < 3; c++) {
  const points = await recoveryTimes('worker-exit', 0, lazy, 1, REPLAY_RECORDS);
  replayBase.ms.push(points.ms[0]!);
  replayBase.replayed.push(points.replayed[0]!);
  replay.ms.push(points.ms[1]!);
  replay.replayed.push(points.replayed[1]!);
  rates.push((points.replayed[1]! - points.replayed[0]!) / ((points.ms[1]! - points.ms[0]!) / 1000));
}
const replayRate = median(rates);
printTable(`Recovery of a shard with ${RECOVER_ACTORS.toLocaleString('en-US')} actors (fault -> first reply after it)`, [
  { fault: 'worker-exit', 'records replayed (median)': median(exitTimes.replayed), 'median ms': median(exitTimes.ms).toFixed(0), 'all ms': exitTimes.ms.map((x) => x.toFixed(0)).join(' ') },
  { fault: 'device-lost', 'records replayed (median)': median(lostTimes.replayed), 'median ms': median(lostTimes.ms).toFixed(0), 'all ms': lostTimes.ms.map((x) => x.toFixed(0)).join(' ') },
  { fault: 'worker-exit, no checkpoint since activation', 'records replayed (median)': median(replayBase.replayed), 'median ms': median(replayBase.ms).toFixed(0), 'all ms': replayBase.ms.map((x) => x.toFixed(0)).join(' ') },
  { fault: `the same, ${REPLAY_RECORDS.toLocaleString('en-US')} more handled`, 'records replayed (median)': median(replay.replayed), 'median ms': median(replay.ms).toFixed(0), 'all ms': replay.ms.map((x) => x.toFixed(0)).join(' ') },
]);
console.log(`\nreplay rate: ${M(replayRate)} M records/s`);
const goal = Math.max(tellCost, askManyCost);
if (only !== 'recovery') console.log(`goal: checkpoint cost < 5% -> measured ${(goal * 100).toFixed(1)}% (worst of tell, askMany): ${goal < 0.05 ? 'met' : 'NOT met'}`);
const file = writeJson('recovery', {
  bench: 'recovery',
  backend,
  slice: SLICE,
  checkpointCost: { tell: tellCost, askMany: askManyCost, samples: cost },
  recover10k: { workerExitMs: exitTimes.ms, deviceLostMs: lostTimes.ms, replayed: { exit: exitTimes.replayed, lost: lostTimes.replayed } },
  replay: { records: REPLAY_RECORDS, baseMs: replayBase.ms, baseReplayed: replayBase.replayed, withReplayMs: replay.ms, replayed: replay.replayed, rates, recordsPerSec: replayRate },
});
console.log(`JSON: ${file}`);
