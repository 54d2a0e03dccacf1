/**
 * The batch loop of one shard: request ring -> group by actor -> backend (GPU or CPU)
 * -> reply ring. It runs on the worker's event loop (Atomics.waitAsync when idle), which
 * must stay free because dawn.node resolves mapAsync from it.
 *
 * Pipelining: a batch is gathered and submitted while earlier ones are still on the
 * GPU (the backend bounds how many with its frames). Completions are chained, so replies
 * leave in ring order and records are marked handled in ring order, only after their
 * replies are in the reply ring.
 *
 * Recovery: with checkpoints on, records stay in the ring until a checkpoint covers them.
 * A replacement worker restores the checkpoint and runs every record after it again; the
 * ones its predecessor had answered (below the ring's HANDLED index) are replayed for
 * their effect on state only, so nothing is answered or counted twice.
 */
import type { BatchLayout } from '../../layout/batch.ts';
import { KERNEL_ID_SHIFT, NO_ACTOR, OP_MASK, Op, ReplyHeader, REPLY_HEADER_WORDS, RequestHeader, SEND_HEADER_WORDS, SendHeader, Status } from '../../layout/record.ts';
import { SEND_ENTRY_HEADER } from '../../layout/batch.ts';
import type { CheckpointPolicy, KernelWire, ShardStats } from '../../protocol.ts';
import { CheckpointStat, type CheckpointStore } from '../../recovery/checkpoint-store.ts';
import type { DispatchWatch } from '../../recovery/dispatch-watch.ts';
import { Checkpointer } from '../../recovery/checkpointer.ts';
import { SpscRing } from '../../rings/spsc-ring.ts';
import { layoutSchema } from '../../layout/schema.ts';
import { BatchGrouper, QUARANTINED_MARK, createBatchSegments, type BatchSegments } from './batch-grouper.ts';
import type { BatchResults, KernelBackend, StateCapture } from '../kernel-backend.ts';
import type { MetricsWriter } from '../../metrics/metrics-writer.ts';

interface PendingBatch {
  readonly start: number;
  readonly count: number;
  /** Per record rejection marks, only when the batch had any. */
  readonly rejected: Uint8Array | null;
  /** Some record wants a reply (an ask, snapshot or shutdown); payloads were read back. */
  readonly payloads: boolean;
  /** Segments (actors) in the batch. */
  readonly segmentCount: number;
  /** performance.now() at submit, for the dispatch round-trip metric. */
  readonly submittedAt: number;
  /** Which actor each record went to (for per-actor metrics); back to the pool after. */
  readonly segments: BatchSegments;
  /** Records a previous worker answered already: run again for their state, never answered or counted twice. */
  readonly replay: boolean;
  /** Records a previous worker counted in the metrics but did not mark handled: answered, not counted again. */
  readonly counted: boolean;
  /** The batch's one actor while suspects of a hung dispatch are isolated, else NO_ACTOR. */
  readonly isolatedActor: number;
}

/** Why a run of replies stopped before its batch's end: the record it stopped at has sends, which go first; or the reply ring is full. */
const RunStop = { SENDS: 0, FULL: 1 } as const;
type RunStop = (typeof RunStop)[keyof typeof RunStop];

export interface RuntimeOptions {
  readonly shardIndex: number;
  readonly requestRing: SharedArrayBuffer;
  readonly replyRing: SharedArrayBuffer;
  readonly kernels: readonly KernelWire[];
  readonly layout: BatchLayout;
  readonly backend: KernelBackend;
  readonly maxSlots: number;
  readonly metrics: MetricsWriter | undefined;
  /** Without a checkpoint: records before this index died with the old worker's state. */
  readonly skipTo: number | undefined;
  readonly checkpoint: { readonly store: CheckpointStore; readonly policy: CheckpointPolicy } | undefined;
  readonly watch: DispatchWatch;
  /** performance.timeOrigin + performance.now() of the cluster's start, ms. */
  readonly epochMs: number;
  /** Ring records to replay one actor per batch (suspects of a hung dispatch). */
  readonly isolate: { readonly from: number; readonly count: number } | undefined;
  /** Actors whose records are refused (Status.QUARANTINED). */
  readonly quarantined: ReadonlySet<number>;
  /** This worker's generation; once the watch shows another, the rings are not ours. */
  readonly generation: number;
}

