/**
 * Which records the worker's next batch takes, as recovery sees them. A replacement
 * worker runs again every record after the last checkpoint: the ones its predecessor
 * answered are replayed for their effect on state only, the ones it counted in the
 * metrics but did not answer are answered and not counted again. A batch is all one kind,
 * so replies and metrics are decided per batch. Records a hung dispatch left behind are
 * replayed one actor per batch, to find the actor that hangs.
 *
 * A pure function: the worker loop calls it once per batch.
 */

/** Where recovery stands for one worker (ring indices, wrapping at 2^32). */
export interface ReplayState {
  /** Records below this index were answered by a previous worker. */
  readonly replayUntil: number;
  /** Records below this index are in the metrics already. */
  readonly countedUntil: number;
  /** Records to replay one actor per batch (suspects of a hung dispatch). */
  readonly isolate: { readonly from: number; readonly count: number } | undefined;
}

export interface BatchPlan {
  /** Records to offer the grouper from `start` on. */
  readonly offered: number;
  /** Run for their state only: no replies, no metrics. */
  readonly replay: boolean;
  /** In the metrics already (a replay batch is, too). */
  readonly counted: boolean;
  /** Actors the batch may hold (1 while isolating suspects). */
  readonly maxSegments: number;
}

/** Plans the batch starting at ring index `start` with `available` records readable, at most `maxBatch`. */
export function planBatch(state: ReplayState, start: number, available: number, maxBatch: number): BatchPlan {
  let offered = Math.min(available, maxBatch);
  const replayLeft = (state.replayUntil - start) | 0;
  const countedLeft = (state.countedUntil - start) | 0;
  if (replayLeft > 0) offered = Math.min(offered, replayLeft);
  else if (countedLeft > 0) offered = Math.min(offered, countedLeft);
  let maxSegments = Infinity;
  const iso = state.isolate;
  if (iso !== undefined) {
    const into = (start - iso.from) | 0;
    if (into >= 0 && into < iso.count) {
      offered = Math.min(offered, iso.count - into);
      maxSegments = 1;
    }
  }
  return { offered, replay: replayLeft > 0, counted: countedLeft > 0, maxSegments };
}
