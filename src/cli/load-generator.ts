/**
 * The load generator behind `ringshard bench` and the demo. Two ways to drive a cluster:
 *
 * - closed loop (`concurrency`): that many lanes each send a request and wait for it;
 *   latency is from send to reply.
 * - open loop (`rate`): messages leave on a fixed schedule whether or not earlier ones
 *   were answered, and latency is measured from each message's scheduled send time, so
 *   a stall shows up in the percentiles instead of slowing the sender down (no
 *   coordinated omission).
 *
 * With a model, every reply is checked against the kernel's TS reference as it arrives.
 */
import type { ActorRef } from '../api/actor-ref.ts';
import type { Cluster } from '../api/cluster.ts';
import { KernelModel, compareMessage, type Message } from '../kernels/reference-model.ts';
import { LatencyRecorder } from '../load/latency.ts';
import { closedLoopLane } from '../load/closed-loop.ts';
import type { BenchMode } from './bench-options.ts';
import { Workload } from './workloads.ts';
import type { Kernel } from '../kernels/define-kernel.ts';

export interface LoadPlan {
  readonly kernel: Kernel<any, any, any>;
  readonly mode: BenchMode;
  readonly actors: number;
  /** Actor keys are `${keyPrefix}${i}`. */
  readonly keyPrefix?: string;
  readonly batch: number;
  readonly rate?: number | undefined;
  readonly concurrency: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly verify: boolean;
  readonly seed?: number;
  /**
   * Open loop: the most messages sent and not yet done. Past it the schedule waits (the
   * lateness shows in the latency, measured from the scheduled time) instead of growing
   * queues until the cluster refuses records. Keep it below what the cluster's rings and
   * overflow queues hold. @default 32768
   */
  readonly maxOutstanding?: number;
}

/** One run of a generator: its phases and its loop. Defaults come from the plan. */
export interface LoadWindow {
  readonly warmupSeconds?: number;
  readonly durationSeconds?: number;
  /** Open loop at this many messages/s; `null` forces a closed loop. */
  readonly rate?: number | null;
  readonly concurrency?: number;
}

export interface Progress {
  readonly phase: 'warmup' | 'measure';
  readonly elapsedSeconds: number;
  readonly completed: number;
  readonly messagesPerSecond: number;
  readonly p99Us: number;
}

export interface LoadResult {
  readonly seconds: number;
  readonly sent: number;
  readonly completed: number;
  readonly failed: number;
  readonly latency: LatencyRecorder;
  readonly checked: number;
  /** The first mismatches between replies and the reference (at most 20). */
  readonly mismatches: string[];
  readonly mismatchCount: number;
  readonly errors: string[];
  /** Open loop: the rate asked for; null for a closed loop. */
  readonly targetRate: number | null;
}

const DEFAULT_MAX_OUTSTANDING = 32768;
export class LoadGenerator {
  private readonly refs: ActorRef<any, any, any>[];
  private readonly workload: Workload;
  private readonly model: KernelModel | undefined;
  private readonly latency = new LatencyRecorder();
  private measuring = false;
  private measureAt = Infinity;
  private sent = 0;
  private completed = 0;
  private failed = 0;
  private checked = 0;
  private outstanding = 0;
  /** Which actors got tells since the last handled() (by index into refs). */
  private readonly touched: Uint8Array;
  private readonly mismatches: string[] = [];
  private mismatchCount = 0;
  private readonly errors: string[] = [];
  private readonly skip: string[];

  constructor(
    cluster: Cluster,
    private readonly plan: LoadPlan,
  ) {
    this.refs = Array.from({ length: plan.actors }, (_, i) => cluster.actor(plan.kernel, `${plan.keyPrefix ?? 'actor-'}${i}`));
    this.touched = new Uint8Array(plan.actors);
    this.workload = new Workload(plan.kernel, plan.seed);
    this.model = plan.verify ? new KernelModel(plan.kernel) : undefined;
    // Echo's reply carries ids only the cluster knows; they are checked on their own.
    this.skip = plan.kernel.name === 'echo' ? ['actor', 'messageId'] : [];
  }

