/**
 * loadTest() and `ringshard bench --kernel <module>`: a user kernel in a temp module,
 * driven by the API (both backends) and the CLI, verified against its reference, with
 * counts and final states checked exactly against the seeded message stream; thresholds
 * pass and fail with the right exit codes; ramping stages send at their rates (within a
 * tolerance, at loads sized from what this machine sustains); bad options are refused
 * before anything is sent.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Cluster, counter, type Kernel } from '../../src/index.ts';
import { LoadRng, loadTest, type LoadTestResult } from '../../src/load/index.ts';
import { gpuOrSkip, NO_GPU } from '../helpers/gpu.ts';

const repo = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'ringshard-load-'));
const modulePath = join(dir, 'acc-kernel.mjs');
// A user's kernel module, as `ringshard bench --kernel` loads it: kernel, message, actors.
writeFileSync(
  modulePath,
  `import { defineKernel } from ${JSON.stringify(pathToFileURL(join(repo, 'src/index.ts')).href)};
export const kernel = defineKernel({
  name: 'acc',
  state: { sum: 'u32', n: 'u32' },
  request: { v: 'u32' },
  reply: { sum: 'u32', n: 'u32' },
  wgsl: \`fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).sum += msg.v;
  (*state).n += 1u;
  return Reply((*state).sum, (*state).n);
}\`,
  reference: (s, m) => {
    s.sum = (s.sum + m.v) >>> 0;
    s.n += 1;
    return { sum: s.sum, n: s.n };
  },
});
export const message = (i, rng) => ({ v: rng.int(0, 1000) });
export const actors = 16;
`,
);
test.after(() => rmSync(dir, { recursive: true, force: true }));

type Acc = { kernel: Kernel<any, any, any>; message: (i: number, rng: LoadRng) => { v: number }; actors: number };
const load = async (): Promise<Acc> => (await import(pathToFileURL(modulePath).href)) as Acc;

/** Every actor's state summed: messages taken and the values they carried. */
async function totals(cluster: Cluster, kernel: Kernel<any, any, any>, actors: number, prefix = 'load-'): Promise<{ n: number; sum: number }> {
  const states = await Promise.all(Array.from({ length: actors }, (_, i) => cluster.actor(kernel, `${prefix}${i}`).snapshot() as Promise<{ n: number; sum: number }>));
  return { n: states.reduce((a, s) => a + s.n, 0), sum: states.reduce((a, s) => a + s.sum, 0) };
}

/** The sum of the first `count` values the seeded generator makes. */
function valuesSum(acc: Acc, seed: number, count: number): number {
  const rng = new LoadRng(seed);
  let sum = 0;
  for (let i = 0; i < count; i++) sum += acc.message(i, rng).v;
  return sum;
}

