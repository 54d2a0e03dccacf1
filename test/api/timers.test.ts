/**
 * Timers (fn on_timer, set_timer / clear_timer, ref.setTimer / clearTimer): a due timer
 * is handled in its actor's message order, once per due time, wherever the actor is.
 * The tests wait for fires by asking the actors (their state counts them), never by
 * asserting on time: replies and states are checked against a TS model that applies
 * exactly the fires the actor saw, so an extra, missing or reordered fire fails them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Cluster, ErrorCode, counter, defineKernel, type ClusterOptions } from '../../src/index.ts';
import { gpuOrSkip, NO_GPU } from '../helpers/gpu.ts';
import { seededRng } from '../helpers/random.ts';
import { parseExposition, sumOf } from '../helpers/exposition.ts';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const TIMER_CHILD = fileURLToPath(new URL('../helpers/timer-child.ts', import.meta.url));

const CAP = 10;
const REFILL = 3;

/** A token bucket: a refill timer (id 7) adds REFILL tokens up to CAP; a message takes some. */
const bucket = defineKernel({
  name: 'bucket',
  state: { tokens: 'u32', fires: 'u32', late: 'u32' },
  request: { take: 'u32', period: 'u32' },
  reply: { tokens: 'u32', fires: 'u32', ok: 'u32' },
  wgsl: `const CAP: u32 = ${CAP}u;
const REFILL: u32 = ${REFILL}u;
fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  if (msg.period > 0u) { set_timer(ctx, 7u, msg.period, msg.period); }
  var ok = 0u;
  if ((*state).tokens >= msg.take) { (*state).tokens -= msg.take; ok = 1u; }
  return Reply((*state).tokens, (*state).fires, ok);
}
fn on_timer(ctx: ptr<function, RingContext>, state: ptr<function, State>, timer: u32) {
  (*state).fires += 1u;
  (*state).late = max((*state).late, (*ctx).timer_late_ms);
  (*state).tokens = min(CAP, (*state).tokens + REFILL);
}`,
  reference: {
    handle: (s, m, ctx) => {
      if (m.period > 0) ctx.setTimer(7, m.period, m.period);
      let ok = 0;
      if (s.tokens >= m.take) {
        s.tokens -= m.take;
        ok = 1;
      }
      return { tokens: s.tokens, fires: s.fires, ok };
    },
    onTimer: (s, _timer, ctx) => {
      s.fires += 1;
      s.late = Math.max(s.late, ctx.timerLateMs);
      s.tokens = Math.min(10, s.tokens + 3);
    },
  },
});

/**
 * One-shot reminders: a message arms timer `id` due in `due` ms (and says whether it
 * could); each fire counts and sets bit `timer` (a fire twice shows as count > bits).
 * init arms timer 31 at once (a timer set in a hook).
 */
const reminder = defineKernel({
  name: 'reminder',
  state: { count: 'u32', mask: 'u32', late: 'u32' },
  request: { id: 'u32', due: 'u32' },
  reply: { armed: 'u32', count: 'u32', mask: 'u32' },
  maxTimers: 9,
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  let armed = select(0u, 1u, set_timer(ctx, msg.id, msg.due, 0u));
  return Reply(armed, (*state).count, (*state).mask);
}
fn init(ctx: ptr<function, RingContext>, state: ptr<function, State>) {
  set_timer(ctx, 31u, 0u, 0u);
}
fn on_timer(ctx: ptr<function, RingContext>, state: ptr<function, State>, timer: u32) {
  (*state).count += 1u;
  (*state).mask |= 1u << timer;
  (*state).late = max((*state).late, (*ctx).timer_late_ms);
}`,
  reference: {
    handle: (s, m, ctx) => ({ armed: ctx.setTimer(m.id, m.due, 0) ? 1 : 0, count: s.count, mask: s.mask }),
    init: (_s, ctx) => {
      ctx.setTimer(31, 0, 0);
    },
    onTimer: (s, timer, ctx) => {
      s.count += 1;
      s.mask = (s.mask | (1 << timer)) >>> 0;
      s.late = Math.max(s.late, ctx.timerLateMs);
    },
  },
});

/** Every `period` ms its timer sends 1 to the counter `to` (K2K from on_timer), up to `times` sends. */
const pinger = defineKernel({
  name: 'pinger',
  state: { to: 'u32', left: 'u32', sent: 'u32' },
  request: { to: 'u32', times: 'u32', period: 'u32' },
  reply: { sent: 'u32' },
  sends: { add: 'counter' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).to = msg.to;
  (*state).left = msg.times;
  set_timer(ctx, 1u, msg.period, msg.period);
  return Reply((*state).sent);
}
fn on_timer(ctx: ptr<function, RingContext>, state: ptr<function, State>, timer: u32) {
  if ((*state).left == 0u) { clear_timer(ctx, 1u); return; }
  if (send_add(ctx, (*state).to, AddRequest(1u))) {
    (*state).sent += 1u;
    (*state).left -= 1u;
  }
}`,
  reference: {
    handle: (s, m, ctx) => {
      s.to = m.to;
      s.left = m.times;
      ctx.setTimer(1, m.period, m.period);
      return { sent: s.sent };
    },
    onTimer: (s, _timer, ctx) => {
      if (s.left === 0) {
        ctx.clearTimer(1);
        return;
      }
      if (ctx.send('add', s.to, { add: 1 })) {
        s.sent += 1;
        s.left -= 1;
      }
    },
  },
});