export class ShardRuntime {
  private readonly requests: SpscRing;
  private readonly replies: SpscRing;
  private readonly grouper: BatchGrouper;
  private readonly layout: BatchLayout;
  private readonly backend: KernelBackend;
  private readonly metrics: MetricsWriter | undefined;
  private readonly checkpointer: Checkpointer | undefined;
  private readonly store: CheckpointStore | undefined;
  private readonly watch: DispatchWatch;
  private readonly epochMs: number;
  /** Records below this index were answered by a previous worker (a replay after recovery). */
  private readonly replayUntil: number;
  /** Records below this index are in the metrics already (a previous worker counted them). */
  private readonly countedUntil: number;
  private readonly isolate: { readonly from: number; readonly count: number } | undefined;
  /** Per kernel: payload words of a MESSAGE reply and of a state. */
  private readonly replyWords: Uint32Array;
  private readonly stateWords: Uint32Array;
  private completion: Promise<void> = Promise.resolve();
  private failure: unknown;
  private done: Promise<void> | undefined;
  private counters = { batches: 0, records: 0, replies: 0, rejected: 0, sends: 0, maxBatchSeen: 0 };
  /** Segment maps of finished batches, for reuse (one per batch in flight at most). */
  private readonly segmentPool: BatchSegments[] = [];
  /** Batches submitted and not yet finished, oldest first (what the watchdog is shown). */
  private readonly onGpu: PendingBatch[] = [];
  private readonly generation: number;
  private abandonedHere = false;

  constructor(options: RuntimeOptions) {
    const { layout, kernels, metrics } = options;
    this.layout = layout;
    this.backend = options.backend;
    this.metrics = metrics;
    this.watch = options.watch;
    this.epochMs = options.epochMs;
    this.generation = options.generation;
    this.isolate = options.isolate;
    this.requests = new SpscRing(options.requestRing);
    this.replies = new SpscRing(options.replyRing);
    // A worker that died before us may have closed the reply ring on its way out.
    this.replies.reopen();
    this.grouper = new BatchGrouper(layout, options.shardIndex, options.maxSlots, metrics !== undefined);
    if (options.checkpoint) {
      // Recovery: the last checkpoint's actors, then every record after it again.
      const store = (this.store = options.checkpoint.store);
      store.applyDelta();
      this.grouper.restoreAdmission(store.admission(), store.slots);
      this.backend.restoreStates(store.states(), store.slots);
      this.requests.rewindTo(store.covered);
      this.checkpointer = new Checkpointer(store, this.grouper, this.requests, options.checkpoint.policy);
    } else {
      // A replacement worker sees again what its predecessor took and did not finish...
      this.requests.rewind();
      if (options.skipTo !== undefined) {
        // ...unless the coordinator restarted the shard: the actors those records were for
        // lost their state with the old device, so records up to skipTo are dropped.
        const drop = (options.skipTo - this.requests.readIndex) | 0;
        if (drop > 0) {
          this.requests.take(drop);
          this.requests.commit(drop);
          metrics?.dropped(drop);
        }
      }
    }
    this.replayUntil = this.requests.handledIndex;
    this.countedUntil = this.store ? this.store.counted : this.replayUntil;
    this.grouper.quarantine(options.quarantined);
    this.replyWords = Uint32Array.from(kernels, (k) => layoutSchema(k.reply, k.name).words);
    this.stateWords = Uint32Array.from(kernels, (k) => layoutSchema(k.state, k.name).words);
  }

  /**
   * True once this worker must not touch the rings or the checkpoint: it was abandoned
   * (a crash drill), or replaced while its GPU hung. Its work since is thrown away, as in
   * a crash, and its successor replays it.
   */
  get abandoned(): boolean {
    return this.abandonedHere || this.watch.generation !== this.generation;
  }

  /** From now on this worker answers nothing and frees nothing (see abandoned). */
  abandon(): void {
    this.abandonedHere = true;
  }

  /** Starts the loop; the promise settles when the request ring is closed and drained. */
  run(): Promise<void> {
    this.done ??= this.loop();
    return this.done;
  }

  stats(): ShardStats {
    return {
      ...this.counters,
      stateSlots: this.backend.slots,
      stateBytes: this.backend.stateBytes,
    };
  }

  /** Shows the watchdog the oldest batch on the GPU. */
  private showOldest(): void {
    const oldest = this.onGpu[0];
    if (oldest === undefined) this.watch.show(this.generation, undefined);
    else this.watch.show(this.generation, oldest.submittedAt + performance.timeOrigin - this.epochMs, oldest.start, oldest.count, oldest.isolatedActor);
  }

  /** Reads a checkpoint's states back on their own, queued after every batch submitted so far. */
  private readStates(states: StateCapture | undefined): Promise<unknown> {
    return states ? this.backend.captureStates(states.slots, states.count, states.into) : Promise.resolve();
  }

