/**
 * Every load mode of `ringshard bench` on every built-in kernel completes messages and
 * reports figures that agree with each other (regression: stats tells reported 0
 * messages, because a closed loop of tells into a ring with room never yielded to the
 * timer that ended the warm-up).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runBench, type BenchResult } from '../../src/cli/bench-command.ts';
import { KERNEL_NAMES, type BenchMode, type BenchOptions } from '../../src/cli/bench-options.ts';
import { gpuOrSkip, NO_GPU } from '../helpers/gpu.ts';

const MODES: readonly BenchMode[] = ['tell', 'ask', 'askMany'];

function options(kernel: BenchOptions['kernel'], mode: BenchMode, backend: 'cpu' | 'webgpu'): BenchOptions {
  return {
    shards: 1, backend, kernel, mode, actors: 300, batch: 32, rate: undefined, concurrency: 16,
    durationSeconds: 0.5, warmupSeconds: 0.2, json: true, metricsPort: undefined, verify: true,
  };
}

function checkConsistent(r: BenchResult, what: string): void {
  assert.ok(r.measured.completed > 0, `${what}: completed ${r.measured.completed}`);
  assert.equal(r.measured.failed, 0, `${what}: failed (${r.errors.join('; ')})`);
  assert.ok(r.measured.sent >= r.measured.completed, `${what}: sent ${r.measured.sent} < completed ${r.measured.completed}`);
  // Closed loop: whatever was sent in the window was also done in it.
  assert.equal(r.measured.sent, r.measured.completed, `${what}: sent vs completed`);
  assert.equal(r.latencyMicros.count, r.measured.completed, `${what}: one latency per message`);
  assert.ok(r.latencyMicros.min > 0 && r.latencyMicros.p50 <= r.latencyMicros.p99 && r.latencyMicros.p99 <= r.latencyMicros.max, `${what}: percentiles`);
  assert.ok(Math.abs(r.measured.messagesPerSecond - r.measured.completed / r.measured.seconds) < 1e-6 * r.measured.messagesPerSecond, `${what}: rate`);
  assert.ok(r.batches.count > 0 && r.batches.meanRecords >= 1, `${what}: batches`);
  assert.ok(r.shards.reduce((n, s) => n + s.messages, 0) > 0, `${what}: shard figures`);
  assert.ok(r.verify && r.verify.checked > 0, `${what}: verified`);
  assert.equal(r.verify!.mismatches, 0, `${what}: ${r.verify!.first.join('; ')}`);
}

for (const backend of ['cpu', 'webgpu'] as const) {
  test(`ringshard bench: every mode of every built-in kernel completes and agrees with itself (${backend})`, { timeout: 180_000 }, async (t) => {
    if (backend === 'webgpu' && !(await gpuOrSkip())) {
      t.skip(NO_GPU);
      return;
    }
    for (const kernel of KERNEL_NAMES) {
      for (const mode of MODES) checkConsistent(await runBench(options(kernel, mode, backend)), `${kernel} ${mode}`);
    }
  });
}

test("ringshard bench --gpu null: Dawn's null GPU runs the host path and counts every settled message", { timeout: 120_000 }, async () => {
  for (const mode of ['tell', 'askMany'] as const) {
    const r = await runBench({ ...options('counter', mode, 'webgpu'), verify: false, gpu: 'null' });
    assert.equal(r.gpu, 'null');
    assert.match(String(r.cluster.adapter), /null/i, 'the adapter is Dawn\'s null backend');
    const settled = r.measured.completed + r.measured.failed;
    assert.ok(settled > 0, `${mode}: settled ${settled}`);
    assert.ok(Math.abs(r.measured.messagesPerSecond - settled / r.measured.seconds) < 1e-6 * r.measured.messagesPerSecond, `${mode}: the rate counts settled messages`);
    assert.ok(r.batches.count > 0, `${mode}: batches went through the null GPU`);
  }
});
