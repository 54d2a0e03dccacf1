/**
 * The batch loop of one shard: request ring -> group by actor -> backend (GPU or CPU)
 * -> reply ring. It runs on the worker's event loop (Atomics.waitAsync when idle), which
 * must stay free because dawn.node resolves mapAsync from it.
 *
 * Pipelining: a batch is gathered and submitted while earlier ones are still on the
 * GPU (the backend bounds how many with its frames). Completions are chained, so replies
 * leave in ring order and records are committed in ring order, only after their replies
 * are in the reply ring: a record still in the ring after a crash was never answered.
 */
import type { BatchLayout } from '../src/layout/batch.ts';
import { KERNEL_ID_SHIFT, OP_MASK, Op, ReplyHeader, REPLY_HEADER_WORDS, RequestHeader, Status } from '../src/layout/record.ts';
import type { KernelWire, ShardStats } from '../src/protocol.ts';
import { SpscRing } from '../src/rings/spsc-ring.ts';
import { layoutSchema } from '../src/layout/schema.ts';
import { BatchGrouper, createBatchSegments, type BatchSegments } from './batch-grouper.ts';
import type { BatchResults, KernelBackend } from './kernel-backend.ts';
import type { MetricsWriter } from './metrics-writer.ts';

interface PendingBatch {
  readonly start: number;
  readonly count: number;
  /** Per record rejection flags, only when the batch had any. */
  readonly rejected: Uint8Array | null;
  /** Some record wants a reply (an ask, snapshot or shutdown); payloads were read back. */
  readonly payloads: boolean;
  /** Segments (actors) in the batch. */
  readonly segmentCount: number;
  /** performance.now() at submit, for the dispatch round-trip metric. */
  readonly submittedAt: number;
  /** Which actor each record went to (for per-actor metrics); back to the pool after. */
  readonly segments: BatchSegments;
}

export class ShardRuntime {
  private readonly requests: SpscRing;
  private readonly replies: SpscRing;
  private readonly grouper: BatchGrouper;
  /** Per kernel: payload words of a MESSAGE reply and of a state. */
  private readonly replyWords: Uint32Array;
  private readonly stateWords: Uint32Array;
  private completion: Promise<void> = Promise.resolve();
  private failure: unknown;
  private done: Promise<void> | undefined;
  private counters = { batches: 0, records: 0, replies: 0, rejected: 0, maxBatchSeen: 0 };
  /** Segment maps of finished batches, for reuse (one per batch in flight at most). */
  private readonly segmentPool: BatchSegments[] = [];

