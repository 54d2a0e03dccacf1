import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HybridClock, unpackHlc } from '../../src/coordinator/hlc.ts';
import { seededRng } from '../helpers/random.ts';

test('the clock is strictly monotonic and close to wall time', () => {
  const clock = new HybridClock(performance.timeOrigin + performance.now(), 16);
  let last = { wallMs: -1, logical: 0 };
  for (let i = 0; i < 200_000; i++) {
    clock.tick();
    const now = unpackHlc(clock.hi, clock.lo);
    // Compared as a pair: wallMs * 2^16 would exceed 2^53.
    assert.ok(now.wallMs > last.wallMs || (now.wallMs === last.wallMs && now.logical > last.logical), `tick ${i} went backwards`);
    last = now;
  }
  const { wallMs } = unpackHlc(clock.hi, clock.lo);
  assert.ok(Math.abs(wallMs - Date.now()) < 5_000, `wall part ${wallMs} vs ${Date.now()}`);
});

test('receive merges a timestamp from elsewhere: the next tick is after it, also when it is ahead of wall time', () => {
  const clock = new HybridClock(performance.timeOrigin + performance.now(), 16);
  clock.tick();
  const later = (a: { wallMs: number; logical: number }, b: { wallMs: number; logical: number }) => a.wallMs > b.wallMs || (a.wallMs === b.wallMs && a.logical > b.logical);
  // A sender 10 s ahead (another node's clock), and one in the past.
  for (const aheadMs of [10_000, 0, -10_000]) {
    const ms = Date.now() + aheadMs;
    const sent = { wallMs: ms, logical: 77 };
    clock.receive(Math.floor(ms / 0x10000), ((ms % 0x10000) * 0x10000 + 77) >>> 0);
    const before = unpackHlc(clock.hi, clock.lo);
    clock.tick();
    const now = unpackHlc(clock.hi, clock.lo);
    assert.ok(later(now, sent), `after receiving ${aheadMs} ms: ${JSON.stringify(now)} is not after ${JSON.stringify(sent)}`);
    assert.ok(later(now, before), 'still monotonic');
  }
});

test('tickMany gives a run of stamps, one per record, strictly after every stamp before and before every stamp after', (t) => {
  const rng = seededRng(t);
  const clock = new HybridClock(performance.timeOrigin + performance.now(), 16);
  const later = (a: { wallMs: number; logical: number }, b: { wallMs: number; logical: number }) => a.wallMs > b.wallMs || (a.wallMs === b.wallMs && a.logical > b.logical);
  let last = { wallMs: -1, logical: 0 };
  let stamps = 0;
  while (stamps < 400_000) {
    if (rng.float() < 0.5) {
      clock.tick();
      const now = unpackHlc(clock.hi, clock.lo);
      assert.ok(later(now, last), `tick after ${JSON.stringify(last)} gave ${JSON.stringify(now)}`);
      last = now;
      stamps++;
      continue;
    }
    const n = rng.int(1, HybridClock.MAX_RUN);
    const first = clock.tickMany(n);
    for (const i of [0, 1, n - 1]) {
      if (i >= n) continue;
      const stamp = unpackHlc(clock.hi, (first + i) >>> 0);
      assert.ok(later(stamp, last), `run stamp ${i} of ${n}: ${JSON.stringify(stamp)} not after ${JSON.stringify(last)}`);
      assert.equal(stamp.logical, unpackHlc(clock.hi, first).logical + i, 'the run stays in one millisecond\'s words');
      last = stamp;
    }
    assert.equal(clock.lo, (first + n - 1) >>> 0, 'lo is the run\'s last stamp');
    stamps += n;
  }
});
