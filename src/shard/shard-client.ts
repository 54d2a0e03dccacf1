/**
 * The coordinator's side of one shard, as one ShardLink: its two rings, the request
 * writer (the hot path in), the reply reader (the way back), the worker host and the
 * supervisor that keeps the worker alive. The cluster hears of it through one events
 * object (`listen`).
 */
import { type RingshardError, closedError } from '../errors.ts';
import type { Codec } from '../layout/codec.ts';
import type { MessageBatch } from '../layout/columns.ts';
import { Op } from '../layout/record.ts';
import { SpscRing } from '../rings/spsc-ring.ts';
import type { CheckpointPolicy, ShardConfig, ShardStarted, ShardStats } from '../protocol.ts';
import { ReferenceErrors, createReferenceErrors } from '../kernels/reference-errors.ts';
import { CheckpointStat, CheckpointStore } from '../recovery/checkpoint-store.ts';
import { DispatchWatch, createWatchBuffers } from '../recovery/dispatch-watch.ts';
import type { ShardMetricsSource } from '../metrics/cluster-metrics.ts';
import type { HybridClock } from '../coordinator/hlc.ts';
import { SYSTEM_CALLER, type AskSpec, type Caller, type RecordTarget, type ShardLink } from '../coordinator/shard-link.ts';
import { OverflowQueue } from './overflow-queue.ts';
import { ReplyReader } from './reply-reader.ts';
import { RequestWriter, arriving } from './request-writer.ts';
import { ShardGate } from './shard-gate.ts';
import { ShardSupervisor, type FaultKind, type RecoveryCause, type SupervisorEvents } from './supervisor.ts';
import { WorkerHost } from './worker-host.ts';

export type { RecordTarget } from '../coordinator/shard-link.ts';
export type { FaultKind, RecoveryCause } from './supervisor.ts';

export interface ShardClientOptions {
  readonly config: Omit<ShardConfig, 'requestRing' | 'replyRing' | 'watch' | 'checkpoint' | 'referenceErrors'>;
  /** When the shard checkpoints; undefined: never (a replaced worker starts its actors afresh). */
  readonly checkpoint: CheckpointPolicy | undefined;
  /** A batch on the GPU longer than this replaces the worker (Infinity: no watchdog). */
  readonly maxDispatchMs: number;
  readonly ringCapacity: number;
  readonly replyRingCapacity: number;
  readonly recordWords: number;
  readonly replyWords: number;
  readonly policy: 'wait' | 'reject';
  readonly maxQueued: number;
  /** K2K records that may wait for ring room (past it a K2K send is a dead letter 'overflow'). @default maxQueued */
  readonly maxK2KQueued?: number;
  readonly clock: HybridClock;
  /** Automatic worker replacements allowed per minute before the shard is declared failed. @default 5 */
  readonly maxRestartsPerMinute?: number;
}

/** What a shard tells the cluster. */
export interface ShardEvents extends SupervisorEvents {
  /**
   * Each K2K send record the shard's handlers made (at word `offset` of `words`, valid
   * only during the call), once each: a replay's repeats are dropped before.
   */
  onSend(words: Uint32Array, offset: number): void;
  /** Each line the worker has for the cluster's logger (a worker never prints). */
  onLog(line: string): void;
}

const NO_EVENTS: ShardEvents = { onSend() {}, onLog() {}, onFailure() {}, onRestart() {}, onRecover() {}, onQuarantine() {} };

export class ShardClient implements ShardLink {
  readonly index: number;
  readonly requests: SpscRing;
  readonly replies: SpscRing;
  /** The shard's checkpoint, in memory this thread owns; undefined when checkpoints are off. */
  readonly checkpoints: CheckpointStore | undefined;
  private readonly gate: ShardGate;
  private readonly writer: RequestWriter;
  private readonly reader: ReplyReader;

  /** The asks waiting for replies (cluster.info()). */
  get pendingReplies(): { readonly size: number; readonly unsettled: number } {
    return this.reader.pending;
  }
  private readonly host: WorkerHost;
  private readonly supervisor: ShardSupervisor;
  private events: ShardEvents = NO_EVENTS;