  /** Runs a started checkpoint's finish after everything chained so far (their replies are out then). */
  private chainCheckpoint(finish: () => Promise<void>): void {
    this.completion = this.completion.then(() => (this.abandoned ? undefined : finish())).catch((error: unknown) => {
      this.failure ??= error;
    });
  }

  private async loop(): Promise<void> {
    const { requests, layout, checkpointer } = this;
    for (;;) {
      if (this.failure !== undefined || this.abandoned) break;
      if (requests.availableRead() === 0) {
        // Idle: a checkpoint due now goes on its own.
        if (checkpointer?.due(requests.readIndex, performance.now())) {
          const checkpoint = checkpointer.capture(requests.readIndex);
          this.chainCheckpoint(checkpoint.finish(this.readStates(checkpoint.states)));
        }
        const wait = checkpointer ? checkpointer.msUntilDue(requests.readIndex, performance.now()) : Infinity;
        if (wait === 0) continue;
        const r = await requests.waitReadableAsync(wait);
        if (r === 'closed' && requests.availableRead() === 0) break;
        continue;
      }
      const frame = await this.backend.acquireFrame();
      if (this.failure !== undefined || this.abandoned) break;
      // More may have arrived while every frame was busy: that is the batching.
      let offered = Math.min(requests.availableRead(), layout.maxBatch);
      const start = requests.readIndex;
      // A batch is all replay or all new, so replies and metrics are per batch.
      const replayLeft = (this.replayUntil - start) | 0;
      const countedLeft = (this.countedUntil - start) | 0;
      if (replayLeft > 0) offered = Math.min(offered, replayLeft);
      else if (countedLeft > 0) offered = Math.min(offered, countedLeft);
      let maxSegments = Infinity;
      const iso = this.isolate;
      if (iso !== undefined) {
        const into = (start - iso.from) | 0;
        if (into >= 0 && into < iso.count) {
          offered = Math.min(offered, iso.count - into);
          maxSegments = 1;
        }
      }
      requests.copyOut(start, offered, frame.records);
      const segments = this.segmentPool.pop() ?? createBatchSegments(layout.maxBatch);
      const batch = this.grouper.group(frame.records, offered, start >>> 0, frame.index, segments, maxSegments);
      requests.take(batch.count);
      checkpointer?.touched(segments.segmentSlot, batch.segments, batch.count);
      const pending: PendingBatch = {
        start,
        count: batch.count,
        rejected: batch.rejectedCount > 0 ? batch.rejected.slice(0, batch.count) : null,
        payloads: batch.needsPayloads,
        segmentCount: batch.segments,
        submittedAt: performance.now(),
        segments,
        replay: replayLeft > 0,
        counted: countedLeft > 0,
        isolatedActor: maxSegments === 1 && batch.segments === 1 ? frame.records[segments.order[0]! * layout.recordWords + RequestHeader.target]! : NO_ACTOR,
      };
      this.counters.batches++;
      this.counters.records += batch.count;
      this.counters.rejected += batch.rejectedCount;
      if (batch.count > this.counters.maxBatchSeen) this.counters.maxBatchSeen = batch.count;
      this.onGpu.push(pending);
      if (this.onGpu.length === 1) this.showOldest();
      // A checkpoint due now covers this batch too (taken above). Its states ride on the
      // batch, read back with its results, when they fit there; else they go on their own.
      const checkpoint = checkpointer?.due(requests.readIndex, performance.now()) ? checkpointer.capture(requests.readIndex) : undefined;
      const states = checkpoint?.states;
      const ride = states !== undefined && states.count <= layout.maxBatch ? states : undefined;
      const batchResults = this.backend.submit(frame, batch, ride);
      // Swallowed here, surfaced through this.failure: a rejected link must not become
      // an unhandled rejection while the loop is busy elsewhere.
      this.completion = this.completion
        .then(() => batchResults)
        .then((r) => this.finish(r, pending))
        .catch((error: unknown) => {
          this.failure ??= error;
        });
      if (checkpoint) this.chainCheckpoint(checkpoint.finish(ride ? batchResults : this.readStates(states)));
    }
    await this.completion;
    // The coordinator's reply loop ends when it sees this (a successor's must not).
    if (!this.abandoned) this.replies.close();
    if (this.failure !== undefined) throw this.failure;
  }

