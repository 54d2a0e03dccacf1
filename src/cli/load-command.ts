/**
 * `ringshard bench` on the loadTest() path: a kernel module of the user's (or a built-in
 * kernel with its workload), stages, thresholds, an HTML report. Exit code 1 when a
 * threshold is broken or a reply differs from the reference, with one line for each.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Cluster } from '../api/cluster.ts';
import type { Kernel } from '../kernels/define-kernel.ts';
import { LoadRng, loadTest, type LoadTestResult } from '../load/load-test.ts';
import { htmlReport } from '../load/html-report.ts';
import { OptionError, type BenchOptions } from './bench-options.ts';
import { formatMicros, formatRate } from './progress.ts';
import { warmPipelines } from './warm-pipelines.ts';
import { BUILTIN_KERNELS, Workload } from './workloads.ts';

export const LOAD_SCHEMA = 'ringshard-load/1';

interface KernelModule {
  readonly kernel: Kernel<any, any, any>;
  readonly message: (i: number, rng: LoadRng) => unknown;
  readonly verify?: boolean;
  readonly actors?: number;
}

/** Loads --kernel's module: it must export `kernel` and `message`. */
async function loadKernelModule(path: string): Promise<KernelModule> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  } catch (error) {
    throw new OptionError(`--kernel '${path}' could not be loaded: ${(error as Error).message}`);
  }
  const kernel = mod.kernel as Kernel<any, any, any> | undefined;
  if (!kernel || typeof kernel !== 'object' || typeof kernel.name !== 'string' || !kernel.codecs) throw new OptionError(`--kernel '${path}' must export \`kernel\` (made with defineKernel)`);
  if (typeof mod.message !== 'function') throw new OptionError(`--kernel '${path}' must export \`message(i, rng)\`, a function that returns message i`);
  if (mod.verify !== undefined && typeof mod.verify !== 'boolean') throw new OptionError(`--kernel '${path}': \`verify\` must be a boolean`);
  if (mod.actors !== undefined && !(Number.isInteger(mod.actors) && (mod.actors as number) > 0)) throw new OptionError(`--kernel '${path}': \`actors\` must be an integer > 0`);
  return { kernel, message: mod.message as KernelModule['message'], ...(mod.verify !== undefined ? { verify: mod.verify as boolean } : {}), ...(mod.actors !== undefined ? { actors: mod.actors as number } : {}) };
}

/** Whether these options need the loadTest path (the others keep `ringshard bench`'s own). */
export function wantsLoadTest(o: BenchOptions): boolean {
  return o.kernelModule !== undefined || o.stages !== undefined || (o.thresholds?.length ?? 0) > 0 || o.report !== undefined || o.modeMix !== undefined;
}

export async function loadCommand(options: BenchOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const module: KernelModule = options.kernelModule !== undefined ? await loadKernelModule(options.kernelModule) : builtin(options);
  const cluster = await Cluster.start({
    kernels: [module.kernel],
    shards: options.shards,
    backend: options.backend,
    logger: false,
    ...(options.metricsPort !== undefined ? { metrics: { port: options.metricsPort } } : {}),
  });
  let result: LoadTestResult;
  try {
    // Its own generator's first message (a throwaway rng: the run's stream starts afresh).
    await warmPipelines(cluster, [module.kernel], cluster.info().shards.length, false, () => module.message(0, new LoadRng(1)));
    result = await loadTest({
      cluster,
      kernel: module.kernel,
      message: module.message as never,
      actors: module.actors !== undefined && options.actorsGiven !== true ? module.actors : options.actors,
      mode: options.modeMix ?? options.mode,
      batch: options.batch,
      seed: options.seed ?? 1,
      thresholds: options.thresholds ?? [],
      warmupSeconds: options.warmupSeconds,
      ...(options.verify ? { verify: true } : module.verify !== undefined ? { verify: module.verify } : {}),
      ...(options.stages ? { stages: options.stages } : options.rate !== undefined ? { rate: options.rate, seconds: options.durationSeconds } : { concurrency: options.concurrency, seconds: options.durationSeconds }),
      onProgress: (p) => err.write(`${p.phase === 'warmup' ? 'warm-up' : 'measuring'} ${p.second}s: ${formatRate(p.messagesPerSecond)}\n`),
    });
  } finally {
    await cluster.shutdown();
  }
  if (options.report !== undefined) {
    writeFileSync(options.report, htmlReport(result));
    err.write(`report: ${resolve(options.report)}\n`);
  }
  if (options.json) out.write(`${JSON.stringify({ schema: LOAD_SCHEMA, ...result }, null, 2)}\n`);
  else out.write(formatLoad(result));
  for (const t of result.thresholds) if (!t.ok) err.write(`threshold '${t.threshold}' broken: measured ${t.actual}\n`);
  if (result.totals.mismatchCount > 0) err.write(`${result.totals.mismatchCount} replies or states differed from the reference: ${result.totals.mismatches[0]}\n`);
  return result.ok ? 0 : 1;
}

function builtin(options: BenchOptions): KernelModule {
  const kernel = BUILTIN_KERNELS[options.kernel];
  const workload = new Workload(kernel, options.seed ?? 1);
  return { kernel, message: () => workload.message() };
}

export function formatLoad(r: LoadTestResult): string {
  const t = r.totals;
  const o = r.options;
  const scenario = o.scenario === 'closed' ? `closed loop, ${o.concurrency} in flight` : o.scenario === 'rate' ? `open loop at ${formatRate(o.rate!)}` : `stages ${o.stages!.map((s) => `${s.rate}:${s.seconds}`).join(',')}`;
  const lines = [
    '',
    `ringshard bench: ${o.kernel} ${Object.entries(o.mode).map(([k, v]) => (Object.keys(o.mode).length > 1 ? `${k}:${v}` : k)).join(',')}, ${o.actors} actors, ${scenario}`,
    `cluster: ${r.machine.backend}${r.machine.adapter ? ` on ${r.machine.adapter}` : ''}, ${r.machine.shards} shard(s)`,
    '',
    `  messages     ${t.completed.toLocaleString('en-US')} in ${r.seconds.toFixed(1)} s (${t.failed} failed${t.failed > 0 ? `: ${Object.entries(t.failures).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''})`,
    `  throughput   ${formatRate(t.messagesPerSecond)}`,
    `  latency      p50 ${formatMicros(t.latencyUs.p50)}  p90 ${formatMicros(t.latencyUs.p90)}  p99 ${formatMicros(t.latencyUs.p99)}  p99.9 ${formatMicros(t.latencyUs.p999)}  p99.99 ${formatMicros(t.latencyUs.p9999)}  max ${formatMicros(t.latencyUs.max)}`,
    `  CPU          ${t.cpuUsPerMessage.toFixed(1)} us per message (the whole process)`,
    ...(t.batchSize ? [`  batches      ${t.batchSize.batches.toLocaleString('en-US')}, ${t.batchSize.mean.toFixed(1)} records on average`] : []),
    ...t.shards.map((s) => `  shard ${s.shard}      ${(s.share * 100).toFixed(1)}% of messages`),
    ...(o.verify ? [`  verified     ${t.checked.toLocaleString('en-US')} replies and states, ${t.mismatchCount} mismatches`] : []),
    ...r.thresholds.map((x) => `  threshold    ${x.threshold}: ${x.ok ? 'passed' : 'BROKEN'} (${Number(x.actual.toPrecision(4))})`),
  ];
  return `${lines.join('\n')}\n`;
}