  constructor(options: ShardClientOptions) {
    const index = (this.index = options.config.index);
    this.gate = new ShardGate(index, options.maxDispatchMs);
    this.requests = SpscRing.create({ capacity: options.ringCapacity, slotWords: options.recordWords });
    this.replies = SpscRing.create({ capacity: options.replyRingCapacity, slotWords: options.replyWords });
    const overflow = new OverflowQueue(this.requests, options.recordWords, options.policy, options.maxQueued, index, options.maxK2KQueued ?? options.maxQueued);
    this.writer = new RequestWriter(this.requests, overflow, options.clock, options.recordWords, this.gate);
    this.reader = new ReplyReader(this.replies, this.gate, (words, offset) => this.events.onSend(words, offset), () => this.supervisor.restarting);
    this.checkpoints = options.checkpoint
      ? CheckpointStore.create(options.config.batch.stateStride, options.config.maxSlots, this.requests.committedIndex)
      : undefined;
    const watch = createWatchBuffers();
    // cpu backend: why a reference failed an ask comes back through this table.
    const referenceErrors = options.config.backend === 'cpu' ? createReferenceErrors() : undefined;
    if (referenceErrors) {
      const table = new ReferenceErrors(referenceErrors);
      this.reader.pending.explain = (correlation) => table.find(correlation);
    }
    const config: ShardConfig = {
      ...options.config,
      requestRing: this.requests.buffer,
      replyRing: this.replies.buffer,
      watch,
      ...(referenceErrors ? { referenceErrors } : {}),
      ...(this.checkpoints && options.checkpoint ? { checkpoint: { ...options.checkpoint, buffers: this.checkpoints.buffers } } : {}),
    };
    this.host = new WorkerHost(config.backend === 'webgpu', (line) => this.events.onLog(line));
    this.supervisor = new ShardSupervisor({
      config,
      gate: this.gate,
      host: this.host,
      writer: this.writer,
      reader: this.reader,
      watch: new DispatchWatch(watch),
      checkpoints: this.checkpoints !== undefined,
      maxDispatchMs: options.maxDispatchMs,
      maxRestartsPerMinute: options.maxRestartsPerMinute ?? 5,
      events: {
        onFailure: (error) => this.events.onFailure(error),
        onRestart: (reason) => this.events.onRestart(reason),
        onRecover: (cause, reason) => this.events.onRecover(cause, reason),
        onQuarantine: (actorId) => this.events.onQuarantine(actorId),
      },
    });
  }

  /** A shard's own link: no move goes through it. */
  readonly moving = undefined;

  /** Where the shard's events go from now on (one listener: the cluster). */
  listen(events: ShardEvents): void {
    this.events = events;
  }

  start(): Promise<ShardStarted> {
    return this.supervisor.start();
  }

  get started(): ShardStarted | undefined {
    return this.supervisor.started;
  }

  get failed(): RingshardError | undefined {
    return this.gate.failure;
  }

  /** Records waiting for ring space. */
  get queued(): number {
    return this.writer.overflow.size;
  }

  /** Actors whose messages are refused (the watchdog quarantined them). */
  get quarantined(): ReadonlySet<number> {
    return this.gate.quarantined;
  }

  /** What the cluster's metrics read of this shard. */
  metricsSource(): ShardMetricsSource {
    const { writer, reader, supervisor } = this;
    return {
      requests: this.requests,
      replies: this.replies,
      queued: () => this.queued,
      backpressure: writer.overflow.counts,
      restarts: () => supervisor.restarts,
      recoveries: () => supervisor.recoveries,
      checkpoints: () => this.checkpointStats(),
      sends: () => ({ passedOn: reader.sends.passedOn, deduplicated: reader.sends.dropped }),
    };
  }

  /** Checkpoint counters of this shard (ringshard_checkpoints_total and friends). */
  private checkpointStats(): { checkpoints: number; durationUs: number; bytes: number; lastBytes: number; replayed: number } | undefined {
    const s = this.checkpoints?.stats;
    if (!s) return undefined;
    return {
      checkpoints: s[CheckpointStat.checkpoints]!,
      durationUs: s[CheckpointStat.durationUs]!,
      bytes: s[CheckpointStat.bytes]!,
      lastBytes: s[CheckpointStat.lastBytes]!,
      replayed: s[CheckpointStat.replayed]!,
    };
  }

  // ------------------------------------------------------------------ ShardLink

  tell(to: RecordTarget, from: Caller, codec: Codec, msg: unknown): Promise<void> {
    return this.writer.send(to, Op.MESSAGE, codec, msg, 0, from);
  }

  tellMany(to: RecordTarget, from: Caller, msgs: MessageBatch): Promise<void> {
    return this.writer.sendMany(to, Op.MESSAGE, msgs, 0, from);
  }