  /**
   * Runs a warm-up then the measured window, reporting progress every ~250 ms. May be
   * called again (the actors and the model carry on); each run counts afresh. Tells are
   * done once in the ring; a tell run's window ends when all of them were handled.
   */
  async run(onProgress: (p: Progress) => void = () => {}, window: LoadWindow = {}): Promise<LoadResult> {
    const { plan } = this;
    const warmupSeconds = window.warmupSeconds ?? plan.warmupSeconds;
    const durationSeconds = window.durationSeconds ?? plan.durationSeconds;
    const rate = window.rate === null ? undefined : (window.rate ?? plan.rate);
    const concurrency = window.concurrency ?? plan.concurrency;
    this.measuring = false;
    this.resetCounts();
    const started = performance.now();
    // The switch to measuring is checked as messages are sent, not by the progress
    // timer, so a busy event loop cannot keep a run in its warm-up.
    this.measureAt = started + warmupSeconds * 1000;
    const end = this.measureAt + durationSeconds * 1000;
    if (warmupSeconds === 0) this.startMeasuring();
    let lastCompleted = 0;
    let lastTick = started;
    const timer = setInterval(() => {
      const now = performance.now();
      this.maybeStartMeasuring(now);
      const perSecond = ((this.completed - lastCompleted) * 1000) / Math.max(1, now - lastTick);
      lastCompleted = this.completed;
      lastTick = now;
      onProgress({
        phase: this.measuring ? 'measure' : 'warmup',
        elapsedSeconds: (now - (this.measuring ? this.measureAt : started)) / 1000,
        completed: this.completed,
        messagesPerSecond: perSecond,
        p99Us: this.latency.count > 0 ? this.latency.percentile(99) : 0,
      });
    }, 250);
    try {
      if (rate !== undefined) await this.openLoop(rate, end);
      else await Promise.all(Array.from({ length: concurrency }, () => closedLoopLane(end, (now) => this.send(now))));
      await this.drain();
      // Tells have no replies: a snapshot of each actor comes after its tells.
      if (plan.mode === 'tell') await this.handled();
    } finally {
      clearInterval(timer);
    }
    this.maybeStartMeasuring(Infinity);
    const now = performance.now();
    return {
      seconds: (now - Math.min(this.measureAt, now)) / 1000,
      sent: this.sent,
      completed: this.completed,
      failed: this.failed,
      latency: this.latency,
      checked: this.checked,
      mismatches: this.mismatches,
      mismatchCount: this.mismatchCount,
      errors: this.errors,
      targetRate: rate ?? null,
    };
  }

  private resetCounts(): void {
    this.sent = 0;
    this.completed = 0;
    this.failed = 0;
    this.latency.reset();
  }

  private maybeStartMeasuring(now: number): void {
    if (!this.measuring && now >= this.measureAt) {
      this.measureAt = Math.min(this.measureAt, performance.now());
      this.startMeasuring();
    }
  }

  /** Resolves when every tell sent so far has been handled. */
  private async handled(): Promise<void> {
    const refs = this.refs.filter((_, i) => this.touched[i] === 1);
    this.touched.fill(0);
    await Promise.all(refs.map((r) => r.snapshot().catch((error: Error) => this.noteError(error))));
  }

  private startMeasuring(): void {
    this.measuring = true;
    this.resetCounts();
  }

  private noteError(error: Error): void {
    if (this.errors.length < 20) this.errors.push(error.message);
  }

  // One unit of work: a request (or a burst of `batch` tells); resolves when answered.
  private send(scheduledAt: number): Promise<void> {
    const { plan, workload } = this;
    const i = workload.pick(this.refs.length);
    const ref = this.refs[i]!;
    const key = ref.key;
    this.maybeStartMeasuring(performance.now());
    const n = plan.mode === 'ask' ? 1 : plan.batch;
    const msgs = new Array<Message>(n);
    for (let j = 0; j < n; j++) msgs[j] = workload.message();
    const expected = this.model && plan.mode !== 'tell' ? msgs.map((m) => this.model!.message(key, m)) : undefined;
    const measured = this.measuring;
    if (measured) this.sent += n;
    this.outstanding += n;
    let request: Promise<unknown>;
    if (plan.mode === 'ask') request = ref.ask(msgs[0]!).then((r) => this.check(ref, key, [r], expected));
    else if (plan.mode === 'askMany') request = ref.askMany(msgs).then((r) => this.check(ref, key, r, expected));
    else request = this.tellBurst(msgs, workload);
    return request.then(
      () => this.done(measured, n, scheduledAt),
      (error: Error) => this.fail(measured, n, error),
    );
  }

