/** What a load test returns (loadTest(); the CLI's JSON is this with a schema name). */
import type { LoadMode } from './load-options.ts';
import type { Stage } from './schedule.ts';
import type { ThresholdResult } from './thresholds.ts';

export interface LatencyStats {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly p9999: number;
  readonly max: number;
}

export interface SecondStats {
  /** 1 for the first measured second. */
  readonly second: number;
  readonly sent: number;
  readonly completed: number;
  readonly failed: number;
  /** Open loop: the messages the schedule asked for in this second. */
  readonly target?: number;
  /** Of the messages completed in this second, microseconds. */
  readonly latencyUs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
}

export interface LoadTestResult {
  readonly ok: boolean;
  readonly options: {
    readonly kernel: string;
    readonly actors: number;
    readonly mode: Readonly<Partial<Record<LoadMode, number>>>;
    readonly scenario: 'closed' | 'rate' | 'stages';
    readonly concurrency?: number;
    readonly rate?: number;
    readonly stages?: readonly Stage[];
    readonly seconds: number;
    readonly warmupSeconds: number;
    readonly batch: number;
    readonly verify: boolean;
    readonly seed: number;
    readonly thresholds: readonly string[];
  };
  readonly machine: { readonly cpus: number; readonly cpu: string; readonly memoryBytes: number; readonly node: string; readonly platform: string; readonly backend: string; readonly shards: number; readonly adapter?: string };
  readonly startedAt: string;
  readonly seconds: number;
  readonly totals: {
    readonly sent: number;
    readonly completed: number;
    readonly failed: number;
    /** Failed messages by error code (or name). */
    readonly failures: Readonly<Record<string, number>>;
    readonly messagesPerSecond: number;
    /** From each message's send time (closed loop) or due time (open loop). */
    readonly latencyUs: LatencyStats;
    /** CPU time of the whole process (every thread) per completed message. */
    readonly cpuUsPerMessage: number;
    /** Messages sent per shard, and their share. */
    readonly shards: ReadonlyArray<{ readonly shard: number; readonly messages: number; readonly share: number }>;
    /** Records per dispatched batch over the run (undefined with metrics off). */
    readonly batchSize?: { readonly mean: number; readonly batches: number };
    readonly checked: number;
    readonly mismatchCount: number;
    /** The first mismatches (at most 20). */
    readonly mismatches: readonly string[];
  };
  readonly series: readonly SecondStats[];
  /** The latency distribution: [microseconds, messages] per HDR bucket, ascending. */
  readonly histogram: ReadonlyArray<readonly [number, number]>;
  readonly thresholds: readonly ThresholdResult[];
}
