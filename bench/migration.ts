/**
 * Migration and the ShardLink seam, measured in one run:
 *   - what a live migration costs, by state size and by the messages pending for the
 *     actor when it moves (they are handled on the old shard before the state leaves);
 *   - tell and ask at RINGSHARD_SEAM_AFTER (default HEAD) against the code before the
 *     seam (RINGSHARD_SEAM_BASE, default the commit before it), both as git worktrees,
 *     alternating in one process so that the machine's drift hits both alike.
 * Prints tables and writes bench/results/migration.json.
 *
 *   npm run bench:migration      RINGSHARD_BENCH_SECONDS (default 1) per slice
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as current from '../src/index.ts';
import { printTable, writeJson, type BenchRow } from './report.ts';

const SLICE = Number(process.env.RINGSHARD_BENCH_SECONDS ?? 1);
const BASE = process.env.RINGSHARD_SEAM_BASE ?? '9fe89e0';
const AFTER = process.env.RINGSHARD_SEAM_AFTER ?? 'HEAD';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

type Api = typeof current;
type ClusterOf<A extends Api> = Awaited<ReturnType<A['Cluster']['start']>>;

// ---------------------------------------------------------------- migration cost

async function migrationCost(backend: 'webgpu' | 'cpu') {
  const rows: BenchRow[] = [];
  const results: Array<{ stateWords: number; pending: number; p50Ms: number; moves: number }> = [];
  for (const stateWords of [2, 64, 240]) {
    const kernel = current.defineKernel({
      name: `blob${stateWords}`,
      state: { n: 'u32', data: ['u32', stateWords - 1] },
      request: { add: 'u32' },
      reply: { n: 'u32' },
      wgsl: `fn handle(ctx: ptr<function, RingContext>, s: ptr<function, State>, m: Request) -> Reply {
               (*s).n += m.add; (*s).data[(*s).n % ${stateWords - 1}u] = (*s).n; return Reply((*s).n); }`,
      reference: (s, m) => {
        s.n = (s.n + m.add) >>> 0;
        s.data[s.n % (s.data.length)] = s.n;
        return { n: s.n };
      },
    });
    const cluster = await current.Cluster.start({ kernels: [kernel], backend, shards: 2, logger: false });
    try {
      const refs = Array.from({ length: 64 }, (_, i) => cluster.actor(kernel, `a-${i}`));
      await Promise.all(refs.map((r) => r.ask({ add: 1 })));
      for (const pending of [0, 1000, 10000]) {
        const times: number[] = [];
        for (const ref of refs.slice(0, 16)) {
          const to = 1 - cluster.locate(ref).shard;
          const msgs = Array.from({ length: pending }, () => ({ add: 1 }));
          const sent = pending > 0 ? ref.tellMany(msgs) : Promise.resolve();
          const t = performance.now();
          await cluster.migrate(ref, to);
          times.push(performance.now() - t);
          await sent;
        }
        const p50Ms = median(times);
        results.push({ stateWords, pending, p50Ms, moves: times.length });
        rows.push({ 'state words': stateWords, 'pending messages': pending, 'migrate p50 ms': Number(p50Ms.toFixed(2)), 'max ms': Number(Math.max(...times).toFixed(2)) });
      }
      // Nothing was lost on the way: every actor counted all it was sent.
      const states = await Promise.all(refs.slice(0, 16).map((r) => r.snapshot()));
      const expected = 1 + 11000;
      for (const s of states) if (s.n !== expected) throw new Error(`an actor counted ${s.n}, expected ${expected}`);
    } finally {
      await cluster.shutdown();
    }
  }
  return { rows, results };
}

// ---------------------------------------------------------------- the seam: before vs after

/** A git worktree of `rev` with this checkout's node_modules; undefined if git cannot. */
function checkout(rev: string): { dir: string; remove: () => void } | undefined {
  try {
    const dir = mkdtempSync(join(tmpdir(), 'ringshard-seam-'));
    execFileSync('git', ['-C', ROOT, 'worktree', 'add', '--detach', dir, rev], { stdio: 'ignore' });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    return {
      dir,
      remove: () => {
        execFileSync('git', ['-C', ROOT, 'worktree', 'remove', '--force', dir], { stdio: 'ignore' });
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    console.log(`(no comparison: could not check out ${rev}: ${(error as Error).message})`);
    return undefined;
  }
}

async function tellRate(api: Api, cluster: ClusterOf<Api>, seconds: number): Promise<number> {
  const refs = Array.from({ length: 1024 }, (_, i) => cluster.actor(api.counter, `bench-${i}`));
  const msg = { add: 1 };
  let sent = 0;
  const t0 = performance.now();
  const waiting: Array<Promise<void>> = [];
  while (performance.now() < t0 + seconds * 1000) {
    let previous: Promise<void> | undefined;
    for (let i = 0; i < 8192; i++) {
      const p = refs[(sent + i) & 1023]!.tell(msg);
      if (p !== previous) waiting.push((previous = p));
    }
    sent += 8192;
    await Promise.all(waiting);
    waiting.length = 0;
  }
  await Promise.all(refs.map((r) => r.snapshot()));
  return sent / ((performance.now() - t0) / 1000);
}

async function askP50(api: Api, cluster: ClusterOf<Api>, samples: number): Promise<number> {
  const ref = cluster.actor(api.counter, 'rtt');
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    await ref.ask({ add: 0 });
    times.push((performance.now() - t) * 1000);
  }
  return median(times);
}

async function seamCost(backend: 'webgpu' | 'cpu') {
  // Both sides are checked out and loaded the same way: an A/A run (the same commit on
  // both sides) showed a static import against a dynamic one biased the ratio by ~10%.
  const base = checkout(BASE);
  const head = checkout(AFTER);
  if (!base || !head) {
    base?.remove();
    head?.remove();
    return undefined;
  }
  try {
    const before = (await import(join(base.dir, 'src/index.ts'))) as Api;
    const after = (await import(join(head.dir, 'src/index.ts'))) as Api;
    const start = (api: Api) => api.Cluster.start({ kernels: [api.counter], shards: 1, backend, logger: false });
    const apis = { before, after };
    const tell = { before: [] as number[], after: [] as number[] };
    const ask = { before: [] as number[], after: [] as number[] };
    // Both start orders: which cluster starts first decides where its threads run, which
    // alone moved such ratios by +-10% on this machine (see the metrics benchmark).
    for (const first of ['before', 'after'] as const) {
      const second = first === 'before' ? 'after' : 'before';
      const a = await start(apis[first]);
      const b = await start(apis[second]);
      const clusters = { [first]: a, [second]: b } as Record<'before' | 'after', ClusterOf<Api>>;
      try {
        for (const which of ['before', 'after'] as const) await tellRate(apis[which], clusters[which], 0.5);
        for (let i = 0; i < 4; i++) {
          for (const which of i % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const)) {
            tell[which].push(await tellRate(apis[which], clusters[which], SLICE));
            ask[which].push(await askP50(apis[which], clusters[which], 500));
          }
        }
      } finally {
        await Promise.all([a.shutdown(), b.shutdown()]);
      }
    }
    return { base: BASE, after: AFTER, tell, ask };
  } finally {
    base.remove();
    head.remove();
  }
}

