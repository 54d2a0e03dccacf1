/**
 * One lane of a closed loop: a call, its reply, the next call, until `end`
 * (performance.now() ms). A lane whose calls complete at once (tells into a ring with
 * room) would run on microtasks alone and starve timers and I/O, so it yields to the
 * event loop every YIELD_EVERY_MS. loadTest() and the CLI's own generator both run it.
 */
const YIELD_EVERY_MS = 2;

/** Resolves at the next turn of the event loop (after I/O and timers due). */
export const nextMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Runs `send(now)` and waits for it, again and again, until `end`. */
export async function closedLoopLane(end: number, send: (now: number) => Promise<unknown>): Promise<void> {
  let yieldAt = performance.now() + YIELD_EVERY_MS;
  for (let now = performance.now(); now < end; now = performance.now()) {
    if (now >= yieldAt) {
      await nextMacrotask();
      yieldAt = performance.now() + YIELD_EVERY_MS;
    }
    await send(now);
  }
}
