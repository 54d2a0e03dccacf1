/**
 * What options.persist costs, in one run: tell, askMany(256) and a lone ask (one in
 * flight) of the counter kernel, 1 shard, 1024 actors, with persist 'message' and
 * 'checkpoint' against no persistence, the three clusters alive together and measured in
 * alternating slices (medians); what one fsync costs on this disk (a synced 4 KiB write,
 * alone, and an LMDB commit beside it); and a restart with 1,000,000 stored actors (start time, then the first message
 * of a stored actor). Ratios are to the plain cluster in the same run.
 *
 *   npm run bench:persist    RINGSHARD_BENCH_SECONDS (default 1) per slice
 *   RINGSHARD_BENCH_BACKEND=cpu|webgpu, RINGSHARD_BENCH_ONLY=throughput|restart
 */
import { closeSync, constants, mkdtempSync, openSync, rmSync, write } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, counter, type ActorRef } from '../src/index.ts';
import { actorIdentity } from '../src/coordinator/actor-directory.ts';
import { requestAdapter } from '../src/worker/gpu/gpu-host.ts';
import { LmdbStore } from '../src/persist/lmdb-store.ts';
import { NEXT_ORDINAL, persistedIds } from '../src/persist/persistent-locator.ts';
import { schemaHash } from '../src/persist/schemas.ts';
import { storeKey } from '../src/recovery/state-store.ts';
import { measureAskMany, measureTell } from './lib/load.ts';
import { percentile, printTable, writeJson } from './report.ts';

type Ref = ActorRef<typeof counter.state, typeof counter.request, typeof counter.reply>;
type Mode = 'plain' | 'checkpoint' | 'message';

const SLICE = Number(process.env.RINGSHARD_BENCH_SECONDS ?? 1);
const ROUNDS = 5;
const ACTORS = 1024;
const LONE_ASKS = 400;
/** Chunks of 8,192 tells pending at once, in every mode: a durable tell resolves only once on disk, and a producer keeps the next chunk going meanwhile. */
const TELL_CHUNKS_IN_FLIGHT = 2;
const STORED = 1_000_000;
const only = process.env.RINGSHARD_BENCH_ONLY;
const backend = (process.env.RINGSHARD_BENCH_BACKEND as 'webgpu' | 'cpu' | undefined) ?? ((await requestAdapter()) ? 'webgpu' : 'cpu');
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const dirs: string[] = [];
const tempDir = (name: string) => {
  const d = mkdtempSync(join(tmpdir(), `ringshard-bench-${name}-`));
  dirs.push(d);
  return d;
};

async function loneAsks(refs: Ref[]): Promise<number[]> {
  const us: number[] = [];
  for (let i = 0; i < LONE_ASKS; i++) {
    const t0 = performance.now();
    await refs[i % refs.length]!.ask({ add: 1 });
    us.push((performance.now() - t0) * 1000);
  }
  return us.sort((a, b) => a - b);
}

/**
 * One fsync on this disk, as a Node program pays it: a 4 KiB write appended to a file
 * opened O_DSYNC, through fs.write (the way the journal writes), microseconds, sorted.
 */
async function fsyncCost(): Promise<number[]> {
  const fd = openSync(join(tempDir('fsync'), 'probe'), constants.O_WRONLY | constants.O_CREAT | constants.O_DSYNC);
  const page = Buffer.alloc(4096, 1);
  const us: number[] = [];
  try {
    for (let i = 0; i < 300; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => write(fd, page, 0, page.length, i * page.length, (e) => (e ? reject(e) : resolve())));
      us.push((performance.now() - t0) * 1000);
    }
  } finally {
    closeSync(fd);
  }
  return us.sort((a, b) => a - b);
}

/** One LMDB commit alone (what a snapshot round's transaction waits for), microseconds, sorted. */
async function lmdbCommitCost(): Promise<number[]> {
  const store = LmdbStore.open(tempDir('lmdb'));
  const us: number[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await store.putMeta('probe', i);
      us.push((performance.now() - t0) * 1000);
    }
  } finally {
    await store.close();
  }
  return us.sort((a, b) => a - b);
}

