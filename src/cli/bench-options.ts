/**
 * Options of `ringshard bench`, parsed with node:util's parseArgs and checked one by one;
 * a bad option stops the run with a message naming it and the value received.
 */
import { parseArgs } from 'node:util';
import type { Stage } from '../load/schedule.ts';
import { parseThreshold } from '../load/thresholds.ts';

export type BenchMode = 'tell' | 'ask' | 'askMany';
export const KERNEL_NAMES = ['counter', 'echo', 'stats'] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

export interface BenchOptions {
  readonly shards: number | 'auto';
  readonly backend: 'auto' | 'webgpu' | 'cpu';
  readonly kernel: KernelName;
  /** --kernel given a module path (./my-kernel.mjs): it exports `kernel` and `message`. */
  readonly kernelModule?: string;
  readonly mode: BenchMode;
  /** --mode ask:3,tell:1: a weighted mix (the load-test path). */
  readonly modeMix?: Readonly<Partial<Record<BenchMode, number>>>;
  /** --stages 1000:5,50000:10: ramping arrival rates (messages/s : seconds). */
  readonly stages?: readonly Stage[];
  /** --threshold, repeatable: 'p99<20ms', 'failed==0', ... */
  readonly thresholds?: readonly string[];
  /** --report out.html: an HTML report of the run. */
  readonly report?: string;
  /** --seed: the load test's seed. */
  readonly seed?: number;
  /** Whether --actors was given (a kernel module's own `actors` yields to it). */
  readonly actorsGiven?: boolean;
  readonly actors: number;
  /** Messages per askMany (or per tell burst). */
  readonly batch: number;
  /** Open loop: messages per second to send, on a fixed schedule. */
  readonly rate: number | undefined;
  /** Closed loop: requests in flight. */
  readonly concurrency: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly json: boolean;
  readonly metricsPort: number | undefined;
  /** Check every reply (for tells: every actor's final state) against the kernel's TS reference. */
  readonly verify: boolean;
  /**
   * 'null': Dawn's null GPU (dawnFlags backend=null): every WebGPU call is made, no shader
   * runs, so replies are garbage and every settled message is counted, failed or not. A
   * measuring tool for the host path only. @default 'real'
   */
  readonly gpu?: 'real' | 'null';
}

export class OptionError extends Error {
  override name = 'OptionError';
}

export const BENCH_USAGE = `Usage: ringshard bench [options]

Drives a cluster (built-in kernels, or your own) and reports throughput and latency.

  --kernel <name|path>   counter | echo | stats, or a module (./my-kernel.mjs) that
                         exports \`kernel\` (defineKernel) and \`message(i, rng)\`, and
                         optionally \`verify\` (boolean) and \`actors\`  (default counter)
  --mode <mode>          tell | ask | askMany, or a mix: ask:3,tell:1 (default ask)
  --stages <r:s,...>     open loop in stages, each ramping to r msgs/s over s seconds
                         from the rate the stage before ended at: 1000:5,50000:10
  --threshold <expr>     pass/fail, repeatable: 'p99<20ms' 'failed==0' 'rate>=1000'
                         ('failed_rate<0.01', 'mismatches==0'); exit code 1 when broken
  --report <file.html>   write a self-contained HTML report of the run
  --seed <n>             the load test's seed                         (default 1)
  --actors <n>           actors the messages are spread over          (default 1000)
  --batch <n>            messages per askMany, or per tell burst      (default 64)
  --rate <msgs/s>        open loop: send on a fixed schedule; latency is measured from
                         each message's scheduled time (no coordinated omission)
  --concurrency <n>      closed loop: requests in flight               (default 64)
  --duration <seconds>   measured time                                (default 10)
  --warmup <seconds>     unmeasured time before it                    (default 2)
  --shards <n|auto>      shards (worker threads, one GPU device each) (default auto)
  --backend <b>          auto | webgpu | cpu                          (default auto)
  --gpu <g>              real | null: null is Dawn's null GPU (every WebGPU call made,
                         no shader run, replies not computed): measures the host path,
                         counts every settled message; not with --verify or --backend cpu
  --metrics-port <port>  serve /metrics while the run lasts
  --verify               check every reply (tell: every final state) against the TS reference
  --json                 print the result as JSON on stdout (progress goes to stderr)
  -h, --help             this text
`;

function positiveInt(name: string, text: string | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new OptionError(`--${name} must be an integer from 1 to ${max}, got '${text}'`);
  }
  return n;
}

function positiveNumber(name: string, text: string | undefined, fallback: number | undefined, allowZero = false): number | undefined {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
    throw new OptionError(`--${name} must be a number ${allowZero ? '>= 0' : '> 0'}, got '${text}'`);
  }
  return n;
}

function oneOf<T extends string>(name: string, text: string | undefined, fallback: T, allowed: readonly T[]): T {
  if (text === undefined) return fallback;
  if (!allowed.includes(text as T)) throw new OptionError(`--${name} must be one of ${allowed.join(', ')}, got '${text}'`);
  return text as T;
}

