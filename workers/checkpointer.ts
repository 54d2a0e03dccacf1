/**
 * The worker's side of recovery: it notes which actor slots each batch touched and, when
 * a checkpoint is due, captures those slots (admission data from the grouper at once,
 * states from the backend in queue order) into the coordinator's CheckpointStore, then
 * frees the ring records the checkpoint covers. One checkpoint is in flight at a time.
 *
 * A checkpoint is due after `everyRecords` records, after `everyMs` with records not yet
 * covered, or at once when the producer waits for ring space (records a checkpoint does
 * not cover yet hold their slots, so the ring must not stay full for want of one).
 */
import type { CheckpointPolicy } from '../src/protocol.ts';
import { CheckpointStat, type CheckpointStore } from '../src/recovery/checkpoint-store.ts';
import type { SpscRing } from '../src/rings/spsc-ring.ts';
import type { BatchGrouper } from './batch-grouper.ts';
import type { KernelBackend } from './kernel-backend.ts';

export class Checkpointer {
  private dirty = new Uint8Array(0);
  private dirtyList = new Uint32Array(64);
  private dirtyCount = 0;
  private slotsHigh: number;
  private recordsSince = 0;
  private lastAt = performance.now();
  private inFlight = false;

  constructor(
    private readonly store: CheckpointStore,
    private readonly grouper: BatchGrouper,
    private readonly backend: KernelBackend,
    private readonly ring: SpscRing,
    private readonly policy: CheckpointPolicy,
  ) {
    this.slotsHigh = store.slots;
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

  /** Records handed to the backend that no checkpoint covers yet. */
  private uncovered(readIndex: number): number {
    return (readIndex - this.store.covered) | 0;
  }

  /** True when a checkpoint should start now, `readIndex` being the ring's read cursor. */
  due(readIndex: number, now: number): boolean {
    if (this.inFlight || this.uncovered(readIndex) <= 0) return false;
    const p = this.policy;
    return (p.everyRecords > 0 && this.recordsSince >= p.everyRecords) || (p.everyMs > 0 && now - this.lastAt >= p.everyMs) || this.ring.producerWaiting;
  }

  /**
   * Milliseconds an idle shard may sleep before a checkpoint may be due (Infinity when
   * nothing is uncovered). While one is in flight, records taken after its capture wait
   * for the next: look again shortly, since nothing else would wake the shard for them.
   */
  msUntilDue(readIndex: number, now: number): number {
    if (this.uncovered(readIndex) <= 0) return Infinity;
    if (this.inFlight) return 1;
    if (this.ring.producerWaiting) return 0;
    return this.policy.everyMs > 0 ? Math.max(0, this.lastAt + this.policy.everyMs - now) : Infinity;
  }

  /**
   * Starts a checkpoint covering every record below `coveredIndex` (all of them handed
   * to the backend). Returns the step that finishes it: run it after those records'
   * replies are out, since records the checkpoint covers are never replayed.
   */
  capture(coveredIndex: number): () => Promise<void> {
    this.inFlight = true;
    const startedAt = performance.now();
    const count = this.dirtyCount;
    const delta = this.store.beginDelta(count);
    delta.slots.set(this.dirtyList.subarray(0, count));
    this.grouper.readAdmission(delta.slots, count, delta.admission);
    for (let i = 0; i < count; i++) this.dirty[this.dirtyList[i]!] = 0;
    this.dirtyCount = 0;
    this.recordsSince = 0;
    this.lastAt = startedAt;
    const slots = this.slotsHigh;
    const states = count > 0 ? this.backend.captureStates(delta.slots, count, delta.states) : Promise.resolve();
    // Not left unhandled if the worker fails before the finish step runs.
    states.catch(() => {});
    return async () => {
      try {
        await states;
        this.store.publishDelta(count, coveredIndex, slots);
        this.ring.release(coveredIndex);
        const stats = this.store.stats;
        const bytes = delta.slots.byteLength + delta.admission.byteLength + delta.states.byteLength;
        stats[CheckpointStat.checkpoints]!++;
        stats[CheckpointStat.durationUs]! += (performance.now() - startedAt) * 1000;
        stats[CheckpointStat.bytes]! += bytes;
        stats[CheckpointStat.lastBytes] = bytes;
      } finally {
        this.inFlight = false;
      }
    };
  }
}
