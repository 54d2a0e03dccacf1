/**
 * The batch layout: how one dispatch's inputs and outputs are laid out in GPU buffers.
 * The worker writes and reads these offsets; the WGSL driver gets them as constants
 * generated from this module (see wgslBatchConstants), so the two cannot drift.
 *
 *   rs_records  request records of the batch in ring order, recordWords each
 *
 *   rs_index    word 0                 message id of the batch's first record
 *               word 1                 record count
 *               ranges   (2 per kernel) first segment, segment count
 *               segments (3 per actor)  state slot, first position in order, record count
 *               order    (1 per record) batch-local record index, grouped by segment,
 *                                       arrival order inside a segment
 *
 *   rs_results  statuses (1 per record) then payloads (resultWords per record), then,
 *               when some kernel sends (K2K), the outbox (outboxWords per record):
 *                 word 0   sends the message made (0 when it failed)
 *                 then maxSends entries of sendWords: to, kernel, the request's words
 *
 *   rs_states   per-actor state, stateStride words per slot
 */
export interface BatchShape {
  readonly kernels: number;
  readonly maxBatch: number;
  readonly recordWords: number;
  readonly resultWords: number;
  readonly stateStride: number;
  /** Sends one message may make (maxSendsPerMessage); 0 when no kernel sends. */
  readonly maxSends?: number;
  /** Words of one outbox entry: to, kernel, then the largest receiving request. */
  readonly sendWords?: number;
}

export interface BatchLayout extends BatchShape {
  readonly maxSends: number;
  readonly sendWords: number;
  readonly baseIdWord: number;
  readonly countWord: number;
  readonly rangesWord: number;
  readonly segmentsWord: number;
  readonly orderWord: number;
  readonly indexWords: number;
  readonly resultPayloadsWord: number;
  readonly resultsWords: number;
  readonly recordsWords: number;
  /** Where the outbox starts in rs_results, and its words per record (0: no outbox). */
  readonly outboxWord: number;
  readonly outboxWords: number;
}

/** Words of an outbox entry before the request payload: to, kernel. */
export const SEND_ENTRY_HEADER = 2;

export const SEGMENT_WORDS = 3;
export const RANGE_WORDS = 2;
export const WORKGROUP_SIZE = 64;

export function batchLayout(shape: BatchShape): BatchLayout {
  const rangesWord = 2;
  const segmentsWord = rangesWord + RANGE_WORDS * shape.kernels;
  const orderWord = segmentsWord + SEGMENT_WORDS * shape.maxBatch;
  const maxSends = shape.maxSends ?? 0;
  const sendWords = maxSends > 0 ? (shape.sendWords ?? SEND_ENTRY_HEADER) : 0;
  const outboxWords = maxSends > 0 ? 1 + maxSends * sendWords : 0;
  const outboxWord = shape.maxBatch * (1 + shape.resultWords);
  return {
    ...shape,
    maxSends,
    sendWords,
    outboxWord,
    outboxWords,
    baseIdWord: 0,
    countWord: 1,
    rangesWord,
    segmentsWord,
    orderWord,
    indexWords: orderWord + shape.maxBatch,
    resultPayloadsWord: shape.maxBatch,
    resultsWords: outboxWord + shape.maxBatch * outboxWords,
    recordsWords: shape.maxBatch * shape.recordWords,
  };
}

/** The batch layout as WGSL constants for the driver. */
export function wgslBatchConstants(layout: BatchLayout): string {
  const c = (name: string, value: number) => `const ${name}: u32 = ${value}u;`;
  return [
    c('RS_RECORD_WORDS', layout.recordWords),
    c('RS_RESULT_WORDS', layout.resultWords),
    c('RS_STATE_STRIDE', layout.stateStride),
    c('RS_INDEX_BASE_ID', layout.baseIdWord),
    c('RS_INDEX_COUNT', layout.countWord),
    c('RS_INDEX_RANGES', layout.rangesWord),
    c('RS_INDEX_SEGMENTS', layout.segmentsWord),
    c('RS_INDEX_ORDER', layout.orderWord),
    c('RS_RESULT_PAYLOADS', layout.resultPayloadsWord),
    c('RS_OUTBOX', layout.outboxWord),
    c('RS_OUTBOX_WORDS', layout.outboxWords),
    c('RS_MAX_SENDS', layout.maxSends),
    c('RS_SEND_WORDS', layout.sendWords),
  ].join('\n');
}
