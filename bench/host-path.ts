/**
 * Where the host's time goes: the counter kernel, 1 shard, 1024 actors, on Dawn's null
 * GPU (every WebGPU call made, no shader run: what is left is ringshard's own CPU),
 * llvmpipe and the cpu backend, side by side in one run. Beside every rate, CPU ns per
 * message of the caller's thread, the shard worker's thread and the rest of the process
 * (llvmpipe's and Dawn's threads), from /proc/<pid>/task/<tid>/schedstat. The goals of
 * issue 21 are ratios to the Map's CPU per message in the same run, so the machine's
 * speed cancels out. On the null GPU replies and statuses are garbage: settled messages
 * are counted, failed or not.
 *
 *   node --import tsx bench/host-path.ts    RINGSHARD_BENCH_SECONDS (default 1) per case
 *   RINGSHARD_BENCH_GPUS=null,llvmpipe,cpu (default all three)
 */
import { Cluster, counter, type ActorRef } from '../src/index.ts';
import { measureMap } from './baselines/map-reference.ts';
import { measureNaiveDispatch } from './baselines/naive-dispatch.ts';
import { settle } from './lib/load.ts';
import { ringRoundTrip } from './lib/ring-measure.ts';
import { measureThreads, threadCpuNs, type ThreadCpu } from './lib/thread-cpu.ts';
import { printTable, writeJson, percentile } from './report.ts';
import { requestAdapter } from '../src/worker/gpu/gpu-host.ts';

const SECONDS = Number(process.env.RINGSHARD_BENCH_SECONDS ?? 1);
const ACTORS = 1024;
const ASK_MANY = 256;
const LANES = 64;
const TELL_CHUNK = 8192;
const LONE_ASKS = 2000;

type Gpu = 'null' | 'llvmpipe' | 'cpu';
type Ref = ActorRef<typeof counter.state, typeof counter.request, typeof counter.reply>;

interface Figure {
  rate: number;
  cpu: ThreadCpu;
  /** Records per dispatched batch, on average: the worker's CPU per record depends on it. */
  batch: number;
}

