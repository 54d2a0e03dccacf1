/**
 * `npm run demo` / `ringshard demo`: the main job. Starts a cluster on the best backend
 * there is (a real GPU, else Mesa's software Vulkan, else the CPU references, and says
 * which), serves /metrics, runs a short mixed load over thousands of actors of the
 * built-in kernels with a live progress line, checks every reply and every final state
 * against the TS references, and prints a results table. Exit code 0 only when all of
 * it checked out.
 */
import { parseArgs } from 'node:util';
import { Cluster } from '../api/cluster.ts';
import { counter } from '../../shaders/builtins/counter.ts';
import { echo } from '../../shaders/builtins/echo.ts';
import { stats } from '../../shaders/builtins/stats.ts';
import { OptionError } from './bench-options.ts';
import { clusterFigures, figuresBetween } from '../load/cluster-stats.ts';
import { LatencyRecorder } from '../load/latency.ts';
import { LoadGenerator, type LoadPlan, type LoadResult, type LoadWindow, type Progress } from './load-generator.ts';
import { warmPipelines } from './warm-pipelines.ts';
import { ProgressLine, formatMicros, formatRate } from './progress.ts';

const DEMO_USAGE = `Usage: ringshard demo [--seconds <s>] [--shards <n|auto>] [--backend auto|webgpu|cpu] [--metrics-port <port>]

A short mixed load over thousands of actors of the built-in kernels (counter, stats, echo),
every reply and final state checked against the TS references. Exit code 0 only if all match.
  --seconds <s>          measured time (default 15)
  --shards <n|auto>      shards (default 2)
  --backend <b>          auto | webgpu | cpu (default auto)
  --metrics-port <port>  where to serve /metrics (default 9464; 0 picks a free port)
`;

export interface DemoOptions {
  readonly seconds: number;
  readonly shards: number | 'auto';
  readonly backend: 'auto' | 'webgpu' | 'cpu';
  /** 0 picks a free port. */
  readonly metricsPort: number;
}

function parseDemoOptions(argv: readonly string[]): DemoOptions | 'help' {
  let values;
  try {
    values = parseArgs({
      args: [...argv],
      strict: true,
      options: { seconds: { type: 'string' }, shards: { type: 'string' }, backend: { type: 'string' }, 'metrics-port': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }).values;
  } catch (error) {
    throw new OptionError(`${(error as Error).message} (see ringshard demo --help)`);
  }
  if (values.help) return 'help';
  const seconds = values.seconds === undefined ? 15 : Number(values.seconds);
  if (!(seconds > 0) || !Number.isFinite(seconds)) throw new OptionError(`--seconds must be a number > 0, got '${values.seconds}'`);
  const shards = values.shards === undefined ? 2 : values.shards === 'auto' ? 'auto' : Number(values.shards);
  if (shards !== 'auto' && !(Number.isInteger(shards) && shards >= 1 && shards <= 256)) throw new OptionError(`--shards must be an integer from 1 to 256 or 'auto', got '${values.shards}'`);
  const backend = values.backend ?? 'auto';
  if (backend !== 'auto' && backend !== 'webgpu' && backend !== 'cpu') throw new OptionError(`--backend must be one of auto, webgpu, cpu, got '${backend}'`);
  const metricsPort = values['metrics-port'] === undefined ? 9464 : Number(values['metrics-port']);
  if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535) throw new OptionError(`--metrics-port must be a port from 0 to 65535, got '${values['metrics-port']}'`);
  return { seconds, shards, backend, metricsPort };
}

async function startCluster(options: DemoOptions): Promise<Cluster> {
  const start = (port: number) =>
    Cluster.start({ kernels: [counter, stats, echo], shards: options.shards, backend: options.backend, logger: false, metrics: { port, perActor: 1000 } });
  // The usual port may be taken (another demo, a Prometheus agent): any free one will do.
  return start(options.metricsPort).catch((error: Error) => (options.metricsPort !== 0 && /EADDRINUSE/.test(error.message) ? start(0) : Promise.reject(error)));
}

function describeBackend(cluster: Cluster): string {
  const adapter = cluster.info().shards[0]?.adapter;
  if (cluster.backend === 'cpu') return "CPU: no WebGPU adapter, the kernels' TypeScript references run in the shards";
  if (adapter?.software) return `software Vulkan (${adapter.vendor} ${adapter.device}): no GPU found, Mesa's llvmpipe runs the WGSL on the CPU`;
  return `GPU: ${adapter?.vendor ?? ''} ${adapter?.device || adapter?.description || ''}`.trim();
}

/** The share of the calibrated tell rate the measured open loop runs at. */
const OPEN_LOOP_FRACTION = 0.7;

