/**
 * `ringshard bench`: starts a cluster, drives it with the load generator, and reports
 * throughput, latency percentiles (HDR histogram) and batching, as a table or as JSON
 * (schema "ringshard-bench/1", documented in docs/load-testing.md).
 */
import { Cluster } from '../api/cluster.ts';
import { BENCH_USAGE, parseBenchOptions, type BenchOptions } from './bench-options.ts';
import { clusterFigures, figuresBetween } from '../load/cluster-stats.ts';
import { LoadGenerator } from './load-generator.ts';
import { warmPipelines } from './warm-pipelines.ts';
import { ProgressLine, formatMicros, formatRate } from './progress.ts';
import { BUILTIN_KERNELS } from './workloads.ts';
import { loadCommand, wantsLoadTest } from './load-command.ts';

export const BENCH_SCHEMA = 'ringshard-bench/1';

export async function benchCommand(argv: readonly string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const options = parseBenchOptions(argv);
  if (options === 'help') {
    out.write(BENCH_USAGE);
    return 0;
  }
  if (wantsLoadTest(options)) return loadCommand(options, out);
  const result = await runBench(options);
  if (options.json) out.write(`${JSON.stringify(result, null, 2)}\n`);
  else out.write(formatBench(result));
  return result.verify && result.verify.mismatches > 0 ? 1 : 0;
}

export type BenchResult = Awaited<ReturnType<typeof runBench>>;

export async function runBench(options: BenchOptions) {
  const kernel = BUILTIN_KERNELS[options.kernel];
  const nullGpu = options.gpu === 'null';
  const cluster = await Cluster.start({
    kernels: [kernel],
    shards: options.shards,
    backend: nullGpu ? 'webgpu' : options.backend,
    ...(nullGpu ? { dawnFlags: ['backend=null'] } : {}),
    logger: false,
    ...(options.metricsPort !== undefined ? { metrics: { port: options.metricsPort } } : {}),
  });
  try {
    // Nothing is measured before every pipeline has run once (a cold shader cache makes
    // the first dispatch of a kernel take up to a second on llvmpipe).
    await warmPipelines(cluster, [kernel], cluster.info().shards.length, nullGpu);
    const info = cluster.info();
    const adapter = info.shards[0]?.adapter;
    const progress = new ProgressLine(process.stderr, `${options.kernel} ${options.mode}: `);
    if (cluster.metricsUrl) process.stderr.write(`metrics: ${cluster.metricsUrl}\n`);
    const load = new LoadGenerator(cluster, {
      kernel,
      mode: options.mode,
      actors: options.actors,
      batch: options.batch,
      rate: options.rate,
      concurrency: options.concurrency,
      durationSeconds: options.durationSeconds,
      warmupSeconds: options.warmupSeconds,
      verify: options.verify,
    });
    let before = await clusterFigures(cluster);
    let measuring = false;
    const run = await load.run((p) => {
      if (p.phase === 'measure' && !measuring) {
        measuring = true;
        // Batching figures cover the measured window only.
        void clusterFigures(cluster).then((f) => (before = f));
      }
      progress.update(p);
    });
    progress.done();
    const figures = figuresBetween(before, await clusterFigures(cluster));
    // Tells have no replies: with --verify every actor's final state is checked instead.
    if (options.verify && options.mode === 'tell') await load.verifyStates();
    const checked = load.problems;
    const latency = run.latency.summary();
    return {
      schema: BENCH_SCHEMA,
      date: new Date().toISOString(),
      node: process.version,
      options: {
        kernel: options.kernel,
        mode: options.mode,
        actors: options.actors,
        batch: options.batch,
        rate: options.rate ?? null,
        concurrency: options.rate === undefined ? options.concurrency : null,
        durationSeconds: options.durationSeconds,
        warmupSeconds: options.warmupSeconds,
      },
      cluster: {
        backend: info.backend,
        adapter: adapter ? adapter.device || adapter.description : null,
        software: adapter?.software ?? null,
        shards: info.shards.length,
      },
      // On the null GPU statuses are garbage: every settled message counts, failed or not.
      gpu: nullGpu ? 'null' : 'real',
      measured: {
        seconds: run.seconds,
        sent: run.sent,
        completed: run.completed,
        failed: run.failed,
        messagesPerSecond: (nullGpu ? run.completed + run.failed : run.completed) / run.seconds,
      },
      latencyMicros: {
        count: latency.count,
        min: latency.minUs,
        mean: latency.meanUs,
        p50: latency.p50Us,
        p90: latency.p90Us,
        p99: latency.p99Us,
        p999: latency.p999Us,
        max: latency.maxUs,
      },
      batches: { count: figures.batches, meanRecords: figures.meanBatchRecords },
      shards: figures.shards,
      verify: options.verify ? { checked: checked.checked, mismatches: checked.mismatchCount, first: [...checked.mismatches] } : null,
      errors: nullGpu ? [] : run.errors,
    };
  } finally {
    await cluster.shutdown();
  }
}

export function formatBench(r: BenchResult): string {
  const lines = [
    '',
    `ringshard bench: ${r.options.kernel} ${r.options.mode}, ${r.options.actors} actors, ${r.options.rate !== null ? `open loop at ${formatRate(r.options.rate)}` : `closed loop, ${r.options.concurrency} in flight`}`,
    `cluster: ${r.cluster.backend}${r.cluster.adapter ? ` on ${r.cluster.adapter}${r.cluster.software ? ' (software)' : ''}` : ''}, ${r.cluster.shards} shard(s)`,
    '',
    ...(r.gpu === 'null'
      ? [
          "  null GPU     Dawn's backend=null: every WebGPU call made, no shader run, replies not computed;",
          '               every settled message is counted (failed ones too): this measures the host path only',
        ]
      : []),
    r.gpu === 'null'
      ? `  messages     ${(r.measured.completed + r.measured.failed).toLocaleString('en-US')} settled in ${r.measured.seconds.toFixed(1)} s`
      : `  messages     ${r.measured.completed.toLocaleString('en-US')} in ${r.measured.seconds.toFixed(1)} s (${r.measured.failed} failed)`,
    `  throughput   ${formatRate(r.measured.messagesPerSecond)}`,
    `  latency      p50 ${formatMicros(r.latencyMicros.p50)}  p90 ${formatMicros(r.latencyMicros.p90)}  p99 ${formatMicros(r.latencyMicros.p99)}  p99.9 ${formatMicros(r.latencyMicros.p999)}  max ${formatMicros(r.latencyMicros.max)}`,
    `  batches      ${r.batches.count.toLocaleString('en-US')}, ${r.batches.meanRecords.toFixed(1)} records on average`,
    ...r.shards.map((s) => `  shard ${s.index}      ${(s.share * 100).toFixed(1)}% of messages`),
  ];
  if (r.verify) lines.push(`  verified     ${r.verify.checked.toLocaleString('en-US')} replies, ${r.verify.mismatches} mismatches`, ...r.verify.first.map((m) => `    ${m}`));
  if (r.errors.length > 0) lines.push('  errors:', ...r.errors.slice(0, 5).map((e) => `    ${e}`));
  return `${lines.join('\n')}\n`;
}