async function throughput(): Promise<Record<string, unknown>> {
  const modes: Mode[] = ['plain', 'checkpoint', 'message'];
  const clusters = new Map<Mode, Cluster>();
  for (const mode of modes) {
    const persist = mode === 'plain' ? {} : { persist: { path: tempDir(mode), durability: mode } };
    clusters.set(mode, await Cluster.start({ kernels: [counter], shards: 1, backend, logger: false, ...persist }));
  }
  const figures = new Map<Mode, { tell: number[]; askMany: number[]; lone: number[] }>(modes.map((m) => [m, { tell: [], askMany: [], lone: [] }]));
  try {
    const refs = new Map<Mode, Ref[]>(modes.map((m) => [m, Array.from({ length: ACTORS }, (_, i) => clusters.get(m)!.actor(counter, `b${i}`))]));
    for (const m of modes) {
      await Promise.all(refs.get(m)!.map((r) => r.ask({ add: 0 })));
      await measureTell(refs.get(m)!, SLICE / 2);
      await measureAskMany(refs.get(m)!, SLICE / 2);
    }
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? modes : [...modes].reverse();
      for (const m of order) figures.get(m)!.tell.push((await measureTell(refs.get(m)!, SLICE, undefined, { inFlight: TELL_CHUNKS_IN_FLIGHT })).msgsPerSec);
      for (const m of order) figures.get(m)!.askMany.push((await measureAskMany(refs.get(m)!, SLICE)).msgsPerSec);
      for (const m of order) figures.get(m)!.lone.push(percentile(await loneAsks(refs.get(m)!), 50));
    }
  } finally {
    await Promise.all([...clusters.values()].map((c) => c.shutdown()));
  }
  const fsync = await fsyncCost();
  const fsyncP50 = percentile(fsync, 50);
  const lmdb = await lmdbCommitCost();
  const plain = figures.get('plain')!;
  const row = (m: Mode) => {
    const f = figures.get(m)!;
    return {
      case: m === 'plain' ? 'no persist' : `persist '${m}'`,
      'tell msgs/s': Math.round(median(f.tell)).toLocaleString('en-US'),
      'x plain': (median(f.tell) / median(plain.tell)).toFixed(2),
      'askMany msgs/s': Math.round(median(f.askMany)).toLocaleString('en-US'),
      'x plain ': (median(f.askMany) / median(plain.askMany)).toFixed(2),
      'lone ask p50 us': median(f.lone).toFixed(0),
      '- plain, in fsyncs': ((median(f.lone) - median(plain.lone)) / fsyncP50).toFixed(2),
    };
  };
  printTable(`persist against none (${backend}, counter, 1 shard, ${ACTORS} actors, medians of ${ROUNDS} alternating slices; ${new Date().toISOString().slice(0, 10)})`, modes.map(row));
  printTable('what syncing costs on this disk, us', [
    { what: 'one fsync: a 4 KiB write appended to an O_DSYNC file (fs.write)', p50: fsyncP50.toFixed(0), p90: percentile(fsync, 90).toFixed(0), p99: percentile(fsync, 99).toFixed(0) },
    { what: 'one LMDB commit (two syncs), as a snapshot transaction', p50: percentile(lmdb, 50).toFixed(0), p90: percentile(lmdb, 90).toFixed(0), p99: percentile(lmdb, 99).toFixed(0) },
  ]);
  const ratio = (m: Mode, k: 'tell' | 'askMany') => median(figures.get(m)![k]) / median(plain[k]);
  const goals = [
    ["'checkpoint' tell / plain >= 0.9", ratio('checkpoint', 'tell'), ratio('checkpoint', 'tell') >= 0.9],
    ["'checkpoint' askMany / plain >= 0.9", ratio('checkpoint', 'askMany'), ratio('checkpoint', 'askMany') >= 0.9],
    ["'message' tell / plain >= 0.5", ratio('message', 'tell'), ratio('message', 'tell') >= 0.5],
    ["'message' askMany / plain >= 0.5", ratio('message', 'askMany'), ratio('message', 'askMany') >= 0.5],
    ["'message' lone ask p50 - plain <= one fsync p50", (median(figures.get('message')!.lone) - median(plain.lone)) / fsyncP50, median(figures.get('message')!.lone) - median(plain.lone) <= fsyncP50],
  ] as const;
  printTable('Goals (issue 23; ratios in this run)', goals.map(([goal, v, met]) => ({ goal, measured: (v as number).toFixed(2), met: met ? 'yes' : 'NO' })));
  return { figures: Object.fromEntries(figures), fsyncUs: { p50: fsyncP50, p99: percentile(fsync, 99) }, lmdbCommitUs: { p50: percentile(lmdb, 50), p99: percentile(lmdb, 99) } };
}

async function restart(): Promise<Record<string, unknown>> {
  const path = tempDir('restart');
  const store = LmdbStore.open(path);
  const { ids } = await persistedIds(store);
  const hash = schemaHash(counter.state);
  const t0 = performance.now();
  for (let base = 0; base < STORED; base += 20_000) {
    const writes: Array<Promise<unknown>> = [];
    for (let i = base; i < base + 20_000; i++) {
      const identity = actorIdentity('counter', '', `a${i}`);
      writes.push(store.writeSnapshot(storeKey(identity), 0, new Uint32Array([i, 1]), hash), store.registerId(ids.idFor(i + 1), identity));
    }
    await Promise.all(writes);
  }
  await store.putMeta(NEXT_ORDINAL, STORED + 1);
  const fillS = (performance.now() - t0) / 1000;
  await store.close();
  const empty = tempDir('empty');
  const times: Record<string, number> = {};
  for (const [name, p] of [['empty store', empty], [`${STORED.toLocaleString('en-US')} stored actors`, path]] as const) {
    const s = performance.now();
    const cluster = await Cluster.start({ kernels: [counter], shards: 1, backend, logger: false, persist: { path: p } });
    times[`${name}: start ms`] = performance.now() - s;
    const f = performance.now();
    await cluster.actor(counter, 'a123456').ask({ add: 1 });
    times[`${name}: first ask ms`] = performance.now() - f;
    await cluster.shutdown();
  }
  printTable(`restart (${backend}; the store filled in ${fillS.toFixed(1)} s)`, Object.entries(times).map(([what, ms]) => ({ what, ms: ms.toFixed(0) })));
  return { fillSeconds: fillS, ...times };
}

try {
  const out: Record<string, unknown> = { backend };
  if (only !== 'restart') out.throughput = await throughput();
  if (only !== 'throughput') out.restart = await restart();
  console.log(`\nJSON: ${writeJson('persist', out)}`);
} finally {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
