/**
 * The coordinator's side of one shard: its two rings, its worker (a one-thread piscina
 * pool running one long task), the comlink proxy for control calls, and the hot path
 * that writes records into the request ring.
 *
 * Hot path: a record is written straight into a claimed ring slot (header, then the
 * payload through the kernel's generated encoder) and becomes visible at the next
 * publish: at the end of the current microtask queue, or every PUBLISH_EVERY records, so
 * a burst of tells costs one store and at most one notify.
 *
 * When the ring is full, records wait in an overflow queue (policy 'wait', bounded by
 * maxQueued) or are refused (policy 'reject'). Once anything waits, every new record
 * queues behind it, so per-actor order holds.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { ErrorCode, RingshardError } from '../errors.ts';
import type { Codec } from '../layout/codec.ts';
import { Op, REPLY_HEADER_WORDS, REQUEST_HEADER_WORDS, ReplyHeader, RequestHeader, SEND_HEADER_WORDS, SendHeader, kernelOp } from '../layout/record.ts';
import { SpscRing } from '../rings/spsc-ring.ts';
import { connect, release, type Remote } from '../control/comlink.ts';
import { isWorkerLogLine, type CheckpointPolicy, type ShardConfig, type ShardControl, type ShardStarted, type ShardStats } from '../protocol.ts';
import { ReferenceErrors, createReferenceErrors } from '../kernels/reference-errors.ts';
import { CheckpointStat, CheckpointStore } from '../recovery/checkpoint-store.ts';
import { DispatchWatch, createWatchBuffers, type Busy } from '../recovery/dispatch-watch.ts';
import { HybridClock } from '../coordinator/hlc.ts';
import { OverflowQueue } from './overflow-queue.ts';
import { PendingReplies, type PendingAsk } from './pending-replies.ts';
import { SendDeduplicator } from '../recovery/send-dedupe.ts';
import { SYSTEM_CALLER, type AskSpec, type Caller, type RecordTarget, type ShardLink } from '../coordinator/shard-link.ts';
import type { MessageBatch } from '../layout/columns.ts';

export type { RecordTarget } from '../coordinator/shard-link.ts';

const PUBLISH_EVERY = 1024;
/** How long shutdown waits for a worker whose GPU hung to settle. */
const PARKED_WAIT_MS = 120_000;
const REPLY_TAKE = 4096;
const RESOLVED: Promise<void> = Promise.resolve();
// Compiled (this module is dist/src/shard/shard-client.js): piscina loads the
// compiled worker directly. From sources under tsx: ts-entry.mjs registers tsx in the
// worker (Node 20 workers do not inherit it), then imports SHARD_WORKER.
const SHARD_WORKER = import.meta.url.endsWith('.js') ? undefined : new URL('../../workers/shard-worker.ts', import.meta.url);
const WORKER_ENTRY = new URL(SHARD_WORKER ? '../../workers/ts-entry.mjs' : '../../workers/shard-worker.js', import.meta.url);

/** Why a shard's worker was replaced (the `cause` label of ringshard_recoveries_total). */
export type RecoveryCause = 'worker-exit' | 'device-lost' | 'watchdog' | 'restart';
export const RECOVERY_CAUSES: readonly RecoveryCause[] = ['worker-exit', 'device-lost', 'watchdog', 'restart'];

/** A fault `injectFault` can cause. */
export type FaultKind = 'worker-exit' | 'device-lost';

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

/** What the shard's worker is: one pool, one long task, one control proxy. */
interface WorkerHandle {
  readonly pool: Piscina;
  readonly task: Promise<ShardStats>;
  readonly control: Remote<ShardControl>;
  /** The coordinator's end of the control channel; closed when the worker goes. */
  readonly port: MessagePort;
  /** Set once the worker's task failed (the worker died or its device was lost). */
  failed: unknown;
  /** Resolves once the worker's start() returned (or failed). */
  readonly up: Promise<void>;
  markUp: () => void;
}