  // Tells go to `batch` different actors; the burst is done once all are in the rings.
  private tellBurst(msgs: Message[], workload: Workload): Promise<unknown> {
    const waiting: Array<Promise<void>> = [];
    let previous: Promise<void> | undefined;
    for (const msg of msgs) {
      const i = workload.pick(this.refs.length);
      const ref = this.refs[i]!;
      this.model?.apply(ref.key, msg);
      this.touched[i] = 1;
      const p = ref.tell(msg);
      if (p !== previous) waiting.push((previous = p));
    }
    return Promise.all(waiting);
  }

  /**
   * Compares every actor's state (read back from the GPU) with the model's; tells have
   * no replies, so this is how they are checked. Needs `verify`.
   */
  async verifyStates(): Promise<number> {
    const model = this.model;
    if (!model) return 0;
    const states = await Promise.all(this.refs.map((r) => r.snapshot()));
    states.forEach((state, i) => {
      const key = this.refs[i]!.key;
      this.checked++;
      const problem = compareMessage(state, model.state(key), this.plan.kernel.state);
      if (problem !== undefined) {
        this.mismatchCount++;
        if (this.mismatches.length < 20) this.mismatches.push(`${this.plan.kernel.name} '${key}' state: ${problem}`);
      }
    });
    return states.length;
  }

  /** Mismatches found so far (verifyStates adds to them after run()). */
  get problems(): { readonly checked: number; readonly mismatchCount: number; readonly mismatches: readonly string[] } {
    return { checked: this.checked, mismatchCount: this.mismatchCount, mismatches: this.mismatches };
  }

  private check(ref: ActorRef<any, any, any>, key: string, replies: unknown[], expected: Message[] | undefined): void {
    if (!expected) return;
    for (let j = 0; j < replies.length; j++) {
      this.checked++;
      let problem = compareMessage(replies[j], expected[j]!, this.plan.kernel.reply, this.skip);
      if (problem === undefined && this.skip.length > 0 && (replies[j] as Message).actor !== ref.actorId) problem = `actor is ${String((replies[j] as Message).actor)}, expected ${ref.actorId}`;
      if (problem !== undefined) {
        this.mismatchCount++;
        if (this.mismatches.length < 20) this.mismatches.push(`${this.plan.kernel.name} '${key}': ${problem}`);
      }
    }
  }

  private done(measured: boolean, n: number, scheduledAt: number): void {
    this.outstanding -= n;
    if (!measured || !this.measuring) return;
    this.completed += n;
    this.latency.recordMany((performance.now() - scheduledAt) * 1000, n);
  }

  private fail(measured: boolean, n: number, error: Error): void {
    this.outstanding -= n;
    if (measured && this.measuring) this.failed += n;
    this.noteError(error);
  }

  private async openLoop(rate: number, end: number): Promise<void> {
    const perUnit = this.plan.mode === 'ask' ? 1 : this.plan.batch;
    const unitsPerMs = rate / perUnit / 1000;
    const maxOutstanding = this.plan.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING;
    const start = performance.now();
    let scheduled = 0;
    const inFlight = new Set<Promise<void>>();
    while (performance.now() < end) {
      const due = Math.floor((performance.now() - start) * unitsPerMs);
      for (; scheduled < due && this.outstanding < maxOutstanding; scheduled++) {
        const p = this.send(start + scheduled / unitsPerMs);
        inFlight.add(p);
        void p.then(() => inFlight.delete(p));
      }
      // Yield to the event loop (replies arrive there) until the next send is due.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(inFlight);
  }

  private async drain(): Promise<void> {
    while (this.outstanding > 0) await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
