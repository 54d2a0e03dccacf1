/**
 * Which segment (actor) each record of a batch went to, and what the metrics need of
 * each segment: the reply path totals metrics per actor from it. The caller may keep one
 * per batch in flight, since the grouper's own copy is overwritten by the next batch.
 */
export interface BatchSegments {
  /** Per record: its segment, or -1 if rejected. */
  readonly recordSegment: Int32Array;
  readonly segmentSlot: Uint32Array;
  /** Per segment: the id of its actor (who a message's sends are from). */
  readonly segmentActor: Uint32Array;
  /** Per segment: where its records start in `order`, and how many there are. */
  readonly segmentStart: Uint32Array;
  readonly segmentCount: Uint32Array;
  /**
   * Batch-local record indices grouped by segment, arrival order inside a segment: a CPU
   * copy of rs_index's order (the staging buffer it is written to is unmapped at submit).
   */
  readonly order: Uint32Array;
  /**
   * Latency data, gathered only when the grouper was asked to (metrics on): per segment,
   * the sum of its records' enqueue times counted from the batch's first record's (u32
   * microseconds, wrapping at 2^32: the reader checks the batch's span rules that out);
   * the first and last accepted enqueue times; whether enqueue times never fell along the
   * batch; and whether every accepted record is a MESSAGE (metrics count only those).
   */
  readonly segmentEnqueuedSum: Int32Array;
  firstEnqueuedUs: number;
  lastEnqueuedUs: number;
  enqueuedInOrder: boolean;
  onlyMessages: boolean;
}

export function createBatchSegments(maxBatch: number): BatchSegments {
  return {
    recordSegment: new Int32Array(maxBatch),
    segmentSlot: new Uint32Array(maxBatch),
    segmentActor: new Uint32Array(maxBatch),
    segmentStart: new Uint32Array(maxBatch),
    segmentCount: new Uint32Array(maxBatch),
    order: new Uint32Array(maxBatch),
    segmentEnqueuedSum: new Int32Array(maxBatch),
    firstEnqueuedUs: 0,
    lastEnqueuedUs: 0,
    enqueuedInOrder: false,
    onlyMessages: false,
  };
}
