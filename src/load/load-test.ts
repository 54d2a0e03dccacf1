/**
 * loadTest(): a load test of any kernel (the user's too) on a started cluster, the way
 * k6 and autocannon run one: a scenario (a closed loop of `concurrency` calls in flight,
 * a constant arrival `rate`, or ramping `stages`), a message generator, a mode or a
 * weighted mix of modes, thresholds that decide pass or fail, and a result with totals
 * and per-second series. Open loops measure latency from each message's due time, so a
 * stall shows in the percentiles (no coordinated omission). With `verify` (the default
 * when the kernel has a TS reference) every reply, and at the end every actor's state, is
 * checked against the reference. Seeded: the same seed sends every actor the same
 * messages in the same order.
 */
import { cpus, totalmem } from 'node:os';
import type { Cluster } from '../api/cluster.ts';
import type { ActorRef } from '../api/actor-ref.ts';
import type { Kernel } from '../kernels/define-kernel.ts';
import type { MessageOf, Schema } from '../layout/schema.ts';
import { KernelModel, compareMessage, type Message } from '../kernels/reference-model.ts';
import { LatencyRecorder } from './latency.ts';
import { ErrorCode, RingshardError, describeValue } from '../errors.ts';
import { ArrivalSchedule, type Stage } from './schedule.ts';
import { checkThreshold, parseThreshold, type ThresholdResult } from './thresholds.ts';

export type LoadMode = 'tell' | 'ask' | 'askMany';
const MODES: readonly LoadMode[] = ['tell', 'ask', 'askMany'];

/** A seeded generator (sfc32) for message generators: the same seed, the same messages. */
export class LoadRng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    this.a = seed | 0 || 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = (seed * 31) | 0 || 0x7f4a7c15;
    for (let i = 0; i < 16; i++) this.u32();
  }
  /** A uniform u32. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)]!;
  }
}

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

const nextMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve));
const YIELD_EVERY_MS = 2;

/** Runs a load test; see LoadTestOptions. Rejects with ERR_RINGSHARD_INVALID_OPTION on bad options before sending anything. */
export async function loadTest<S extends Schema, Q extends Schema, R extends Schema>(options: LoadTestOptions<S, Q, R>): Promise<LoadTestResult> {
  const run = new LoadRun(options);
  return run.run();
}

interface Bucket {
  sent: number;
  completed: number;
  failed: number;
  latency: LatencyRecorder | undefined;
}

class LoadRun {
  private readonly o: LoadTestOptions<any, any, any>;
  private readonly actors: number;
  private readonly batch: number;
  private readonly weights: Partial<Record<LoadMode, number>>;
  private readonly modeTable: LoadMode[];
  private readonly modeCum: number[];
  private readonly verify: boolean;
  private readonly thresholds: ReturnType<typeof parseThreshold>[];
  private readonly seed: number;
  private readonly scenario: 'closed' | 'rate' | 'stages';
  private readonly schedule: ArrivalSchedule | undefined;
  private readonly seconds: number;
  private readonly warmupSeconds: number;
  private readonly concurrency: number;
  private readonly refs: ActorRef<any, any, any>[];
  private readonly messageRng: LoadRng;
  private readonly pickRng: LoadRng;
  private readonly modeRng: LoadRng;
  private readonly model: KernelModel | undefined;
  private index = 0;
  private measuring = false;
  private measureStart = 0;
  private outstanding = 0;
  private idle: (() => void) | undefined;
  private sent = 0;
  private completed = 0;
  private failed = 0;
  private readonly failures = new Map<string, number>();
  private readonly latency = new LatencyRecorder();
  private readonly buckets: Bucket[] = [];
  private readonly perShard: number[] = [];
  private readonly touched: Uint8Array;
  private checked = 0;
  private mismatchCount = 0;
  private readonly mismatches: string[] = [];