export class ShardClient implements ShardLink {
  readonly index: number;
  readonly requests: SpscRing;
  readonly replies: SpscRing;
  readonly pending = new PendingReplies();
  private worker: WorkerHandle;
  private readonly config: ShardConfig;
  private readonly clock: HybridClock;
  private readonly recordWords: number;
  private readonly overflow: OverflowQueue;
  private flushQueued = false;
  private nextCorrelation = 1;
  private replyLoop: Promise<void> | undefined;
  private failure: RingshardError | undefined;
  private closed = false;
  private restarting: Promise<void> | undefined;
  private readonly restartTimes: number[] = [];
  private readonly maxRestartsPerMinute: number;
  /** Worker replacements so far (the ringshard_shard_restarts_total metric). */
  restarts = 0;
  /** Recoveries with state kept, by cause (ringshard_recoveries_total). */
  readonly recoveries = new Map<RecoveryCause, number>(RECOVERY_CAUSES.map((c) => [c, 0]));
  /** The shard's checkpoint, in memory this thread owns; undefined when checkpoints are off. */
  readonly checkpoints: CheckpointStore | undefined;
  private readonly watch: DispatchWatch;
  private readonly maxDispatchMs: number;
  private watchTimer: NodeJS.Timeout | undefined;
  /** Records to replay one actor per batch (suspects of the last hang). */
  private isolate: { from: number; count: number } | undefined;
  /** Actors whose messages kept hanging the dispatch; their messages are refused. */
  readonly quarantined = new Set<number>();
  /** Called when an actor is quarantined (its id). */
  onQuarantine: (actorId: number) => void = () => {};
  started: ShardStarted | undefined;
  /** Called once if the shard fails for good (its worker keeps dying, or cannot start). */
  onFailure: (error: RingshardError) => void = () => {};
  /**
   * Called when the worker is replaced without a checkpoint, before the new one starts:
   * the actors placed here lost their state, and the cluster retires them (they
   * re-activate on their next message).
   */
  onRestart: (reason: RingshardError) => void = () => {};
  /** Called when the worker is replaced and its actors recover from the checkpoint. */
  onRecover: (cause: RecoveryCause, reason: RingshardError) => void = () => {};
  /** Called with each line the worker has for the cluster's logger (a worker never prints). */
  onLog: (line: string) => void = () => {};
  /**
   * Called with each K2K send record the shard's handlers made (at word `offset` of
   * `words`, valid only during the call), once each: a replay's repeats are dropped here.
   */
  onSend: (words: Uint32Array, offset: number) => void = () => {};
  /** Drops the sends a replay makes again (exactly once across recoveries). */
  readonly sends = new SendDeduplicator();
  /** Reply ring index up to which the coordinator has processed replies and sends. */
  private repliesProcessed = 0;

  private readonly flush = () => {
    this.flushQueued = false;
    this.requests.publish();
    this.clock.refresh();
  };

  constructor(options: ShardClientOptions) {
    this.index = options.config.index;
    this.clock = options.clock;
    this.recordWords = options.recordWords;
    this.maxRestartsPerMinute = options.maxRestartsPerMinute ?? 5;
    this.requests = SpscRing.create({ capacity: options.ringCapacity, slotWords: options.recordWords });
    this.overflow = new OverflowQueue(this.requests, options.recordWords, options.policy, options.maxQueued, this.index, options.maxK2KQueued ?? options.maxQueued);
    this.replies = SpscRing.create({ capacity: options.replyRingCapacity, slotWords: options.replyWords });
    this.checkpoints = options.checkpoint
      ? CheckpointStore.create(options.config.batch.stateStride, options.config.maxSlots, this.requests.committedIndex)
      : undefined;
    const watch = createWatchBuffers();
    this.watch = new DispatchWatch(watch);
    // cpu backend: why a reference failed an ask comes back through this table.
    const referenceErrors = options.config.backend === 'cpu' ? createReferenceErrors() : undefined;
    if (referenceErrors) {
      const table = new ReferenceErrors(referenceErrors);
      this.pending.explain = (correlation) => table.find(correlation);
    }
    this.maxDispatchMs = options.maxDispatchMs;
    this.config = {
      ...options.config,
      requestRing: this.requests.buffer,
      replyRing: this.replies.buffer,
      watch,
      ...(referenceErrors ? { referenceErrors } : {}),
      ...(this.checkpoints && options.checkpoint ? { checkpoint: { ...options.checkpoint, buffers: this.checkpoints.buffers } } : {}),
    };
    this.worker = this.spawn(this.config);
    if (Number.isFinite(this.maxDispatchMs)) {
      this.watchTimer = setInterval(() => this.checkDispatch(), Math.max(5, Math.min(1000, this.maxDispatchMs / 4)));
      this.watchTimer.unref();
    }
  }

