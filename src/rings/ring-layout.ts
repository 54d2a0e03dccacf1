/**
 * The shared memory of an SpscRing: its control words and slots, and the futex wait
 * both sides use.
 *
 * Byte layout (each control line is 64 bytes, so the two sides never write one line):
 *
 *   0    +---------------------------------------------+
 *        | HEAD      i32  records published (producer) |
 *        | CLOSED    i32  1 once the producer is done  |  line 0: producer writes
 *   64   +---------------------------------------------+
 *        | READ      i32  records taken    (consumer)  |  line 1: consumer writes
 *   128  +---------------------------------------------+
 *        | COMMITTED i32  records freed    (consumer)  |  line 2: consumer writes
 *        | HANDLED   i32  records answered (consumer)  |
 *   192  +---------------------------------------------+
 *        | C_WAITING i32  consumer is asleep on HEAD   |  line 3: consumer writes
 *   256  +---------------------------------------------+
 *        | P_WAITING i32  producer is asleep on COMMIT |  line 4: producer writes
 *   320  +---------------------------------------------+
 *        | CAPACITY, SLOT_WORDS  (set once at creation) |  line 5
 *   384  +---------------------------------------------+
 *        | slot 0 | slot 1 | ... | slot capacity-1     |  capacity * slotWords * 4 bytes
 *        +---------------------------------------------+
 */

const INT32_PER_LINE = 16; // 64-byte cache line
export const HEAD = 0;
export const CLOSED = 1;
export const READ = 1 * INT32_PER_LINE;
export const COMMITTED = 2 * INT32_PER_LINE;
export const HANDLED = COMMITTED + 1;
export const CONSUMER_WAITING = 3 * INT32_PER_LINE;
export const PRODUCER_WAITING = 4 * INT32_PER_LINE;
export const CAPACITY = 5 * INT32_PER_LINE;
export const SLOT_WORDS = CAPACITY + 1;
export const CONTROL_INT32S = 6 * INT32_PER_LINE;
/** Bytes before the first slot. */
export const RING_CONTROL_BYTES = CONTROL_INT32S * 4;
/** Largest slot count: distances must stay below 2^31. */
export const MAX_RING_CAPACITY = 1 << 30;

export interface RingOptions {
  /** Slots; a power of two. */
  readonly capacity: number;
  /** Words (u32) per slot. */
  readonly slotWords: number;
  /**
   * First index of all three cursors. Tests start near 2^31 or 2^32 to cross the
   * wrap-around quickly; there is no other reason to set it.
   * @default 0
   */
  readonly startIndex?: number;
}

/** Bytes of SharedArrayBuffer a ring of this shape needs. */
export function ringByteLength(options: RingOptions): number {
  return RING_CONTROL_BYTES + options.capacity * options.slotWords * 4;
}

export function checkShape({ capacity, slotWords }: RingOptions): void {
  if (!Number.isInteger(capacity) || capacity < 2 || capacity > MAX_RING_CAPACITY || (capacity & (capacity - 1)) !== 0) {
    throw new RangeError(`ring capacity must be a power of two from 2 to 2^30, got ${String(capacity)}`);
  }
  if (!Number.isInteger(slotWords) || slotWords < 1) {
    throw new RangeError(`ring slotWords must be a positive integer, got ${String(slotWords)}`);
  }
}

/** A ring's slots as a reader of records sees them (an SpscRing is one). */
export interface RingSlots {
  /** The slots as words; record `seq` starts at ((seq & (capacity - 1)) * slotWords). */
  readonly words: Uint32Array;
  readonly capacity: number;
  readonly slotWords: number;
}

export type WaitResult = 'ok' | 'timed-out' | 'closed';

const KEEP_ALIVE_MS = 2 ** 30;
const noop = () => {};

// Atomics.waitAsync does not keep Node's event loop alive: a thread whose only pending
// work is a waitAsync may exit. A referenced timer for the length of the wait does.
export async function waitAsync(
  control: Int32Array,
  index: number,
  value: number,
  timeoutMs: number,
  keepAlive: boolean,
): Promise<'ok' | 'not-equal' | 'timed-out'> {
  const w = Atomics.waitAsync(control, index, value, timeoutMs);
  if (!w.async) return w.value;
  // Outlives the wait's own timeout a little: the two fire from different queues.
  const timer = keepAlive ? setTimeout(noop, Math.min(timeoutMs + 1000, KEEP_ALIVE_MS)) : undefined;
  try {
    return await w.value;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