  /** Writes the batch's replies (asks, snapshots, shutdowns) and metrics, then commits its records. */
  private async finish(results: BatchResults, batch: PendingBatch): Promise<void> {
    const { requests, replies, store } = this;
    const metrics = batch.counted ? undefined : this.metrics;
    const end = (batch.start + batch.count) | 0;
    const req = requests.words;
    const mask = requests.capacity - 1;
    const slotWords = requests.slotWords;
    if (this.abandoned) {
      results.release();
      return;
    }
    this.onGpu.shift();
    this.showOldest();
    if (batch.replay) {
      // Answered and counted by the worker before: only the state effects were wanted.
      results.release();
      this.segmentPool.push(batch.segments);
      if (this.store) this.store.stats[CheckpointStat.replayed]! += batch.count;
      return;
    }
    try {
      if (metrics) {
        metrics.batch(batch.count, (performance.now() - batch.submittedAt) * 1000, this.backend.stateBytes, this.backend.slots);
        metrics.countSegments(req, batch.start, batch.count, mask, slotWords, batch.segments, batch.segmentCount, results.statuses, batch.rejected, metrics.nowUs());
      }
      // A batch of tells (no correlation anywhere) that sends nothing has no replies to write.
      if (batch.payloads || results.outbox.length > 0) {
        if (!(await this.writeReplies(batch, results, metrics, end))) return;
      }
      if (metrics) {
        store?.markCounted(end);
        metrics.flush(batch.segments.segmentSlot);
      }
      replies.publish();
    } finally {
      results.release();
      this.segmentPool.push(batch.segments);
    }
    // With checkpoints, records stay until one covers them (Checkpointer.capture).
    if (this.checkpointer) requests.markHandled(end);
    else requests.commit(batch.count);
  }

  /**
   * Writes the batch's replies (and sends) into the reply ring, in ring order. The
   * replies are written by a synchronous loop (writeReplyRun) that stops only where a
   * record has sends or the reply ring is full; this function waits there. (As one async
   * loop with its awaits inside: 57-70 ns of worker CPU per askMany record against 51-57,
   * null GPU, side by side.)
   * False when this worker was abandoned while it waited for room.
   */
  private async writeReplies(batch: PendingBatch, results: BatchResults, metrics: MetricsWriter | undefined, end: number): Promise<boolean> {
    const count = batch.count;
    let i = 0;
    let sendsDone = -1; // the record whose sends are out already
    for (;;) {
      i = this.writeReplyRun(batch, results, i, sendsDone);
      if (i >= count) return true;
      if (this.runStop === RunStop.SENDS) {
        const o = ((batch.start + i) & (this.requests.capacity - 1)) * this.requests.slotWords;
        if (!(await this.emitSends(batch, i, o, results.outbox, metrics, end))) return false;
        sendsDone = i;
      } else if (!(await this.waitForReplyRoom(batch, metrics, end))) return false;
    }
  }

  /** Why writeReplyRun stopped before the batch's end. */
  private runStop: RunStop = RunStop.SENDS;

