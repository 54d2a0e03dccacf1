/**
 * The dispatch watchdog's shared words: the worker says what it has on the GPU (since
 * when, and which ring records), and the coordinator, whose event loop a hung GPU does
 * not block, checks that no batch stays there longer than maxDispatchMs.
 *
 * A batch that hangs is not tied to one actor, so the first hang only marks its records
 * as suspect: the replacement worker replays them one actor per batch (ISOLATING), and
 * says which actor each such batch is for. When one of those hangs as well, that actor is
 * the culprit, and the coordinator quarantines it.
 *
 *   control (Int32Array)  BUSY_SINCE  ms since the cluster's epoch + 1 of the oldest batch
 *                                     on the GPU; 0 when nothing is
 *                         BUSY_FROM, BUSY_COUNT   that batch's ring records
 *                         BUSY_ACTOR  its actor's id while isolating, else NO_ACTOR
 *                         GENERATION  the worker that owns the rings now; an older one
 *                                     (replaced while its GPU hung) must not touch them
 *                         BUSY_GEN    the generation of the worker that showed the batch
 */
import { NO_ACTOR } from '../layout/record.ts';

const BUSY_SINCE = 0;
const BUSY_FROM = 1;
const BUSY_COUNT = 2;
const BUSY_ACTOR = 3;
const GENERATION = 4;
const BUSY_GEN = 5;
const WORDS = 16;

export interface WatchBuffers {
  readonly control: SharedArrayBuffer;
}

export function createWatchBuffers(): WatchBuffers {
  return { control: new SharedArrayBuffer(WORDS * 4) };
}

/** What the coordinator reads: the oldest batch on the GPU, if any. */
export interface Busy {
  /** Milliseconds since the cluster's epoch when it was submitted. */
  readonly sinceMs: number;
  readonly from: number;
  readonly count: number;
  /** The one actor the batch is for while the worker isolates suspects, else undefined. */
  readonly actor: number | undefined;
  /** The generation of the worker that showed it. */
  readonly generation: number;
}

export class DispatchWatch {
  private readonly control: Int32Array;

  constructor(buffers: WatchBuffers) {
    this.control = new Int32Array(buffers.control);
  }

  /** Worker of `generation`: the oldest batch on the GPU is now this one (or none). */
  show(generation: number, sinceMs: number | undefined, from = 0, count = 0, actor = NO_ACTOR): void {
    const c = this.control;
    if (sinceMs === undefined) {
      // Only its own: a replaced worker must not hide what its successor shows.
      if (Atomics.load(c, BUSY_GEN) === (generation | 0)) Atomics.store(c, BUSY_SINCE, 0);
      return;
    }
    Atomics.store(c, BUSY_FROM, from | 0);
    Atomics.store(c, BUSY_COUNT, count);
    Atomics.store(c, BUSY_ACTOR, actor | 0);
    Atomics.store(c, BUSY_GEN, generation | 0);
    Atomics.store(c, BUSY_SINCE, Math.max(0, Math.floor(sinceMs)) + 1);
  }

  /** Coordinator: what is on the GPU now. */
  busy(): Busy | undefined {
    const c = this.control;
    const since = Atomics.load(c, BUSY_SINCE);
    if (since === 0) return undefined;
    const actor = Atomics.load(c, BUSY_ACTOR) >>> 0;
    return { sinceMs: since - 1, from: Atomics.load(c, BUSY_FROM), count: Atomics.load(c, BUSY_COUNT), actor: actor === NO_ACTOR ? undefined : actor, generation: Atomics.load(c, BUSY_GEN) };
  }

  /**
   * Coordinator, once a replaced worker is retired: what it showed is not on the GPU any
   * more. What the new worker showed stays: it may have begun its replay already, and a
   * replay that hangs again is what the watchdog must see (clearing it here once hid a
   * hung replay for good, about one run in five of a test).
   */
  clearStale(): void {
    const c = this.control;
    const since = Atomics.load(c, BUSY_SINCE);
    if (since === 0 || Atomics.load(c, BUSY_GEN) === Atomics.load(c, GENERATION)) return;
    // Only if nothing was shown since (the new worker writes BUSY_SINCE last).
    Atomics.compareExchange(c, BUSY_SINCE, since, 0);
  }

  /** The generation of the worker that owns the shard's rings. */
  get generation(): number {
    return Atomics.load(this.control, GENERATION);
  }

  /** Coordinator: hands the rings to a new worker; returns its generation. */
  nextGeneration(): number {
    return Atomics.add(this.control, GENERATION, 1) + 1;
  }
}
