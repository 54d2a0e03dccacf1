/**
 * Pass/fail criteria of a load test, written as k6 writes its thresholds:
 *
 *   'p99<20ms'   'p50<=500us'   'p99.9<1s'   'max<100ms'   'mean<2ms'
 *   'failed==0'  'failed_rate<0.01'   'rate>=50000'   'mismatches==0'
 *
 * A latency takes a unit (us, ms or s; ms when none is given) and is compared in
 * milliseconds; `failed` is a count of messages, `failed_rate` a fraction of those sent,
 * `rate` messages per second completed, `mismatches` replies or states that differed
 * from the kernel's reference. A threshold that does not parse is refused with
 * ERR_RINGSHARD_INVALID_OPTION before the test runs.
 */
import { ErrorCode, RingshardError } from '../errors.ts';

export type ThresholdMetric = 'latency' | 'failed' | 'failed_rate' | 'rate' | 'mismatches';

export interface Threshold {
  /** As written. */
  readonly text: string;
  readonly metric: ThresholdMetric;
  /** For latency: the percentile (0-100), or 'max' / 'mean' / 'min'. */
  readonly stat?: number | 'max' | 'mean' | 'min';
  readonly op: '<' | '<=' | '>' | '>=' | '==' | '!=';
  /** The bound, in ms for latency. */
  readonly value: number;
}

export interface ThresholdResult {
  readonly threshold: string;
  readonly ok: boolean;
  /** What the run measured (ms for latency). */
  readonly actual: number;
}

/** What thresholds are checked against. */
export interface ThresholdInputs {
  /** Latency in microseconds at a percentile, or its max / mean / min. */
  latencyUs(stat: number | 'max' | 'mean' | 'min'): number;
  readonly sent: number;
  readonly failed: number;
  readonly messagesPerSecond: number;
  readonly mismatches: number;
}

const PATTERN = /^\s*(p(\d+(?:\.\d+)?)|max|mean|min|failed_rate|failed|rate|mismatches)\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*(us|µs|ms|s)?\s*$/i;

export function parseThreshold(text: string): Threshold {
  const m = typeof text === 'string' ? PATTERN.exec(text) : null;
  if (!m) {
    throw new RingshardError(
      ErrorCode.INVALID_OPTION,
      `threshold ${JSON.stringify(text)} does not parse: write <what><op><value>, e.g. 'p99<20ms', 'max<=1s', 'failed==0', 'failed_rate<0.01', 'rate>=50000', 'mismatches==0'`,
    );
  }
  const [, what, percentile, op, number, unit] = m as unknown as [string, string, string | undefined, Threshold['op'], string, string | undefined];
  const name = what.toLowerCase();
  const latency = percentile !== undefined || name === 'max' || name === 'mean' || name === 'min';
  if (!latency && unit !== undefined) throw new RingshardError(ErrorCode.INVALID_OPTION, `threshold ${JSON.stringify(text)}: '${name}' takes no unit`);
  if (percentile !== undefined && !(Number(percentile) > 0 && Number(percentile) <= 100)) {
    throw new RingshardError(ErrorCode.INVALID_OPTION, `threshold ${JSON.stringify(text)}: a percentile is from above 0 to 100`);
  }
  const scale = unit === undefined || unit === 'ms' ? 1 : unit === 's' ? 1000 : 0.001;
  return latency
    ? { text, metric: 'latency', stat: percentile !== undefined ? Number(percentile) : (name as 'max' | 'mean' | 'min'), op, value: Number(number) * scale }
    : { text, metric: name as ThresholdMetric, op, value: Number(number) };
}

function compare(actual: number, op: Threshold['op'], bound: number): boolean {
  switch (op) {
    case '<':
      return actual < bound;
    case '<=':
      return actual <= bound;
    case '>':
      return actual > bound;
    case '>=':
      return actual >= bound;
    case '==':
      return actual === bound;
    case '!=':
      return actual !== bound;
  }
}

export function checkThreshold(t: Threshold, inputs: ThresholdInputs): ThresholdResult {
  let actual: number;
  switch (t.metric) {
    case 'latency':
      actual = inputs.latencyUs(t.stat!) / 1000;
      break;
    case 'failed':
      actual = inputs.failed;
      break;
    case 'failed_rate':
      actual = inputs.sent > 0 ? inputs.failed / inputs.sent : 0;
      break;
    case 'rate':
      actual = inputs.messagesPerSecond;
      break;
    case 'mismatches':
      actual = inputs.mismatches;
      break;
  }
  return { threshold: t.text, ok: compare(actual, t.op, t.value), actual };
}
