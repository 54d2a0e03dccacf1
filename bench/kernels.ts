/**
 * Per-kernel baselines, all in one run, for every built-in kernel and a synthetic kernel
 * of K f32 operations per message (K = 1, 16, 256, 4096: the crossover):
 *   - the kernel's own TS reference over a Map on the main thread (the Map's best case:
 *     one message object reused, no checks)
 *   - the same over a piscina pool of as many threads as cores, keys sharded over
 *     threads, tasks of 256 messages
 *   - ringshard's kernel-only limit for that kernel (batches of 16,384, no rings)
 *   - ringshard end to end, 1 shard: tell, askMany(256) x 64 in flight, ask x 64 in flight,
 *     and the typed path: tellMany and askMany(256) x 64 with columns (one typed array per field)
 * and the issue-12 goals as ratios within the run. Prints tables and writes
 * bench/results/kernels.json. Part of `npm run bench`.
 *
 *   node --import tsx bench/kernels.ts    RINGSHARD_BENCH_SECONDS (default 1) per case
 */
import { Cluster, counter, echo, stats, type ActorRef, type Kernel } from '../src/index.ts';
import { requestAdapter } from '../workers/gpu-host.ts';
import { measureMap } from './baselines/map-reference.ts';
import { measurePiscinaPool } from './baselines/piscina-pool.ts';
import { synthetic } from './kernels/synthetic.ts';
import { measureKernelOnly } from './lib/kernel-only.ts';
import { closedLoops, measureAskMany, measureTell } from './lib/load.ts';
import { ColumnCodec } from '../src/layout/columns.ts';
import { printTable, writeJson } from './report.ts';

const SECONDS = Number(process.env.RINGSHARD_BENCH_SECONDS ?? 1);
const ACTORS = 1024;
const ASK_LANES = 64;
const backend = (await requestAdapter().catch(() => null)) ? 'webgpu' : 'cpu';

type Message = Record<string, number | number[]>;
const cases: Array<{ kernel: Kernel<any, any, any>; msg: Message; builtin: boolean }> = [
  { kernel: counter as Kernel<any, any, any>, msg: { add: 1 }, builtin: true },
  { kernel: echo as Kernel<any, any, any>, msg: { seq: 1, value: -2, data: [1, 2, 3, 4] }, builtin: true },
  { kernel: stats as Kernel<any, any, any>, msg: { samples: [1, 2, 3, 4, 5, 6, 7, 8], n: 8 }, builtin: true },
  ...[1, 16, 256, 4096].map((k) => ({ kernel: synthetic(k) as Kernel<any, any, any>, msg: { x: 0.5 }, builtin: false })),
];

/** ASK_LANES closed loops, each sending with `send` and counting `per` messages a call. */
const lanes = (refs: ActorRef<any, any, any>[], per: number, seconds: number, send: (ref: ActorRef<any, any, any>) => Promise<unknown>) => closedLoops(refs, ASK_LANES, per, seconds, send);

/** The message repeated `n` times, as columns. */
function columnsOf(kernel: Kernel<any, any, any>, msg: Message, n: number): Record<string, Uint32Array | Int32Array | Float32Array> {
  const codec: ColumnCodec = kernel.columns.request;
  const cols = codec.allocate(n);
  const one = new Uint32Array(kernel.codecs.request.words);
  kernel.codecs.request.encode(msg as never, one, new Float32Array(one.buffer), 0);
  const put = codec.putInto(cols);
  for (let i = 0; i < n; i++) put(i, one, new Float32Array(one.buffer), 0);
  return cols;
}

/** tellMany with columns of 8192 messages, spread over the refs; handled, not just sent. */
async function tellColumns(refs: ActorRef<any, any, any>[], cols: object, per: number, seconds: number): Promise<number> {
  let messages = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  let next = 0;
  while (performance.now() < deadline) {
    const sent: Array<Promise<void>> = [];
    for (let k = 0; k < 8192 / per; k++) sent.push(refs[next++ % refs.length]!.tellMany(cols as never));
    await Promise.all(sent);
    messages += 8192;
  }
  await Promise.all(refs.map((r) => r.snapshot()));
  return messages / ((performance.now() - t0) / 1000);
}

/**
 * Runs one measurement and reports, besides its rate, the CPU time per message of the
 * whole process (all threads: caller, shard worker, llvmpipe's): on a machine whose cores
 * are all busy, this is what decides the rate, and what a goal can be judged against.
 */
async function timed<T>(measure: () => T | Promise<T>, rateOf: (r: T) => number): Promise<{ result: T; cpuNs: number; cores: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await measure();
  const c = process.cpuUsage(c0);
  const wall = (performance.now() - t0) / 1000;
  const cpuSeconds = (c.user + c.system) / 1e6;
  return { result, cpuNs: (cpuSeconds / (rateOf(result) * wall)) * 1e9, cores: cpuSeconds / wall };
}

interface Cpu {
  map: number;
  kernelOnly: number | undefined;
  tell: number;
  askMany: number;
  askManyColumns: number;
  coresTell: number;
  coresAskMany: number;
}

interface Row {
  kernel: string;
  map: number;
  pool: number;
  poolThreads: number;
  kernelOnly: number | undefined;
  tell: number;
  askMany: number;
  ask: number;
  tellColumns: number;
  askManyColumns: number;
  /** CPU ns per message, all threads. */
  cpu: Cpu;
}

