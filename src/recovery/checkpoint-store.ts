/**
 * A shard's checkpoint, in SharedArrayBuffers the coordinator owns (like the rings and
 * metric tables), so it outlives any one worker: the image of every actor slot (its
 * admission data and its state words) and the ring index the image covers. Records below
 * that index are in the image and may leave the ring; a replacement worker restores the
 * image and replays the records after it.
 *
 * A checkpoint is incremental: the worker writes only the slots its batches touched
 * since the last one, first into the delta region, then (DELTA_READY) into the image.
 * A worker that dies while writing the delta leaves the old image and COVERED intact; one
 * that dies while applying it leaves DELTA_READY set, and the next worker applies the
 * whole delta again (it is idempotent) before it restores. So the image is never torn.
 *
 *   control (Int32Array)   COVERED, SLOTS, DELTA_READY, DELTA_COVERED, DELTA_COUNT,
 *                          DELTA_SLOTS, COUNTED (records below it are in the metrics:
 *                          a successor answers them again if need be, never counts them)
 *   stats   (Float64Array) checkpoints, duration us, bytes, last bytes, replayed records
 *   admission (u32 per slot x ADMISSION_WORDS)  kernel id + 1 (0: free), tenant, actor id
 *   states    (u32 per slot x stateStride)
 *   delta     count slot numbers, then per slot its admission words and state words
 *
 * The data buffers are growable SharedArrayBuffers (only slots in use cost memory); views
 * are fixed-length and made again after a grow (a length-tracking view costs ~17x more).
 */

const COVERED = 0;
const SLOTS = 1;
const DELTA_READY = 2;
const DELTA_COVERED = 3;
const DELTA_COUNT = 4;
const DELTA_SLOTS = 5;
const COUNTED = 6;
const CONTROL_INT32S = 16;

/** Per-slot words the grouper keeps: kernel id + 1 (0 while free), tenant, actor id. */
export const ADMISSION_WORDS = 3;

export const CheckpointStat = { checkpoints: 0, durationUs: 1, bytes: 2, lastBytes: 3, replayed: 4 } as const;
const STAT_WORDS = 8;

export interface CheckpointBuffers {
  readonly control: SharedArrayBuffer;
  readonly stats: SharedArrayBuffer;
  readonly admission: SharedArrayBuffer;
  readonly states: SharedArrayBuffer;
  readonly delta: SharedArrayBuffer;
  readonly stateStride: number;
  readonly maxSlots: number;
}

/** The slots of a delta and their words, as the worker fills them. */
export interface DeltaViews {
  readonly slots: Uint32Array;
  readonly admission: Uint32Array;
  readonly states: Uint32Array;
}

function growTo(buffer: SharedArrayBuffer, bytes: number): void {
  if (buffer.byteLength >= bytes) return;
  buffer.grow(Math.min(buffer.maxByteLength, Math.max(bytes, buffer.byteLength * 2)));
}

export class CheckpointStore {
  readonly buffers: CheckpointBuffers;
  private readonly control: Int32Array;
  readonly stats: Float64Array;
  private readonly stride: number;

  /** Allocates an empty checkpoint covering nothing before ring index `coveredIndex`. */
  static create(stateStride: number, maxSlots: number, coveredIndex: number): CheckpointStore {
    const perSlot = ADMISSION_WORDS + stateStride;
    const growable = (maxBytes: number) => new SharedArrayBuffer(0, { maxByteLength: Math.max(4, maxBytes) });
    const buffers: CheckpointBuffers = {
      control: new SharedArrayBuffer(CONTROL_INT32S * 4),
      stats: new SharedArrayBuffer(STAT_WORDS * 8),
      admission: growable(maxSlots * ADMISSION_WORDS * 4),
      states: growable(maxSlots * stateStride * 4),
      delta: growable(maxSlots * (1 + perSlot) * 4),
      stateStride,
      maxSlots,
    };
    const store = new CheckpointStore(buffers);
    Atomics.store(store.control, COVERED, coveredIndex | 0);
    Atomics.store(store.control, COUNTED, coveredIndex | 0);
    return store;
  }