  constructor(options: LoadTestOptions<any, any, any>) {
    this.o = options;
    if (options === null || typeof options !== 'object') throw invalid('', 'an object', options);
    if (!options.cluster || typeof options.cluster.actor !== 'function') throw invalid('cluster', 'a started Cluster', options.cluster);
    if (!options.kernel || typeof options.kernel !== 'object' || typeof options.kernel.name !== 'string') throw invalid('kernel', 'a kernel (defineKernel)', options.kernel);
    if (typeof options.message !== 'function') throw invalid('message', 'a function (i, rng) => message', options.message);
    this.actors = options.actors === undefined ? 100 : positive('actors', options.actors, true);
    this.batch = options.batch === undefined ? 16 : positive('batch', options.batch, true);
    this.weights = weightsOf(options.mode);
    this.modeTable = MODES.filter((m) => (this.weights[m] ?? 0) > 0);
    let cum = 0;
    this.modeCum = this.modeTable.map((m) => (cum += this.weights[m]!));
    this.seed = options.seed === undefined ? 1 : positive('seed', options.seed, true, true);
    const kernel = options.kernel;
    const modelable = kernel.reference !== undefined && kernel.sends.length === 0 && kernel.timers === 0;
    if (options.verify === true && !modelable) throw invalid('verify', `false for kernel '${kernel.name}' (it ${kernel.reference === undefined ? 'has no TS reference' : 'sends K2K messages or arms timers, which the model does not follow'})`, true);
    if (options.verify !== undefined && typeof options.verify !== 'boolean') throw invalid('verify', 'a boolean', options.verify);
    this.verify = options.verify ?? modelable;
    if (options.thresholds !== undefined && !Array.isArray(options.thresholds)) throw invalid('thresholds', "an array of strings like 'p99<20ms'", options.thresholds);
    this.thresholds = (options.thresholds ?? []).map(parseThreshold);
    const given = [options.concurrency !== undefined && 'concurrency', options.rate !== undefined && 'rate', options.stages !== undefined && 'stages'].filter(Boolean);
    if (given.length > 1) throw invalid(given.join(' and '), 'one scenario: concurrency (closed loop), rate or stages (open loop)', given);
    this.warmupSeconds = options.warmupSeconds === undefined ? 0 : positive('warmupSeconds', options.warmupSeconds, false, true);
    if (options.stages !== undefined) {
      if (!Array.isArray(options.stages) || options.stages.length === 0) throw invalid('stages', 'a non-empty array of { rate, seconds }', options.stages);
      options.stages.forEach((s, i) => {
        positive(`stages[${i}].rate`, s?.rate, false, true);
        positive(`stages[${i}].seconds`, s?.seconds, false);
      });
      if (options.seconds !== undefined) throw invalid('seconds', 'left out with stages (their seconds add up to the run)', options.seconds);
      this.scenario = 'stages';
      this.schedule = new ArrivalSchedule(options.stages);
      this.seconds = this.schedule.durationMs / 1000;
    } else {
      this.seconds = positive('seconds', options.seconds, false);
      if (options.rate !== undefined) {
        this.scenario = 'rate';
        this.schedule = ArrivalSchedule.constant(positive('rate', options.rate, false), this.seconds);
      } else {
        this.scenario = 'closed';
        this.schedule = undefined;
      }
    }
    this.concurrency = options.concurrency === undefined ? 64 : positive('concurrency', options.concurrency, true);
    if (options.maxOutstanding !== undefined) positive('maxOutstanding', options.maxOutstanding, true);
    const prefix = options.keyPrefix ?? 'load-';
    this.refs = Array.from({ length: this.actors }, (_, i) => options.cluster.actor(kernel, `${prefix}${i}`));
    this.touched = new Uint8Array(this.actors);
    this.messageRng = new LoadRng(this.seed);
    this.pickRng = new LoadRng(this.seed ^ 0x5bd1e995);
    this.modeRng = new LoadRng(this.seed ^ 0x27d4eb2f);
    this.model = this.verify ? new KernelModel(kernel) : undefined;
  }

