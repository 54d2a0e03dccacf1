/**
 * Options of `ringshard bench`, parsed with node:util's parseArgs and checked one by one;
 * a bad option stops the run with a message naming it and the value received.
 */
import { parseArgs } from 'node:util';

export type BenchMode = 'tell' | 'ask' | 'askMany';
export const KERNEL_NAMES = ['counter', 'echo', 'stats'] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

export interface BenchOptions {
  readonly shards: number | 'auto';
  readonly backend: 'auto' | 'webgpu' | 'cpu';
  readonly kernel: KernelName;
  readonly mode: BenchMode;
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

Drives a cluster of built-in kernels and reports throughput and latency.

  --kernel <name>        counter | echo | stats                      (default counter)
  --mode <mode>          tell | ask | askMany                        (default ask)
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
  const shardsText = v.shards;
  const mode = oneOf('mode', v.mode, 'ask', ['tell', 'ask', 'askMany'] as const);
  const verify = v.verify ?? false;
  const gpu = oneOf('gpu', v.gpu, 'real', ['real', 'null'] as const);
  if (gpu === 'null' && verify) throw new OptionError('--gpu null computes no replies: it cannot be used with --verify');
  if (gpu === 'null' && v.backend === 'cpu') throw new OptionError("--gpu null runs the webgpu backend on Dawn's null GPU: it cannot be used with --backend cpu");
  return {
    gpu,
    kernel: oneOf('kernel', v.kernel, 'counter', KERNEL_NAMES),
    mode,
    actors: positiveInt('actors', v.actors, 1000, 1 << 24),
    batch: positiveInt('batch', v.batch, 64, 1 << 16),
    rate: positiveNumber('rate', v.rate, undefined),
    concurrency: positiveInt('concurrency', v.concurrency, 64, 1 << 20),
    durationSeconds: positiveNumber('duration', v.duration, 10)!,
    warmupSeconds: positiveNumber('warmup', v.warmup, 2, true)!,
    shards: shardsText === undefined || shardsText === 'auto' ? 'auto' : positiveInt('shards', shardsText, 1, 256),
    backend: oneOf('backend', v.backend, 'auto', ['auto', 'webgpu', 'cpu'] as const),
    metricsPort: v['metrics-port'] === undefined ? undefined : positiveIntOrZero('metrics-port', v['metrics-port']),
    verify,
    json: v.json ?? false,
  };
}

function positiveIntOrZero(name: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new OptionError(`--${name} must be a port from 0 to 65535, got '${text}'`);
  return n;
}