/** Parses `ringshard bench` arguments; returns 'help' for -h/--help. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        kernel: { type: 'string' },
        mode: { type: 'string' },
        actors: { type: 'string' },
        batch: { type: 'string' },
        rate: { type: 'string' },
        concurrency: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        shards: { type: 'string' },
        backend: { type: 'string' },
        gpu: { type: 'string' },
        'metrics-port': { type: 'string' },
        verify: { type: 'boolean' },
        json: { type: 'boolean' },
        stages: { type: 'string' },
        threshold: { type: 'string', multiple: true },
        report: { type: 'string' },
        seed: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    // parseArgs says e.g. "Unknown option '--rat'"; keep its words, add where to look.
    throw new OptionError(`${(error as Error).message} (see ringshard bench --help)`);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  if (v.rate !== undefined && v.concurrency !== undefined) {
    throw new OptionError('--rate (open loop) and --concurrency (closed loop) cannot be used together');
  }
  if (v.stages !== undefined && (v.rate !== undefined || v.concurrency !== undefined || v.duration !== undefined)) {
    throw new OptionError('--stages sets the scenario and its duration: not with --rate, --concurrency or --duration');
  }
  const shardsText = v.shards;
  const modeMix = v.mode !== undefined && v.mode.includes(':') ? parseMix(v.mode) : undefined;
  const mode = modeMix ? (Object.keys(modeMix)[0] as BenchMode) : oneOf('mode', v.mode, 'ask', ['tell', 'ask', 'askMany'] as const);
  const kernelText = v.kernel ?? 'counter';
  const kernelModule = KERNEL_NAMES.includes(kernelText as KernelName) ? undefined : kernelText;
  if (kernelModule !== undefined && !/[/\\.]/.test(kernelModule)) throw new OptionError(`--kernel must be one of ${KERNEL_NAMES.join(', ')} or a module path like ./my-kernel.mjs, got '${kernelText}'`);
  const thresholds = v.threshold ?? [];
  for (const t of thresholds) {
    try {
      parseThreshold(t);
    } catch (error) {
      throw new OptionError(`--threshold: ${(error as Error).message}`);
    }
  }
  const verify = v.verify ?? false;
  const gpu = oneOf('gpu', v.gpu, 'real', ['real', 'null'] as const);
  if (gpu === 'null' && verify) throw new OptionError('--gpu null computes no replies: it cannot be used with --verify');
  if (gpu === 'null' && v.backend === 'cpu') throw new OptionError("--gpu null runs the webgpu backend on Dawn's null GPU: it cannot be used with --backend cpu");
  return {
    gpu,
    kernel: kernelModule === undefined ? (kernelText as KernelName) : 'counter',
    ...(kernelModule !== undefined ? { kernelModule } : {}),
    mode,
    ...(modeMix ? { modeMix } : {}),
    ...(v.stages !== undefined ? { stages: parseStages(v.stages) } : {}),
    thresholds,
    ...(v.report !== undefined ? { report: v.report } : {}),
    seed: v.seed === undefined ? 1 : wholeNumber('seed', v.seed, 2 ** 32 - 1, 'an integer'),
    actors: positiveInt('actors', v.actors, 1000, 1 << 24),
    actorsGiven: v.actors !== undefined,
    batch: positiveInt('batch', v.batch, 64, 1 << 16),
    rate: positiveNumber('rate', v.rate, undefined),
    concurrency: positiveInt('concurrency', v.concurrency, 64, 1 << 20),
    durationSeconds: positiveNumber('duration', v.duration, 10)!,
    warmupSeconds: positiveNumber('warmup', v.warmup, 2, true)!,
    shards: shardsText === undefined || shardsText === 'auto' ? 'auto' : positiveInt('shards', shardsText, 1, 256),
    backend: oneOf('backend', v.backend, 'auto', ['auto', 'webgpu', 'cpu'] as const),
    metricsPort: v['metrics-port'] === undefined ? undefined : wholeNumber('metrics-port', v['metrics-port'], 65535, 'a port'),
    verify,
    json: v.json ?? false,
  };
}

/** A whole number from 0 to `max`; `what` names it in the message ('a port', 'an integer'). */
function wholeNumber(name: string, text: string, max: number, what: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > max) throw new OptionError(`--${name} must be ${what} from 0 to ${max}, got '${text}'`);
  return n;
}

/** '1000:5,50000:10' -> [{ rate: 1000, seconds: 5 }, { rate: 50000, seconds: 10 }]. */
export function parseStages(text: string): Stage[] {
  const stages = text.split(',').map((part) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$/.exec(part);
    if (!m || !(Number(m[2]) > 0)) throw new OptionError(`--stages must be rate:seconds pairs separated by commas (1000:5,50000:10), got '${text}'`);
    return { rate: Number(m[1]), seconds: Number(m[2]) };
  });
  return stages;
}

/** 'ask:3,tell:1' -> { ask: 3, tell: 1 }. */
function parseMix(text: string): Partial<Record<BenchMode, number>> {
  const mix: Partial<Record<BenchMode, number>> = {};
  for (const part of text.split(',')) {
    const m = /^\s*(tell|ask|askMany)\s*:\s*(\d+(?:\.\d+)?)\s*$/.exec(part);
    if (!m) throw new OptionError(`--mode must be tell, ask, askMany or a mix like ask:3,tell:1, got '${text}'`);
    mix[m[1] as BenchMode] = Number(m[2]);
  }
  if (!Object.values(mix).some((w) => w! > 0)) throw new OptionError(`--mode: a mix needs a weight > 0, got '${text}'`);
  return mix;
}