const backend = (await import('../src/worker/gpu/gpu-host.ts').then((m) => m.requestAdapter()).catch(() => null)) ? 'webgpu' : 'cpu';
const day = new Date().toISOString().slice(0, 10);
console.log(`ringshard migration benchmark: backend ${backend}, ${day}`);
// RINGSHARD_SEAM_ONLY=1 skips the migration costs (for a quick look at the seam).
const cost = process.env.RINGSHARD_SEAM_ONLY === '1' ? { rows: [], results: [] } : await migrationCost(backend);
printTable(`Migration cost (2 shards, 16 moves per row, ${backend})`, cost.rows);
const seam = existsSync(join(ROOT, '.git')) ? await seamCost(backend) : undefined;
if (seam) {
  const ratio = (after: number[], before: number[]) => median(after.map((a, i) => a / before[i]!));
  printTable(`The seam: ${seam.after} vs ${seam.base} (before it), 8 alternating pairs in both start orders, 1 shard`, [
    { case: 'tell msgs/s, before', median: Math.round(median(seam.tell.before)), slices: seam.tell.before.map((x) => (x / 1e6).toFixed(2)).join(' ') },
    { case: 'tell msgs/s, after', median: Math.round(median(seam.tell.after)), slices: seam.tell.after.map((x) => (x / 1e6).toFixed(2)).join(' ') },
    { case: 'tell after / before (median of pairs)', median: ratio(seam.tell.after, seam.tell.before).toFixed(3), slices: '' },
    { case: 'ask p50 us, before', median: Math.round(median(seam.ask.before)), slices: seam.ask.before.map((x) => x.toFixed(0)).join(' ') },
    { case: 'ask p50 us, after', median: Math.round(median(seam.ask.after)), slices: seam.ask.after.map((x) => x.toFixed(0)).join(' ') },
    { case: 'ask after / before (median of pairs)', median: ratio(seam.ask.after, seam.ask.before).toFixed(3), slices: '' },
  ]);
}
const file = writeJson('migration', { bench: 'migration', backend, migration: cost.results, seam: seam ?? null });
console.log(`\nJSON: ${file}`);