  /** Checkpoint counters of this shard (ringshard_checkpoints_total and friends). */
  get checkpointStats(): { checkpoints: number; durationUs: number; bytes: number; lastBytes: number; replayed: number } | undefined {
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

  private spawn(config: ShardConfig): WorkerHandle {
    const pool = new Piscina({
      filename: WORKER_ENTRY.href,
      workerData: SHARD_WORKER ? { tsEntry: SHARD_WORKER.href } : {},
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: Infinity,
      // A GPU shard's event loop must keep running: never park it in Atomics.wait.
      atomics: 'disabled',
    });
    const { port1, port2 } = new MessageChannel();
    const task = pool.run({ port: port2, config }, { transferList: [port2] }) as Promise<ShardStats>;
    // The control port alone must not keep the process alive: a finished process was
    // seen lingering with two open MessagePorts. The worker's running task does that.
    port1.unref();
    let markUp!: () => void;
    const up = new Promise<void>((resolve) => (markUp = resolve));
    const handle: WorkerHandle = { pool, task, control: connect<ShardControl>(port1), port: port1, failed: undefined, up, markUp };
    // Lines for the logger share the control port with comlink (whose messages have an id);
    // added after comlink's listener, so the port's ref state stays what comlink left.
    port1.on('message', (data: unknown) => {
      if (isWorkerLogLine(data)) this.onLog(data.ringshardLog);
    });
    // Only the current worker's end matters; a replaced one is expected to fail.
    task.catch((error: unknown) => {
      handle.failed = error ?? new Error('the worker failed');
      if (this.worker === handle && !this.restarting) this.workerFailed(error);
    });
    return handle;
  }

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
    if (started.diagnostics.length === 0) this.replyLoop ??= this.drainReplies();
    return started;
  }

  get queued(): number {
    return this.overflow.size;
  }

  /** Records that waited for ring space, and records refused (backpressure metrics). */
  get backpressure(): { readonly waits: number; readonly rejections: number } {
    return this.overflow.counts;
  }

  get failed(): RingshardError | undefined {
    return this.failure;
  }

