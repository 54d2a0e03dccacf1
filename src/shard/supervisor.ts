/**
 * Keeps one shard's worker alive: starts it, replaces it when it dies, loses its device
 * or hangs a dispatch past maxDispatchMs (the watchdog), within a restart budget, and
 * quarantines an actor whose messages hang the dispatch again when replayed alone.
 * Faults can be caused on purpose (injectFault) for tests and drills.
 *
 * With checkpoints on, a replacement restores the actors' last checkpoint and replays
 * the records after it; without, the actors placed here lose their state.
 */
import { ErrorCode, RingshardError, closedError } from '../errors.ts';
import type { ShardConfig, ShardStarted } from '../protocol.ts';
import type { DispatchWatch, Busy } from '../recovery/dispatch-watch.ts';
import type { ReplyReader } from './reply-reader.ts';
import type { RequestWriter } from './request-writer.ts';
import type { ShardGate } from './shard-gate.ts';
import type { WorkerHandle, WorkerHost } from './worker-host.ts';

/** Why a shard's worker was replaced (the `cause` label of ringshard_recoveries_total). */
export type RecoveryCause = 'worker-exit' | 'device-lost' | 'watchdog' | 'restart';
export const RECOVERY_CAUSES: readonly RecoveryCause[] = ['worker-exit', 'device-lost', 'watchdog', 'restart'];

/** A fault `injectFault` can cause. */
export type FaultKind = 'worker-exit' | 'device-lost';

/** What a supervisor tells the rest of the cluster. */
export interface SupervisorEvents {
  /** Once, if the shard fails for good (its worker keeps dying, or cannot start). */
  onFailure(error: RingshardError): void;
  /**
   * The worker is replaced without a checkpoint, before the new one starts: the actors
   * placed here lost their state (they re-activate on their next message).
   */
  onRestart(reason: RingshardError): void;
  /** The worker is replaced and its actors recover from the checkpoint. */
  onRecover(cause: RecoveryCause, reason: RingshardError): void;
  /** An actor was quarantined (its id). */
  onQuarantine(actorId: number): void;
}

export interface SupervisorOptions {
  readonly config: ShardConfig;
  readonly gate: ShardGate;
  readonly host: WorkerHost;
  readonly writer: RequestWriter;
  readonly reader: ReplyReader;
  readonly watch: DispatchWatch;
  /** The shard checkpoints (a replacement keeps the actors' state). */
  readonly checkpoints: boolean;
  /** A batch on the GPU longer than this replaces the worker (Infinity: no watchdog). */
  readonly maxDispatchMs: number;
  readonly maxRestartsPerMinute: number;
  readonly events: SupervisorEvents;
}

export class ShardSupervisor {
  /** The current worker. */
  worker: WorkerHandle;
  started: ShardStarted | undefined;
  /** Worker replacements so far (the ringshard_shard_restarts_total metric). */
  restarts = 0;
  /** Recoveries with state kept, by cause (ringshard_recoveries_total). */
  readonly recoveries = new Map<RecoveryCause, number>(RECOVERY_CAUSES.map((c) => [c, 0]));
  /** The replacement under way, if any. */
  restarting: Promise<void> | undefined;
  private readonly restartTimes: number[] = [];
  private readonly options: SupervisorOptions;
  private readonly index: number;
  private readonly watchTimer: NodeJS.Timeout | undefined;
  /** Records to replay one actor per batch (suspects of the last hang). */
  private isolate: { from: number; count: number } | undefined;
  /** The watchdog ended a replacement that hung as it started (see checkDispatch). */
  private endedWhileStarting = false;

  constructor(options: SupervisorOptions) {
    this.options = options;
    this.index = options.config.index;
    this.worker = this.spawn(options.config);
    if (Number.isFinite(options.maxDispatchMs)) {
      this.watchTimer = setInterval(() => this.checkDispatch(), Math.max(5, Math.min(1000, options.maxDispatchMs / 4)));
      this.watchTimer.unref();
    }
  }

  /** Starts the current worker; once it compiled everything, replies are read. */
  async start(): Promise<ShardStarted> {
    const handle = this.worker;
    const { control, task } = handle;
    const started = await Promise.race([
      control.start(),
      task.then(() => {
        throw new RingshardError(ErrorCode.WORKER_EXIT, `shard ${this.index} ended before it started`);
      }),
    ]).finally(() => handle.markUp());
    this.started = started;
    if (started.diagnostics.length === 0) void this.options.reader.start();
    return started;
  }

  /** The watchdog stops looking (at shutdown). */
  stopWatching(): void {
    if (this.watchTimer) clearInterval(this.watchTimer);
  }

