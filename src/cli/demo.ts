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
import { clusterFigures, figuresBetween } from './cluster-stats.ts';
import { LatencyRecorder } from './latency.ts';
import { LoadGenerator, type LoadPlan, type LoadResult, type Progress } from './load-generator.ts';
import { ProgressLine, formatMicros, formatRate } from './progress.ts';

const DEMO_USAGE = `Usage: ringshard demo [--seconds <s>] [--shards <n|auto>] [--backend auto|webgpu|cpu] [--metrics-port <port>]

A short mixed load over thousands of actors of the built-in kernels (counter, stats, echo),
every reply and final state checked against the TS references. Exit code 0 only if all match.
  --seconds <s>          measured time (default 15)
  --shards <n|auto>      shards (default 2)
  --backend <b>          auto | webgpu | cpu (default auto)
  --metrics-port <port>  where to serve /metrics (default 9464; 0 picks a free port)
`;

interface DemoOptions {
  readonly seconds: number;
  readonly shards: number | 'auto';
  readonly backend: 'auto' | 'webgpu' | 'cpu';
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

export async function demoCommand(argv: readonly string[]): Promise<number> {
  const options = parseDemoOptions(argv);
  if (options === 'help') {
    process.stdout.write(DEMO_USAGE);
    return 0;
  }
  const print = (line = '') => process.stdout.write(`${line}\n`);
  print('ringshard demo: persistent GPU actors fed through SharedArrayBuffer rings');
  const cluster = await startCluster(options);
  try {
    print(`backend: ${describeBackend(cluster)}`);
    print(`shards:  ${cluster.info().shards.length} (one worker thread and GPU device each)`);
    print(`metrics: ${cluster.metricsUrl} (Prometheus text or OpenMetrics)`);
    print();
    const base = { durationSeconds: options.seconds, warmupSeconds: 1, verify: true } as const;
    const plans: Array<LoadPlan & { label: string }> = [
      { ...base, label: 'counter askMany(64)', kernel: counter, mode: 'askMany', actors: 2000, keyPrefix: 'user-', batch: 64, concurrency: 16, seed: 1 },
      // Open loop at a fixed rate: the tells share the rings with the asks, and an
      // unthrottled flood would only show head-of-line waiting.
      { ...base, label: 'counter tell (1 M/s)', kernel: counter, mode: 'tell', actors: 1000, keyPrefix: 'page-', batch: 256, concurrency: 1, rate: 1_000_000, seed: 2 },
      { ...base, label: 'stats ask', kernel: stats, mode: 'ask', actors: 2000, keyPrefix: 'sensor-', batch: 1, concurrency: 64, seed: 3 },
      { ...base, label: 'echo askMany(16)', kernel: echo, mode: 'askMany', actors: 1000, keyPrefix: 'session-', batch: 16, concurrency: 8, seed: 4 },
    ];
    const actors = plans.reduce((n, p) => n + p.actors, 0);
    print(`load:    ${actors.toLocaleString('en-US')} actors, ${plans.map((p) => p.label).join(', ')}, ${options.seconds}s after a 1s warm-up`);
    const before = await clusterFigures(cluster);
    const generators = plans.map((plan) => new LoadGenerator(cluster, plan));
    const progress = new ProgressLine(process.stderr, 'demo: ');
    const latest: Progress[] = [];
    const emit = () =>
      progress.update({
        phase: latest.every((p) => p.phase === 'measure') ? 'measure' : 'warmup',
        elapsedSeconds: Math.max(...latest.map((p) => p.elapsedSeconds)),
        completed: latest.reduce((n, p) => n + p.completed, 0),
        messagesPerSecond: latest.reduce((n, p) => n + p.messagesPerSecond, 0),
        p99Us: Math.max(...latest.map((p) => p.p99Us)),
      });
    const results: LoadResult[] = await Promise.all(
      generators.map((g, i) =>
        g.run((p) => {
          latest[i] = p;
          if (i === 0 && latest.length === generators.length) emit();
        }),
      ),
    );
    progress.done();
    const figures = figuresBetween(before, await clusterFigures(cluster));
    // Tells have no replies: every actor's final state is read back and checked too.
    const statesChecked = (await Promise.all(generators.map((g) => g.verifyStates()))).reduce((a, b) => a + b, 0);
    return report(cluster, plans, generators, results, figures, statesChecked, print);
  } finally {
    await cluster.shutdown();
  }
}

function report(
  cluster: Cluster,
  plans: ReadonlyArray<{ label: string }>,
  generators: LoadGenerator[],
  results: LoadResult[],
  figures: Awaited<ReturnType<typeof clusterFigures>>,
  statesChecked: number,
  print: (line?: string) => void,
): number {
  const total = new LatencyRecorder();
  const rows = results.map((r, i) => {
    total.add(r.latency);
    const l = r.latency.summary();
    return [plans[i]!.label, r.completed.toLocaleString('en-US'), formatRate(r.completed / r.seconds), formatMicros(l.p50Us), formatMicros(l.p90Us), formatMicros(l.p99Us), formatMicros(l.p999Us)];
  });
  const seconds = Math.max(...results.map((r) => r.seconds));
  const completed = results.reduce((n, r) => n + r.completed, 0);
  const t = total.summary();
  rows.push(['all', completed.toLocaleString('en-US'), formatRate(completed / seconds), formatMicros(t.p50Us), formatMicros(t.p90Us), formatMicros(t.p99Us), formatMicros(t.p999Us)]);
  const header = ['workload', 'messages', 'msgs/s', 'p50', 'p90', 'p99', 'p99.9'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  print();
  print(line(header));
  print(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) print(line(row));
  print();
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
  const ok = mismatches === 0 && failed === 0;
  print(ok ? 'result:   OK, every reply checked out' : 'result:   FAILED');
  return ok ? 0 : 1;
}