  /**
   * Writes replies from record `from` on and returns where it stopped: the batch's end,
   * a record with sends to emit first (not `sendsDone`'s), or a full reply ring
   * (runStop says which). Reply slots are claimed in runs (one capacity check per run,
   * not per reply) and the constants the loop reads are locals: module bindings are
   * re-checked on every use.
   */
  private writeReplyRun(batch: PendingBatch, results: BatchResults, from: number, sendsDone: number): number {
    const { requests, replies } = this;
    const req = requests.words;
    const mask = requests.capacity - 1;
    const slotWords = requests.slotWords;
    const resultWords = this.layout.resultWords;
    const outbox = results.outbox;
    const emitting = outbox.length > 0;
    const outboxWords = this.layout.outboxWords;
    const statuses = results.statuses;
    const payloads = results.payloads;
    const rejected = batch.rejected;
    const replyWords = this.replyWords;
    const stateWords = this.stateWords;
    const reqCorrelation = RequestHeader.correlation;
    const reqKernelOp = RequestHeader.kernelOp;
    const reqTarget = RequestHeader.target;
    const reqEnqueued = RequestHeader.enqueuedUs;
    const repCorrelation = ReplyHeader.correlation;
    const repTarget = ReplyHeader.target;
    const repStatus = ReplyHeader.status;
    const repEnqueued = ReplyHeader.enqueuedUs;
    const headerWords = REPLY_HEADER_WORDS;
    const opMask = OP_MASK;
    const kernelShift = KERNEL_ID_SHIFT;
    const opMessage = Op.MESSAGE;
    const opInit = Op.INIT;
    const statusOk = Status.OK;
    const quarantinedMark = QUARANTINED_MARK;
    const statusQuarantined = Status.QUARANTINED;
    const statusRejected = Status.REJECTED;
    const rmask = replies.capacity - 1;
    const rsw = replies.slotWords;
    const out = replies.words;
    const start = batch.start;
    const count = batch.count;
    let seq = 0; // next reply index to write
    let room = 0; // slots claimed and not yet written
    let written = 0;
    let i = from;
    for (; i < count; i++) {
      const o = ((start + i) & mask) * slotWords;
      const mark = rejected !== null ? rejected[i]! : 0;
      if (emitting && i !== sendsDone && mark === 0 && statuses[i] === statusOk && outbox[i * outboxWords] !== 0) {
        this.runStop = RunStop.SENDS;
        break;
      }
      const correlation = req[o + reqCorrelation]!;
      if (correlation === 0) continue;
      if (room === 0) {
        seq = replies.headIndex;
        room = replies.claimMany(count - i);
        if (room === 0) {
          this.runStop = RunStop.FULL;
          break;
        }
      }
      const r = (seq & rmask) * rsw;
      seq = (seq + 1) | 0;
      room--;
      const ko = req[o + reqKernelOp]!;
      const status = mark === 0 ? statuses[i]! : mark === quarantinedMark ? statusQuarantined : statusRejected;
      out[r + repCorrelation] = correlation;
      out[r + repTarget] = req[o + reqTarget]!;
      out[r + repStatus] = status;
      out[r + repEnqueued] = req[o + reqEnqueued]!;
      if (status === statusOk) {
        const op = ko & opMask;
        const kernel = ko >>> kernelShift;
        const words = op === opMessage ? replyWords[kernel]! : op === opInit ? 0 : stateWords[kernel]!;
        const at = i * resultWords;
        for (let w = 0; w < words; w++) out[r + headerWords + w] = payloads[at + w]!;
      }
      written++;
    }
    // Sends claim their own slots, and a full ring is waited for: give back the run.
    replies.unclaimMany(room);
    this.counters.replies += written;
    return i;
  }

  /**
   * Publishes what is written and waits for room in the reply ring; false when this worker
   * was abandoned meanwhile. A reply must never be seen before its message is counted, so
   * the batch's counts go first.
   */
  private async waitForReplyRoom(batch: PendingBatch, metrics: MetricsWriter | undefined, end: number): Promise<boolean> {
    if (metrics) {
      this.store?.markCounted(end);
      metrics.flush(batch.segments.segmentSlot);
    }
    await this.replies.waitWritableAsync();
    return !this.abandoned;
  }

  /**
   * Puts record i's sends (K2K) into the reply ring as send records, for the coordinator
   * to route. A replay sends them again; the coordinator drops those by (cause, ordinal).
   * False when this worker was abandoned meanwhile.
   */
  private async emitSends(batch: PendingBatch, i: number, o: number, outbox: Uint32Array, metrics: MetricsWriter | undefined, end: number): Promise<boolean> {
    const { replies, layout } = this;
    const req = this.requests.words;
    const base = i * layout.outboxWords;
    const count = Math.min(outbox[base]!, layout.maxSends);
    const source = batch.segments.segmentActor[batch.segments.recordSegment[i]!]!;
    const payloadWords = layout.sendWords - SEND_ENTRY_HEADER;
    for (let j = 0; j < count; j++) {
      let r: number;
      while ((r = replies.claim()) < 0) if (!(await this.waitForReplyRoom(batch, metrics, end))) return false;
      const out = replies.words;
      const e = base + 1 + j * layout.sendWords;
      out[r + SendHeader.correlation] = 0;
      out[r + SendHeader.to] = outbox[e]!;
      out[r + SendHeader.kernel] = outbox[e + 1]!;
      out[r + SendHeader.cause] = batch.start + i;
      out[r + SendHeader.ordinal] = j;
      out[r + SendHeader.source] = source;
      out[r + SendHeader.tenant] = req[o + RequestHeader.tenant]!;
      out[r + SendHeader.principal] = req[o + RequestHeader.principal]!;
      out[r + SendHeader.roles] = req[o + RequestHeader.roles]!;
      out[r + SendHeader.hlcHi] = req[o + RequestHeader.hlcHi]!;
      out[r + SendHeader.hlcLo] = req[o + RequestHeader.hlcLo]!;
      for (let w = 0; w < payloadWords; w++) out[r + SEND_HEADER_WORDS + w] = outbox[e + SEND_ENTRY_HEADER + w]!;
      this.counters.sends++;
    }
    return true;
  }
}