/** Batches and records the shard has dispatched so far, from its metrics. */
async function batchCounts(cluster: Cluster): Promise<{ batches: number; records: number }> {
  const text = await cluster.registry.metrics();
  const read = (name: string) => Number(new RegExp(`^${name}\\{shard="0"\\} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { batches: read('ringshard_batches_total'), records: read('ringshard_batch_size_records_sum') };
}

async function measure(cluster: Cluster, workerTid: number | undefined, run: () => Promise<number>): Promise<Figure> {
  const before = await batchCounts(cluster);
  const end = measureThreads([workerTid]);
  const t0 = performance.now();
  const messages = await run();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = end(messages);
  const after = await batchCounts(cluster);
  return { rate: messages / seconds, cpu, batch: (after.records - before.records) / (after.batches - before.batches) };
}

/** Tells in chunks (awaiting backpressure), then a snapshot of every actor: handled, not just sent. */
async function tells(refs: Ref[]): Promise<number> {
  let sent = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const msg = { add: 1 };
  while (performance.now() < deadline) {
    let previous: Promise<void> | undefined;
    const waiting: Promise<void>[] = [];
    for (let i = 0; i < TELL_CHUNK; i++) {
      const p = refs[(sent + i) % refs.length]!.tell(msg);
      if (p !== previous) waiting.push((previous = p));
    }
    sent += TELL_CHUNK;
    await Promise.all(waiting);
  }
  await Promise.all(refs.map((r) => settle(r.snapshot())));
  return sent;
}

async function tellColumns(refs: Ref[]): Promise<number> {
  const cols = { add: new Uint32Array(ASK_MANY).fill(1) };
  let sent = 0;
  let next = 0;
  const deadline = performance.now() + SECONDS * 1000;
  while (performance.now() < deadline) {
    const waiting: Promise<void>[] = [];
    for (let k = 0; k < TELL_CHUNK / ASK_MANY; k++) waiting.push(refs[next++ % refs.length]!.tellMany(cols));
    await Promise.all(waiting);
    sent += TELL_CHUNK;
  }
  await Promise.all(refs.map((r) => settle(r.snapshot())));
  return sent;
}

async function lanes(refs: Ref[], call: (ref: Ref) => Promise<unknown>, per: number): Promise<number> {
  let messages = 0;
  let next = 0;
  const deadline = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: LANES }, async () => {
      while (performance.now() < deadline) {
        await settle(call(refs[next++ % refs.length]!));
        messages += per;
      }
    }),
  );
  return messages;
}

async function loneAskP50(refs: Ref[]): Promise<number> {
  const us: number[] = [];
  for (let i = 0; i < LONE_ASKS; i++) {
    const t = performance.now();
    await settle(refs[i % refs.length]!.ask({ add: 0 }));
    us.push((performance.now() - t) * 1000);
  }
  us.sort((a, b) => a - b);
  return percentile(us, 50);
}

interface Row {
  gpu: Gpu;
  adapter: string;
  tell: Figure;
  tellColumns: Figure;
  askMany: Figure;
  askManyColumns: Figure;
  loneAskP50Us: number;
  dispatchP50Us: number | undefined;
}

const gpus = (process.env.RINGSHARD_BENCH_GPUS ?? 'null,llvmpipe,cpu').split(',') as Gpu[];
const hasAdapter = (await requestAdapter().catch(() => null)) !== null;
const day = new Date().toISOString().slice(0, 10);

// The Map: the counter handler over a Map on this thread (its CPU per message is the unit).
measureMap(counter, { add: 1 }, 0.2, ACTORS);
const mapStart = threadCpuNs(process.pid) ?? 0;
const map = measureMap(counter, { add: 1 }, SECONDS, ACTORS);
const mapNs = ((threadCpuNs(process.pid) ?? 0) - mapStart) / map.messages;
const ring = await ringRoundTrip(SECONDS);

const rows: Row[] = [];
for (const gpu of gpus) {
  if (gpu === 'llvmpipe' && !hasAdapter) {
    console.log('llvmpipe: no adapter, skipped');
    continue;
  }
  const cluster = await Cluster.start({
    kernels: [counter],
    shards: 1,
    backend: gpu === 'cpu' ? 'cpu' : 'webgpu',
    ...(gpu === 'null' ? { dawnFlags: ['backend=null'] } : {}),
    logger: false,
  });
  try {
    const info = cluster.info().shards[0]!;
    const tid = info.tid;
    const refs: Ref[] = Array.from({ length: ACTORS }, (_, i) => cluster.actor(counter, `k${i}`));
    await Promise.all(refs.map((r) => settle(r.ask({ add: 0 }))));
    const objects = Array.from({ length: ASK_MANY }, () => ({ add: 1 }));
    const cols = { add: new Uint32Array(ASK_MANY).fill(1) };
    const row: Row = {
      gpu,
      adapter: info.adapter ? info.adapter.device || info.adapter.description : 'none',
      tell: await measure(cluster, tid, () => tells(refs)),
      tellColumns: await measure(cluster, tid, () => tellColumns(refs)),
      askMany: await measure(cluster, tid, () => lanes(refs, (r) => r.askMany(objects), ASK_MANY)),
      askManyColumns: await measure(cluster, tid, () => lanes(refs, (r) => r.askMany(cols), ASK_MANY)),
      loneAskP50Us: await loneAskP50(refs),
      dispatchP50Us: gpu === 'cpu' ? undefined : (await measureNaiveDispatch({ seconds: SECONDS, actors: ACTORS, ...(gpu === 'null' ? { dawnFlags: ['backend=null'] } : {}) })).p50Us,
    };
    rows.push(row);
    console.log(`${gpu}: done`);
  } finally {
    await cluster.shutdown();
  }
}

const M = (x: number) => `${(x / 1e6).toFixed(2)} M`;
const ns = (x: number) => (Number.isNaN(x) ? '' : `${Math.round(x)}`);
const PATHS = [
  ['tell', 'object tell'],
  ['tellColumns', 'tellMany cols (256)'],
  ['askMany', 'askMany(256)'],
  ['askManyColumns', 'askMany(256) cols'],
] as const;
printTable(`Host path: counter, 1 shard, ${ACTORS} actors, msgs/s and CPU ns per message by thread (${day}; Map ${ns(mapNs)} ns/msg, ${M(map.msgsPerSec)}/s)`, rows.flatMap((r) =>
  PATHS.map(([key, name]) => {
    const f = r[key];
    return {
      gpu: r.gpu,
      path: name,
      'msgs/s': M(f.rate),
      'caller ns': ns(f.cpu.caller),
      'worker ns': ns(f.cpu.workers[0]!),
      'other ns': ns(f.cpu.other),
      'total ns': ns(f.cpu.total),
      'total / Map': (f.cpu.total / mapNs).toFixed(1),
      'avg batch': Number.isFinite(f.batch) ? Math.round(f.batch) : '',
    };
  }),
));
printTable('Lone ask (one in flight), p50 us', rows.map((r) => ({
  gpu: r.gpu,
  'lone ask': r.loneAskP50Us.toFixed(1),
  'dispatch+map alone': r.dispatchP50Us === undefined ? '' : r.dispatchP50Us.toFixed(1),
  'ring RTT': ring.p50.toFixed(1),
  'ask / (dispatch + ring)': r.dispatchP50Us === undefined ? '' : (r.loneAskP50Us / (r.dispatchP50Us + ring.p50)).toFixed(2),
})));

const goals: Array<{ goal: string; value: number; target: number; lower: boolean }> = [];
const nul = rows.find((r) => r.gpu === 'null');
if (nul) {
  goals.push({ goal: 'null: object tell, whole-process CPU / Map <= 3', value: nul.tell.cpu.total / mapNs, target: 3, lower: true });
  goals.push({ goal: 'null: tellMany columns CPU / Map <= 1', value: nul.tellColumns.cpu.total / mapNs, target: 1, lower: true });
  goals.push({ goal: 'null: askMany(256) objects CPU / Map <= 6', value: nul.askMany.cpu.total / mapNs, target: 6, lower: true });
  goals.push({ goal: 'null: askMany(256) columns CPU / Map <= 2', value: nul.askManyColumns.cpu.total / mapNs, target: 2, lower: true });
  goals.push({ goal: 'null: shard worker CPU per record (tells) <= 10 ns', value: nul.tell.cpu.workers[0]!, target: 10, lower: true });
}
for (const r of rows) {
  if (r.dispatchP50Us !== undefined) goals.push({ goal: `${r.gpu}: lone ask p50 / (dispatch+map p50 + ring RTT p50) <= 1.3`, value: r.loneAskP50Us / (r.dispatchP50Us + ring.p50), target: 1.3, lower: true });
  if (r.gpu === 'cpu') goals.push({ goal: 'cpu: lone ask p50 <= 20 us', value: r.loneAskP50Us, target: 20, lower: true });
}
printTable('Goals (issue 21; ratios measured in this run)', goals.map((g) => ({ goal: g.goal, measured: g.value.toFixed(2), met: (g.lower ? g.value <= g.target : g.value >= g.target) ? 'yes' : 'NO' })));

const file = writeJson('host-path', { bench: 'host-path', seconds: SECONDS, actors: ACTORS, mapNsPerMessage: mapNs, mapRate: map.msgsPerSec, ringRttP50Us: ring.p50, rows, goals: goals.map((g) => ({ ...g, met: g.lower ? g.value <= g.target : g.value >= g.target })) });
console.log(`\nJSON: ${file}`);