  // ------------------------------------------------------------------ sending

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.closed) throw new RingshardError(ErrorCode.CLOSED, 'the cluster is shut down');
  }

  private k2kFull(): RingshardError {
    return new RingshardError(
      ErrorCode.RING_FULL,
      `shard ${this.index}: a K2K message was dropped: ${this.overflow.k2kSize} K2K messages already wait for ring space (maxK2KQueuedPerShard)`,
    );
  }

  private checkQuarantine(to: RecordTarget): void {
    if (this.quarantined.has(to.actorId)) {
      throw new RingshardError(
        ErrorCode.QUARANTINED,
        `actor ${to.actorId} on shard ${this.index} is quarantined: its messages hung the shard's dispatch for longer than maxDispatchMs (${this.maxDispatchMs} ms) twice, so its messages are refused; other actors are served`,
      );
    }
  }

  /** Correlation ids for `n` records: a run that never contains 0 (0 means tell). */
  allocateCorrelations(n: number): number {
    if (this.nextCorrelation + n > 0xffffffff) this.nextCorrelation = 1;
    const base = this.nextCorrelation;
    this.nextCorrelation += n;
    return base;
  }

  private writeHeader(w: Uint32Array, o: number, to: RecordTarget, op: Op, correlation: number, from: Caller): void {
    const clock = this.clock;
    clock.tick();
    w[o + RequestHeader.target] = to.location;
    w[o + RequestHeader.kernelOp] = kernelOp(to.kernelId, op);
    w[o + RequestHeader.correlation] = correlation;
    w[o + RequestHeader.source] = from.sourceId;
    w[o + RequestHeader.tenant] = from.tenantId ?? to.tenantId;
    w[o + RequestHeader.principal] = from.principalId;
    w[o + RequestHeader.roles] = from.roles;
    w[o + RequestHeader.hlcHi] = clock.hi;
    w[o + RequestHeader.hlcLo] = clock.lo;
    w[o + RequestHeader.enqueuedUs] = clock.nowUs;
  }

  /**
   * Sends one record. Resolves when it is in the ring (at once, usually). Throws
   * ERR_RINGSHARD_SCHEMA if `msg` does not fit `codec` and ERR_RINGSHARD_RING_FULL when
   * the policy refuses to wait; nothing is sent then.
   */
  send(to: RecordTarget, op: Op, codec: Codec | undefined, msg: unknown, correlation: number, from: Caller): Promise<void> {
    if (this.failure !== undefined || this.closed) this.check();
    if (this.quarantined.size > 0) this.checkQuarantine(to);
    const ring = this.requests;
    const overflow = this.overflow;
    if (overflow.empty) {
      const o = ring.claim();
      if (o >= 0) {
        this.writeHeader(ring.words, o, to, op, correlation, from);
        if (codec) {
          try {
            codec.encode(msg as never, ring.words, ring.floats, o + REQUEST_HEADER_WORDS);
          } catch (error) {
            ring.unclaim();
            throw error;
          }
        }
        this.schedulePublish();
        return RESOLVED;
      }
    }
    // The ring is full, or records already wait: queue behind them (order per actor).
    const o = overflow.claim();
    this.writeHeader(overflow.words, o, to, op, correlation, from);
    if (codec) codec.encode(msg as never, overflow.words, overflow.floats, o + REQUEST_HEADER_WORDS);
    return overflow.commit();
  }

  /**
   * Sends many records to one actor as one unit: all are encoded (and checked) before
   * any is sent. Written in place when the ring has the run free in one piece (a
   * claimed run is invisible until published, so a message that fails its check gives
   * the run back and nothing is sent); else packed apart and copied in.
   */
  sendMany(to: RecordTarget, op: Op, msgs: MessageBatch, correlationBase: number, from: Caller): Promise<void> {
    if (this.failure !== undefined || this.closed) this.check();
    if (this.quarantined.size > 0) this.checkQuarantine(to);
    const n = msgs.count;
    const rw = this.recordWords;
    const ring = this.requests;
    if (this.overflow.empty) {
      const o = ring.claimRun(n);
      if (o >= 0) {
        try {
          msgs.write(ring.words, ring.floats, o + REQUEST_HEADER_WORDS, rw);
        } catch (error) {
          ring.unclaimMany(n);
          throw error;
        }
        this.writeHeaders(ring.words, o, n, to, op, correlationBase, from);
        this.schedulePublish();
        return RESOLVED;
      }
    }
    this.overflow.checkFits(n);
    const words = new Uint32Array(n * rw);
    const floats = new Float32Array(words.buffer);
    // Every payload first: a bad message throws before any header takes a clock tick.
    msgs.write(words, floats, REQUEST_HEADER_WORDS, rw);
    this.writeHeaders(words, 0, n, to, op, correlationBase, from);
    return this.pushUnit(words, n);
  }

  /**
   * The headers of `n` records to one actor from word `o` on, one record every
   * recordWords: correlations correlationBase + i (0: tells), one clock run.
   */
  private writeHeaders(w: Uint32Array, o: number, n: number, to: RecordTarget, op: Op, correlationBase: number, from: Caller): void {
    const rw = this.recordWords;
    const clock = this.clock;
    const location = to.location;
    const ko = kernelOp(to.kernelId, op);
    const source = from.sourceId;
    const tenant = from.tenantId ?? to.tenantId;
    const principal = from.principalId;
    const roles = from.roles;
    // Header words as locals: module bindings are re-checked on every use.
    const targetAt = RequestHeader.target;
    const kernelOpAt = RequestHeader.kernelOp;
    const correlationAt = RequestHeader.correlation;
    const sourceAt = RequestHeader.source;
    const tenantAt = RequestHeader.tenant;
    const principalAt = RequestHeader.principal;
    const rolesAt = RequestHeader.roles;
    const hiAt = RequestHeader.hlcHi;
    const loAt = RequestHeader.hlcLo;
    const enqueuedAt = RequestHeader.enqueuedUs;
    for (let done = 0; done < n; ) {
      const run = Math.min(n - done, HybridClock.MAX_RUN);
      const lo = clock.tickMany(run);
      const hi = clock.hi;
      const now = clock.nowUs;
      for (let i = 0, p = o + done * rw; i < run; i++, p += rw) {
        w[p + targetAt] = location;
        w[p + kernelOpAt] = ko;
        w[p + correlationAt] = correlationBase === 0 ? 0 : (correlationBase + done + i) >>> 0;
        w[p + sourceAt] = source;
        w[p + tenantAt] = tenant;
        w[p + principalAt] = principal;
        w[p + rolesAt] = roles;
        w[p + hiAt] = hi;
        w[p + loAt] = lo + i;
        w[p + enqueuedAt] = now;
      }
      done += run;
    }
  }

  /** Sends `count` packed records as one unit: all go, in order, or none does. */
  private pushUnit(words: Uint32Array, count: number): Promise<void> {
    if (this.overflow.empty) {
      // All or nothing: what will not fit in the ring must be admitted to the queue
      // before any of it is sent, or a refusal would leave part of the batch sent.
      const room = Math.max(0, this.requests.availableWrite());
      if (room < count) this.overflow.admit(count - room);
      const n = this.requests.tryPush(words, count);
      if (n === count) return RESOLVED;
      return this.overflow.append(words.subarray(n * this.recordWords), count - n);
    }
    return this.overflow.append(words, count);
  }

  // ------------------------------------------------------------------ ShardLink

  tell(to: RecordTarget, from: Caller, codec: Codec, msg: unknown): Promise<void> {
    return this.send(to, Op.MESSAGE, codec, msg, 0, from);
  }

  tellMany(to: RecordTarget, from: Caller, msgs: MessageBatch): Promise<void> {
    return this.sendMany(to, Op.MESSAGE, msgs, 0, from);
  }

  ask(to: RecordTarget, from: Caller, codec: Codec, msg: unknown, reply: AskSpec): Promise<unknown> {
    return this.request(to, Op.MESSAGE, codec, msg, reply, from);
  }

  askMany(to: RecordTarget, from: Caller, msgs: MessageBatch, reply: AskSpec): Promise<unknown> {
    const base = this.allocateCorrelations(msgs.count);
    const sent = this.sendMany(to, Op.MESSAGE, msgs, base, from);
    return this.expect(base, msgs.count, true, reply, sent);
  }

  forward(to: RecordTarget, send: Uint32Array, offset: number, payloadWords: number, onDead: (error: Error) => void): void {
    this.check();
    if (this.quarantined.size > 0) this.checkQuarantine(to);
    // The receiver's time is after the sender's: merge, then stamp.
    const clock = this.clock;
    clock.receive(send[offset + SendHeader.hlcHi]!, send[offset + SendHeader.hlcLo]!);
    clock.tick();
    const ring = this.requests;
    let w: Uint32Array;
    let o = this.overflow.empty ? ring.claim() : -1;
    if (o >= 0) w = ring.words;
    else {
      // K2K messages wait within a budget of their own (maxK2KQueuedPerShard), apart from callers'.
      o = this.overflow.claimK2K();
      if (o < 0) {
        onDead(this.k2kFull());
        return;
      }
      w = this.overflow.words;
    }
    w[o + RequestHeader.target] = to.location;
    w[o + RequestHeader.kernelOp] = kernelOp(to.kernelId, Op.MESSAGE);
    w[o + RequestHeader.correlation] = 0;
    w[o + RequestHeader.source] = send[offset + SendHeader.source]!;
    w[o + RequestHeader.tenant] = send[offset + SendHeader.tenant]!;
    w[o + RequestHeader.principal] = send[offset + SendHeader.principal]!;
    w[o + RequestHeader.roles] = send[offset + SendHeader.roles]!;
    w[o + RequestHeader.hlcHi] = clock.hi;
    w[o + RequestHeader.hlcLo] = clock.lo;
    w[o + RequestHeader.enqueuedUs] = clock.nowUs;
    const words = Math.min(payloadWords, this.recordWords - REQUEST_HEADER_WORDS);
    const from = offset + SEND_HEADER_WORDS;
    for (let i = 0; i < words; i++) w[o + REQUEST_HEADER_WORDS + i] = send[from + i]!;
    if (w !== ring.words) {
      void this.overflow.commit();
      return;
    }
    this.schedulePublish();
  }

  /** A record was written into a claimed ring slot: it becomes visible at the next publish. */
  private schedulePublish(): void {
    if (this.requests.pendingClaims >= PUBLISH_EVERY) this.requests.publish();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flush);
    }
  }

  snapshot(to: RecordTarget, reply: AskSpec): Promise<unknown> {
    return this.request(to, Op.SNAPSHOT, undefined, undefined, reply, SYSTEM_CALLER);
  }

  terminate(to: RecordTarget, reply: AskSpec): Promise<unknown> {
    return this.request(to, Op.SHUTDOWN, undefined, undefined, reply, SYSTEM_CALLER);
  }

  activate(to: RecordTarget): Promise<void> {
    // The shard learns the actor's id from its INIT: the source word carries it.
    return this.send(to, Op.INIT, undefined, undefined, 0, arriving(to));
  }

  retire(to: RecordTarget): Promise<void> {
    return this.send(to, Op.SHUTDOWN, undefined, undefined, 0, SYSTEM_CALLER);
  }

  exportState(to: RecordTarget, reply: AskSpec): Promise<unknown> {
    return this.request(to, Op.EXPORT, undefined, undefined, reply, SYSTEM_CALLER);
  }

  /** The state goes in IMPORT records of a slot's payload each (offset in the principal word). */
  importState(to: RecordTarget, stateCodec: Codec, state: unknown): Promise<void> {
    this.check();
    const state32 = new Uint32Array(stateCodec.words);
    stateCodec.encode(state as never, state32, new Float32Array(state32.buffer), 0);
    const rw = this.recordWords;
    const per = rw - REQUEST_HEADER_WORDS;
    const parts = Math.max(1, Math.ceil(state32.length / per));
    this.overflow.checkFits(parts);
    const words = new Uint32Array(parts * rw);
    const from = arriving(to);
    for (let p = 0; p < parts; p++) {
      const o = p * rw;
      this.writeHeader(words, o, to, Op.IMPORT, 0, from);
      words[o + RequestHeader.principal] = p * per;
      words.set(state32.subarray(p * per, (p + 1) * per), o + REQUEST_HEADER_WORDS);
    }
    return this.pushUnit(words, parts);
  }

  private request(to: RecordTarget, op: Op, codec: Codec | undefined, msg: unknown, reply: AskSpec, from: Caller): Promise<unknown> {
    const base = this.allocateCorrelations(1);
    const sent = this.send(to, op, codec, msg, base, from);
    return this.expect(base, 1, false, reply, sent);
  }

  /** Registers an ask whose replies will come back in ring order. */
  private expect(base: number, count: number, many: boolean, reply: AskSpec, sent: Promise<void>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const onDone = reply.onDone;
      const entry: PendingAsk = {
        base,
        count,
        received: 0,
        codec: reply.codec,
        many,
        sink: reply.sink,
        values: many && !reply.sink ? new Array(count) : undefined,
        value: undefined,
        failures: undefined,
        deadline: performance.now() + reply.timeoutMs,
        timeoutMs: reply.timeoutMs,
        settled: false,
        what: reply.what,
        resolve,
        reject,
        onDone: onDone ? () => onDone() : undefined,
      };
      this.pending.push(entry);
      // A record that waited for ring space and then could not be sent fails its ask
      // (a record already in the ring shares the resolved promise: nothing to watch).
      if (sent !== RESOLVED) sent.catch((error: Error) => this.pending.settle(entry, error));
    });
  }

  // ------------------------------------------------------------------ replies

  private async drainReplies(): Promise<void> {
    const ring = this.replies;
    const words = ring.words;
    const floats = ring.floats;
    for (;;) {
      const start = ring.readIndex;
      const n = ring.take(REPLY_TAKE);
      if (n === 0) {
        const r = await ring.waitReadableAsync(Infinity, false);
        if (r === 'closed' && ring.availableRead() === 0) {
          if (this.closed || this.failure) return;
          // The worker closed it on its way out; its replacement reopens it.
          await (this.restarting ?? new Promise((resolve) => setTimeout(resolve, 10)));
        }
        continue;
      }
      for (let i = 0; i < n; i++) {
        const o = ring.slotOffset(start + i);
        const correlation = words[o + ReplyHeader.correlation]!;
        if (correlation === 0) this.passOnSend(words, o);
        else this.pending.deliver(correlation, words[o + ReplyHeader.status]!, words, floats, o + REPLY_HEADER_WORDS);
      }
      ring.commit(n);
      this.repliesProcessed = (start + n) | 0;
    }
  }

  /** A K2K send record: passed on once; a replay's repeat of one passed on before is dropped. */
  private passOnSend(words: Uint32Array, o: number): void {
    if (this.sends.accept(words[o + SendHeader.cause]!, words[o + SendHeader.ordinal]!)) this.onSend(words, o);
  }

  /**
   * Resolves once every record in the ring (or queued for it) when called has been
   * handled and its replies and sends processed here (the sends passed on by onSend).
   */
  async settle(): Promise<void> {
    await this.drainQueued();
    const head = this.requests.headIndex;
    await until(() => this.failure !== undefined || this.closed || ((this.requests.handledIndex - head) | 0) >= 0);
    const replies = this.replies.publishedIndex;
    await until(() => this.failure !== undefined || this.closed || ((this.repliesProcessed - replies) | 0) >= 0);
    if (this.failure) throw this.failure;
  }

  // ------------------------------------------------------------------ lifecycle

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
    return this.restartTimes.length <= this.maxRestartsPerMinute;
  }

  private workerFailed(cause: unknown): void {
    if (this.failure || this.closed) return;
    const { code, message, kind } = this.causeOf(cause);
    const error = new RingshardError(code, `shard ${this.index}'s worker failed: ${message}`, { cause });
    if (!this.withinRestartBudget()) {
      this.fail(new RingshardError(code, `shard ${this.index} failed: its worker died ${this.restartTimes.length} times within a minute; last: ${message}`, { cause }));
      return;
    }
    void this.restart(error, kind).catch((restartError: unknown) => this.fail(restartError));
  }

  private fail(cause: unknown): void {
    if (this.failure || this.closed) return;
    this.failure = cause instanceof RingshardError ? cause : new RingshardError(ErrorCode.WORKER_EXIT, `shard ${this.index} failed: ${String(cause)}`, { cause });
    this.pending.rejectAll(this.failure);
    this.overflow.rejectAll(this.failure);
    this.onFailure(this.failure);
  }

  /** Looks at what is on the GPU; a batch there for longer than maxDispatchMs replaces the worker. */
  private checkDispatch(): void {
    if (this.closed || this.failure || !this.started) return;
    const busy = this.watch.busy();
    if (!busy) return;
    const nowMs = performance.timeOrigin + performance.now() - this.config.epochMs;
    if (nowMs - busy.sinceMs <= this.maxDispatchMs) return;
    if (this.restarting) {
      // The replacement hung in its own replay before it answered start(): on the cpu
      // backend its thread is stuck in JS, so the restart would wait for ever. End the
      // thread; the restart loop replaces it again, isolating or quarantining as below.
      if (this.config.backend === 'cpu' && !this.endedWhileStarting && busy.generation === this.watch.generation) {
        this.endedWhileStarting = true;
        this.suspect(busy);
        void this.worker.pool.threads[0]?.terminate();
      }
      return;
    }
    const what = this.suspect(busy);
    const reason = new RingshardError(ErrorCode.WORKER_EXIT, `shard ${this.index}: a batch was on the GPU for more than maxDispatchMs (${this.maxDispatchMs} ms); ${what}`);
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
      this.quarantined.add(busy.actor);
      this.onQuarantine(busy.actor);
      return `actor ${busy.actor}'s messages hung it again; the actor is quarantined`;
    }
    this.isolate = { from: busy.from, count: busy.count };
    return `its ${busy.count} records are replayed one actor at a time to find the one that hangs`;
  }

  /** The watchdog ended a replacement that hung as it started (see checkDispatch). */
  private endedWhileStarting = false;

  /**
   * Replaces the shard's worker (and its GPU device). With checkpoints on, the new worker
   * restores the actors' last checkpoint and replays the records after it: nothing is
   * lost and every ask is answered once. Without, the actors placed here lose their state;
   * records not yet handled are dropped, waiting asks reject with `reason`, and the actors
   * activate afresh on their next message. Counters in the metric tables continue.
   */
  restart(reason?: RingshardError, cause: RecoveryCause = 'restart'): Promise<void> {
    if (this.closed) return Promise.reject(new RingshardError(ErrorCode.CLOSED, 'the cluster is shut down'));
    this.restarting ??= this.replaceWorker(
      reason ??
        new RingshardError(
          ErrorCode.WORKER_EXIT,
          this.checkpoints ? `shard ${this.index}: restartShard() was called` : `shard ${this.index} was restarted before the reply came`,
        ),
      cause,
    ).finally(() => {
      this.restarting = undefined;
      // A worker that died in the moment its recovery ended was not seen by anyone.
      if (this.worker.failed !== undefined && !this.closed && !this.failure) this.workerFailed(this.worker.failed);
    });
    return this.restarting;
  }

  private async replaceWorker(reason: RingshardError, cause: RecoveryCause): Promise<void> {
    const keep = this.checkpoints !== undefined;
    if (keep) this.countRecovery(cause, reason);
    else {
      this.restarts++;
      // Everything not yet handled is for actors that are about to lose their state.
      this.pending.rejectAll(reason);
      this.overflow.rejectAll(reason);
      this.onRestart(reason);
    }
    this.requests.publish();
    for (;;) {
      const config: ShardConfig = {
        ...this.config,
        ...(keep ? {} : { skipTo: this.requests.headIndex }),
        ...(this.isolate ? { isolate: this.isolate } : {}),
        ...(this.quarantined.size > 0 ? { quarantined: [...this.quarantined] } : {}),
      };
      const old = this.worker;
      this.endedWhileStarting = false;
      // From here on the old worker must not touch the rings, whatever state it is in.
      // (The new one touches them only once started, after the old one is retired.)
      const generation = this.watch.nextGeneration();
      this.worker = this.spawn({ ...config, generation });
      await this.retireWorker(old, cause);
      this.watch.clearStale();
      if (this.closed) return;
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
      if (died !== undefined && !this.closed) {
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
    this.onRecover(cause, reason);
  }

  /** Old workers whose GPU hung: ended once their GPU work settles (dawn.node aborts otherwise). */
  private readonly parked = new Set<Promise<void>>();

  /**
   * Ends a replaced worker's thread. A thread may end only with no mapAsync pending, or
   * dawn.node aborts the process: a worker that died or lost its device waited for that
   * itself; a live one is asked to quiesce first. One whose GPU hung (the watchdog) cannot
   * quiesce: on the cpu backend it is stuck in JS and can be ended; on webgpu it is parked
   * (it no longer owns the rings) and ended once its GPU work settles.
   */
  private async retireWorker(old: WorkerHandle, cause: RecoveryCause): Promise<void> {
    const end = async () => {
      release(old.control);
      old.port.close();
      await old.pool.destroy().catch(() => undefined);
    };
    if (old.failed !== undefined) return end();
    const quiesced = Promise.race([old.control.quiesce(), old.task.then(() => undefined, () => undefined)]).catch(() => undefined);
    const hung = cause === 'watchdog';
    const gpu = this.config.backend === 'webgpu';
    const settledInTime = await Promise.race([quiesced.then(() => true), delay(hung ? 0 : 5000).then(() => false)]);
    if (settledInTime || !gpu) return end();
    const parked: Promise<void> = quiesced.then(end).finally(() => this.parked.delete(parked));
    this.parked.add(parked);
  }

  /**
   * Causes a fault on purpose (tests and drills). 'worker-exit' ends the worker thread at
   * once, with no clean-up in it; 'device-lost' destroys its GPUDevice (on the cpu backend,
   * fails the backend the same way). Resolves once the fault has happened and the shard
   * has noticed it, not when recovery ends.
   */
  async injectFault(kind: FaultKind): Promise<void> {
    if (this.closed) throw new RingshardError(ErrorCode.CLOSED, 'the cluster is shut down');
    if (this.failure) throw this.failure;
    // A worker that already died is no target: wait for its replacement to be spawned
    // (else the fault would be a no-op, as a drill once found: 15 recoveries for 16 faults).
    while (this.worker.failed !== undefined) {
      if (this.closed) throw new RingshardError(ErrorCode.CLOSED, 'the cluster is shut down');
      if (this.failure) throw this.failure;
      await new Promise((resolve) => setImmediate(resolve));
    }
    // A fault during a recovery hits the worker that is starting: on webgpu once it runs
    // (ending a thread amid dawn.node's device set-up is not a fault users meet).
    if (this.config.backend === 'webgpu') await this.worker.up;
    const handle = this.worker;
    const noticed = handle.task.then(
      () => undefined,
      () => undefined,
    );
    if (kind === 'worker-exit') {
      // On webgpu the thread ends itself at the first moment dawn.node allows (no mapAsync
      // pending; see ShardControl.exit): nothing it did after the call counts.
      if (this.config.backend === 'webgpu') void handle.control.exit().catch(() => undefined);
      else await handle.pool.threads[0]?.terminate();
    } else if (kind === 'device-lost') {
      await handle.up;
      await Promise.race([handle.control.loseDevice(), noticed]);
    } else {
      throw new RingshardError(ErrorCode.INVALID_OPTION, `injectFault: kind must be 'worker-exit' or 'device-lost', got ${JSON.stringify(kind)}`);
    }
    await noticed;
  }

  /** Waits until every queued record is in the ring. */
  async drainQueued(): Promise<void> {
    this.flush();
    await this.overflow.flushed();
  }

  /**
   * Closes the request ring, lets the worker finish every record in it, and stops the
   * worker. Asks still waiting afterwards are rejected with ERR_RINGSHARD_CLOSED.
   */
  async stop(): Promise<ShardStats | undefined> {
    if (this.closed) return undefined;
    await this.restarting?.catch(() => undefined);
    if (this.watchTimer) clearInterval(this.watchTimer);
    await this.drainQueued();
    this.closed = true;
    this.requests.close();
    const { control, task, pool } = this.worker;
    let stats: ShardStats | undefined;
    if (!this.failure && this.started && this.started.diagnostics.length === 0) {
      stats = (await control.stop()) as ShardStats;
      await this.replyLoop;
      await task.catch(() => undefined);
    }
    this.pending.rejectAll(new RingshardError(ErrorCode.CLOSED, 'the cluster was shut down before the reply came'));
    release(control);
    this.worker.port.close();
    await pool.destroy();
    // Workers parked with a hung GPU end when it settles (the loop budget bounds every
    // handler, so it does): ending them sooner would abort the process in dawn.node.
    if (this.parked.size > 0) await Promise.race([Promise.all(this.parked), delay(PARKED_WAIT_MS)]);
    return stats;
  }
}

/** An arriving actor's records (INIT, IMPORT) carry its own id where a sender's would be. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function arriving(to: RecordTarget): Caller {
  return { principalId: 0, roles: 0, sourceId: to.actorId };
}

/** Polls `done` about every millisecond (drain() is not on the hot path). */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 1));
}