for (const backend of ['cpu', 'webgpu'] as const) {
  test(`${backend}: loadTest() drives a user's kernel (a mix of ask, tell and askMany), verified; counts and final states exact`, { timeout: 120_000 }, async (t) => {
    if (backend === 'webgpu' && !(await gpuOrSkip())) return t.skip(NO_GPU);
    const acc = await load();
    const cluster = await Cluster.start({ kernels: [acc.kernel], backend, shards: 2, logger: false });
    try {
      const result = await loadTest({ cluster, kernel: acc.kernel, message: acc.message, actors: acc.actors, mode: { ask: 2, tell: 1, askMany: 1 }, batch: 8, seconds: 1, concurrency: 16, seed: 7, thresholds: ['failed==0', 'mismatches==0'] });
      assert.equal(result.ok, true, JSON.stringify(result.thresholds));
      assert.equal(result.options.verify, true, 'verify defaults to the kernel having a reference');
      assert.equal(result.totals.failed, 0);
      assert.equal(result.totals.mismatchCount, 0, result.totals.mismatches.join('\n'));
      assert.equal(result.totals.completed, result.totals.sent);
      assert.ok(result.totals.checked > result.totals.completed / 2, `${result.totals.checked} checked`);
      // Exact: every message sent was taken once (no warm-up), and carried the seeded stream's values.
      const got = await totals(cluster, acc.kernel, acc.actors);
      assert.equal(got.n, result.totals.sent);
      assert.equal(got.sum, valuesSum(acc, 7, result.totals.sent));
      assert.equal(result.totals.shards.reduce((a, s) => a + s.messages, 0), result.totals.sent);
      assert.equal(result.series.reduce((a, s) => a + s.completed, 0), result.totals.completed);
      assert.equal(result.histogram.reduce((a, [, n]) => a + n, 0), result.totals.latencyUs.count);
      assert.ok(result.totals.latencyUs.p50 <= result.totals.latencyUs.p99 && result.totals.latencyUs.p99 <= result.totals.latencyUs.max);
      assert.ok(result.totals.batchSize && result.totals.batchSize.mean >= 1);
    } finally {
      await cluster.shutdown();
    }
  });
}

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repo, 'bin/ringshard.mjs'), 'bench', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the CLI runs a kernel module (--kernel ./file.mjs) on both backends, with thresholds, --json and exit codes', { timeout: 180_000 }, async () => {
  const acc = await load();
  // Passing thresholds: exit 0, the JSON result.
  const ok = cli(['--kernel', modulePath, '--backend', 'cpu', '--shards', '1', '--duration', '1', '--warmup', '0', '--mode', 'ask:1,tell:1', '--seed', '3', '--json', '--threshold', 'failed==0', '--threshold', 'p99<60s']);
  assert.equal(ok.status, 0, ok.stderr);
  const r = JSON.parse(ok.stdout) as LoadTestResult & { schema: string };
  assert.equal(r.schema, 'ringshard-load/1');
  assert.equal(r.options.kernel, 'acc');
  assert.equal(r.options.actors, acc.actors, "the module's actors");
  assert.deepEqual(r.options.mode, { ask: 1, tell: 1 });
  assert.equal(r.totals.failed, 0);
  assert.equal(r.totals.mismatchCount, 0);
  assert.ok(r.totals.completed > 0 && r.totals.completed === r.totals.sent);
  assert.deepEqual(r.thresholds.map((x) => [x.threshold, x.ok]), [['failed==0', true], ['p99<60s', true]]);
  // A broken threshold: exit 1 and a line saying which.
  const broken = cli(['--kernel', modulePath, '--backend', 'cpu', '--shards', '1', '--duration', '0.5', '--warmup', '0', '--threshold', 'rate>1e12', '--threshold', 'failed==0']);
  assert.equal(broken.status, 1, broken.stderr);
  assert.match(broken.stderr, /threshold 'rate>1e12' broken: measured \d/);
  assert.doesNotMatch(broken.stderr, /threshold 'failed==0' broken/);
  assert.match(broken.stdout, /threshold {4}rate>1e12: BROKEN/);
  // The same module on the GPU backend (where there is one), verified.
  if (await gpuOrSkip()) {
    const gpu = cli(['--kernel', modulePath, '--backend', 'webgpu', '--shards', '2', '--duration', '1', '--warmup', '0', '--mode', 'ask:1,askMany:1,tell:1', '--json', '--threshold', 'mismatches==0']);
    assert.equal(gpu.status, 0, gpu.stderr);
    const g = JSON.parse(gpu.stdout) as LoadTestResult;
    assert.equal(g.machine.backend, 'webgpu');
    assert.ok(g.totals.completed > 0 && g.totals.completed === g.totals.sent && g.totals.failed === 0);
    assert.ok(g.totals.checked > 0 && g.totals.mismatchCount === 0, g.totals.mismatches.join('\n'));
  }
  // Built-in kernels keep working on this path (a threshold given).
  const builtin = cli(['--kernel', 'counter', '--backend', 'cpu', '--shards', '1', '--duration', '0.5', '--warmup', '0', '--threshold', 'failed==0', '--json']);
  assert.equal(builtin.status, 0, builtin.stderr);
  assert.equal((JSON.parse(builtin.stdout) as LoadTestResult).options.kernel, 'counter');
  // Bad input: exit 2, a clear line, nothing run.
  for (const [args, message] of [
    [['--threshold', 'p99 lt 20'], /threshold "p99 lt 20" does not parse/],
    [['--stages', '1000'], /--stages must be rate:seconds pairs/],
    [['--stages', '10:1', '--rate', '5'], /--stages sets the scenario/],
    [['--kernel', join(dir, 'missing.mjs')], /could not be loaded/],
    [['--kernel', 'countr'], /--kernel must be one of counter, echo, stats or a module path/],
    [['--mode', 'ask:x'], /--mode must be tell, ask, askMany or a mix/],
  ] as const) {
    const bad = cli([...args, '--backend', 'cpu', ...((args as readonly string[]).includes('--stages') ? [] : ['--duration', '0.2'])]);
    assert.equal(bad.status, 2, `${args.join(' ')}: ${bad.stderr}`);
    assert.match(bad.stderr, message);
  }
});