const rows: Row[] = [];
const cluster = await Cluster.start({ kernels: cases.map((c) => c.kernel), shards: 1, backend, logger: false });
try {
  for (const { kernel, msg } of cases) {
    const rate = (r: { msgsPerSec: number }) => r.msgsPerSec;
    const map = await timed(() => measureMap(kernel, msg, SECONDS, ACTORS), rate);
    const pool = await measurePiscinaPool(kernel, msg, SECONDS, { keys: ACTORS });
    const kernelOnly = backend === 'webgpu' ? await timed(() => measureKernelOnly({ seconds: SECONDS, batch: 16384, actors: ACTORS, frames: 3, kernel, message: msg }), rate) : undefined;
    const refs = Array.from({ length: ACTORS }, (_, i) => cluster.actor(kernel, `k${i}`));
    await Promise.all(refs.map((r) => r.ask(msg)));
    const tell = await timed(() => measureTell(refs, SECONDS, msg), rate);
    const askMany = await timed(() => measureAskMany(refs, SECONDS, msg), rate);
    const ask = await lanes(refs, 1, SECONDS, (r) => r.ask(msg));
    const cols = columnsOf(kernel, msg, 256);
    const tellCols = await tellColumns(refs, cols, 256, SECONDS);
    const askCols = await timed(() => lanes(refs, 256, SECONDS, (r) => r.askMany(cols as never)), (r) => r);
    rows.push({
      kernel: kernel.name, map: map.result.msgsPerSec, pool: pool.msgsPerSec, poolThreads: pool.threads, kernelOnly: kernelOnly?.result.msgsPerSec,
      tell: tell.result.msgsPerSec, askMany: askMany.result.msgsPerSec, ask, tellColumns: tellCols, askManyColumns: askCols.result,
      cpu: { map: map.cpuNs, kernelOnly: kernelOnly?.cpuNs, tell: tell.cpuNs, askMany: askMany.cpuNs, askManyColumns: askCols.cpuNs, coresTell: tell.cores, coresAskMany: askMany.cores },
    });
    console.log(`${kernel.name}: done`);
  }
} finally {
  await cluster.shutdown();
}

const best = (r: Row) => Math.max(r.tell, r.askMany, r.tellColumns, r.askManyColumns);
const M = (x: number | undefined) => (x === undefined ? '' : `${(x / 1e6).toFixed(2)} M`);
const r2 = (x: number) => x.toFixed(2);
const day = new Date().toISOString().slice(0, 10);
printTable(`Per-kernel throughput, msgs/s (${backend}, ${ACTORS} actors, 1 shard, ${day})`, rows.map((r) => ({
  kernel: r.kernel,
  'Map, main thread': M(r.map),
  [`piscina pool (${r.poolThreads} thr)`]: M(r.pool),
  'kernel-only limit': M(r.kernelOnly),
  tell: M(r.tell),
  'askMany(256)': M(r.askMany),
  [`ask x${ASK_LANES}`]: M(r.ask),
  'tellMany cols': M(r.tellColumns),
  'askMany cols': M(r.askManyColumns),
  'best e2e / kernel-only': r.kernelOnly ? r2(best(r) / r.kernelOnly) : '',
  'best e2e / Map': r2(best(r) / r.map),
})));

const ns = (x: number | undefined) => (x === undefined ? '' : `${Math.round(x)}`);
printTable('CPU time per message, all threads of the process, ns (what decides the rate when every core is busy)', rows.map((r) => ({
  kernel: r.kernel,
  Map: ns(r.cpu.map),
  'kernel-only': ns(r.cpu.kernelOnly),
  tell: ns(r.cpu.tell),
  'askMany(256)': ns(r.cpu.askMany),
  'askMany cols': ns(r.cpu.askManyColumns),
  'cores busy: tell / askMany': `${r2(r.cpu.coresTell)} / ${r2(r.cpu.coresAskMany)}`,
  'host ns (askMany - kernel-only)': r.cpu.kernelOnly === undefined ? '' : ns(r.cpu.askMany - r.cpu.kernelOnly),
})));

const goals: Array<{ goal: string; value: number; target: number }> = [];
for (const r of rows.slice(0, 3)) {
  if (r.kernelOnly) goals.push({ goal: `${r.kernel}: best end to end (any path) / kernel-only >= 0.5`, value: best(r) / r.kernelOnly, target: 0.5 });
  if (r.kernelOnly) goals.push({ goal: `${r.kernel}: best askMany (objects or columns) / kernel-only >= 0.5`, value: Math.max(r.askMany, r.askManyColumns) / r.kernelOnly, target: 0.5 });
}
const statsRow = rows.find((r) => r.kernel === 'stats')!;
const counterRow = rows.find((r) => r.kernel === 'counter')!;
goals.push({ goal: 'stats: best end to end / Map >= 1.5', value: best(statsRow) / statsRow.map, target: 1.5 });
goals.push({ goal: 'counter: best tell (tell or tellMany columns) / Map >= 0.35', value: Math.max(counterRow.tell, counterRow.tellColumns) / counterRow.map, target: 0.35 });
printTable('Goals (issue 12; ratios measured in this run)', goals.map((g) => ({ goal: g.goal, measured: `${g.value.toFixed(3)}x`, met: g.value >= g.target ? 'yes' : 'NO' })));

const file = writeJson('kernels', { bench: 'kernels', backend, seconds: SECONDS, actors: ACTORS, rows, goals: goals.map((g) => ({ ...g, met: g.value >= g.target })) });
console.log(`\nJSON: ${file}`);