interface TellRate {
  /** Messages/s the open loop of tells ran at in the measured window. */
  readonly target: number;
  /** What tells sustained in calibration, in a closed loop beside the asks. */
  readonly sustained: number;
  readonly calibrationSeconds: number;
}

export async function demoCommand(argv: readonly string[]): Promise<number> {
  const options = parseDemoOptions(argv);
  if (options === 'help') {
    process.stdout.write(DEMO_USAGE);
    return 0;
  }
  const result = await runDemo(options, (line = '') => process.stdout.write(`${line}\n`));
  return result.ok ? 0 : 1;
}

/** What a demo run measured (bench/throughput.ts compares it with single-kernel runs). */
export interface DemoResult {
  /** Every reply and final state matched the references, and nothing failed. */
  readonly ok: boolean;
  readonly shards: number;
  /** All messages of the mix per second, in the measured window. */
  readonly messagesPerSecond: number;
  readonly tells: TellRate & { readonly achieved: number };
  readonly askP50Us: number;
  readonly askP99Us: number;
}

/** Runs the demo, printing as it goes; `options.seconds` is the measured window. */
export async function runDemo(options: DemoOptions, print: (line?: string) => void): Promise<DemoResult> {
  print('ringshard demo: persistent GPU actors fed through SharedArrayBuffer rings');
  const kernels = [counter, stats, echo];
  const cluster = await startCluster(options);
  try {
    const shards = cluster.info().shards.length;
    print(`backend: ${describeBackend(cluster)}`);
    print(`shards:  ${shards} (one worker thread and GPU device each)`);
    print(`metrics: ${cluster.metricsUrl} (Prometheus text or OpenMetrics)`);
    const warmSeconds = await warmPipelines(cluster, kernels, shards);
    print(`warm:    ${kernels.length} kernels ran once on each shard in ${warmSeconds.toFixed(1)}s (pipelines compiled; nothing measured yet)`);
    print();
    const base = { durationSeconds: options.seconds, warmupSeconds: 0.5, verify: true } as const;
    const tellPlan: LoadPlan & { label: string } = { ...base, label: 'counter tell (open loop)', kernel: counter, mode: 'tell', actors: 1000, keyPrefix: 'page-', batch: 256, concurrency: 4, seed: 2 };
    const plans: Array<LoadPlan & { label: string }> = [
      { ...base, label: 'counter askMany(64)', kernel: counter, mode: 'askMany', actors: 2000, keyPrefix: 'user-', batch: 64, concurrency: 16, seed: 1 },
      tellPlan,
      { ...base, label: 'stats ask', kernel: stats, mode: 'ask', actors: 2000, keyPrefix: 'sensor-', batch: 1, concurrency: 64, seed: 3 },
      { ...base, label: 'echo askMany(16)', kernel: echo, mode: 'askMany', actors: 1000, keyPrefix: 'session-', batch: 16, concurrency: 8, seed: 4 },
    ];
    const tellIndex = plans.indexOf(tellPlan);
    const actors = plans.reduce((n, p) => n + p.actors, 0);
    print(`load:    ${actors.toLocaleString('en-US')} actors: ${plans.map((p) => p.label).join(', ')}`);
    const generators = plans.map((plan) => new LoadGenerator(cluster, plan));
    const progress = new ProgressLine(process.stderr, 'demo: ');

    // Calibration: everything in closed loops, so the tells find what this machine
    // sustains beside the asks; the measured window then sends tells on a fixed
    // schedule below that, so queues stay short and the asks' latency stays honest.
    const calibrationSeconds = Math.min(3, Math.max(1, options.seconds / 4));
    progress.label = 'demo calibrate: ';
    const calibration = await runAll(generators, progress, () => ({ warmupSeconds: 0.5, durationSeconds: calibrationSeconds, rate: null }));
    const sustained = calibration[tellIndex]!.completed / calibration[tellIndex]!.seconds;
    const tellRate: TellRate = { target: Math.max(1000, Math.round(sustained * OPEN_LOOP_FRACTION)), sustained, calibrationSeconds };
    print(
      `rate:    tells in an open loop at ${formatRate(tellRate.target)}: ${Math.round(OPEN_LOOP_FRACTION * 100)}% of the ${formatRate(sustained)} they sustained ` +
        `beside the asks in a ${calibrationSeconds.toFixed(1)}s closed-loop calibration; asks stay closed loops`,
    );
    print(`measure: ${options.seconds}s after a 0.5s settle`);
    const before = await clusterFigures(cluster);
    progress.label = 'demo: ';
    const results = await runAll(generators, progress, (i) => (i === tellIndex ? { rate: tellRate.target } : {}));
    const figures = figuresBetween(before, await clusterFigures(cluster));
    // Tells have no replies: every actor's final state is read back and checked too.
    const statesChecked = (await Promise.all(generators.map((g) => g.verifyStates()))).reduce((a, b) => a + b, 0);
    return report(cluster, plans, generators, results, figures, statesChecked, { index: tellIndex, rate: tellRate }, print);
  } finally {
    await cluster.shutdown();
  }
}