  /**
   * Replaces the shard's worker (and its GPU device). With checkpoints on, the new worker
   * restores the actors' last checkpoint and replays the records after it: nothing is
   * lost and every ask is answered once. Without, the actors placed here lose their state;
   * records not yet handled are dropped, waiting asks reject with `reason`, and the actors
   * activate afresh on their next message. Counters in the metric tables continue.
   */
  restart(reason?: RingshardError, cause: RecoveryCause = 'restart'): Promise<void> {
    const { gate } = this.options;
    if (gate.closed) return Promise.reject(closedError());
    this.restarting ??= this.replaceWorker(
      reason ??
        new RingshardError(
          ErrorCode.WORKER_EXIT,
          this.options.checkpoints ? `shard ${this.index}: restartShard() was called` : `shard ${this.index} was restarted before the reply came`,
        ),
      cause,
    ).finally(() => {
      this.restarting = undefined;
      // A worker that died in the moment its recovery ended was not seen by anyone.
      if (this.worker.failed !== undefined && !gate.closed && !gate.failure) this.workerFailed(this.worker.failed);
    });
    return this.restarting;
  }

  /**
   * Causes a fault on purpose (tests and drills). 'worker-exit' ends the worker thread at
   * once, with no clean-up in it; 'device-lost' destroys its GPUDevice (on the cpu backend,
   * fails the backend the same way). Resolves once the fault has happened and the shard
   * has noticed it, not when recovery ends.
   */
  async injectFault(kind: FaultKind): Promise<void> {
    const { gate } = this.options;
    gate.check();
    // A worker that already died is no target: wait for its replacement to be spawned
    // (else the fault would be a no-op, as a drill once found: 15 recoveries for 16 faults).
    while (this.worker.failed !== undefined) {
      gate.check();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const gpu = this.options.config.backend === 'webgpu';
    // A fault during a recovery hits the worker that is starting: on webgpu once it runs
    // (ending a thread amid dawn.node's device set-up is not a fault users meet).
    if (gpu) await this.worker.up;
    const handle = this.worker;
    const noticed = handle.task.then(
      () => undefined,
      () => undefined,
    );
    if (kind === 'worker-exit') {
      // On webgpu the thread ends itself at the first moment dawn.node allows (no mapAsync
      // pending; see ShardControl.exit): nothing it did after the call counts.
      if (gpu) void handle.control.exit().catch(() => undefined);
      else await handle.pool.threads[0]?.terminate();
    } else if (kind === 'device-lost') {
      await handle.up;
      await Promise.race([handle.control.loseDevice(), noticed]);
    } else {
      throw new RingshardError(ErrorCode.INVALID_OPTION, `injectFault: kind must be 'worker-exit' or 'device-lost', got ${JSON.stringify(kind)}`);
    }
    await noticed;
  }

  private spawn(config: ShardConfig): WorkerHandle {
    // Only the current worker's end matters; a replaced one is expected to fail.
    return this.options.host.spawn(config, (handle, error) => {
      if (this.worker === handle && !this.restarting) this.workerFailed(error);
    });
  }

  private causeOf(cause: unknown): { code: ErrorCode; message: string; kind: RecoveryCause } {
    const message = cause instanceof Error ? cause.message : String(cause);
    const lost = /device lost/i.test(message);
    return { code: lost ? ErrorCode.DEVICE_LOST : ErrorCode.WORKER_EXIT, message, kind: lost ? 'device-lost' : 'worker-exit' };
  }

  /** Counts a replacement against maxRestartsPerMinute; false when the budget is spent. */
  private withinRestartBudget(): boolean {
    const now = performance.now();
    this.restartTimes.push(now);
    while (this.restartTimes[0]! < now - 60_000) this.restartTimes.shift();
    return this.restartTimes.length <= this.options.maxRestartsPerMinute;
  }

  private workerFailed(cause: unknown): void {
    const { gate } = this.options;
    if (gate.failure || gate.closed) return;
    const { code, message, kind } = this.causeOf(cause);
    const error = new RingshardError(code, `shard ${this.index}'s worker failed: ${message}`, { cause });
    if (!this.withinRestartBudget()) {
      this.fail(new RingshardError(code, `shard ${this.index} failed: its worker died ${this.restartTimes.length} times within a minute; last: ${message}`, { cause }));
      return;
    }
    void this.restart(error, kind).catch((restartError: unknown) => this.fail(restartError));
  }

  private fail(cause: unknown): void {
    const { gate, reader, writer, events } = this.options;
    if (gate.failure || gate.closed) return;
    const failure = cause instanceof RingshardError ? cause : new RingshardError(ErrorCode.WORKER_EXIT, `shard ${this.index} failed: ${String(cause)}`, { cause });
    gate.failure = failure;
    reader.pending.rejectAll(failure);
    writer.overflow.rejectAll(failure);
    events.onFailure(failure);
  }

  /** Looks at what is on the GPU; a batch there for longer than maxDispatchMs replaces the worker. */
  private checkDispatch(): void {
    const { gate, watch, config, maxDispatchMs } = this.options;
    if (gate.closed || gate.failure || !this.started) return;
    const busy = watch.busy();
    if (!busy) return;
    const nowMs = performance.timeOrigin + performance.now() - config.epochMs;
    if (nowMs - busy.sinceMs <= maxDispatchMs) return;
    if (this.restarting) {
      // The replacement hung in its own replay before it answered start(): on the cpu
      // backend its thread is stuck in JS, so the restart would wait for ever. End the
      // thread; the restart loop replaces it again, isolating or quarantining as below.
      if (config.backend === 'cpu' && !this.endedWhileStarting && busy.generation === watch.generation) {
        this.endedWhileStarting = true;
        this.suspect(busy);
        void this.worker.pool.threads[0]?.terminate();
      }
      return;
    }
    const what = this.suspect(busy);
    const reason = new RingshardError(ErrorCode.WORKER_EXIT, `shard ${this.index}: a batch was on the GPU for more than maxDispatchMs (${maxDispatchMs} ms); ${what}`);
    if (!this.withinRestartBudget()) {
      this.fail(new RingshardError(ErrorCode.WORKER_EXIT, `shard ${this.index} failed: replaced ${this.restartTimes.length} times within a minute; last: ${reason.message}`));
      return;
    }
    void this.restart(reason, 'watchdog').catch((error: unknown) => this.fail(error));
  }

  /** A batch hung: its records are replayed one actor at a time, or (alone already) its actor is quarantined. */
  private suspect(busy: Busy): string {
    if (busy.actor !== undefined) {
      // It hung while alone on the GPU: that actor is the one.
      this.options.gate.quarantined.add(busy.actor);
      this.options.events.onQuarantine(busy.actor);
      return `actor ${busy.actor}'s messages hung it again; the actor is quarantined`;
    }
    this.isolate = { from: busy.from, count: busy.count };
    return `its ${busy.count} records are replayed one actor at a time to find the one that hangs`;
  }

  private async replaceWorker(reason: RingshardError, cause: RecoveryCause): Promise<void> {
    const { gate, writer, reader, watch, host, events } = this.options;
    const keep = this.options.checkpoints;
    if (keep) this.countRecovery(cause, reason);
    else {
      this.restarts++;
      // Everything not yet handled is for actors that are about to lose their state.
      reader.pending.rejectAll(reason);
      writer.overflow.rejectAll(reason);
      events.onRestart(reason);
    }
    writer.publish();
    for (;;) {
      const config: ShardConfig = {
        ...this.options.config,
        ...(keep ? {} : { skipTo: writer.ring.headIndex }),
        ...(this.isolate ? { isolate: this.isolate } : {}),
        ...(gate.quarantined.size > 0 ? { quarantined: [...gate.quarantined] } : {}),
      };
      const old = this.worker;
      this.endedWhileStarting = false;
      // From here on the old worker must not touch the rings, whatever state it is in.
      // (The new one touches them only once started, after the old one is retired.)
      const generation = watch.nextGeneration();
      this.worker = this.spawn({ ...config, generation });
      await host.retire(old, cause === 'watchdog');
      watch.clearStale();
      if (gate.closed) return;
      let started: ShardStarted | undefined;
      let startError: unknown;
      try {
        started = await this.start();
      } catch (error) {
        startError = error;
      }
      if (started && started.diagnostics.length > 0) throw new RingshardError(ErrorCode.SHADER_COMPILE, `shard ${this.index} did not compile after a restart`);
      // The new worker died as well, while starting or unseen since (this restart was on):
      // a fault during recovery. Replace it again.
      const died = this.worker.failed;
      if (died !== undefined && !gate.closed) {
        if (!keep || !this.withinRestartBudget()) throw startError ?? died;
        const again = this.causeOf(died);
        this.countRecovery(again.kind, new RingshardError(again.code, `shard ${this.index}'s replacement worker failed as it started: ${again.message}`));
        continue;
      }
      if (startError !== undefined) throw startError;
      return;
    }
  }

  /** One replacement with the actors' state kept (ringshard_shard_restarts_total and ringshard_recoveries_total). */
  private countRecovery(cause: RecoveryCause, reason: RingshardError): void {
    this.restarts++;
    this.recoveries.set(cause, this.recoveries.get(cause)! + 1);
    this.options.events.onRecover(cause, reason);
  }
}