test('a closed loop keeps `concurrency` calls in flight, no more', { timeout: 60_000 }, async () => {
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 1, logger: false });
  try {
    // The shard's asks still waiting for their replies, sampled while the loop runs (no
    // verify: its snapshots of every actor at the end would count too).
    let most = 0;
    const sampler = setInterval(() => (most = Math.max(most, cluster.info().shards[0]!.asks.waiting)), 1);
    const result = await loadTest({ cluster, kernel: counter, message: (_i, rng) => ({ add: rng.int(0, 9) }), actors: 32, mode: 'ask', seconds: 1, concurrency: 4, verify: false, keyPrefix: 'closed-' });
    clearInterval(sampler);
    assert.ok(result.totals.completed > 100, `${result.totals.completed} asks`);
    assert.ok(most >= 1 && most <= 4, `at most 4 asks in flight, saw ${most}`);
  } finally {
    await cluster.shutdown();
  }
});

test('ramping stages send at their rates (within 10% a second), sized from what this machine sustains', { timeout: 120_000 }, async () => {
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 1, logger: false });
  try {
    const message = (_i: number, rng: LoadRng) => ({ add: rng.int(0, 9) });
    const sustained = (await loadTest({ cluster, kernel: counter, message, actors: 64, mode: 'ask', seconds: 1, concurrency: 64 })).totals.messagesPerSecond;
    // Well within what it sustains: the schedule, not the machine, sets the pace.
    const low = Math.max(200, Math.round(sustained * 0.05));
    const high = Math.max(600, Math.round(sustained * 0.2));
    const result = await loadTest({ cluster, kernel: counter, message, actors: 64, mode: 'ask', stages: [{ rate: low, seconds: 2 }, { rate: high, seconds: 2 }, { rate: high, seconds: 1 }], keyPrefix: 'ramp-', thresholds: ['failed==0'] });
    assert.equal(result.ok, true);
    assert.equal(result.options.scenario, 'stages');
    const full = result.series.filter((s) => s.target !== undefined);
    assert.equal(full.length, 5);
    // The schedule: two seconds at `low`, a ramp to `high` (its seconds' means), then `high`.
    const expected = [low, low, low + (high - low) / 4, low + (3 * (high - low)) / 4, high];
    full.forEach((s, i) => {
      assert.ok(Math.abs(s.target! - expected[i]!) <= 1, `second ${s.second}: target ${s.target}, expected ${expected[i]}`);
      assert.ok(Math.abs(s.sent - s.target!) <= 0.1 * s.target!, `second ${s.second}: sent ${s.sent}, target ${s.target} (sustained ${Math.round(sustained)}/s)`);
    });
    assert.equal(result.totals.sent, Math.floor(low * 2 + ((low + high) / 2) * 2 + high));
  } finally {
    await cluster.shutdown();
  }
});

test('loadTest() refuses bad options with ERR_RINGSHARD_INVALID_OPTION before sending anything', { timeout: 60_000 }, async () => {
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 1, logger: false });
  try {
    const base = { cluster, kernel: counter, message: () => ({ add: 1 }), seconds: 0.2 };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ rate: 10, stages: [{ rate: 1, seconds: 1 }] }, /one scenario/],
      [{ concurrency: 4, rate: 10 }, /one scenario/],
      [{ seconds: undefined }, /options\.seconds must be a number > 0/],
      [{ stages: [{ rate: 10, seconds: 1 }] }, /options\.seconds must be left out with stages/],
      [{ seconds: undefined, stages: [] }, /options\.stages must be a non-empty array/],
      [{ seconds: undefined, stages: [{ rate: -1, seconds: 1 }] }, /stages\[0\]\.rate/],
      [{ thresholds: ['p99 < soon'] }, /threshold "p99 < soon" does not parse/],
      [{ mode: 'push' }, /options\.mode must be one of tell, ask, askMany/],
      [{ mode: { ask: 0 } }, /weights with a sum > 0/],
      [{ message: 'no' }, /options\.message must be a function/],
      [{ actors: 0 }, /options\.actors must be an integer > 0/],
      [{ batch: 1.5 }, /options\.batch must be an integer > 0/],
    ];
    for (const [bad, message] of cases) {
      await assert.rejects(loadTest({ ...base, ...bad } as never), (e: Error & { code?: string }) => e.code === 'ERR_RINGSHARD_INVALID_OPTION' && message.test(e.message), JSON.stringify(bad));
    }
    assert.equal(cluster.info().actors, 0, 'nothing was sent');
  } finally {
    await cluster.shutdown();
  }
});