  ask(to: RecordTarget, from: Caller, codec: Codec, msg: unknown, reply: AskSpec): Promise<unknown> {
    return this.request(to, Op.MESSAGE, codec, msg, reply, from);
  }

  askMany(to: RecordTarget, from: Caller, msgs: MessageBatch, reply: AskSpec): Promise<unknown> {
    const base = this.reader.allocateCorrelations(msgs.count);
    const sent = this.writer.sendMany(to, Op.MESSAGE, msgs, base, from);
    return this.reader.expect(base, msgs.count, true, reply, sent);
  }

  forward(to: RecordTarget, send: Uint32Array, offset: number, payloadWords: number, onDead: (error: Error) => void): void {
    this.writer.forward(to, send, offset, payloadWords, onDead);
  }

  snapshot(to: RecordTarget, reply: AskSpec): Promise<unknown> {
    return this.request(to, Op.SNAPSHOT, undefined, undefined, reply, SYSTEM_CALLER);
  }

  terminate(to: RecordTarget, reply: AskSpec): Promise<unknown> {
    return this.request(to, Op.SHUTDOWN, undefined, undefined, reply, SYSTEM_CALLER);
  }

  activate(to: RecordTarget): Promise<void> {
    // The shard learns the actor's id from its INIT: the source word carries it.
    return this.writer.send(to, Op.INIT, undefined, undefined, 0, arriving(to));
  }

  retire(to: RecordTarget): Promise<void> {
    return this.writer.send(to, Op.SHUTDOWN, undefined, undefined, 0, SYSTEM_CALLER);
  }

  exportState(to: RecordTarget, reply: AskSpec): Promise<unknown> {
    return this.request(to, Op.EXPORT, undefined, undefined, reply, SYSTEM_CALLER);
  }

  importState(to: RecordTarget, stateCodec: Codec, state: unknown): Promise<void> {
    return this.writer.importState(to, stateCodec, state);
  }

  private request(to: RecordTarget, op: Op, codec: Codec | undefined, msg: unknown, reply: AskSpec, from: Caller): Promise<unknown> {
    const base = this.reader.allocateCorrelations(1);
    const sent = this.writer.send(to, op, codec, msg, base, from);
    return this.reader.expect(base, 1, false, reply, sent);
  }

  // ------------------------------------------------------------------ operations

  /**
   * Resolves once every record in the ring (or queued for it) when called has been
   * handled and its replies and sends processed here (the sends passed on by onSend).
   */
  async settle(): Promise<void> {
    const gate = this.gate;
    await this.writer.drainQueued();
    const head = this.requests.headIndex;
    await until(() => gate.failure !== undefined || gate.closed || ((this.requests.handledIndex - head) | 0) >= 0);
    const replies = this.replies.publishedIndex;
    await until(() => gate.failure !== undefined || gate.closed || ((this.reader.processedIndex - replies) | 0) >= 0);
    if (gate.failure) throw gate.failure;
  }

  /** Waits until every queued record is in the ring. */
  drainQueued(): Promise<void> {
    return this.writer.drainQueued();
  }

  /** Replaces the shard's worker (see ShardSupervisor.restart). */
  restart(reason?: RingshardError, cause?: RecoveryCause): Promise<void> {
    return this.supervisor.restart(reason, cause);
  }

  /** Causes a fault on purpose (see ShardSupervisor.injectFault). */
  injectFault(kind: FaultKind): Promise<void> {
    if (this.gate.closed) return Promise.reject(closedError());
    return this.supervisor.injectFault(kind);
  }

  /**
   * Closes the request ring, lets the worker finish every record in it, and stops the
   * worker. Asks still waiting afterwards are rejected with ERR_RINGSHARD_CLOSED.
   */
  async stop(): Promise<ShardStats | undefined> {
    const { gate, supervisor } = this;
    if (gate.closed) return undefined;
    await supervisor.restarting?.catch(() => undefined);
    supervisor.stopWatching();
    await this.writer.drainQueued();
    gate.closed = true;
    this.requests.close();
    const worker = supervisor.worker;
    const started = supervisor.started;
    let stats: ShardStats | undefined;
    if (!gate.failure && started && started.diagnostics.length === 0) {
      stats = (await worker.control.stop()) as ShardStats;
      await this.reader.stopped();
      await worker.task.catch(() => undefined);
    }
    this.reader.pending.rejectAll(closedError(true));
    await this.host.end(worker);
    await this.host.settleParked();
    return stats;
  }
}

/** Polls `done` about every millisecond (settle() is not on the hot path). */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 1));
}