  async run(): Promise<LoadTestResult> {
    const startedAt = new Date().toISOString();
    if (this.warmupSeconds > 0) {
      const warm = this.schedule ? ArrivalSchedule.constant(this.schedule.rateAt(0), this.warmupSeconds) : undefined;
      await this.phase(warm, this.warmupSeconds * 1000, 'warmup');
    }
    const batchesBefore = await this.batchCounts();
    const cpuBefore = process.cpuUsage();
    this.measuring = true;
    this.measureStart = performance.now();
    await this.phase(this.schedule, this.seconds * 1000, 'measure');
    await this.drained();
    if (this.touched.some((t) => t === 1)) await this.handled();
    const elapsed = (performance.now() - this.measureStart) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    this.measuring = false;
    if (this.model) await this.verifyStates();
    const batchesAfter = await this.batchCounts();
    return this.result(startedAt, elapsed, cpu.user + cpu.system, batchesBefore, batchesAfter);
  }

  private async phase(schedule: ArrivalSchedule | undefined, ms: number, phase: 'warmup' | 'measure'): Promise<void> {
    const start = performance.now();
    const end = start + ms;
    let lastCompleted = this.completed;
    const timer = setInterval(() => {
      const second = Math.round((performance.now() - start) / 1000);
      this.o.onProgress?.({ phase, second, completed: this.completed, messagesPerSecond: this.completed - lastCompleted });
      lastCompleted = this.completed;
    }, 1000);
    try {
      if (schedule) await this.openLoop(schedule, start, end);
      else await Promise.all(Array.from({ length: this.concurrency }, () => this.lane(end)));
    } finally {
      clearInterval(timer);
    }
    if (phase === 'warmup') await this.drained();
  }

  private async lane(end: number): Promise<void> {
    let yieldAt = performance.now() + YIELD_EVERY_MS;
    for (let now = performance.now(); now < end; now = performance.now()) {
      if (now >= yieldAt) {
        await nextMacrotask();
        yieldAt = performance.now() + YIELD_EVERY_MS;
      }
      await this.send(now);
    }
  }

  private async openLoop(schedule: ArrivalSchedule, start: number, end: number): Promise<void> {
    const max = this.o.maxOutstanding ?? 32768;
    let scheduled = 0;
    while (performance.now() < end) {
      const due = Math.floor(schedule.dueBy(performance.now() - start));
      while (scheduled < due && this.outstanding < max) scheduled += this.send(start + schedule.dueAt(scheduled));
      // Sleep until the next message is due when that is a while off (a spin would take a
      // core from the shards); replies arrive meanwhile.
      const wait = start + schedule.dueAt(scheduled) - performance.now();
      if (wait > 2 && this.outstanding < max) await new Promise((resolve) => setTimeout(resolve, Math.min(wait, end - performance.now()) - 1));
      else await nextMacrotask();
    }
    // The last of the schedule, due before its end, leaves too (late, if the loop was).
    const all = Math.floor(schedule.dueBy(end - start));
    while (scheduled < all) scheduled += this.send(start + schedule.dueAt(scheduled));
  }

  private pickMode(): LoadMode {
    if (this.modeTable.length === 1) return this.modeTable[0]!;
    const x = this.modeRng.float() * this.modeCum[this.modeCum.length - 1]!;
    let i = 0;
    while (x >= this.modeCum[i]!) i++;
    return this.modeTable[i]!;
  }

