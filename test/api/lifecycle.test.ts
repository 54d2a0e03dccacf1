/**
 * Activation and termination: init runs exactly once per activation, before the first
 * message; shutdown runs on terminate, after the messages sent before it; a terminated
 * actor comes back with fresh state on its next message.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster, defineKernel } from '../../src/index.ts';
import { gpuTest } from '../helpers/gpu.ts';

export const lifecycle = defineKernel({
  name: 'lifecycle',
  state: { inits: 'u32', msgs: 'u32', shutdowns: 'u32', tenant: 'u32' },
  request: { x: 'u32' },
  reply: { inits: 'u32', msgs: 'u32' },
  wgsl: `
fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).msgs += 1u;
  return Reply((*state).inits, (*state).msgs);
}`,
  init: `
fn init(ctx: ptr<function, RingContext>, state: ptr<function, State>) {
  (*state).inits += 1u;
  (*state).tenant = (*ctx).tenant;
}`,
  shutdown: `
fn shutdown(ctx: ptr<function, RingContext>, state: ptr<function, State>) {
  (*state).shutdowns += 1u;
}`,
  reference: {
    init: (s, ctx) => {
      s.inits += 1;
      s.tenant = ctx.tenant;
    },
    handle: (s) => {
      s.msgs += 1;
      return { inits: s.inits, msgs: s.msgs };
    },
    shutdown: (s) => {
      s.shutdowns += 1;
    },
  },
});

async function lifecycleRun(backend: 'webgpu' | 'cpu'): Promise<void> {
  const cluster = await Cluster.start({ kernels: [lifecycle], shards: 2, backend, logger: false });
  try {
    // Many actors activated at once: INIT and first messages share batches.
    const refs = Array.from({ length: 300 }, (_, i) => cluster.actor(lifecycle, `a${i}`));
    const first = await Promise.all(refs.map((r) => r.ask({ x: 0 })));
    for (const reply of first) assert.deepEqual(reply, { inits: 1, msgs: 1 }, 'init ran once, before the first message');
    const more = await Promise.all(refs.map((r) => r.askMany(Array.from({ length: 20 }, () => ({ x: 0 })))));
    for (const replies of more) {
      assert.deepEqual(replies.map((r) => r.inits), new Array(20).fill(1), 'init never runs again');
      assert.deepEqual(replies.map((r) => r.msgs), Array.from({ length: 20 }, (_, i) => i + 2));
    }
    // Terminate right behind messages: shutdown runs after them, exactly once.
    const ref = refs[7]!;
    void ref.tell({ x: 0 });
    void ref.tell({ x: 0 });
    const final = await ref.terminate();
    assert.deepEqual(final, { inits: 1, msgs: 23, shutdowns: 1, tenant: 0 });
    assert.equal(ref.actorId, undefined, 'a terminated actor is not active');
    assert.equal(await ref.terminate(), undefined, 'terminating an inactive actor is a no-op');
    // The next message activates it afresh.
    assert.deepEqual(await ref.ask({ x: 0 }), { inits: 1, msgs: 1 });
    assert.deepEqual(await ref.snapshot(), { inits: 1, msgs: 1, shutdowns: 0, tenant: 0 });
    // Terminated slots are reused by new actors, which start from zeroed state.
    const before = cluster.info().actors;
    await Promise.all(refs.slice(100, 200).map((r) => r.terminate()));
    assert.equal(cluster.info().actors, before - 100);
    const fresh = Array.from({ length: 100 }, (_, i) => cluster.actor(lifecycle, `b${i}`, { tenant: 'acme' }));
    for (const r of fresh) assert.deepEqual(await r.ask({ x: 0 }), { inits: 1, msgs: 1 });
    const s = await fresh[0]!.snapshot();
    assert.equal(s.shutdowns, 0);
    assert.notEqual(s.tenant, 0, 'ctx.tenant reaches init');
  } finally {
    await cluster.shutdown();
  }
}

gpuTest('webgpu: init once before the first message, shutdown on terminate, fresh state after', () => lifecycleRun('webgpu'));
test('cpu: init once before the first message, shutdown on terminate, fresh state after', () => lifecycleRun('cpu'));

gpuTest("shards: 'auto' starts one shard per distinct adapter (one here)", async () => {
  const cluster = await Cluster.start({ kernels: [lifecycle], shards: 'auto', backend: 'webgpu', logger: false });
  try {
    const info = cluster.info();
    assert.equal(info.shards.length, 1);
    assert.ok(info.shards[0]!.adapter?.device, 'the shard reports its adapter');
    assert.deepEqual(await cluster.actor(lifecycle, 'x').ask({ x: 0 }), { inits: 1, msgs: 1 });
  } finally {
    await cluster.shutdown();
  }
});
