/**
 * Differential tests: thousands of random messages over many actors on two shards;
 * every reply and every final snapshot must equal the kernel's TS reference, run
 * in-process in the order the messages were sent.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Cluster, counter, echo, stats, type Kernel } from '../../src/index.ts';
import { gpuTest } from '../helpers/gpu.ts';
import { KernelModel, assertMatches, randomMessage } from '../helpers/model.ts';
import { seededRng, type Rng } from '../helpers/random.ts';

const ACTORS = 120;
const MESSAGES = 3000;

async function differential(cluster: Cluster, kernel: Kernel<any, any, any>, rng: Rng): Promise<void> {
  const model = new KernelModel(kernel);
  const keys = Array.from({ length: ACTORS }, (_, i) => `${kernel.name}-${i}`);
  const refs = keys.map((k) => cluster.actor(kernel, k));
  const checks: Array<Promise<void>> = [];
  const echoIds = new Map<string, number[]>();
  // Echo's reply carries ctx.actor and ctx.message_id, which only the cluster knows:
  // they are checked on their own below instead of against the model.
  const skip = kernel.name === 'echo' ? ['actor', 'messageId'] : [];
  const compare = (key: string, reply: any, expected: any, what: string) => {
    assertMatches(reply, expected, kernel.reply, what, skip);
    if (kernel.name === 'echo') {
      const ref = refs[keys.indexOf(key)]!;
      assert.equal(reply.actor, ref.actorId, `${what}: ctx.actor`);
      const ids = echoIds.get(key) ?? [];
      ids.push(reply.messageId);
      echoIds.set(key, ids);
    }
  };
  let sent = 0;
  while (sent < MESSAGES) {
    const i = rng.int(0, ACTORS - 1);
    const key = keys[i]!;
    const ref = refs[i]!;
    const roll = rng.float();
    if (roll < 0.4) {
      const msg = randomMessage(kernel.request, rng);
      model.message(key, msg);
      await ref.tell(msg);
      sent++;
    } else if (roll < 0.7) {
      const msg = randomMessage(kernel.request, rng);
      const expected = model.message(key, msg);
      const n = sent++;
      checks.push(ref.ask(msg).then((reply) => compare(key, reply, expected, `${kernel.name} ask #${n} to ${key}`)));
    } else {
      const msgs = Array.from({ length: rng.int(1, 16) }, () => randomMessage(kernel.request, rng));
      const expected = msgs.map((m) => model.message(key, m));
      const n = sent;
      sent += msgs.length;
      checks.push(
        ref.askMany(msgs).then((replies) => {
          assert.equal(replies.length, msgs.length);
          replies.forEach((r, j) => compare(key, r, expected[j], `${kernel.name} askMany #${n}+${j} to ${key}`));
        }),
      );
    }
  }
  await Promise.all(checks);
  const shardsUsed = new Set(refs.map((r) => r.shard));
  assert.equal(shardsUsed.size, 2, `${kernel.name}: actors should span both shards`);
  for (let i = 0; i < ACTORS; i++) {
    assertMatches(await refs[i]!.snapshot(), model.state(keys[i]!), kernel.state, `${kernel.name} final state of ${keys[i]}`);
  }
  for (const [key, ids] of echoIds) {
    for (let j = 1; j < ids.length; j++) assert.ok(ids[j]! > ids[j - 1]!, `echo ${key}: message ids must increase (${ids.join(',')})`);
  }
}

async function runAll(t: TestContext, backend: 'webgpu' | 'cpu'): Promise<void> {
  const rng = seededRng(t);
  const cluster = await Cluster.start({ kernels: [counter, echo, stats], shards: 2, backend, logger: false });
  try {
    assert.equal(cluster.info().backend, backend);
    for (const kernel of [counter, echo, stats]) await differential(cluster, kernel, rng);
  } finally {
    await cluster.shutdown();
  }
}

gpuTest('webgpu backend: replies and final states equal the TS references (counter, echo, stats)', (t) => runAll(t, 'webgpu'), {
  timeout: 300_000,
});

test('cpu backend: replies and final states equal the TS references (counter, echo, stats)', { timeout: 300_000 }, (t) => runAll(t, 'cpu'));
