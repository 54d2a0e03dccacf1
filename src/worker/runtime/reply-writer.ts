/**
 * Replies and K2K sends of finished batches into the reply ring, in ring order. The
 * replies are written by a synchronous loop (writeReplyRun) that stops only where a
 * record has sends or the reply ring is full; writeReplies waits there. (As one async
 * loop with its awaits inside: 57-70 ns of worker CPU per askMany record against 51-57,
 * null GPU, side by side.)
 */
import type { BatchLayout } from '../../layout/batch.ts';
import { SEND_ENTRY_HEADER } from '../../layout/batch.ts';
import { KERNEL_ID_SHIFT, OP_MASK, Op, ReplyHeader, REPLY_HEADER_WORDS, RequestHeader, SEND_HEADER_WORDS, SendHeader, Status, TIMER_NOTICE } from '../../layout/record.ts';
import type { CheckpointStore } from '../../recovery/checkpoint-store.ts';
import type { SpscRing } from '../../rings/spsc-ring.ts';
import type { MetricsWriter } from '../../metrics/metrics-writer.ts';
import { QUARANTINED_MARK, type BatchSegments } from './batch-grouper.ts';
import type { BatchResults } from '../kernel-backend.ts';

/** A batch from its submit to its finish. */
export interface PendingBatch {
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


export class ReplyWriter {
  /** Replies and sends written so far. */
  readonly counters = { replies: 0, sends: 0 };
  /** Why writeReplyRun stopped before the batch's end. */
  private runStop: RunStop = RunStop.SENDS;

  constructor(
    private readonly requests: SpscRing,
    private readonly replies: SpscRing,
    private readonly layout: BatchLayout,
    /** Per kernel: payload words of a MESSAGE reply and of a state. */
    private readonly replyWords: Uint32Array,
    private readonly stateWords: Uint32Array,
    private readonly store: CheckpointStore | undefined,
    /** True once this worker must not touch the rings (see ShardRuntime.abandoned). */
    private readonly abandoned: () => boolean,
  ) {}

  /**
   * Writes the batch's replies (and sends) into the reply ring, in ring order. The
   * replies are written by a synchronous loop (writeReplyRun) that stops only where a
   * record has sends or the reply ring is full; this function waits there. (As one async
   * loop with its awaits inside: 57-70 ns of worker CPU per askMany record against 51-57,
   * null GPU, side by side.)
   * False when this worker was abandoned while it waited for room.
   */
  async writeReplies(batch: PendingBatch, results: BatchResults, metrics: MetricsWriter | undefined, end: number): Promise<boolean> {
    const count = batch.count;
    let i = 0;
    let sendsDone = -1; // the record whose sends are out already
    for (;;) {
      i = this.writeReplyRun(batch, results, i, sendsDone);
      if (i >= count) return true;
      if (this.runStop === RunStop.SENDS) {
        const o = this.requests.slotOffset(batch.start + i);
        if (!(await this.emitSends(batch, i, o, results.outbox, metrics, end))) return false;
        sendsDone = i;
      } else if (!(await this.waitForReplyRoom(batch, metrics, end))) return false;
    }
  }

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
      // A failed record's count is 0 (the driver drops its sends), but a timer's fire
      // leaves its notice whatever on_timer did.
      if (emitting && i !== sendsDone && mark === 0 && outbox[i * outboxWords] !== 0) {
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
  async waitForReplyRoom(batch: PendingBatch, metrics: MetricsWriter | undefined, end: number): Promise<boolean> {
    if (metrics) {
      this.store?.markCounted(end);
      metrics.flush(batch.segments.segmentSlot);
    }
    await this.replies.waitWritableAsync();
    return !this.abandoned();
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
      if (outbox[e + 1] !== TIMER_NOTICE) this.counters.sends++;
    }
    return true;
  }
}