  /** Sends one call due at `dueAt` (ms, performance.now()); returns how many messages it carries. */
  private send(dueAt: number): number {
    const mode = this.pickMode();
    const a = Math.floor(this.pickRng.float() * this.actors);
    const ref = this.refs[a]!;
    const n = mode === 'askMany' ? this.batch : 1;
    const msgs: Message[] = new Array(n);
    for (let j = 0; j < n; j++) msgs[j] = this.o.message(this.index++, this.messageRng) as Message;
    const model = this.model;
    const key = ref.key;
    let expected: Message[] | undefined;
    if (model) {
      if (mode === 'tell') model.apply(key, msgs[0]!, ref.id);
      else expected = msgs.map((m) => model.message(key, m, ref.id));
    }
    const measured = this.measuring;
    if (measured) {
      this.sent += n;
      this.bucket(performance.now()).sent += n;
      const shard = ref.shard;
      this.perShard[shard] = (this.perShard[shard] ?? 0) + n;
    }
    if (mode === 'tell') this.touched[a] = 1;
    this.outstanding += n;
    let call: Promise<unknown>;
    try {
      call = mode === 'tell' ? ref.tell(msgs[0]!) : mode === 'ask' ? ref.ask(msgs[0]!).then((r) => this.check(key, [r], expected)) : ref.askMany(msgs).then((r) => this.check(key, r as unknown[], expected));
    } catch (error) {
      call = Promise.reject(error);
    }
    call.then(
      () => this.done(measured, n, dueAt, undefined),
      (error: unknown) => this.done(measured, n, dueAt, error),
    );
    return n;
  }

  private done(measured: boolean, n: number, dueAt: number, error: unknown): void {
    this.outstanding -= n;
    if (measured && this.measuring) {
      const now = performance.now();
      const b = this.bucket(now);
      if (error === undefined) {
        this.completed += n;
        b.completed += n;
        const us = (now - dueAt) * 1000;
        this.latency.recordMany(us, n);
        (b.latency ??= new LatencyRecorder()).recordMany(us, n);
      } else {
        this.failed += n;
        b.failed += n;
        const code = String((error as { code?: unknown })?.code ?? (error as Error)?.name ?? 'Error');
        this.failures.set(code, (this.failures.get(code) ?? 0) + n);
      }
    }
    if (this.outstanding === 0) this.idle?.();
  }

  private bucket(now: number): Bucket {
    const i = Math.max(0, Math.floor((now - this.measureStart) / 1000));
    while (this.buckets.length <= i) this.buckets.push({ sent: 0, completed: 0, failed: 0, latency: undefined });
    return this.buckets[i]!;
  }

