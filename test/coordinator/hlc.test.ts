import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HybridClock, unpackHlc } from '../../src/coordinator/hlc.ts';

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