/** Runs every generator at once (each with its window), with one combined progress line. */
async function runAll(generators: LoadGenerator[], progress: ProgressLine, windowFor: (i: number) => LoadWindow): Promise<LoadResult[]> {
  const latest: Progress[] = [];
  const emit = () =>
    progress.update({
      phase: latest.every((p) => p.phase === 'measure') ? 'measure' : 'warmup',
      elapsedSeconds: Math.max(...latest.map((p) => p.elapsedSeconds)),
      completed: latest.reduce((n, p) => n + p.completed, 0),
      messagesPerSecond: latest.reduce((n, p) => n + p.messagesPerSecond, 0),
      p99Us: Math.max(...latest.map((p) => p.p99Us)),
    });
  const results = await Promise.all(
    generators.map((g, i) =>
      g.run((p) => {
        latest[i] = p;
        if (i === 0 && latest.length === generators.length) emit();
      }, windowFor(i)),
    ),
  );
  progress.done();
  return results;
}

function report(
  cluster: Cluster,
  plans: ReadonlyArray<{ label: string; mode: LoadPlan['mode'] }>,
  generators: LoadGenerator[],
  results: LoadResult[],
  figures: Awaited<ReturnType<typeof clusterFigures>>,
  statesChecked: number,
  tells: { readonly index: number; readonly rate: TellRate },
  print: (line?: string) => void,
): DemoResult {
  const total = new LatencyRecorder();
  const asks = new LatencyRecorder();
  const row = (label: string, completed: number, seconds: number, l: ReturnType<LatencyRecorder['summary']>) => [
    label, completed.toLocaleString('en-US'), formatRate(completed / seconds), formatMicros(l.p50Us), formatMicros(l.p90Us), formatMicros(l.p99Us), formatMicros(l.p999Us),
  ];
  const rows = results.map((r, i) => {
    total.add(r.latency);
    if (plans[i]!.mode !== 'tell') asks.add(r.latency);
    return row(plans[i]!.label, r.completed, r.seconds, r.latency.summary());
  });
  const seconds = Math.max(...results.map((r) => r.seconds));
  const completed = results.reduce((n, r) => n + r.completed, 0);
  const askCompleted = results.reduce((n, r, i) => n + (plans[i]!.mode === 'tell' ? 0 : r.completed), 0);
  rows.push(row('all asks', askCompleted, seconds, asks.summary()));
  rows.push(row('all', completed, seconds, total.summary()));
  const header = ['workload', 'messages', 'msgs/s', 'p50', 'p90', 'p99', 'p99.9'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  print();
  print(line(header));
  print(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) print(line(r));
  print();
  const told = results[tells.index]!;
  print(
    `tells:    ${formatRate(told.completed / told.seconds)} against a target of ${formatRate(tells.rate.target)} ` +
      `(${Math.round(OPEN_LOOP_FRACTION * 100)}% of ${formatRate(tells.rate.sustained)} sustained in calibration); latency is from each tell's scheduled time into the ring`,
  );
  print(`asks:     p99 ${formatMicros(asks.summary().p99Us)} over ${askCompleted.toLocaleString('en-US')} asked messages, send to reply`);
  print(`batches:  ${figures.batches.toLocaleString('en-US')}, ${figures.meanBatchRecords.toFixed(1)} records per dispatch on average`);
  print(`shards:   ${figures.shards.map((s) => `shard ${s.index} ${(s.share * 100).toFixed(1)}%`).join(', ')} of messages`);
  print(`metrics:  ${cluster.metricsUrl}`);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  const problems = generators.map((g) => g.problems);
  const checked = problems.reduce((n, p) => n + p.checked, 0);
  const mismatches = problems.reduce((n, p) => n + p.mismatchCount, 0);
  print(`checked:  ${checked.toLocaleString('en-US')} replies and final states (${statesChecked.toLocaleString('en-US')} actors) against the TS references: ${mismatches} mismatches, ${failed} failed messages`);
  for (const p of problems) for (const m of p.mismatches.slice(0, 5)) print(`  mismatch: ${m}`);
  for (const r of results) for (const e of r.errors.slice(0, 3)) print(`  error: ${e}`);
  const ok = mismatches === 0 && failed === 0 && completed > 0;
  print(ok ? 'result:   OK, every reply checked out' : 'result:   FAILED');
  const askSummary = asks.summary();
  return {
    ok,
    shards: cluster.info().shards.length,
    messagesPerSecond: completed / seconds,
    tells: { ...tells.rate, achieved: told.completed / told.seconds },
    askP50Us: askSummary.p50Us,
    askP99Us: askSummary.p99Us,
  };
}
