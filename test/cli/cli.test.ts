/**
 * The `ringshard` command as users run it: a child process, its exit code, its output.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BENCH_SCHEMA } from '../../src/cli/bench-command.ts';
import { gpuTest } from '../helpers/gpu.ts';

const BIN = fileURLToPath(new URL('../../bin/ringshard.mjs', import.meta.url));

// A child that runs this long is stuck: it is killed and the test fails with what it
// printed (a hang of the GPU bench was seen once in a full run and never reproduced).
const CHILD_LIMIT_MS = 90_000;

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NODE_TEST_CONTEXT: '' } });
    let stdout = '';
    let stderr = '';
    const limit = setTimeout(() => {
      stderr += `\n[test: killed after ${CHILD_LIMIT_MS} ms]`;
      child.kill('SIGKILL');
    }, CHILD_LIMIT_MS);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(limit);
      resolve({ code, stdout, stderr });
    });
  });
}

function checkBenchJson(stdout: string, expect: { kernel: string; mode: string; backend: string }) {
  const r = JSON.parse(stdout);
  assert.equal(r.schema, BENCH_SCHEMA);
  assert.equal(r.options.kernel, expect.kernel);
  assert.equal(r.options.mode, expect.mode);
  assert.equal(r.cluster.backend, expect.backend);
  assert.ok(r.measured.seconds > 0);
  assert.ok(r.measured.completed > 0, 'completed messages');
  assert.ok(r.measured.sent >= r.measured.completed);
  assert.equal(r.measured.failed, 0);
  assert.ok(r.measured.messagesPerSecond > 0);
  assert.equal(r.latencyMicros.count, r.measured.completed);
  for (const k of ['min', 'p50', 'p90', 'p99', 'p999', 'max']) assert.ok(r.latencyMicros[k] > 0, `latency ${k}`);
  assert.ok(r.latencyMicros.p50 <= r.latencyMicros.p99 && r.latencyMicros.p99 <= r.latencyMicros.max);
  assert.ok(r.batches.count > 0 && r.batches.meanRecords > 0);
  assert.ok(r.shards.length >= 1);
  assert.ok(Math.abs(r.shards.reduce((n: number, s: { share: number }) => n + s.share, 0) - 1) < 1e-9);
  return r;
}

test('ringshard bench --json (closed loop, askMany, verified) prints the documented JSON', { timeout: 60_000 }, async () => {
  const { code, stdout, stderr } = await run(['bench', '--json', '--backend', 'cpu', '--kernel', 'stats', '--mode', 'askMany', '--batch', '16',
    '--actors', '200', '--concurrency', '8', '--duration', '1', '--warmup', '0.3', '--shards', '2', '--verify']);
  assert.equal(code, 0, stderr);
  const r = checkBenchJson(stdout, { kernel: 'stats', mode: 'askMany', backend: 'cpu' });
  assert.equal(r.cluster.shards, 2);
  assert.equal(r.shards.length, 2);
  assert.ok(r.verify.checked > 0);
  assert.equal(r.verify.mismatches, 0);
  assert.match(stderr, /stats askMany: (warm-up|measure)/, 'progress goes to stderr');
});

test('ringshard bench --rate runs an open loop near the target rate', { timeout: 60_000 }, async () => {
  const { code, stdout, stderr } = await run(['bench', '--json', '--backend', 'cpu', '--mode', 'ask', '--rate', '2000', '--duration', '2', '--warmup', '0.5']);
  assert.equal(code, 0, stderr);
  const r = checkBenchJson(stdout, { kernel: 'counter', mode: 'ask', backend: 'cpu' });
  assert.equal(r.options.rate, 2000);
  assert.equal(r.options.concurrency, null);
  assert.ok(r.measured.messagesPerSecond > 1500 && r.measured.messagesPerSecond < 2500, `rate ${r.measured.messagesPerSecond}`);
});

gpuTest('ringshard bench on the GPU prints a readable table', async () => {
  const { code, stdout, stderr } = await run(['bench', '--backend', 'webgpu', '--mode', 'tell', '--duration', '1', '--warmup', '0.2', '--shards', '1']);
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  assert.match(stdout, /cluster: webgpu on .*1 shard/);
  assert.match(stdout, /throughput\s+[\d.]+ (M|k)\/s/);
  assert.match(stdout, /latency\s+p50 .* p99 .* p99\.9/);
});

test('bad options exit 2 with a message naming the option', async () => {
  const { code, stderr, stdout } = await run(['bench', '--kernel', 'nope']);
  assert.equal(code, 2);
  assert.match(stderr, /ringshard bench: --kernel must be one of counter, echo, stats or a module path like \.\/my-kernel\.mjs, got 'nope'/);
  assert.equal(stdout, '');
  const unknown = await run(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
});

test('help and version', async () => {
  const help = await run(['bench', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--rate <msgs\/s>/);
  const version = await run(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('ringshard demo checks every reply and exits 0', { timeout: 120_000 }, async () => {
  const { code, stdout, stderr } = await run(['demo', '--seconds', '2', '--backend', 'cpu', '--metrics-port', '0']);
  assert.equal(code, 0, stdout + stderr);
  assert.match(stdout, /backend: CPU/);
  assert.match(stdout, /metrics: http:\/\/127\.0\.0\.1:\d+\/metrics/);
  assert.match(stdout, /^warm: +3 kernels ran once on each shard/m);
  // The open loop's rate comes from what this machine sustained, and the table says so.
  const rate = /^rate: +tells in an open loop at ([\d.]+) (M|k)\/s: 70% of the ([\d.]+) (M|k)\/s they sustained/m.exec(stdout);
  assert.ok(rate, stdout);
  const perSecond = (n: string, unit: string) => Number(n) * (unit === 'M' ? 1e6 : 1e3);
  const target = perSecond(rate[1]!, rate[2]!);
  assert.ok(Math.abs(target / perSecond(rate[3]!, rate[4]!) - 0.7) < 0.01, rate[0]);
  assert.match(stdout, /^all asks\s+[\d,]+\s+/m);
  assert.match(stdout, /^all\s+[\d,]+\s+/m);
  assert.match(stdout, /^asks: +p99 [\d.]+ (us|ms|s) over [\d,]+ asked messages/m);
  assert.match(stdout, /checked: +[\d,]+ replies and final states \(6,000 actors\) against the TS references: 0 mismatches, 0 failed messages/);
  assert.match(stdout, /result: +OK/);
});
