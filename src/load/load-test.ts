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
import type { ActorRef } from '../api/actor-ref.ts';
import type { Schema } from '../layout/schema.ts';
import { KernelModel, compareMessage, type Message } from '../kernels/reference-model.ts';
import { LatencyRecorder } from './latency.ts';
import { LoadRng } from './load-rng.ts';
import { MODES, resolveLoadOptions, type LoadMode, type LoadTestOptions } from './load-options.ts';
import type { LatencyStats, LoadTestResult, SecondStats } from './load-result.ts';
import { ArrivalSchedule } from './schedule.ts';
import { closedLoopLane, nextMacrotask } from './closed-loop.ts';
import { checkThreshold, type Threshold } from './thresholds.ts';
import { clusterFigures, figuresBetween, type ClusterFigures } from './cluster-stats.ts';

export { LoadRng } from './load-rng.ts';
export type { LoadMode, LoadProgress, LoadTestOptions } from './load-options.ts';
export type { LatencyStats, LoadTestResult, SecondStats } from './load-result.ts';

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
  private readonly thresholds: Threshold[];
  private readonly seed: number;
  private readonly scenario: 'closed' | 'rate' | 'stages';
  private readonly schedule: ArrivalSchedule | undefined;
  private readonly seconds: number;
  private readonly warmupSeconds: number;
  private readonly concurrency: number;
  private readonly maxOutstanding: number;
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
    const r = resolveLoadOptions(options);
    this.actors = r.actors;
    this.batch = r.batch;
    this.weights = r.weights;
    this.modeTable = MODES.filter((m) => (this.weights[m] ?? 0) > 0);
    let cum = 0;
    this.modeCum = this.modeTable.map((m) => (cum += this.weights[m]!));
    this.seed = r.seed;
    this.verify = r.verify;
    this.thresholds = r.thresholds;
    this.scenario = r.scenario;
    this.schedule = r.schedule;
    this.seconds = r.seconds;
    this.warmupSeconds = r.warmupSeconds;
    this.concurrency = r.concurrency;
    this.maxOutstanding = r.maxOutstanding;
    const kernel = options.kernel;
    this.refs = Array.from({ length: this.actors }, (_, i) => options.cluster.actor(kernel, `${r.keyPrefix}${i}`));
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
    const before = await clusterFigures(this.o.cluster);
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
    const batches = figuresBetween(before, await clusterFigures(this.o.cluster));
    return this.result(startedAt, elapsed, cpu.user + cpu.system, batches);
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
      else await Promise.all(Array.from({ length: this.concurrency }, () => closedLoopLane(end, (now) => this.send(this.pickMode(), now))));
    } finally {
      clearInterval(timer);
    }
    if (phase === 'warmup') await this.drained();
  }

  private async openLoop(schedule: ArrivalSchedule, start: number, end: number): Promise<void> {
    const max = this.maxOutstanding;
    let scheduled = 0;
    while (performance.now() < end) {
      const due = Math.floor(schedule.dueBy(performance.now() - start));
      while (scheduled < due && this.outstanding < max) scheduled += this.sendDue(start + schedule.dueAt(scheduled));
      // Sleep until the next message is due when that is a while off (a spin would take a
      // core from the shards); replies arrive meanwhile.
      const wait = start + schedule.dueAt(scheduled) - performance.now();
      if (wait > 2 && this.outstanding < max) await new Promise((resolve) => setTimeout(resolve, Math.min(wait, end - performance.now()) - 1));
      else await nextMacrotask();
    }
    // The last of the schedule, due before its end, leaves too (late, if the loop was).
    const all = Math.floor(schedule.dueBy(end - start));
    while (scheduled < all) scheduled += this.sendDue(start + schedule.dueAt(scheduled));
  }

  private pickMode(): LoadMode {
    if (this.modeTable.length === 1) return this.modeTable[0]!;
    const x = this.modeRng.float() * this.modeCum[this.modeCum.length - 1]!;
    let i = 0;
    while (x >= this.modeCum[i]!) i++;
    return this.modeTable[i]!;
  }

  /** An open loop's call, due at `dueAt`: sent without waiting for it; returns how many messages it carries. */
  private sendDue(dueAt: number): number {
    const mode = this.pickMode();
    void this.send(mode, dueAt);
    return mode === 'askMany' ? this.batch : 1;
  }

  /** Sends one call of `mode` due at `dueAt` (ms, performance.now()); resolves once it settled and was counted. */
  private send(mode: LoadMode, dueAt: number): Promise<void> {
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
    return call.then(
      () => this.done(measured, n, dueAt, undefined),
      (error: unknown) => this.done(measured, n, dueAt, error),
    );
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

  private result(startedAt: string, seconds: number, cpuUs: number, batches: ClusterFigures): LoadTestResult {
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
        ...(batches.batches > 0 ? { batchSize: { mean: batches.meanBatchRecords, batches: batches.batches } } : {}),
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