async function start(t: TestContext, backend: 'cpu' | 'webgpu', options: Partial<ClusterOptions> = {}): Promise<Cluster | undefined> {
  if (backend === 'webgpu' && !(await gpuOrSkip())) {
    t.skip(NO_GPU);
    return undefined;
  }
  const cluster = await Cluster.start({ kernels: [bucket, reminder, pinger, counter], backend, shards: 2, logger: false, ...options });
  t.after(() => cluster.shutdown());
  return cluster;
}

/** Waits (asking, not sleeping for a set time) until `done` holds; fails after `ms`. */
async function until(what: string, done: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const fires = async (cluster: Cluster, status: string) => sumOf(parseExposition(await cluster.registry.metrics()), 'ringshard_messages_total', { kind: 'timer', status });

/** The bucket's model: the fires an actor saw (its reply says how many), then the take. */
class BucketModel {
  tokens = 0;
  fires = 0;
  fireUpTo(n: number): void {
    assert.ok(n >= this.fires, `fires went back from ${this.fires} to ${n}`);
    for (; this.fires < n; this.fires++) this.tokens = Math.min(CAP, this.tokens + REFILL);
  }
  take(n: number): number {
    if (this.tokens < n) return 0;
    this.tokens -= n;
    return 1;
  }
}

/** One round of random takes from every bucket, each reply checked against its model after the fires it says it saw. */
async function takeRound(cluster: Cluster, keys: readonly string[], models: Map<string, BucketModel>, rng: ReturnType<typeof seededRng>, round: number): Promise<void> {
  await Promise.all(
    keys.map(async (k) => {
      const take = rng.int(0, 4);
      const reply = await cluster.actor(bucket, k).ask({ take, period: 0 });
      const model = models.get(k)!;
      model.fireUpTo(reply.fires);
      const ok = model.take(take);
      assert.deepEqual(reply, { tokens: model.tokens, fires: model.fires, ok }, `${k} round ${round}`);
    }),
  );
}

for (const backend of ['cpu', 'webgpu'] as const) {
  test(`${backend}: token buckets refilled by a timer hold exactly the model's tokens, message by message and at the end, through worker exits and migrations`, { timeout: 180_000 }, async (t) => {
    const cluster = await start(t, backend);
    if (!cluster) return;
    const rng = seededRng(t);
    const keys = Array.from({ length: 16 }, (_, i) => `b${i}`);
    const models = new Map(keys.map((k) => [k, new BucketModel()]));
    await Promise.all(keys.map((k) => cluster.actor(bucket, k).ask({ take: 0, period: rng.int(5, 20) })));
    // Takes while the timers run; each reply says how many fires came before it.
    for (let round = 0; round < 40; round++) {
      await takeRound(cluster, keys, models, rng, round);
      if (round % 8 === 7) await new Promise((resolve) => setTimeout(resolve, 10));
      // Through a worker's death (its shard replays from its checkpoint) and moves between shards.
      if (round === 13) await cluster.injectFault(0, 'worker-exit');
      if (round === 21) await Promise.all(keys.slice(0, 4).map((k) => cluster.migrate(cluster.actor(bucket, k), 1 - cluster.actor(bucket, k).shard)));
      if (round === 29) await cluster.injectFault(1, 'worker-exit');
    }
    await until('every bucket had 5 refills', async () => (await Promise.all(keys.map((k) => cluster.actor(bucket, k).snapshot()))).every((s) => s.fires >= 5));
    for (const k of keys) assert.equal(await cluster.actor(bucket, k).clearTimer(7), true, `${k}'s timer was armed`);
    let total = 0;
    for (const k of keys) {
      const state = await cluster.actor(bucket, k).snapshot();
      const model = models.get(k)!;
      model.fireUpTo(state.fires);
      assert.deepEqual({ tokens: state.tokens, fires: state.fires }, { tokens: model.tokens, fires: model.fires }, `${k} at the end`);
      assert.equal('rs_timers' in state, false, 'the timer table is not part of the state users see');
      total += state.fires;
    }
    // Cleared: no fire runs on_timer any more (a fire already on its way is stale).
    const after = await Promise.all(keys.map((k) => cluster.actor(bucket, k).ask({ take: 0, period: 0 })));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const later = await Promise.all(keys.map((k) => cluster.actor(bucket, k).ask({ take: 0, period: 0 })));
    assert.deepEqual(later.map((r) => r.fires), after.map((r) => r.fires), 'no fire after clearTimer');
    assert.equal(await fires(cluster, 'ok'), total, 'each fire counted once, under ok');
    assert.equal(await fires(cluster, 'error'), 0);
  });

  test(`${backend}: one-shot timers fire once each, in init too, through worker exits and migrations`, { timeout: 180_000 }, async (t) => {
    const cluster = await start(t, backend, { checkpointEvery: { records: 64 } });
    if (!cluster) return;
    const rng = seededRng(t);
    const keys = Array.from({ length: 24 }, (_, i) => `r${i}`);
    // Each actor: timer 31 from init (due at once), then 8 more due 20..400 ms from now.
    const armed = await Promise.all(keys.map((k) => cluster.actor(reminder, k).askMany(Array.from({ length: 8 }, (_, id) => ({ id, due: rng.int(20, 400) })))));
    for (const replies of armed) assert.deepEqual(replies.map((r) => r.armed), [1, 1, 1, 1, 1, 1, 1, 1]);
    // While they come due: workers die (the shard replays from its checkpoint) and actors move.
    await Promise.all([
      cluster.injectFault(0, 'worker-exit'),
      cluster.migrate(cluster.actor(reminder, 'r0'), 1),
      cluster.migrate(cluster.actor(reminder, 'r1'), 0),
    ]);
    await cluster.injectFault(1, 'worker-exit');
    await until('every timer fired', async () => (await Promise.all(keys.map((k) => cluster.actor(reminder, k).snapshot()))).every((s) => s.mask === 0x800000ff));
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const k of keys) {
      const s = await cluster.actor(reminder, k).snapshot();
      assert.deepEqual({ count: s.count, mask: s.mask }, { count: 9, mask: 0x800000ff }, `${k}: each timer once`);
    }
    assert.equal(sumOf(parseExposition(await cluster.registry.metrics()), 'ringshard_timers_armed'), 0, 'nothing left armed');
  });

  test(`${backend}: a timer's on_timer sends K2K, a set number of times, then clears itself`, { timeout: 120_000 }, async (t) => {
    const cluster = await start(t, backend);
    if (!cluster) return;
    const sinks = Array.from({ length: 4 }, (_, i) => cluster.actor(counter, `sink${i}`));
    const ids = await Promise.all(sinks.map((s) => s.ask({ add: 0 }).then(() => s.id)));
    const times = [3, 5, 7, 11];
    await Promise.all(times.map((n, i) => cluster.actor(pinger, `p${i}`).ask({ to: ids[i]!, times: n, period: 5 })));
    await until('every pinger sent all', async () => (await Promise.all(sinks.map((s) => s.snapshot()))).every((s, i) => s.total === times[i]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const [i, s] of sinks.entries()) assert.deepEqual(await s.snapshot(), { total: times[i], count: times[i]! + 1 }, `sink ${i}: each send once`);
    for (const [i, n] of times.entries()) assert.equal((await cluster.actor(pinger, `p${i}`).ask({ to: ids[i]!, times: 0, period: 0 }).catch(() => ({ sent: -1 }))).sent, n);
  });

  test(`${backend}: an idle actor with a timer is deactivated and its timer brings it back, once, with its state and id`, { timeout: 120_000 }, async (t) => {
    const cluster = await start(t, backend, { idleAfterMs: 60_000 });
    if (!cluster) return;
    const ref = cluster.actor(reminder, 'sleeper');
    assert.equal((await ref.ask({ id: 3, due: 300 })).armed, 1);
    await until('init timer fired', async () => (await ref.snapshot()).count === 1);
    const id = ref.id;
    await cluster.sweepIdle();
    await cluster.sweepIdle();
    await cluster.sweepIdle();
    assert.equal(cluster.info().deactivated, 1, 'deactivated with a timer armed');
    await until('the timer reactivated it', async () => cluster.info().deactivated === 0);
    await until('timer 3 fired', async () => (await ref.snapshot()).mask === 0x80000008);
    const s = await ref.snapshot();
    assert.deepEqual({ count: s.count, mask: s.mask }, { count: 2, mask: 0x80000008 });
    assert.equal(ref.id, id, 'the same id');
  });
}

for (const backend of ['cpu', 'webgpu'] as const) {
  test(`${backend}: timers outlive the process with persist: token buckets go on from the model, and a timer due while the process was away fires once, late, and says so`, { timeout: 120_000 }, async (t) => {
    if (backend === 'webgpu' && !(await gpuOrSkip())) return t.skip(NO_GPU);
    const dir = mkdtempSync(join(tmpdir(), 'ringshard-timers-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const options = { kernels: [bucket, reminder, pinger, counter], backend, shards: 2, logger: false as const, persist: { path: dir } };
    const rng = seededRng(t);
    const buckets = Array.from({ length: 6 }, (_, i) => `pb${i}`);
    const models = new Map(buckets.map((k) => [k, new BucketModel()]));
    const takes = async (cluster: Cluster, rounds: number) => {
      for (let round = 0; round < rounds; round++) {
        await takeRound(cluster, buckets, models, rng, round);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    const first = await Cluster.start(options);
    await Promise.all(buckets.map((k) => first.actor(bucket, k).ask({ take: 0, period: 20 })));
    await takes(first, 10);
    const keys = Array.from({ length: 12 }, (_, i) => `p${i}`);
    const armedAt = Date.now();
    // Due well after the first process is gone (its init fires and its shutdown took over 300 ms on llvmpipe).
    for (const k of keys) assert.equal((await first.actor(reminder, k).ask({ id: 5, due: 1_500 })).armed, 1);
    const ids = keys.map((k) => first.actor(reminder, k).id);
    const reminderFires = async (cluster: Cluster) => sumOf(parseExposition(await cluster.registry.metrics()), 'ringshard_messages_total', { kernel: 'reminder', kind: 'timer', status: 'ok' });
    await until("every reminder's init timer fired", async () => (await reminderFires(first)) === keys.length);
    const firesBefore = keys.length;
    await first.shutdown();
    // The process is away past the timers' due time: they fire once, late, and say so.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, armedAt + 2_500 - Date.now())));
    const second = await Cluster.start(options);
    t.after(() => second.shutdown());
    // Nothing is asked of the reminders: their timers alone bring them back (the count
    // goes on from the first process's).
    await until('every stored reminder fired', async () => (await reminderFires(second)) === firesBefore + keys.length);
    for (const [i, k] of keys.entries()) {
      const s = await second.actor(reminder, k).snapshot();
      assert.deepEqual({ count: s.count, mask: s.mask }, { count: 2, mask: 0x80000020 }, `${k}: init's timer before, timer 5 after the restart`);
      assert.ok(s.late >= 500, `${k}: fired ${s.late} ms late (due 1,500 ms after arming, the process away until 2,500 ms)`);
      assert.equal(second.actor(reminder, k).id, ids[i]);
    }
    // The buckets' refill timers go on where they were, each fire once: the model holds.
    await takes(second, 10);
    for (const k of buckets) assert.equal(await second.actor(bucket, k).clearTimer(7), true);
    for (const k of buckets) {
      const state = await second.actor(bucket, k).snapshot();
      models.get(k)!.fireUpTo(state.fires);
      assert.deepEqual({ tokens: state.tokens, fires: state.fires }, { tokens: models.get(k)!.tokens, fires: models.get(k)!.fires }, `${k} at the end`);
    }
  });
}

test('cpu: a quarantined actor\'s timer stops; the others on its shard go on', { timeout: 60_000 }, async (t) => {
  const stuck = defineKernel({
    name: 'stuck',
    state: { fires: 'u32' },
    request: { spins: 'u32' },
    reply: { fires: 'u32' },
    wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  set_timer(ctx, 1u, 5u, 5u);
  return Reply((*state).fires);
}
fn on_timer(ctx: ptr<function, RingContext>, state: ptr<function, State>, timer: u32) {
  (*state).fires += 1u;
}`,
    reference: {
      handle: (s, m, ctx) => {
        while (m.spins > 0) {
          // never returns: the watchdog's business
        }
        ctx.setTimer(1, 5, 5);
        return { fires: s.fires };
      },
      onTimer: (s) => {
        s.fires += 1;
      },
    },
  });
  const cluster = await Cluster.start({ kernels: [stuck], backend: 'cpu', shards: 1, logger: false, maxDispatchMs: 300, askTimeoutMs: 60_000 });
  t.after(() => cluster.shutdown());
  const bad = cluster.actor(stuck, 'bad');
  const good = cluster.actor(stuck, 'good');
  await Promise.all([bad.ask({ spins: 0 }), good.ask({ spins: 0 })]);
  await until('both fired', async () => (await bad.snapshot()).fires > 2 && (await good.snapshot()).fires > 2);
  await assert.rejects(bad.ask({ spins: 1 }), (e: { code: string }) => e.code === ErrorCode.QUARANTINED);
  const at = (await good.snapshot()).fires;
  await until('the good one fired 20 more', async () => (await good.snapshot()).fires >= at + 20);
  await until("the quarantined one's timer left the index", async () => sumOf(parseExposition(await cluster.registry.metrics()), 'ringshard_timers_armed') === 1);
  await assert.rejects(bad.snapshot(), (e: { code: string }) => e.code === ErrorCode.QUARANTINED);
});

test('timers: bad input is refused with ERR_RINGSHARD_TIMER or ERR_RINGSHARD_INVALID_KERNEL, and nothing else changes', { timeout: 60_000 }, async (t) => {
  const invalidKernel = (e: { code: string }) => e.code === ErrorCode.INVALID_KERNEL;
  const base = { state: { n: 'u32' }, request: { a: 'u32' }, reply: { n: 'u32' } } as const;
  assert.throws(
    () => defineKernel({ ...base, name: 'no_on_timer', wgsl: 'fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply { set_timer(ctx, 1u, 5u, 0u); return Reply(0u); }' }),
    (e: { code: string; message: string }) => invalidKernel(e) && /calls set_timer or clear_timer but defines no 'fn on_timer/.test(e.message),
  );
  const timed = 'fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply { return Reply(0u); }\nfn on_timer(ctx: ptr<function, RingContext>, state: ptr<function, State>, timer: u32) {}';
  for (const maxTimers of [0, 65, 1.5]) assert.throws(() => defineKernel({ ...base, name: 'k', wgsl: timed, maxTimers }), (e: { code: string; message: string }) => invalidKernel(e) && /maxTimers must be an integer from 1 to 64/.test(e.message));
  assert.throws(() => defineKernel({ ...base, name: 'k', wgsl: timed.split('\n')[0]!, maxTimers: 2 }), (e: { code: string; message: string }) => invalidKernel(e) && /maxTimers is given but/.test(e.message));
  assert.throws(() => defineKernel({ ...base, name: 'k', wgsl: timed, reference: () => ({ n: 0 }) }), (e: { code: string; message: string }) => invalidKernel(e) && /needs onTimer/.test(e.message));

  const two = defineKernel({
    name: 'two',
    state: { count: 'u32', mask: 'u32' },
    request: { id: 'u32', due: 'u32', fail: 'u32' },
    reply: { armed: 'u32', mask: 'u32' },
    maxTimers: 2,
    wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*ctx).status = msg.fail;
  return Reply(select(0u, 1u, set_timer(ctx, msg.id, msg.due, 0u)), (*state).mask);
}
fn on_timer(ctx: ptr<function, RingContext>, state: ptr<function, State>, timer: u32) {
  (*state).count += 1u;
  (*state).mask |= 1u << timer;
}`,
    reference: {
      handle: (s, m, ctx) => {
        ctx.status = m.fail;
        return { armed: ctx.setTimer(m.id, m.due, 0) ? 1 : 0, mask: s.mask };
      },
      onTimer: (s, timer) => {
        s.count += 1;
        s.mask = (s.mask | (1 << timer)) >>> 0;
      },
    },
  });
  const cluster = await Cluster.start({ kernels: [two, counter], backend: 'cpu', logger: false });
  t.after(() => cluster.shutdown());
  const isTimer = (pattern: RegExp) => (e: { code: string; message: string }) => e.code === ErrorCode.TIMER && pattern.test(e.message);
  const ref = cluster.actor(two, 'a');
  await assert.rejects(cluster.actor(counter, 'c').setTimer(1, { dueMs: 5 }), isTimer(/has no timers/));
  await assert.rejects(cluster.actor(counter, 'c').clearTimer(1), isTimer(/has no timers/));
  for (const id of [-1, 0xffffffff, 1.5, '1' as never, Number.NaN]) await assert.rejects(ref.setTimer(id, { dueMs: 5 }), isTimer(/a timer id must be an integer/), `id ${String(id)}`);
  for (const dueMs of [-1, 2 ** 32, Number.NaN, undefined as never]) await assert.rejects(ref.setTimer(1, { dueMs }), isTimer(/dueMs must be an integer of milliseconds/), `dueMs ${String(dueMs)}`);
  await assert.rejects(ref.setTimer(1, { dueMs: 5, everyMs: -5 }), isTimer(/everyMs must be/));
  assert.equal(cluster.info().actors, 0, 'the refusals above activated nothing');
  // Two timers fit; a third is refused (the ref's and the WGSL's), re-arming one that is there is not.
  await ref.setTimer(1, { dueMs: 600_000 });
  // A message that fails arms nothing (as it sends nothing).
  await assert.rejects(ref.ask({ id: 2, due: 10, fail: 3 }), (e: { code: string }) => e.code === ErrorCode.HANDLER);
  assert.equal(await ref.clearTimer(2), false, "a failed message's timer is not armed");
  assert.equal((await ref.ask({ id: 2, due: 600_000, fail: 0 })).armed, 1);
  await assert.rejects(ref.setTimer(3, { dueMs: 600_000 }), isTimer(/holds 2 timers already/));
  assert.equal((await ref.ask({ id: 3, due: 600_000, fail: 0 })).armed, 0, 'set_timer returns false when the table is full');
  await ref.setTimer(2, { dueMs: 10 });
  await until('timer 2 fired', async () => (await ref.snapshot()).mask === 4);
  assert.equal(await ref.clearTimer(2), false, 'a one-shot timer that fired is not armed');
  assert.equal(await ref.clearTimer(9), false, 'an unknown id: false');
  assert.equal(await ref.clearTimer(1), true);
  assert.equal(await ref.clearTimer(1), false);
  assert.deepEqual(await ref.snapshot(), { count: 1, mask: 4 });
});

test('cpu: more timers due at once than the ring and the K2K queue hold all fire, once each; none is a dead letter', { timeout: 120_000 }, async (t) => {
  const cluster = await Cluster.start({ kernels: [reminder], backend: 'cpu', shards: 1, logger: false, ringCapacity: 256, maxK2KQueuedPerShard: 32 });
  t.after(() => cluster.shutdown());
  const keys = Array.from({ length: 300 }, (_, i) => `due${i}`);
  // init's timer 31 and four more, all due within a few ms of each other: ~1,500 fires against 288 places.
  for (const k of keys) await cluster.actor(reminder, k).askMany([0, 1, 2, 3].map((id) => ({ id, due: 200 })));
  await until('every timer fired', async () => (await fires(cluster, 'ok')) === keys.length * 5);
  for (const k of keys) {
    const s = await cluster.actor(reminder, k).snapshot();
    assert.deepEqual({ count: s.count, mask: s.mask }, { count: 5, mask: 0x8000000f }, k);
  }
  assert.equal(cluster.deadLetterCounts().overflow, 0, 'no fire was dropped for want of room');
});

for (const backend of ['cpu', 'webgpu'] as const) {
  test(`${backend}: persist, SIGKILL while timers are being armed: every acknowledged timer fires once after the restart, none twice`, { timeout: 120_000 }, async (t) => {
    if (backend === 'webgpu' && !(await gpuOrSkip())) return t.skip(NO_GPU);
    const dir = mkdtempSync(join(tmpdir(), 'ringshard-timer-kill-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const child = (mode: string, keys = 0) =>
      spawn(process.execPath, ['--import', 'tsx', TIMER_CHILD, dir, backend, mode, String(keys)], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
    const armer = child('arm');
    const exited = new Promise((resolve) => armer.once('exit', resolve));
    let acknowledged = -1;
    const kills = seededRng(t).int(40, 120);
    for await (const line of createInterface({ input: armer.stdout! })) {
      acknowledged = Number(line.split(' ')[1]);
      if (acknowledged >= kills) {
        armer.kill('SIGKILL');
        break;
      }
    }
    await exited;
    // One more may have been armed and not acknowledged when the kill came.
    const keys = acknowledged + 2;
    const verifier = child('verify', keys);
    let json = '';
    for await (const line of createInterface({ input: verifier.stdout! })) json += line;
    const states = JSON.parse(json) as Record<string, { count: number; mask: number; late: number }>;
    for (let i = 0; i < keys; i++) {
      const s = states[`t${i}`]!;
      if (i <= acknowledged) assert.deepEqual({ count: s.count, mask: s.mask }, { count: 1, mask: 1 << i % 4 }, `t${i}: acknowledged, fired once`);
      else assert.ok(s.count <= 1, `t${i}: never twice (${s.count})`);
    }
  });
}

for (const backend of ['cpu', 'webgpu'] as const) {
  test(`${backend}: a handle_secure kernel's on_timer gets SecureRingContext with no roles; a refused message arms nothing`, { timeout: 60_000 }, async (t) => {
    if (backend === 'webgpu' && !(await gpuOrSkip())) return t.skip(NO_GPU);
    const vault = defineKernel({
      name: 'vault',
      state: { fires: 'u32', roles: 'u32', principal: 'u32' },
      request: { x: 'u32' },
      reply: { fires: 'u32' },
      wgsl: `fn handle_secure(ctx: ptr<function, SecureRingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  set_timer(ctx, 1u, 5u, 0u);
  if (((*ctx).roles & ROLE_TELLER) == 0u) { (*ctx).status = STATUS_FORBIDDEN; }
  return Reply((*state).fires);
}
fn on_timer(ctx: ptr<function, SecureRingContext>, state: ptr<function, State>, timer: u32) {
  (*state).fires += 1u;
  (*state).roles = (*ctx).roles + 100u;
  (*state).principal = (*ctx).principal + 100u;
}`,
      reference: {
        handleSecure: (s, _m, ctx) => {
          ctx.setTimer(1, 5, 0);
          if ((ctx.roles & ctx.ROLE_TELLER!) === 0) ctx.status = ctx.FORBIDDEN;
          return { fires: s.fires };
        },
        onTimer: (s, _timer, ctx) => {
          s.fires += 1;
          s.roles = ctx.roles + 100;
          s.principal = ctx.principal + 100;
        },
      },
    });
    const cluster = await Cluster.start({ kernels: [vault], backend, logger: false, roles: ['teller'] });
    t.after(() => cluster.shutdown());
    const refused = cluster.actor(vault, 'v', { principal: 'bob' });
    await assert.rejects(refused.ask({ x: 0 }), (e: { code: string }) => e.code === ErrorCode.FORBIDDEN);
    assert.equal(await refused.clearTimer(1), false, 'the refused message armed nothing');
    await cluster.actor(vault, 'v', { principal: 'alice', roles: ['teller'] }).ask({ x: 0 });
    await until('the timer fired', async () => (await refused.snapshot()).fires === 1);
    assert.deepEqual(await refused.snapshot(), { fires: 1, roles: 100, principal: 100 }, 'on_timer ran on behalf of nobody');
  });
}
