import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OptionError, parseBenchOptions } from '../../src/cli/bench-options.ts';

test('defaults', () => {
  const o = parseBenchOptions([]);
  assert.notEqual(o, 'help');
  assert.deepEqual(o, {
    kernel: 'counter', mode: 'ask', actors: 1000, batch: 64, rate: undefined, concurrency: 64, durationSeconds: 10,
    warmupSeconds: 2, shards: 'auto', backend: 'auto', metricsPort: undefined, verify: false, json: false, gpu: 'real',
    actorsGiven: false, thresholds: [], seed: 1,
  });
});

test('every option is read', () => {
  const o = parseBenchOptions(['--kernel', 'stats', '--mode', 'askMany', '--actors', '50', '--batch', '8', '--rate', '2500.5', '--duration', '1.5',
    '--warmup', '0', '--shards', '3', '--backend', 'cpu', '--metrics-port', '0', '--verify', '--json', '--gpu', 'real']);
  assert.deepEqual(o, {
    kernel: 'stats', mode: 'askMany', actors: 50, batch: 8, rate: 2500.5, concurrency: 64, durationSeconds: 1.5,
    warmupSeconds: 0, shards: 3, backend: 'cpu', metricsPort: 0, verify: true, json: true, gpu: 'real',
    actorsGiven: true, thresholds: [], seed: 1,
  });
  assert.equal((parseBenchOptions(['--gpu', 'null']) as { gpu: string }).gpu, 'null');
  assert.equal(parseBenchOptions(['-h']), 'help');
});

test('the load-test options: a kernel module, a mode mix, stages, thresholds, a report, a seed', () => {
  const o = parseBenchOptions(['--kernel', './k.mjs', '--mode', 'ask:3,tell:1', '--stages', '1000:5,50000:10.5', '--threshold', 'p99<20ms', '--threshold', 'failed==0', '--report', 'out.html', '--seed', '9']);
  assert.notEqual(o, 'help');
  if (o === 'help') return;
  assert.equal(o.kernelModule, './k.mjs');
  assert.deepEqual(o.modeMix, { ask: 3, tell: 1 });
  assert.deepEqual(o.stages, [{ rate: 1000, seconds: 5 }, { rate: 50000, seconds: 10.5 }]);
  assert.deepEqual(o.thresholds, ['p99<20ms', 'failed==0']);
  assert.equal(o.report, 'out.html');
  assert.equal(o.seed, 9);
});

const bad: Array<[string[], RegExp]> = [
  [['--kernel', 'sum'], /--kernel must be one of counter, echo, stats or a module path like \.\/my-kernel\.mjs, got 'sum'/],
  [['--stages', '10:0'], /--stages must be rate:seconds pairs/],
  [['--stages', '10:1', '--duration', '3'], /--stages sets the scenario and its duration/],
  [['--threshold', 'p99 below 20'], /--threshold: threshold "p99 below 20" does not parse/],
  [['--threshold', 'failed==0ms'], /'failed' takes no unit/],
  [['--mode', 'ask:1,push:2'], /--mode must be tell, ask, askMany or a mix/],
  [['--mode', 'ask:0'], /a mix needs a weight > 0/],
  [['--seed', '-1'], /Option '--seed' argument is ambiguous|--seed must be an integer/],
  [['--mode', 'push'], /--mode must be one of tell, ask, askMany, got 'push'/],
  [['--actors', '0'], /--actors must be an integer from 1 to \d+, got '0'/],
  [['--actors', '1.5'], /--actors must be an integer .* got '1.5'/],
  [['--rate=-3'], /--rate must be a number > 0, got '-3'/],
  [['--rate', '-3'], /Option '--rate' argument is ambiguous/],
  [['--rate', 'fast'], /--rate must be a number > 0, got 'fast'/],
  [['--duration', '0'], /--duration must be a number > 0, got '0'/],
  [['--warmup=-1'], /--warmup must be a number >= 0, got '-1'/],
  [['--shards', 'many'], /--shards must be an integer from 1 to 256, got 'many'/],
  [['--backend', 'gpu'], /--backend must be one of auto, webgpu, cpu, got 'gpu'/],
  [['--metrics-port', '70000'], /--metrics-port must be a port from 0 to 65535, got '70000'/],
  [['--rate', '100', '--concurrency', '4'], /--rate \(open loop\) and --concurrency \(closed loop\) cannot be used together/],
  [['--gpu', 'fake'], /--gpu must be one of real, null, got 'fake'/],
  [['--gpu', 'null', '--verify'], /--gpu null computes no replies: it cannot be used with --verify/],
  [['--gpu', 'null', '--backend', 'cpu'], /--gpu null .* cannot be used with --backend cpu/],
  [['--rat', '5'], /Unknown option '--rat'.*see ringshard bench --help/],
  [['extra'], /(Unexpected argument|positional).*'extra'/i],
];
for (const [args, pattern] of bad) {
  test(`rejects ${args.join(' ')}`, () => {
    assert.throws(() => parseBenchOptions(args), (err: unknown) => err instanceof OptionError && pattern.test(err.message));
  });
}
