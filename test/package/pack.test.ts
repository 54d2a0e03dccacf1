/**
 * The package as a user gets it: `npm pack` (which runs `prepare`, the build), installed
 * into an empty project, then the README's "Using it" example run as plain `node app.mjs`
 * and as `app.ts` under tsx, on both backends, and app.ts typechecked (strict) against the
 * installed declarations. The cpu runs happen with the project's `webgpu` package moved
 * away: a cpu cluster must not load dawn.node.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gpuTest } from '../helpers/gpu.ts';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(REPO, 'node_modules/tsx/dist/esm/index.mjs');
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');
const repoPackage = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
const typesNodeVersion = (JSON.parse(readFileSync(join(REPO, 'node_modules/@types/node/package.json'), 'utf8')) as { version: string }).version;

// Children must not think they are inside this repo's npm script or this test run.
const env: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^(npm_package_|npm_lifecycle_|npm_config_local_prefix$|npm_command$|NODE_TEST_CONTEXT$)/i.test(k)),
);

const KERNEL = `const counter = defineKernel({
  name: 'counter',
  state: { total: 'u32', count: 'u32' },   // per-actor state, lives in GPU memory
  request: { add: 'u32' },
  reply: { total: 'u32', count: 'u32' },
  wgsl: \`fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
           (*state).total += msg.add; (*state).count += 1u;
           return Reply((*state).total, (*state).count); }\`,
  reference: (s, m) => { s.total = (s.total + m.add) >>> 0; s.count += 1; return { total: s.total, count: s.count }; },
});
`;

const APP_MJS = `import { Cluster, defineKernel } from 'ringshard';
import { renderMetrics } from 'ringshard/metrics';
import { loadTest, htmlReport } from 'ringshard/load';

${KERNEL}
const cluster = await Cluster.start({ kernels: [counter], backend: process.argv[2] });
const a = cluster.actor(counter, 'user-42');
await a.tell({ add: 5 });
console.log(JSON.stringify({ ask: await a.ask({ add: 1 }) }));
console.log(JSON.stringify({ askMany: await a.askMany([{ add: 1 }, { add: 2 }]) }));
console.log(JSON.stringify({ snapshot: await a.snapshot() }));
console.log(JSON.stringify({ terminate: await a.terminate() }));
const info = cluster.info();
console.log(JSON.stringify({ backend: info.backend, shards: info.shards.length, kernels: info.kernels, actors: info.actors }));
await cluster.shutdown();
console.log(JSON.stringify({ metrics: typeof renderMetrics }));
console.log(JSON.stringify({ load: [typeof loadTest, typeof htmlReport] }));
`;

// The same, typed: wrong messages must not compile, replies have their schema's shape.
const APP_TS = `import { Cluster, defineKernel, type BackendChoice, type ClusterInfo } from 'ringshard';
import { renderMetrics, type MetricsServer } from 'ringshard/metrics';
import { loadTest, htmlReport, type LoadTestResult } from 'ringshard/load';

${KERNEL}
const backend = process.argv[2] as BackendChoice;
const cluster: Cluster = await Cluster.start({ kernels: [counter], backend });
const a = cluster.actor(counter, 'user-42');
await a.tell({ add: 5 });
const reply: { total: number; count: number } = await a.ask({ add: 1 });
console.log(JSON.stringify({ ask: reply }));
// @ts-expect-error the request schema has no field 'nope'
const wrong = () => a.tell({ nope: 1 });
void wrong;
const replies: { total: number; count: number }[] = await a.askMany([{ add: 1 }, { add: 2 }]);
console.log(JSON.stringify({ askMany: replies }));
const state: { total: number; count: number } = await a.snapshot();
console.log(JSON.stringify({ snapshot: state }));
console.log(JSON.stringify({ terminate: await a.terminate() }));
const info: ClusterInfo = cluster.info();
console.log(JSON.stringify({ backend: info.backend, shards: info.shards.length, kernels: info.kernels, actors: info.actors }));
await cluster.shutdown();
const server: MetricsServer | undefined = undefined;
void server;
console.log(JSON.stringify({ metrics: typeof renderMetrics }));
const result: LoadTestResult | undefined = undefined;
void result;
console.log(JSON.stringify({ load: [typeof loadTest, typeof htmlReport] }));
`;

const APP_TSCONFIG = {
  compilerOptions: {
    target: 'es2022',
    lib: ['es2024'],
    module: 'nodenext',
    moduleResolution: 'nodenext',
    types: ['node'],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    noImplicitOverride: true,
    noUnusedLocals: true,
    noEmit: true,
    skipLibCheck: false,
  },
  files: ['app.ts'],
};

function expected(backend: 'cpu' | 'webgpu'): string {
  return [
    { ask: { total: 6, count: 2 } },
    { askMany: [{ total: 7, count: 3 }, { total: 9, count: 4 }] },
    { snapshot: { total: 9, count: 4 } },
    { terminate: { total: 9, count: 4 } },
    { backend, shards: 1, kernels: ['counter'], actors: 0 },
    { metrics: 'function' },
    { load: ['function', 'function'] },
  ]
    .map((line) => `${JSON.stringify(line)}\n`)
    .join('');
}

let tmp = '';
let project = '';

async function runApp(file: 'app.mjs' | 'app.ts', backend: 'cpu' | 'webgpu'): Promise<void> {
  const args = file === 'app.ts' ? ['--import', TSX, file, backend] : [file, backend];
  const { stdout } = await run(process.execPath, args, { cwd: project, env, timeout: 60_000 }).catch((error: { stdout?: string; stderr?: string }) => {
    throw new Error(`node ${args.join(' ')} failed: ${String(error)}\nstdout:\n${error.stdout}\nstderr:\n${error.stderr}`);
  });
  assert.equal(stdout, expected(backend), `${file} on ${backend}`);
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ringshard-pack-'));
  const packDir = join(tmp, 'pack');
  project = join(tmp, 'app');
  // `npm pack` runs `prepare`, which builds dist/.
  mkdirSync(packDir);
  await run('npm', ['pack', '--pack-destination', packDir], { cwd: REPO, env, timeout: 120_000 });
  const tarballs = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
  assert.equal(tarballs.length, 1, `one tarball from npm pack, got ${tarballs.join(', ')}`);
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'ringshard-pack-test-app', private: true, type: 'module' }, null, 2));
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(packDir, tarballs[0]!), `@types/node@${typesNodeVersion}`], {
    cwd: project,
    env,
    timeout: 180_000,
  });
  writeFileSync(join(project, 'app.mjs'), APP_MJS);
  writeFileSync(join(project, 'app.ts'), APP_TS);
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(APP_TSCONFIG, null, 2));
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the tarball ships compiled JavaScript, declarations and shaders, no TypeScript sources, and tsx only as a dev dependency', () => {
  const installed = join(project, 'node_modules/ringshard');
  for (const file of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/metrics/exporter.js', 'dist/src/load/index.js', 'dist/src/load/index.d.ts', 'dist/workers/shard-worker.js', 'dist/shaders/prelude.wgsl', 'dist/shaders/driver.wgsl', 'dist/shaders/builtins/counter.wgsl', 'bin/ringshard.mjs']) {
    assert.ok(existsSync(join(installed, file)), `${file} is in the package`);
  }
  for (const dir of ['src', 'workers', 'shaders', 'test', 'bench', 'examples']) assert.ok(!existsSync(join(installed, dir)), `${dir}/ is not in the package`);
  assert.ok(!existsSync(join(installed, 'bin/build.mjs')), 'the build helper is not shipped');
  const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  assert.equal(pkg.dependencies.tsx, undefined, 'tsx is not a runtime dependency');
  assert.ok(!existsSync(join(project, 'node_modules/tsx')), 'installing the package did not bring tsx');
});

test('cpu backend, from app.mjs and from app.ts, with the webgpu package removed', async () => {
  const webgpu = join(project, 'node_modules/webgpu');
  const hidden = join(tmp, 'webgpu-hidden');
  renameSync(webgpu, hidden);
  try {
    // The app cannot load dawn.node now...
    await assert.rejects(run(process.execPath, ['--input-type=module', '-e', "await import('webgpu')"], { cwd: project, env }), /Cannot find package 'webgpu'/);
    // ...and still runs on the cpu backend.
    await runApp('app.mjs', 'cpu');
    await runApp('app.ts', 'cpu');
  } finally {
    renameSync(hidden, webgpu);
  }
});

gpuTest('webgpu backend, from app.mjs and from app.ts', async () => {
  await runApp('app.mjs', 'webgpu');
  await runApp('app.ts', 'webgpu');
});

test('app.ts typechecks under strict settings against the installed declarations', async () => {
  await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: project, env, timeout: 120_000 }).catch((error: { stdout?: string }) => {
    throw new Error(`tsc failed:\n${error.stdout}`);
  });
  // The declarations are real types, not any: a type error in the app is reported.
  writeFileSync(join(project, 'app.ts'), `${APP_TS}const bad: string = reply.total;\nvoid bad;\n`);
  try {
    await assert.rejects(run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: project, env, timeout: 120_000 }), (error: { stdout?: string }) => {
      assert.match(String(error.stdout), /app\.ts\(\d+,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
      return true;
    });
  } finally {
    writeFileSync(join(project, 'app.ts'), APP_TS);
  }
});

test('the installed bin runs the compiled CLI without tsx', async () => {
  const version = await run(process.execPath, ['node_modules/ringshard/bin/ringshard.mjs', '--version'], { cwd: project, env });
  assert.equal(version.stdout, `${repoPackage.version}\n`);
  const help = await run(join(project, 'node_modules/.bin/ringshard'), ['demo', '--help'], { cwd: project, env });
  assert.match(help.stdout, /^Usage: ringshard demo /);
});
