/**
 * loadTest()'s options, and their checking: every bad option is ERR_RINGSHARD_INVALID_OPTION
 * naming it, before anything is sent. resolveLoadOptions() turns them into what a run
 * needs (defaults filled, the scenario and its schedule chosen).
 */
import type { Cluster } from '../api/cluster.ts';
import type { Kernel } from '../kernels/define-kernel.ts';
import type { MessageOf, Schema } from '../layout/schema.ts';
import { ErrorCode, RingshardError, describeValue } from '../errors.ts';
import type { LoadRng } from './load-rng.ts';
import { ArrivalSchedule, type Stage } from './schedule.ts';
import { parseThreshold, type Threshold } from './thresholds.ts';

export type LoadMode = 'tell' | 'ask' | 'askMany';
export const MODES: readonly LoadMode[] = ['tell', 'ask', 'askMany'];

export interface LoadProgress {
  readonly phase: 'warmup' | 'measure';
  readonly second: number;
  readonly completed: number;
  readonly messagesPerSecond: number;
}

export interface LoadTestOptions<S extends Schema, Q extends Schema, R extends Schema> {
  /** A started cluster whose kernels include `kernel`. */
  readonly cluster: Cluster;
  readonly kernel: Kernel<S, Q, R>;
  /** Actors the messages are spread over (keys `${keyPrefix}${i}`, picked uniformly). @default 100 */
  readonly actors?: number;
  readonly keyPrefix?: string;
  /** Message `i` (0, 1, ... in send order) of the run; `rng` is seeded. */
  readonly message: (i: number, rng: LoadRng) => MessageOf<Q>;
  /** A mode, or weights of a mix ({ ask: 3, tell: 1 }: three asks for each tell). @default 'ask' */
  readonly mode?: LoadMode | Readonly<Partial<Record<LoadMode, number>>>;
  /** Measured seconds (with `stages`: their sum, and this is not given). */
  readonly seconds?: number;
  /** Unmeasured seconds before, in the same scenario (an open loop at its first rate). @default 0 */
  readonly warmupSeconds?: number;
  /** Closed loop: calls in flight (the scenario when neither `rate` nor `stages` is given). @default 64 */
  readonly concurrency?: number;
  /** Open loop: messages per second, on a fixed schedule. */
  readonly rate?: number;
  /** Open loop: stages, each ramping linearly to its `rate` over its `seconds` from the rate the one before ended at (the first holds its rate). */
  readonly stages?: readonly Stage[];
  /** Messages per askMany. @default 16 */
  readonly batch?: number;
  /** Check replies and final states against the kernel's TS reference. @default whether it has one (and neither sends nor timers) */
  readonly verify?: boolean;
  /** Pass/fail criteria: 'p99<20ms', 'failed==0', ... (see thresholds.ts). */
  readonly thresholds?: readonly string[];
  /** @default 1 */
  readonly seed?: number;
  /** Open loop: most messages sent and not done; past it the schedule waits (the lateness shows in latency). @default 32768 */
  readonly maxOutstanding?: number;
  /** Called about every second. */
  readonly onProgress?: (progress: LoadProgress) => void;
}

function invalid(what: string, expected: string, got: unknown): RingshardError {
  return new RingshardError(ErrorCode.INVALID_OPTION, `loadTest: options.${what} must be ${expected}, got ${describeValue(got)}`);
}

function positive(what: string, value: unknown, integer: boolean, zero = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < 0 || (!zero && value === 0)) {
    throw invalid(what, `${integer ? 'an integer' : 'a number'} ${zero ? '>= 0' : '> 0'}`, value);
  }
  return value;
}

function weightsOf(mode: LoadTestOptions<any, any, any>['mode']): Partial<Record<LoadMode, number>> {
  if (mode === undefined) return { ask: 1 };
  if (typeof mode === 'string') {
    if (!MODES.includes(mode)) throw invalid('mode', `one of ${MODES.join(', ')} or weights like { ask: 3, tell: 1 }`, mode);
    return { [mode]: 1 };
  }
  if (mode === null || typeof mode !== 'object') throw invalid('mode', `one of ${MODES.join(', ')} or weights like { ask: 3, tell: 1 }`, mode);
  let sum = 0;
  for (const [k, w] of Object.entries(mode)) {
    if (!MODES.includes(k as LoadMode)) throw invalid('mode', `weights of ${MODES.join(', ')} only`, k);
    sum += positive(`mode.${k}`, w, false, true);
  }
  if (!(sum > 0)) throw invalid('mode', 'weights with a sum > 0', mode);
  return { ...mode };
}

