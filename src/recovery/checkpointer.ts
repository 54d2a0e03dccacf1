/**
 * The worker's side of recovery: it notes which actor slots each batch touched and, when
 * a checkpoint is due, captures those slots (admission data from the grouper at once,
 * states from the backend in queue order) into the coordinator's CheckpointStore, then
 * frees the ring records the checkpoint covers. Several may be in flight (one can ride on
 * every batch); each gathers into its own memory and they finish in order, so the store
 * applies their deltas in capture order.
 *
 * A checkpoint is due after `everyRecords` records, after `everyMs` with records not yet
 * covered, or at once when the producer waits for ring space (records a checkpoint does
 * not cover yet hold their slots, so the ring must not stay full for want of one).
 *
 * Next step if the cost matters (bench:recovery): when a checkpoint rides on every batch,
 * its dirty slots are that batch's segments, so the driver could write each segment's
 * final state into the results and the gather pass would go.
 */
import { ADMISSION_WORDS, CheckpointStat, type CheckpointStore } from './checkpoint-store.ts';
import type { SpscRing } from '../rings/spsc-ring.ts';

/** When a shard checkpoints: after this many records, or this many ms (0: never by that rule). */
export interface CheckpointPolicy {
  readonly everyRecords: number;
  readonly everyMs: number;
}

/** Actor slots whose states a checkpoint reads back from the backend, into `into`. */
export interface StateCapture {
  readonly slots: Uint32Array;
  readonly count: number;
  readonly into: Uint32Array;
}

/** Where a checkpoint's admission data comes from (the worker's BatchGrouper). */
export interface AdmissionSource {
  /** Writes the admission words of `slots[0..count)` into `into`. */
  readAdmission(slots: Uint32Array, count: number, into: Uint32Array): void;
}

/** A checkpoint whose admission data is taken; its states are still to be read back. */
export interface StartedCheckpoint {
  readonly states: StateCapture | undefined;
  /** `captured` resolves once `states.into` holds them; returns the step that finishes the checkpoint. */
  finish(captured: Promise<unknown>): () => Promise<void>;
}

export class Checkpointer {
  private dirty = new Uint8Array(0);
  private dirtyList = new Uint32Array(64);
  private dirtyCount = 0;
  private slotsHigh: number;
  private recordsSince = 0;
  private lastAt = performance.now();
  /** Ring index the last capture covers (its checkpoint may still be in flight). */
  private capturedTo: number;

  constructor(
    private readonly store: CheckpointStore,
    private readonly grouper: AdmissionSource,
    private readonly ring: SpscRing,
    private readonly policy: CheckpointPolicy,
  ) {
    this.slotsHigh = store.slots;
    this.capturedTo = store.covered;
  }

  /** A batch of `records` touched the actors in `slots[0..count)`. */
  touched(slots: Uint32Array, count: number, records: number): void {
    this.recordsSince += records;
    let dirty = this.dirty;
    for (let i = 0; i < count; i++) {
      const slot = slots[i]!;
      if (slot >= dirty.length) {
        const grown = new Uint8Array(Math.max(64, 2 ** Math.ceil(Math.log2(slot + 1))));
        grown.set(dirty);
        this.dirty = dirty = grown;
      }
      if (dirty[slot] !== 0) continue;
      dirty[slot] = 1;
      if (this.dirtyCount === this.dirtyList.length) {
        const grown = new Uint32Array(this.dirtyList.length * 2);
        grown.set(this.dirtyList);
        this.dirtyList = grown;
      }
      this.dirtyList[this.dirtyCount++] = slot;
      if (slot >= this.slotsHigh) this.slotsHigh = slot + 1;
    }
  }

  /** Records handed to the backend that no checkpoint (in flight or done) covers yet. */
  private uncovered(readIndex: number): number {
    return (readIndex - this.capturedTo) | 0;
  }

  /** True when a checkpoint should start now, `readIndex` being the ring's read cursor. */
  due(readIndex: number, now: number): boolean {
    if (this.uncovered(readIndex) <= 0) return false;
    const p = this.policy;
    return (p.everyRecords > 0 && this.recordsSince >= p.everyRecords) || (p.everyMs > 0 && now - this.lastAt >= p.everyMs) || this.ring.producerWaiting;
  }

  /** Milliseconds an idle shard may sleep before a checkpoint is due (Infinity when nothing is uncovered). */
  msUntilDue(readIndex: number, now: number): number {
    if (this.uncovered(readIndex) <= 0) return Infinity;
    if (this.ring.producerWaiting) return 0;
    return this.policy.everyMs > 0 ? Math.max(0, this.lastAt + this.policy.everyMs - now) : Infinity;
  }

  /**
   * Starts a checkpoint covering every record below `coveredIndex` (all of them handed
   * to the backend): takes the changed actors' admission data now and says which states
   * to read back (`states`, undefined when no actor changed). The caller has them read
   * (with the batch it submits, or on their own) and passes that to `finish`, whose step
   * it runs after those records' replies are out, since covered records are never replayed.
   */
  capture(coveredIndex: number): StartedCheckpoint {
    const startedAt = performance.now();
    const count = this.dirtyCount;
    const stride = this.store.buffers.stateStride;
    // Its own memory: the store's delta region belongs to the checkpoint finishing now.
    const words = new Uint32Array(count * (1 + ADMISSION_WORDS + stride));
    const slots = words.subarray(0, count);
    const admission = words.subarray(count, count * (1 + ADMISSION_WORDS));
    const states = words.subarray(count * (1 + ADMISSION_WORDS));
    slots.set(this.dirtyList.subarray(0, count));
    this.grouper.readAdmission(slots, count, admission);
    for (let i = 0; i < count; i++) this.dirty[this.dirtyList[i]!] = 0;
    this.dirtyCount = 0;
    this.recordsSince = 0;
    this.lastAt = startedAt;
    this.capturedTo = coveredIndex;
    const slotsHigh = this.slotsHigh;
    return {
      states: count > 0 ? { slots, count, into: states } : undefined,
      finish: (captured) => {
        // Not left unhandled if the worker fails before the finish step runs.
        captured.catch(() => {});
        return async () => {
          await captured;
          const delta = this.store.beginDelta(count);
          delta.slots.set(slots);
          delta.admission.set(admission);
          delta.states.set(states);
          this.store.publishDelta(count, coveredIndex, slotsHigh);
          this.ring.release(coveredIndex);
          const stats = this.store.stats;
          stats[CheckpointStat.checkpoints]!++;
          stats[CheckpointStat.durationUs]! += (performance.now() - startedAt) * 1000;
          stats[CheckpointStat.bytes]! += words.byteLength;
          stats[CheckpointStat.lastBytes] = words.byteLength;
        };
      },
    };
  }
}