  private drained(): Promise<void> {
    if (this.outstanding === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idle = () => {
        this.idle = undefined;
        resolve();
      };
    });
  }

  /** Tells have no replies: a snapshot of each actor that got some comes after them. */
  private async handled(): Promise<void> {
    const refs = this.refs.filter((_, i) => this.touched[i] === 1);
    this.touched.fill(0);
    await Promise.allSettled(refs.map((r) => r.snapshot()));
  }

  private check(key: string, replies: readonly unknown[], expected: Message[] | undefined): void {
    if (!expected) return;
    for (let j = 0; j < replies.length; j++) {
      this.checked++;
      const problem = compareMessage(replies[j], expected[j]!, this.o.kernel.reply);
      if (problem !== undefined) this.mismatch(`${this.o.kernel.name} '${key}' reply: ${problem}`);
    }
  }

  private mismatch(text: string): void {
    this.mismatchCount++;
    if (this.mismatches.length < 20) this.mismatches.push(text);
  }

  private async verifyStates(): Promise<void> {
    const model = this.model!;
    const used = this.refs.filter((r) => model.has(r.key));
    const states = await Promise.all(used.map((r) => r.snapshot()));
    states.forEach((state, i) => {
      const key = used[i]!.key;
      this.checked++;
      const problem = compareMessage(state, model.state(key), this.o.kernel.state);
      if (problem !== undefined) this.mismatch(`${this.o.kernel.name} '${key}' state: ${problem}`);
    });
  }

  /** Batches dispatched and records in them so far (the cluster's metrics), or undefined. */
  private async batchCounts(): Promise<{ batches: number; records: number } | undefined> {
    const registry = this.o.cluster.registry;
    const json = await registry.getMetricsAsJSON().catch(() => []);
    const metric = json.find((m) => m.name === 'ringshard_batch_size_records');
    if (!metric) return undefined;
    let batches = 0;
    let records = 0;
    for (const v of metric.values as Array<{ metricName?: string; value: number }>) {
      if (v.metricName === 'ringshard_batch_size_records_count') batches += v.value;
      else if (v.metricName === 'ringshard_batch_size_records_sum') records += v.value;
    }
    return { batches, records };
  }

  private result(startedAt: string, seconds: number, cpuUs: number, before: { batches: number; records: number } | undefined, after: { batches: number; records: number } | undefined): LoadTestResult {
    const h = this.latency;
    const stat = (p: number) => (h.count > 0 ? h.percentile(p) : 0);
    const summary = h.summary();
    const latencyUs: LatencyStats = { count: h.count, min: summary.minUs, mean: summary.meanUs, p50: stat(50), p90: stat(90), p99: stat(99), p999: stat(99.9), p9999: stat(99.99), max: summary.maxUs };
    const messagesPerSecond = this.completed / seconds;
    const thresholds = this.thresholds.map((t) =>
      checkThreshold(t, {
        latencyUs: (s) => (s === 'max' ? latencyUs.max : s === 'mean' ? latencyUs.mean : s === 'min' ? latencyUs.min : stat(s)),
        sent: this.sent,
        failed: this.failed,
        messagesPerSecond,
        mismatches: this.mismatchCount,
      }),
    );
    const totalSent = this.perShard.reduce((a, b) => a + (b ?? 0), 0);
    const schedule = this.schedule;
    const series: SecondStats[] = this.buckets.map((b, i) => ({
      second: i + 1,
      sent: b.sent,
      completed: b.completed,
      failed: b.failed,
      ...(schedule && i * 1000 < schedule.durationMs ? { target: Math.round(schedule.dueBy(Math.min((i + 1) * 1000, schedule.durationMs)) - schedule.dueBy(i * 1000)) } : {}),
      latencyUs: b.latency ? { p50: b.latency.percentile(50), p90: b.latency.percentile(90), p99: b.latency.percentile(99), max: b.latency.summary().maxUs } : { p50: 0, p90: 0, p99: 0, max: 0 },
    }));
    const info = this.o.cluster.info();
    const adapter = info.shards[0]?.adapter;
    const cpuList = cpus();
    const o = this.o;
    return {
      ok: thresholds.every((t) => t.ok) && this.mismatchCount === 0,
      options: {
        kernel: o.kernel.name,
        actors: this.actors,
        mode: this.weights,
        scenario: this.scenario,
        ...(this.scenario === 'closed' ? { concurrency: this.concurrency } : {}),
        ...(this.scenario === 'rate' ? { rate: o.rate! } : {}),
        ...(this.scenario === 'stages' ? { stages: o.stages!.map((s) => ({ rate: s.rate, seconds: s.seconds })) } : {}),
        seconds: this.seconds,
        warmupSeconds: this.warmupSeconds,
        batch: this.batch,
        verify: this.verify,
        seed: this.seed,
        thresholds: this.thresholds.map((t) => t.text),
      },
      machine: {
        cpus: cpuList.length,
        cpu: cpuList[0]?.model ?? 'unknown',
        memoryBytes: totalmem(),
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        backend: info.backend,
        shards: info.shards.length,
        ...(adapter ? { adapter: adapter.description || adapter.device } : {}),
      },
      startedAt,
      seconds,
      totals: {
        sent: this.sent,
        completed: this.completed,
        failed: this.failed,
        failures: Object.fromEntries(this.failures),
        messagesPerSecond,
        latencyUs,
        cpuUsPerMessage: this.completed > 0 ? cpuUs / this.completed : 0,
        shards: this.perShard.map((m, shard) => ({ shard, messages: m ?? 0, share: totalSent > 0 ? (m ?? 0) / totalSent : 0 })).filter((s) => s.messages > 0),
        ...(before && after && after.batches > before.batches ? { batchSize: { mean: (after.records - before.records) / (after.batches - before.batches), batches: after.batches - before.batches } } : {}),
        checked: this.checked,
        mismatchCount: this.mismatchCount,
        mismatches: this.mismatches,
      },
      series,
      histogram: h.distribution(),
      thresholds,
    };
  }
}