  constructor(buffers: CheckpointBuffers) {
    this.buffers = buffers;
    this.control = new Int32Array(buffers.control);
    this.stats = new Float64Array(buffers.stats);
    this.stride = buffers.stateStride;
  }

  /** Ring index the image covers: records below it are in the image. */
  get covered(): number {
    return Atomics.load(this.control, COVERED);
  }

  /** Ring index below which every record's message metrics were written. */
  get counted(): number {
    return Atomics.load(this.control, COUNTED);
  }

  /**
   * Stored just before a batch's counts go into the metric tables: a worker that dies
   * between the two leaves that batch's counts short, instead of counting it twice when
   * its successor handles the batch again.
   */
  markCounted(index: number): void {
    if (((index - Atomics.load(this.control, COUNTED)) | 0) > 0) Atomics.store(this.control, COUNTED, index | 0);
  }

  /** Slots the image holds (the highest slot ever checkpointed, plus one). */
  get slots(): number {
    return Atomics.load(this.control, SLOTS);
  }

  /** Admission words of slots [0, slots), ADMISSION_WORDS each. */
  admission(): Uint32Array {
    return new Uint32Array(this.buffers.admission, 0, this.slots * ADMISSION_WORDS);
  }

  /** State words of slots [0, slots), stateStride each. */
  states(): Uint32Array {
    return new Uint32Array(this.buffers.states, 0, this.slots * this.stride);
  }

  /** Room for a delta of `count` slots; fill it, then publishDelta(). */
  beginDelta(count: number): DeltaViews {
    const words = count * (1 + ADMISSION_WORDS + this.stride);
    growTo(this.buffers.delta, words * 4);
    const buffer = this.buffers.delta;
    return {
      slots: new Uint32Array(buffer, 0, count),
      admission: new Uint32Array(buffer, count * 4, count * ADMISSION_WORDS),
      states: new Uint32Array(buffer, count * (1 + ADMISSION_WORDS) * 4, count * this.stride),
    };
  }

  /**
   * Makes the delta just written the checkpoint: it covers records below `coveredIndex`,
   * and the image then holds `slots` slots. Applies it into the image.
   */
  publishDelta(count: number, coveredIndex: number, slots: number): void {
    const c = this.control;
    Atomics.store(c, DELTA_COUNT, count);
    Atomics.store(c, DELTA_COVERED, coveredIndex | 0);
    Atomics.store(c, DELTA_SLOTS, slots);
    Atomics.store(c, DELTA_READY, 1);
    this.applyDelta();
  }

  /** Applies a published delta that is not in the image yet (again, if a worker died doing it). */
  applyDelta(): void {
    const c = this.control;
    if (Atomics.load(c, DELTA_READY) === 0) return;
    const count = Atomics.load(c, DELTA_COUNT);
    const slots = Math.max(Atomics.load(c, DELTA_SLOTS), Atomics.load(c, SLOTS));
    const stride = this.stride;
    growTo(this.buffers.admission, slots * ADMISSION_WORDS * 4);
    growTo(this.buffers.states, slots * stride * 4);
    const delta = this.beginDelta(count);
    const admission = new Uint32Array(this.buffers.admission, 0, slots * ADMISSION_WORDS);
    const states = new Uint32Array(this.buffers.states, 0, slots * stride);
    // Word by word: a subarray per slot would allocate on the worker's hot path.
    const dSlots = delta.slots;
    const dAdmission = delta.admission;
    const dStates = delta.states;
    for (let i = 0; i < count; i++) {
      const slot = dSlots[i]!;
      const a = slot * ADMISSION_WORDS;
      const d = i * ADMISSION_WORDS;
      admission[a] = dAdmission[d]!;
      admission[a + 1] = dAdmission[d + 1]!;
      admission[a + 2] = dAdmission[d + 2]!;
      const to = slot * stride;
      const from = i * stride;
      for (let w = 0; w < stride; w++) states[to + w] = dStates[from + w]!;
    }
    Atomics.store(c, SLOTS, slots);
    Atomics.store(c, COVERED, Atomics.load(c, DELTA_COVERED));
    Atomics.store(c, DELTA_READY, 0);
  }
}
