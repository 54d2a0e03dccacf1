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
import { TIMER_ENTRY_WORDS } from '../../layout/timer-table.ts';
import type { BatchLayout } from '../../layout/batch.ts';
import { NO_ACTOR, RequestHeader } from '../../layout/record.ts';
import type { CheckpointPolicy, KernelWire, ShardStats } from '../../protocol.ts';
import { CheckpointStat, type CheckpointStore } from '../../recovery/checkpoint-store.ts';
import type { DispatchWatch } from '../../recovery/dispatch-watch.ts';
import { Checkpointer } from '../../recovery/checkpointer.ts';
import { SpscRing } from '../../rings/spsc-ring.ts';
import { layoutSchema } from '../../layout/schema.ts';
import { BatchGrouper, createBatchSegments, type BatchSegments } from './batch-grouper.ts';
import { ReplyWriter, type PendingBatch } from './reply-writer.ts';
import { planBatch, type ReplayState } from '../../recovery/replay-plan.ts';
import type { BatchResults, KernelBackend, StateCapture } from '../kernel-backend.ts';
import type { MetricsWriter } from '../../metrics/metrics-writer.ts';

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
  /** Where recovery stands: what the next batches replay, or answer without counting. */
  private readonly replayState: ReplayState;
  private readonly replyWriter: ReplyWriter;
  private completion: Promise<void> = Promise.resolve();
  private failure: unknown;
  private done: Promise<void> | undefined;
  private readonly counters = { batches: 0, records: 0, rejected: 0, maxBatchSeen: 0 };
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
    this.requests = new SpscRing(options.requestRing);
    this.replies = new SpscRing(options.replyRing);
    // A worker that died before us may have closed the reply ring on its way out.
    this.replies.reopen();
    this.grouper = new BatchGrouper(layout, options.shardIndex, options.maxSlots, metrics !== undefined);
    if (options.checkpoint) {
      // Recovery: the last checkpoint's actors, then every record after it again.
      const store = (this.store = options.checkpoint.store);
      store.applyDelta();
      this.grouper.table.restoreAdmission(store.admission(), store.slots);
      this.backend.restoreStates(store.states(), store.slots);
      this.requests.rewindTo(store.covered);
      this.checkpointer = new Checkpointer(store, this.grouper.table, this.requests, options.checkpoint.policy);
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
    const replayUntil = this.requests.handledIndex;
    this.replayState = { replayUntil, countedUntil: this.store ? this.store.counted : replayUntil, isolate: options.isolate };
    this.grouper.table.quarantine(options.quarantined);
    this.replyWriter = new ReplyWriter(
      this.requests,
      this.replies,
      layout,
      Uint32Array.from(kernels, (k) => layoutSchema(k.reply, k.name).words),
      // The stored state: the timer table included (what SNAPSHOT, EXPORT and SHUTDOWN reply with).
      Uint32Array.from(kernels, (k) => layoutSchema(k.state, k.name).words + (k.timers ?? 0) * TIMER_ENTRY_WORDS),
      this.store,
      () => this.abandoned,
    );
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
      ...this.replyWriter.counters,
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
      const start = requests.readIndex;
      const plan = planBatch(this.replayState, start, requests.availableRead(), layout.maxBatch);
      const { offered, maxSegments } = plan;
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
        replay: plan.replay,
        counted: plan.counted,
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
        metrics.countSegments(requests, batch.start, batch.count, batch.segments, batch.segmentCount, results.statuses, batch.rejected, metrics.nowUs());
      }
      // A batch of tells (no correlation anywhere) that sends nothing has no replies to write.
      if (batch.payloads || results.outbox.length > 0) {
        if (!(await this.replyWriter.writeReplies(batch, results, metrics, end))) return;
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
}