/** The options checked, with their defaults, the scenario and its schedule. */
export interface ResolvedLoadOptions {
  readonly actors: number;
  readonly batch: number;
  readonly weights: Partial<Record<LoadMode, number>>;
  readonly seed: number;
  readonly verify: boolean;
  readonly thresholds: Threshold[];
  readonly scenario: 'closed' | 'rate' | 'stages';
  /** Open loops': when each message is due. */
  readonly schedule: ArrivalSchedule | undefined;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly concurrency: number;
  readonly maxOutstanding: number;
  readonly keyPrefix: string;
}

export function resolveLoadOptions(options: LoadTestOptions<any, any, any>): ResolvedLoadOptions {
  if (options === null || typeof options !== 'object') throw invalid('', 'an object', options);
  if (!options.cluster || typeof options.cluster.actor !== 'function') throw invalid('cluster', 'a started Cluster', options.cluster);
  if (!options.kernel || typeof options.kernel !== 'object' || typeof options.kernel.name !== 'string') throw invalid('kernel', 'a kernel (defineKernel)', options.kernel);
  if (typeof options.message !== 'function') throw invalid('message', 'a function (i, rng) => message', options.message);
  const kernel = options.kernel;
  const modelable = kernel.reference !== undefined && kernel.sends.length === 0 && kernel.timers === 0;
  if (options.verify === true && !modelable) throw invalid('verify', `false for kernel '${kernel.name}' (it ${kernel.reference === undefined ? 'has no TS reference' : 'sends K2K messages or arms timers, which the model does not follow'})`, true);
  if (options.verify !== undefined && typeof options.verify !== 'boolean') throw invalid('verify', 'a boolean', options.verify);
  if (options.thresholds !== undefined && !Array.isArray(options.thresholds)) throw invalid('thresholds', "an array of strings like 'p99<20ms'", options.thresholds);
  const given = [options.concurrency !== undefined && 'concurrency', options.rate !== undefined && 'rate', options.stages !== undefined && 'stages'].filter(Boolean);
  if (given.length > 1) throw invalid(given.join(' and '), 'one scenario: concurrency (closed loop), rate or stages (open loop)', given);
  let scenario: ResolvedLoadOptions['scenario'];
  let schedule: ArrivalSchedule | undefined;
  let seconds: number;
  if (options.stages !== undefined) {
    if (!Array.isArray(options.stages) || options.stages.length === 0) throw invalid('stages', 'a non-empty array of { rate, seconds }', options.stages);
    options.stages.forEach((s, i) => {
      positive(`stages[${i}].rate`, s?.rate, false, true);
      positive(`stages[${i}].seconds`, s?.seconds, false);
    });
    if (options.seconds !== undefined) throw invalid('seconds', 'left out with stages (their seconds add up to the run)', options.seconds);
    scenario = 'stages';
    schedule = new ArrivalSchedule(options.stages);
    seconds = schedule.durationMs / 1000;
  } else {
    seconds = positive('seconds', options.seconds, false);
    if (options.rate !== undefined) {
      scenario = 'rate';
      schedule = ArrivalSchedule.constant(positive('rate', options.rate, false), seconds);
    } else scenario = 'closed';
  }
  return {
    actors: options.actors === undefined ? 100 : positive('actors', options.actors, true),
    batch: options.batch === undefined ? 16 : positive('batch', options.batch, true),
    weights: weightsOf(options.mode),
    seed: options.seed === undefined ? 1 : positive('seed', options.seed, true, true),
    verify: options.verify ?? modelable,
    thresholds: (options.thresholds ?? []).map(parseThreshold),
    scenario,
    schedule,
    seconds,
    warmupSeconds: options.warmupSeconds === undefined ? 0 : positive('warmupSeconds', options.warmupSeconds, false, true),
    concurrency: options.concurrency === undefined ? 64 : positive('concurrency', options.concurrency, true),
    maxOutstanding: options.maxOutstanding === undefined ? 32768 : positive('maxOutstanding', options.maxOutstanding, true),
    keyPrefix: options.keyPrefix ?? 'load-',
  };
}
