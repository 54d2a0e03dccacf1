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
 *   - the same four paths on Dawn's null GPU (every WebGPU call made, no shader run):
 *     ringshard's host path alone, the ceiling a faster GPU would meet; replies there are
 *     garbage, so settled messages are counted
 * beside every rate the CPU ns per message of the caller's thread and the shard worker's
 * (bench/lib/thread-cpu.ts), and the issue-12 goals as ratios within the run. Prints tables and writes
 * bench/results/kernels.json. Part of `npm run bench`.
 *
 *   node --import tsx bench/kernels.ts    RINGSHARD_BENCH_SECONDS (default 1) per case
 */
import { Cluster, counter, echo, stats, type ActorRef, type Kernel } from '../src/index.ts';
import { requestAdapter } from '../src/worker/gpu/gpu-host.ts';
import { measureMap } from './baselines/map-reference.ts';
import { measurePiscinaPool } from './baselines/piscina-pool.ts';
import { synthetic } from './kernels/synthetic.ts';
import { measureKernelOnly } from './lib/kernel-only.ts';
import { closedLoops, measureAskMany, measureTell, settle } from './lib/load.ts';
import { formatThreads, measureThreads, type ThreadCpu } from './lib/thread-cpu.ts';
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

/** tellMany with columns of 8192 messages, spread over the refs; handled, not just sent (settled: null GPU). */
async function tellColumns(refs: ActorRef<any, any, any>[], cols: object, per: number, seconds: number, settled = false): Promise<number> {
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
  await Promise.all(refs.map((r) => (settled ? settle(r.snapshot()) : r.snapshot())));
  return messages / ((performance.now() - t0) / 1000);
}

/**
 * Runs one measurement and reports, besides its rate, the CPU time per message of the
 * whole process (all threads: caller, shard worker, llvmpipe's): on a machine whose cores
 * are all busy, this is what decides the rate, and what a goal can be judged against.
 */
async function timed<T>(measure: () => T | Promise<T>, rateOf: (r: T) => number, workerTid?: number): Promise<{ result: T; cpuNs: number; cores: number; threads: ThreadCpu }> {
  const end = measureThreads([workerTid]);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await measure();
  const c = process.cpuUsage(c0);
  const wall = (performance.now() - t0) / 1000;
  const cpuSeconds = (c.user + c.system) / 1e6;
  const messages = rateOf(result) * wall;
  return { result, cpuNs: (cpuSeconds / messages) * 1e9, cores: cpuSeconds / wall, threads: end(messages) };
}


interface Cpu {
  map: number;
  kernelOnly: number | undefined;
  tell: number;
  askMany: number;
  askManyColumns: number;
  coresTell: number;
  coresAskMany: number;
  /** Per thread (caller, shard worker), per path. */
  threads: { tell: ThreadCpu; askMany: ThreadCpu; tellColumns: ThreadCpu; askManyColumns: ThreadCpu };
}