  constructor(
    shardIndex: number,
    requestRing: SharedArrayBuffer,
    replyRing: SharedArrayBuffer,
    kernels: readonly KernelWire[],
    private readonly layout: BatchLayout,
    private readonly backend: KernelBackend,
    maxSlots: number,
    private readonly metrics: MetricsWriter | undefined,
    skipTo: number | undefined,
  ) {
    this.requests = new SpscRing(requestRing);
    this.replies = new SpscRing(replyRing);
    // A worker that died before us may have closed the reply ring on its way out.
    this.replies.reopen();
    // A replacement worker sees again what its predecessor took and did not finish...
    this.requests.rewind();
    if (skipTo !== undefined) {
      // ...unless the coordinator restarted the shard: the actors those records were for
      // lost their state with the old device, so records up to skipTo are dropped.
      const drop = (skipTo - this.requests.readIndex) | 0;
      if (drop > 0) {
        this.requests.take(drop);
        this.requests.commit(drop);
        metrics?.dropped(drop);
      }
    }
    this.grouper = new BatchGrouper(layout, shardIndex, maxSlots, metrics !== undefined);
    this.replyWords = Uint32Array.from(kernels, (k) => layoutSchema(k.reply, k.name).words);
    this.stateWords = Uint32Array.from(kernels, (k) => layoutSchema(k.state, k.name).words);
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

  private async loop(): Promise<void> {
    const { requests, layout } = this;
    for (;;) {
      if (this.failure !== undefined) break;
      if (requests.availableRead() === 0) {
        const r = await requests.waitReadableAsync();
        if (r === 'closed' && requests.availableRead() === 0) break;
        continue;
      }
      const frame = await this.backend.acquireFrame();
      if (this.failure !== undefined) break;
      // More may have arrived while every frame was busy: that is the batching.
      const offered = Math.min(requests.availableRead(), layout.maxBatch);
      const start = requests.readIndex;
      requests.copyOut(start, offered, frame.records);
      const segments = this.segmentPool.pop() ?? createBatchSegments(layout.maxBatch);
      const batch = this.grouper.group(frame.records, offered, start >>> 0, frame.index, segments);
      requests.take(batch.count);
      const pending: PendingBatch = {
        start,
        count: batch.count,
        rejected: batch.rejectedCount > 0 ? batch.rejected.slice(0, batch.count) : null,
        payloads: batch.needsPayloads,
        segmentCount: batch.segments,
        submittedAt: performance.now(),
        segments,
      };
      this.counters.batches++;
      this.counters.records += batch.count;
      this.counters.rejected += batch.rejectedCount;
      if (batch.count > this.counters.maxBatchSeen) this.counters.maxBatchSeen = batch.count;
      const results = this.backend.submit(frame, batch);
      // Swallowed here, surfaced through this.failure: a rejected link must not become
      // an unhandled rejection while the loop is busy elsewhere.
      this.completion = this.completion
        .then(() => results)
        .then((r) => this.finish(r, pending))
        .catch((error: unknown) => {
          this.failure ??= error;
        });
    }
    await this.completion;
    // The coordinator's reply loop ends when it sees this.
    this.replies.close();
    if (this.failure !== undefined) throw this.failure;
  }

  /** Writes the batch's replies (asks, snapshots, shutdowns) and metrics, then commits its records. */
  private async finish(results: BatchResults, batch: PendingBatch): Promise<void> {
    const { requests, replies, metrics } = this;
    const req = requests.words;
    const resultWords = this.layout.resultWords;
    const mask = requests.capacity - 1;
    const slotWords = requests.slotWords;
    try {
      if (metrics) {
        metrics.batch(batch.count, (performance.now() - batch.submittedAt) * 1000, this.backend.stateBytes, this.backend.slots);
        metrics.countSegments(req, batch.start, batch.count, mask, slotWords, batch.segments, batch.segmentCount, results.statuses, batch.rejected, metrics.nowUs());
      }
      // A batch of tells (no correlation anywhere) has no replies to write.
      for (let i = 0; batch.payloads && i < batch.count; i++) {
        const o = ((batch.start + i) & mask) * slotWords;
        const correlation = req[o + RequestHeader.correlation]!;
        if (correlation === 0) continue;
        const ko = req[o + RequestHeader.kernelOp]!;
        const op = ko & OP_MASK;
        const status = batch.rejected !== null && batch.rejected[i] ? Status.REJECTED : results.statuses[i]!;
        let r = replies.claim();
        while (r < 0) {
          // A reply must never be seen before its message is counted: flush first.
          metrics?.flush(batch.segments.segmentSlot);
          replies.publish();
          await replies.waitWritableAsync();
          r = replies.claim();
        }
        const out = replies.words;
        out[r + ReplyHeader.correlation] = correlation;
        out[r + ReplyHeader.target] = req[o + RequestHeader.target]!;
        out[r + ReplyHeader.status] = status;
        out[r + ReplyHeader.enqueuedUs] = req[o + RequestHeader.enqueuedUs]!;
        if (status === Status.OK) {
          const kernel = ko >>> KERNEL_ID_SHIFT;
          const words = op === Op.MESSAGE ? this.replyWords[kernel]! : op === Op.INIT ? 0 : this.stateWords[kernel]!;
          const from = i * resultWords;
          const payloads = results.payloads;
          for (let w = 0; w < words; w++) out[r + REPLY_HEADER_WORDS + w] = payloads[from + w]!;
        }
        this.counters.replies++;
      }
      metrics?.flush(batch.segments.segmentSlot);
      replies.publish();
    } finally {
      results.release();
      this.segmentPool.push(batch.segments);
    }
    requests.commit(batch.count);
  }
}
