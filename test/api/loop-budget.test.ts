/**
 * A handler that never returns fails only its own message: every loop of kernel code
 * counts against a per-message budget (options.maxLoopIterations), and a message that
 * spends it fails with ERR_RINGSHARD_BUDGET, its state changes undone, while the rest of
 * the batch, other actors and shutdown go on.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, counter } from '../../src/index.ts';
import { meterLoops, LOOP_CHECK } from '../../src/kernels/loop-budget.ts';
import { gpuTest } from '../helpers/gpu.ts';
import { spin } from '../helpers/kernels.ts';

test('meterLoops puts a budget check at the top of every loop body, on the same line', () => {
  const code = [
    'fn f(n: u32) -> u32 {',
    '  var s = 0u; // a loop { in a comment } is not a loop',
    '  for (var i = 0u; i < n; i++) { s += i; }',
    '  while s > 10u && (s % 2u) == 0u',
    '  {',
    '    s /= 2u;',
    '    loop { if (s == 0u) { break; } s -= 1u; continuing { break if s == 3u; } }',
    '  }',
    '  let format = 1u; let forest = loops(2u);',
    '  return s;',
    '}',
  ].join('\n');
  const metered = meterLoops(code);
  assert.equal(metered.split('\n').length, code.split('\n').length, 'line numbers stay');
  assert.equal(metered.split(LOOP_CHECK).length - 1, 3, 'three loops, three checks');
  assert.match(metered, /for \(var i = 0u; i < n; i\+\+\) \{ if \(rs_loop_tick\(\)\) \{ break; \} s \+= i; \}/);
  assert.match(metered, /^  \{ if \(rs_loop_tick\(\)\) \{ break; \}$/m, 'while: its body brace on its own line');
  assert.match(metered, /loop \{ if \(rs_loop_tick\(\)\) \{ break; \} if \(s == 0u\)/);
  assert.match(metered, /continuing \{ break if s == 3u; \}/, 'continuing blocks are left alone');
  assert.match(metered, /a loop \{ in a comment \} is not a loop/, 'comments are left alone');
  assert.match(metered, /let format = 1u; let forest = loops\(2u\);/, 'identifiers are not keywords');
});

gpuTest('a handler looping 2^31 times fails with ERR_RINGSHARD_BUDGET, its state untouched; other actors and the rest of the batch are served', async () => {
  const cluster = await Cluster.start({ kernels: [spin, counter], backend: 'webgpu', shards: 1, logger: false, askTimeoutMs: 20_000, maxLoopIterations: 100_000 });
  try {
    const a = cluster.actor(spin, 'a');
    const other = cluster.actor(counter, 'c');
    assert.deepEqual(await a.ask({ y: 5 }), { n: 1, i: 5 });
    // In one batch: a message that spends the budget between two that do not.
    const before = a.ask({ y: 7 });
    const hang = a.ask({ y: 2 ** 31 });
    const after = a.ask({ y: 99_999 });
    const meanwhile = other.ask({ add: 3 });
    assert.deepEqual(await before, { n: 2, i: 7 });
    await assert.rejects(hang, (err: any) => err.code === 'ERR_RINGSHARD_BUDGET' && /ran out of loop iterations \(options.maxLoopIterations\)/.test(err.message));
    assert.deepEqual(await after, { n: 3, i: 99_999 }, 'the failed message changed nothing');
    assert.deepEqual(await meanwhile, { total: 3, count: 1 });
    assert.deepEqual(await a.snapshot(), { n: 3, last: 99_999 });
    // Just within the budget (one check per iteration, the last one the break) is fine,
    // and the budget is per message, not per batch.
    assert.deepEqual(await a.askMany([{ y: 99_999 }, { y: 99_999 }]), [{ n: 4, i: 99_999 }, { n: 5, i: 99_999 }]);
    // The failure shows in the metrics as an error of that kernel.
    const metric = cluster.registry.getSingleMetric('ringshard_messages_total') as unknown as { get(): Promise<{ values: Array<{ labels: Record<string, string>; value: number }> }> };
    const errors = (await metric.get()).values.find((v) => v.labels.kernel === 'spin' && v.labels.status === 'error');
    assert.equal(errors?.value, 1);
  } finally {
    await cluster.shutdown();
  }
});

gpuTest('with the default budget, a process whose handler loops 2^31 times shuts down and exits 0', async () => {
  const script = `
    import { Cluster } from ${JSON.stringify(new URL('../../src/index.ts', import.meta.url).href)};
    import { spin } from ${JSON.stringify(new URL('../helpers/kernels.ts', import.meta.url).href)};
    const cluster = await Cluster.start({ kernels: [spin], backend: 'webgpu', shards: 1, logger: false, askTimeoutMs: 60000 });
    const a = cluster.actor(spin, 'a');
    const r = await a.ask({ y: 2 ** 31 }).then(() => 'resolved', (e) => e.code);
    console.log(r, JSON.stringify(await a.ask({ y: 3 })));
    await cluster.shutdown();
  `;
  const dir = mkdtempSync(join(tmpdir(), 'ringshard-spin-'));
  const file = join(dir, 'spin.mts');
  writeFileSync(file, script);
  const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: fileURLToPath(new URL('../..', import.meta.url)), env: { ...process.env, NODE_TEST_CONTEXT: '' } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  rmSync(dir, { recursive: true, force: true });
  assert.equal(code, 0, out);
  assert.match(out, /ERR_RINGSHARD_BUDGET \{"n":1,"i":3\}/);
});

test('maxLoopIterations is checked: an integer from 1 to 2^31 - 1', async () => {
  for (const bad of [0, -1, 1.5, 2 ** 31, 'many']) {
    await assert.rejects(
      Cluster.start({ kernels: [counter], backend: 'cpu', maxLoopIterations: bad as number, logger: false }),
      (err: any) => err.code === 'ERR_RINGSHARD_INVALID_OPTION' && /options.maxLoopIterations must be an integer from 1 to 2147483647/.test(err.message),
    );
  }
});
