import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { planBatch, type ReplayState } from '../../src/recovery/replay-plan.ts';

/** The reference: what each record from `start` on is, one at a time. */
function kindOf(state: ReplayState, seq: number): { replay: boolean; counted: boolean; isolated: boolean } {
  const iso = state.isolate;
  const into = iso ? (seq - iso.from) | 0 : -1;
  return { replay: ((state.replayUntil - seq) | 0) > 0, counted: ((state.countedUntil - seq) | 0) > 0, isolated: iso !== undefined && into >= 0 && into < iso.count };
}

test('a planned batch is one kind of record throughout, makes progress, and stays within maxBatch and what is readable', () => {
  fc.assert(
    fc.property(
      // Ring indices near the 2^32 wrap as well as near 0.
      fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: -1000, max: -1 })),
      fc.integer({ min: -50, max: 300 }),
      fc.integer({ min: -50, max: 300 }),
      fc.option(fc.record({ from: fc.integer({ min: -50, max: 300 }), count: fc.integer({ min: 1, max: 100 }) }), { nil: undefined }),
      fc.integer({ min: 1, max: 400 }),
      fc.integer({ min: 1, max: 128 }),
      (start, replayBy, countedBy, iso, available, maxBatch) => {
        const countedUntil = (start + Math.max(replayBy, countedBy)) | 0;
        const state: ReplayState = {
          replayUntil: (start + replayBy) | 0,
          countedUntil,
          isolate: iso ? { from: (start + iso.from) | 0, count: iso.count } : undefined,
        };
        const plan = planBatch(state, start | 0, available, maxBatch);
        assert.ok(plan.offered >= 1, 'no progress');
        assert.ok(plan.offered <= Math.min(available, maxBatch));
        const first = kindOf(state, start | 0);
        assert.equal(plan.replay, first.replay);
        assert.equal(plan.counted, first.counted);
        assert.equal(plan.maxSegments === 1, first.isolated);
        for (let i = 0; i < plan.offered; i++) {
          const k = kindOf(state, (start + i) | 0);
          assert.equal(k.replay, first.replay, `record ${i} is another kind (replay)`);
          if (!first.replay) assert.equal(k.counted, first.counted, `record ${i} is another kind (counted)`);
          if (first.isolated) assert.ok(k.isolated, `record ${i} left the isolated range`);
        }
        // Maximal: the next record would be another kind, or the batch hit a bound.
        if (plan.offered < Math.min(available, maxBatch)) {
          const next = kindOf(state, (start + plan.offered) | 0);
          assert.ok(next.replay !== first.replay || (!first.replay && next.counted !== first.counted) || (first.isolated && !next.isolated), 'the batch stopped early');
        }
      },
    ),
    { numRuns: 2000 },
  );
});
