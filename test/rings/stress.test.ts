import assert from 'node:assert/strict';
import { test } from 'node:test';
import { once } from 'node:events';
import { SpscRing } from '../../src/rings/spsc-ring.ts';
import { seededRng } from '../helpers/random.ts';
import { startTsWorker } from '../helpers/threads.ts';
import { RECORD_WORDS, checkRecord } from './fixtures/records.ts';

const TOTAL = Number(process.env.RINGSHARD_STRESS_RECORDS ?? 10_000_000);

test(`${TOTAL} records cross two threads exactly once, in order, intact`, { timeout: 300_000 }, async (t) => {
  const rng = seededRng(t);
  const ring = SpscRing.create({ capacity: 1024, slotWords: RECORD_WORDS });
  const worker = startTsWorker(new URL('./fixtures/ring-producer.ts', import.meta.url), {
    buffer: ring.buffer,
    total: TOTAL,
    seed: rng.seed,
    maxBatch: 700,
  });
  // A failed assertion must not leave the producer blocked on a ring nobody drains.
  t.after(() => worker.terminate());
  const done = once(worker, 'message');
  const failed = new Promise<never>((_, reject) => worker.once('error', reject));
  failed.catch(() => {});

  let received = 0;
  let taken = 0; // taken and not yet committed
  let idleWaits = 0;
  const words = ring.words;
  for (;;) {
    const start = ring.readIndex;
    const n = ring.take(rng.int(1, 900));
    for (let i = 0; i < n; i++) {
      const problem = checkRecord(words, ring.slotOffset(start + i), received + i);
      if (problem) assert.fail(`${problem} (after ${received + i} good records)`);
    }
    received += n;
    taken += n;
    // Commit some of what was taken, at random points; all of it before sleeping,
    // or the producer (waiting for room) and this side (waiting for data) deadlock.
    if (taken > 0 && (n === 0 || rng.float() < 0.5)) {
      const k = n === 0 ? taken : rng.int(0, taken);
      ring.commit(k);
      taken -= k;
    }
    if (n === 0 && taken === 0) {
      if (received === TOTAL) break;
      const r = ring.waitReadable(2_000);
      if (r === 'closed' && ring.availableRead() === 0) break;
      if (r === 'timed-out' && ++idleWaits > 5) assert.fail(`producer stalled after ${received} records`);
    }
  }
  assert.equal(received, TOTAL);
  assert.equal(ring.availableRead(), 0);
  assert.equal(ring.depth(), 0);
  const [msg] = (await Promise.race([done, failed])) as [{ pushed: number }];
  assert.equal(msg.pushed, TOTAL);
});
