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
import { LatencyRecorder } from './latency.ts';
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
}

// Open loop: stop scheduling past this many unanswered messages rather than run out of memory.
const MAX_OUTSTANDING = 1 << 20;

export class LoadGenerator {
  private readonly refs: ActorRef<any, any, any>[];
  private readonly workload: Workload;
  private readonly model: KernelModel | undefined;
  private readonly latency = new LatencyRecorder();
  private measuring = false;
  private sent = 0;
  private completed = 0;
  private failed = 0;
  private checked = 0;
  private outstanding = 0;
  private readonly mismatches: string[] = [];
  private mismatchCount = 0;
  private readonly errors: string[] = [];
  private readonly skip: string[];

  constructor(
    cluster: Cluster,
    private readonly plan: LoadPlan,
  ) {
    this.refs = Array.from({ length: plan.actors }, (_, i) => cluster.actor(plan.kernel, `${plan.keyPrefix ?? 'actor-'}${i}`));
    this.workload = new Workload(plan.kernel, plan.seed);
    this.model = plan.verify ? new KernelModel(plan.kernel) : undefined;
    // Echo's reply carries ids only the cluster knows; they are checked on their own.
    this.skip = plan.kernel.name === 'echo' ? ['actor', 'messageId'] : [];
  }

  /** Runs warm-up then the measured window, reporting progress every ~250 ms. */
  async run(onProgress: (p: Progress) => void = () => {}): Promise<LoadResult> {
    const { plan } = this;
    const started = performance.now();
    let measureStart = started + plan.warmupSeconds * 1000;
    const end = measureStart + plan.durationSeconds * 1000;
    let lastCompleted = 0;
    let lastTick = started;
    const timer = setInterval(() => {
      const now = performance.now();
      if (!this.measuring && now >= measureStart) this.startMeasuring();
      const rate = ((this.completed - lastCompleted) * 1000) / Math.max(1, now - lastTick);
      lastCompleted = this.completed;
      lastTick = now;
      onProgress({
        phase: this.measuring ? 'measure' : 'warmup',
        elapsedSeconds: (now - (this.measuring ? measureStart : started)) / 1000,
        completed: this.completed,
        messagesPerSecond: rate,
        p99Us: this.latency.count > 0 ? this.latency.percentile(99) : 0,
      });
    }, 250);
    try {
      if (plan.warmupSeconds === 0) {
        this.startMeasuring();
        measureStart = performance.now();
      }
      if (plan.rate !== undefined) await this.openLoop(plan.rate, end);
      else await Promise.all(Array.from({ length: plan.concurrency }, () => this.lane(end)));
      await this.drain();
    } finally {
      clearInterval(timer);
    }
    if (!this.measuring) this.startMeasuring();
    return {
      seconds: (performance.now() - Math.min(measureStart, performance.now())) / 1000,
      sent: this.sent,
      completed: this.completed,
      failed: this.failed,
      latency: this.latency,
      checked: this.checked,
      mismatches: this.mismatches,
      mismatchCount: this.mismatchCount,
      errors: this.errors,
    };
  }

  private startMeasuring(): void {
    this.measuring = true;
    this.sent = 0;
    this.completed = 0;
    this.failed = 0;
    this.latency.reset();
  }

  // One unit of work: a request (or a burst of `batch` tells); resolves when answered.
  private send(scheduledAt: number): Promise<void> {
    const { plan, workload } = this;
    const i = workload.pick(this.refs.length);
    const ref = this.refs[i]!;
    const key = ref.key;
    const n = plan.mode === 'ask' ? 1 : plan.batch;
    const msgs = Array.from({ length: n }, () => workload.message());
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
      const ref = this.refs[workload.pick(this.refs.length)]!;
      this.model?.message(ref.key, msg);
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
    if (this.errors.length < 20) this.errors.push(error.message);
  }

  private async lane(end: number): Promise<void> {
    while (performance.now() < end) await this.send(performance.now());
  }

  private async openLoop(rate: number, end: number): Promise<void> {
    const perUnit = this.plan.mode === 'ask' ? 1 : this.plan.batch;
    const unitsPerMs = rate / perUnit / 1000;
    const start = performance.now();
    let scheduled = 0;
    const inFlight = new Set<Promise<void>>();
    while (performance.now() < end) {
      const due = Math.floor((performance.now() - start) * unitsPerMs);
      for (; scheduled < due && this.outstanding < MAX_OUTSTANDING; scheduled++) {
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
