/**
 * Timers on NATS nodes: an actor's timers live in its state, so they go with it when it
 * is handed over; its owner indexes them when it takes it over, and fires them there. A
 * ref on another node arms and clears them through the owner. Each timer fires once
 * cluster-wide: a fire that reaches a node that no longer has the actor is dropped (its
 * new owner fires it), and a fire for a due time handled already does nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineKernel } from '../../src/index.ts';
import { withNatsCluster } from '../helpers/nats-fixtures.ts';

/** Counts fires and sets bit `timer` per fire; a message arms timer `id` once, due in `due` ms. */
const reminder = defineKernel({
  name: 'reminder',
  state: { count: 'u32', mask: 'u32' },
  request: { id: 'u32', due: 'u32' },
  reply: { armed: 'u32' },
  maxTimers: 8,
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  return Reply(select(0u, 1u, set_timer(ctx, msg.id, msg.due, 0u)));
}
fn on_timer(ctx: ptr<function, RingContext>, state: ptr<function, State>, timer: u32) {
  (*state).count += 1u;
  (*state).mask |= 1u << timer;
}`,
  reference: {
    handle: (_s, m, ctx) => ({ armed: ctx.setTimer(m.id, m.due, 0) ? 1 : 0 }),
    onTimer: (s, timer) => {
      s.count += 1;
      s.mask = (s.mask | (1 << timer)) >>> 0;
    },
  },
});

async function until(what: string, done: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('two nodes: timers armed from either node fire once on the owner, and go on after a handover', { timeout: 120_000 }, async () => {
  await withNatsCluster(async ({ start }) => {
    const a = await start({ kernels: [reminder], node: 'node-a' });
    const b = await start({ kernels: [reminder], node: 'node-b' });
    const keys = Array.from({ length: 16 }, (_, i) => `r${i}`);
    const owners = keys.map((k) => a.locate(a.actor(reminder, k)).node);
    assert.ok(owners.includes('node-a') && owners.includes('node-b'), owners.join());
    // From node a: timer 0 through the handler (a remote ask for b's actors), timer 1 through ref.setTimer (a timer call to the owner).
    for (const k of keys) {
      assert.equal((await a.actor(reminder, k).ask({ id: 0, due: 50 })).armed, 1);
      await a.actor(reminder, k).setTimer(1, { dueMs: 100 });
      await b.actor(reminder, k).setTimer(7, { dueMs: 600_000 });
      assert.equal(await b.actor(reminder, k).clearTimer(7), true, `${k}: cleared through ${owners[keys.indexOf(k)]}`);
    }
    await until('timers 0 and 1 fired everywhere', async () => (await Promise.all(keys.map((k) => a.actor(reminder, k).snapshot()))).every((s) => s.mask === 3));
    // Timer 2, due in 1.5 s, then node b leaves: its actors go to node a with their timers.
    for (const k of keys) await b.actor(reminder, k).setTimer(2, { dueMs: 1_500 });
    await b.shutdown();
    await until('timer 2 fired on the new owner', async () => (await Promise.all(keys.map((k) => a.actor(reminder, k).snapshot()))).every((s) => s.mask === 7));
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const k of keys) assert.deepEqual(await a.actor(reminder, k).snapshot(), { count: 3, mask: 7 }, `${k}: each timer once`);
  });
});
