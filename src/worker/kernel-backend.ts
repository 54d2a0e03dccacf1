/**
 * What the shard runtime needs from a backend: frames to fill with a batch, and a
 * submit that turns a filled frame into per-record statuses and payloads. The WebGPU
 * kernel set and the CPU reference set both implement it, so the rings, grouping and
 * reply path are the same code whichever runs the handlers.
 */
import type { GroupedBatch } from './runtime/batch-grouper.ts';
import type { StateCapture } from '../recovery/checkpointer.ts';

export type { StateCapture } from '../recovery/checkpointer.ts';

export interface Frame {
  /** The batch's records, recordWords each, in ring order (to be filled by the runtime). */
  records: Uint32Array;
  /** The batch index (rs_index): filled by the grouper. */
  index: Uint32Array;
}

export interface BatchResults {
  /** Per record: Status.OK, Status.REJECTED or a handler's code. */
  readonly statuses: Uint32Array;
  /** Per record: resultWords of reply or state; empty when no record asked for one. */
  readonly payloads: Uint32Array;
  readonly payloadFloats: Float32Array;
  /**
   * Per record: outboxWords of sends (count, then entries; src/layout/batch.ts); empty
   * when no kernel of the batch sends. Counts of rejected records are not meaningful.
   */
  readonly outbox: Uint32Array;
  /** Gives the results' memory back; the views are dead afterwards. */
  release(): void;
}

/** States a checkpoint wants read back with a batch: `count` slots into `into`, in list order. */

export interface KernelBackend {
  /** Resolves with a frame to fill; waits while every frame is in flight. */
  acquireFrame(): Promise<Frame>;
  /**
   * Runs the batch. With `capture` (at most maxBatch slots), the states of those slots as
   * the batch leaves them are read back with its results and are in `capture.into` when
   * the returned promise resolves: a checkpoint at no extra submit or map.
   */
  submit(frame: Frame, batch: GroupedBatch, capture?: StateCapture): Promise<BatchResults>;
  /**
   * Copies the states of `count` slots (stateStride words each, in list order) into
   * `into`, as they are after every batch submitted so far: a checkpoint's data.
   */
  captureStates(slots: Uint32Array, count: number, into: Uint32Array): Promise<void>;
  /** Sets slots [0, slots) to a checkpoint's states before the first batch. */
  restoreStates(states: Uint32Array, slots: number): void;
  /** Makes the backend fail as a lost device does (fault drills). */
  lose(): void;
  /** Resolves when no GPU operation is pending: only then may the thread end (see gpu-kernel-set.ts). */
  settled(): Promise<void>;
  readonly stateBytes: number;
  readonly slots: number;
  destroy(): void;
}
