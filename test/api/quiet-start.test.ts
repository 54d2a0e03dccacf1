/**
 * A quiet start: a cluster with `logger: false` prints nothing at all (Dawn's limit
 * warnings, which it writes to stderr from C++ as it enumerates adapters, are kept off
 * it), on both backends and with the backend probed ('auto'). What else is written to
 * stderr while an adapter is requested still gets there, from any thread, and stderr is
 * itself again afterwards even when threads request adapters at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gpuOrSkip, NO_GPU } from '../helpers/gpu.ts';

const repo = resolve(import.meta.dirname, '../..');
const src = (path: string) => JSON.stringify(pathToFileURL(join(repo, path)).href);
const dir = mkdtempSync(join(tmpdir(), 'ringshard-quiet-'));
writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n'); // its .ts files are ES modules
test.after(() => rmSync(dir, { recursive: true, force: true }));

function runScript(name: string, body: string, args: string[] = []): { status: number | null; stdout: string; stderr: string; pid: number } {
  const file = join(dir, name);
  writeFileSync(file, body);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { cwd: repo, encoding: 'utf8', timeout: 120_000, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp/ringshard-xdg' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, pid: r.pid };
}

const START = `import { Cluster, counter } from ${src('src/index.ts')};
const cluster = await Cluster.start({ kernels: [counter], backend: process.argv[2], shards: 2, logger: false });
console.log(JSON.stringify(await cluster.actor(counter, 'a').askMany([{ add: 2 }, { add: 3 }])));
await cluster.shutdown();
`;

for (const backend of ['webgpu', 'auto', 'cpu'] as const) {
  test(`a logger: false cluster (backend '${backend}', 2 shards) prints nothing on stderr, from Dawn or anything else`, { timeout: 120_000 }, async (t) => {
    if (backend !== 'cpu' && !(await gpuOrSkip())) return t.skip(NO_GPU);
    const r = runScript(`start-${backend}.mts`, START, [backend]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${JSON.stringify([{ total: 2, count: 1 }, { total: 5, count: 2 }])}\n`);
    assert.equal(r.stderr, '');
    assert.equal(existsSync(join(tmpdir(), `ringshard-stderr-${r.pid}.lock`)), false, 'the lock file went with its process');
  });
}

const DAWN = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';

test('while an adapter is requested, only Dawn\'s limit warnings are dropped: other output still reaches stderr, in order', { timeout: 60_000 }, () => {
  const r = runScript(
    'pass-on.mts',
    `import { writeSync } from 'node:fs';
import { withoutDawnLimitWarnings } from ${src('src/worker/gpu/dawn-stderr.ts')};
const value = await withoutDawnLimitWarnings(async () => {
  writeSync(2, ${JSON.stringify(`${DAWN}\nfrom C, say\n`)});
  process.stderr.write('from js\\n');
  writeSync(2, ${JSON.stringify(DAWN.replace('Uniform', 'Storage') + '\n')});
  return 42;
});
process.stderr.write('after ' + value + '\\n');
await withoutDawnLimitWarnings(async () => { throw new Error('inside'); }).catch((e) => process.stderr.write('caught ' + e.message + '\\n'));
process.stderr.write('still stderr\\n');
`,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, 'from C, say\nfrom js\nafter 42\ncaught inside\nstill stderr\n');
});

test('threads that request adapters at once take turns: every other line gets through once, stderr is itself after', { timeout: 60_000 }, () => {
  // Each thread, twelve times: Dawn's line and one of its own, written while it has stderr.
  writeFileSync(
    join(dir, 'thread-body.ts'),
    `import { threadId } from 'node:worker_threads';
import { writeSync } from 'node:fs';
import { withoutDawnLimitWarnings } from ${src('src/worker/gpu/dawn-stderr.ts')};
for (let round = 0; round < 12; round++) {
  await withoutDawnLimitWarnings(async () => {
    await new Promise((resolve) => setTimeout(resolve, (threadId * 7 + round * 3) % 5));
    writeSync(2, ${JSON.stringify(DAWN + '\n')} + 'thread ' + threadId + ' round ' + round + '\\n');
  });
}
`,
  );
  const r = runScript(
    'threads.mts',
    `import { Worker } from 'node:worker_threads';
// As in a cluster's process, whose main thread loads the module too (and removes the lock file at exit).
import ${src('src/worker/gpu/dawn-stderr.ts')};
const entry = new URL(${src('workers/ts-entry.mjs')});
const body = new URL(${JSON.stringify(pathToFileURL(join(dir, 'thread-body.ts')).href)}).href;
const workers = Array.from({ length: 4 }, () => new Worker(entry, { workerData: { tsEntry: body } }));
await Promise.all(workers.map((w) => new Promise((resolve, reject) => { w.on('exit', resolve); w.on('error', reject); })));
process.stderr.write('main after\\n');
`,
  );
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.at(-1), 'main after');
  assert.ok(!r.stderr.includes('artificially reduced'), r.stderr);
  const rounds = lines.filter((l) => l.startsWith('thread ')).sort();
  assert.equal(rounds.length, 48, r.stderr);
  assert.equal(new Set(rounds).size, 48, "each once");
  assert.equal(existsSync(join(tmpdir(), `ringshard-stderr-${r.pid}.lock`)), false, 'the lock file went with its process');
});