/** The four end-to-end paths on the null GPU: rates, and CPU per message by thread. */
interface NullRow {
  kernel: string;
  tell: number;
  askMany: number;
  tellColumns: number;
  askManyColumns: number;
  threads: { tell: ThreadCpu; askMany: ThreadCpu; tellColumns: ThreadCpu; askManyColumns: ThreadCpu };
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

const rate = (r: { msgsPerSec: number }) => r.msgsPerSec;
const same = (r: number) => r;
const rows: Row[] = [];
const cluster = await Cluster.start({ kernels: cases.map((c) => c.kernel), shards: 1, backend, logger: false });
try {
  const tid = cluster.info().shards[0]?.tid;
  for (const { kernel, msg } of cases) {
    const map = await timed(() => measureMap(kernel, msg, SECONDS, ACTORS), rate);
    const pool = await measurePiscinaPool(kernel, msg, SECONDS, { keys: ACTORS });
    const kernelOnly = backend === 'webgpu' ? await timed(() => measureKernelOnly({ seconds: SECONDS, batch: 16384, actors: ACTORS, frames: 3, kernel, message: msg }), rate) : undefined;
    const refs = Array.from({ length: ACTORS }, (_, i) => cluster.actor(kernel, `k${i}`));
    await Promise.all(refs.map((r) => r.ask(msg)));
    const tell = await timed(() => measureTell(refs, SECONDS, msg), rate, tid);
    const askMany = await timed(() => measureAskMany(refs, SECONDS, msg), rate, tid);
    const ask = await lanes(refs, 1, SECONDS, (r) => r.ask(msg));
    const cols = columnsOf(kernel, msg, 256);
    const tellCols = await timed(() => tellColumns(refs, cols, 256, SECONDS), same, tid);
    const askCols = await timed(() => lanes(refs, 256, SECONDS, (r) => r.askMany(cols as never)), same, tid);
    rows.push({
      kernel: kernel.name, map: map.result.msgsPerSec, pool: pool.msgsPerSec, poolThreads: pool.threads, kernelOnly: kernelOnly?.result.msgsPerSec,
      tell: tell.result.msgsPerSec, askMany: askMany.result.msgsPerSec, ask, tellColumns: tellCols.result, askManyColumns: askCols.result,
      cpu: {
        map: map.cpuNs, kernelOnly: kernelOnly?.cpuNs, tell: tell.cpuNs, askMany: askMany.cpuNs, askManyColumns: askCols.cpuNs, coresTell: tell.cores, coresAskMany: askMany.cores,
        threads: { tell: tell.threads, askMany: askMany.threads, tellColumns: tellCols.threads, askManyColumns: askCols.threads },
      },
    });
    console.log(`${kernel.name}: done`);
  }
} finally {
  await cluster.shutdown();
}

// The same paths on the null GPU: what ringshard's host path allows with no GPU work at all.
const nullRows: NullRow[] = [];
if (backend === 'webgpu') {
  const onNull = await Cluster.start({ kernels: cases.map((c) => c.kernel), shards: 1, backend, dawnFlags: ['backend=null'], logger: false });
  try {
    const tid = onNull.info().shards[0]?.tid;
    const settled = { settled: true };
    for (const { kernel, msg } of cases) {
      const refs = Array.from({ length: ACTORS }, (_, i) => onNull.actor(kernel, `k${i}`));
      await Promise.all(refs.map((r) => settle(r.ask(msg))));
      const cols = columnsOf(kernel, msg, 256);
      const tell = await timed(() => measureTell(refs, SECONDS, msg, settled), rate, tid);
      const askMany = await timed(() => measureAskMany(refs, SECONDS, msg, settled), rate, tid);
      const tellCols = await timed(() => tellColumns(refs, cols, 256, SECONDS, true), same, tid);
      const askCols = await timed(() => lanes(refs, 256, SECONDS, (r) => settle(r.askMany(cols as never))), same, tid);
      nullRows.push({
        kernel: kernel.name, tell: tell.result.msgsPerSec, askMany: askMany.result.msgsPerSec, tellColumns: tellCols.result, askManyColumns: askCols.result,
        threads: { tell: tell.threads, askMany: askMany.threads, tellColumns: tellCols.threads, askManyColumns: askCols.threads },
      });
      console.log(`${kernel.name} (null GPU): done`);
    }
  } finally {
    await onNull.shutdown();
  }
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

printTable(`CPU ns per message by thread, caller / shard worker (${backend}; the rest is llvmpipe's, Dawn's and libuv's)`, rows.map((r) => ({
  kernel: r.kernel,
  tell: formatThreads(r.cpu.threads.tell),
  'askMany(256)': formatThreads(r.cpu.threads.askMany),
  'tellMany cols': formatThreads(r.cpu.threads.tellColumns),
  'askMany cols': formatThreads(r.cpu.threads.askManyColumns),
})));

if (nullRows.length > 0) {
  printTable(`Null GPU (dawnFlags ['backend=null']: no shader runs, settled messages counted): msgs/s (caller / shard worker CPU ns per message)`, nullRows.map((n) => {
    const real = rows.find((r) => r.kernel === n.kernel)!;
    const cell = (rateValue: number, t: ThreadCpu) => `${M(rateValue)} (${formatThreads(t)})`;
    return {
      kernel: n.kernel,
      tell: cell(n.tell, n.threads.tell),
      'askMany(256)': cell(n.askMany, n.threads.askMany),
      'tellMany cols': cell(n.tellColumns, n.threads.tellColumns),
      'askMany cols': cell(n.askManyColumns, n.threads.askManyColumns),
      [`best ${backend} / best null`]: r2(best(real) / Math.max(n.tell, n.askMany, n.tellColumns, n.askManyColumns)),
    };
  }));
}

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

const file = writeJson('kernels', { bench: 'kernels', backend, seconds: SECONDS, actors: ACTORS, rows, nullGpu: nullRows, goals: goals.map((g) => ({ ...g, met: g.value >= g.target })) });
console.log(`\nJSON: ${file}`);
