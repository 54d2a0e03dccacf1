/**
 * K2K and security across nodes: a forwarder on one node sends to sinks on both nodes
 * (by the sinks' cluster-wide ids), FIFO per sender -> receiver, the receiver's clock
 * after the sender's, ctx.source the sender; the authorize policy of the node that owns
 * an actor applies to calls from other nodes (principal and role names travel, not ids).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { counter, ErrorCode } from '../../src/index.ts';
import { fwd, sink, teller, vault } from '../helpers/k2k-kernels.ts';
import { withNatsCluster } from '../helpers/nats-fixtures.ts';
import { gpuOrSkip, NO_GPU } from '../helpers/gpu.ts';

for (const backend of ['cpu', 'webgpu'] as const) {
  test(`K2K across nodes (${backend}): every message once, in order per sender, clock merged, source kept`, { timeout: 120_000 }, async (t) => {
    if (backend === 'webgpu' && !(await gpuOrSkip())) return t.skip(NO_GPU);
    await withNatsCluster(async ({ start: startNode }) => {
      const start = (node: string) => startNode({ kernels: [fwd, sink], backend, node });
      const a = await start('k-a');
      const b = await start('k-b');
      const sinks = Array.from({ length: 6 }, (_, i) => a.actor(sink, `s${i}`));
      const fwds = Array.from({ length: 4 }, (_, i) => a.actor(fwd, `f${i}`));
      const nodesOf = (refs: { identity: string }[]) => new Set(refs.map((r) => a.locate(r as never).node));
      assert.equal(nodesOf(sinks).size, 2, 'sinks on both nodes');
      const perPair = 30;
      // Each forwarder sends perPair messages to every sink: asks from node b's refs to the forwarders, in order.
      await Promise.all(
        fwds.map(async (_, f) => {
          const ref = b.actor(fwd, `f${f}`);
          for (let i = 0; i < perPair; i++) {
            await Promise.all(sinks.map((s, k) => ref.tell({ to: s.id, amount: f + 1, sink: k, me: f })));
          }
        }),
      );
      const expectedTotal = fwds.reduce((sum, _, f) => sum + (f + 1) * perPair, 0);
      const expectedCount = fwds.length * perPair;
      // K2K delivery is asynchronous: poll the sinks (snapshots go behind everything sent before).
      const deadline = Date.now() + 30_000;
      let states = await Promise.all(sinks.map((s) => s.snapshot()));
      while (states.some((s) => s.count < expectedCount) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        states = await Promise.all(sinks.map((s) => s.snapshot()));
      }
      const ids = new Set(fwds.map((f) => f.id));
      for (const [k, s] of states.entries()) {
        assert.equal(s.count, expectedCount, `sink ${k}: count`);
        assert.equal(s.total, expectedTotal, `sink ${k}: total`);
        assert.equal(s.disorder, 0, `sink ${k}: FIFO per sender`);
        assert.equal(s.early, 0, `sink ${k}: receiver clock after sender's`);
        assert.ok(ids.has(s.source), `sink ${k}: ctx.source ${s.source} is a forwarder's id`);
        assert.deepEqual(s.last.slice(0, fwds.length), fwds.map(() => perPair), `sink ${k}: last sequence per sender`);
      }
      // Both nodes see the same ids for the same actors.
      assert.deepEqual(sinks.map((s) => b.actor(sink, s.key).id), sinks.map((s) => s.id));
      // A send to an id nobody ever had is a dead letter.
      await b.actor(fwd, 'f0').tell({ to: 12345, amount: 1, sink: 0, me: 0 });
      const deadline2 = Date.now() + 10_000;
      while (a.deadLetterCounts()['no-such-actor'] + b.deadLetterCounts()['no-such-actor'] === 0 && Date.now() < deadline2) await new Promise((r) => setTimeout(r, 20));
      assert.equal(a.deadLetterCounts()['no-such-actor'] + b.deadLetterCounts()['no-such-actor'], 1);
    });
  });
}

test('authorize across nodes: the owner node\'s policy applies to calls from other nodes, by principal and role names', { timeout: 60_000 }, () =>
  withNatsCluster(async ({ start }) => {
    const seen: string[] = [];
    // The owner: its policy is the one asked.
    await start({
      kernels: [counter],
      roles: ['reader', 'writer'],
      authorize: (r) => {
        seen.push(`${r.principal}:${r.roles.join('+')}:${r.tenant}`);
        return r.principal !== 'mallory' && r.roles.includes('writer');
      },
      node: 'strict',
    });
    const open = await start({ kernels: [counter], roles: ['reader', 'writer'], node: 'open' });
    let key = 0;
    while (open.locate(open.actor(counter, `z${key}`, { tenant: 'acme' })).node !== 'strict') key++;
    const k = `z${key}`;
    const as = (principal: string, roles: string[]) => open.actor(counter, k, { tenant: 'acme', principal, roles });
    assert.deepEqual(await as('alice', ['writer']).ask({ add: 3 }), { total: 3, count: 1 });
    await assert.rejects(as('mallory', ['writer']).ask({ add: 1 }), { code: ErrorCode.FORBIDDEN });
    await assert.rejects(as('bob', ['reader']).ask({ add: 1 }), { code: ErrorCode.FORBIDDEN });
    assert.deepEqual(await as('alice', ['writer']).snapshot(), { total: 3, count: 1 });
    assert.ok(seen.includes('alice:writer:acme') && seen.includes('mallory:writer:acme') && seen.includes('bob:reader:acme'), seen.join(' '));
  }),
);

test('K2K across nodes asks the owner\'s policy for the carried principal: refused is a dead letter \'forbidden\' at the sender, the vault untouched', { timeout: 60_000 }, () =>
  withNatsCluster(async ({ start: startNode }) => {
    const policy = ({ principal, kernel }: { principal: string; kernel: string }) => !(principal === 'mallory' && kernel === 'vault');
    const start = (node: string) => startNode({ kernels: [vault, teller], roles: ['teller'], authorize: policy, node });
    const a = await start('v-a');
    await start('v-b'); // owns the vault
    let v = 0;
    while (a.locate(a.actor(vault, `acct${v}`, { tenant: 'bank' })).node !== 'v-b') v++;
    let t = 0;
    while (a.locate(a.actor(teller, `t${t}`, { tenant: 'bank' })).node !== 'v-a') t++;
    const owner = a.actor(vault, `acct${v}`, { tenant: 'bank', principal: 'alice', roles: ['teller'] });
    await owner.tell({ op: 0, amount: 1000 });
    const via = a.actor(teller, `t${t}`, { tenant: 'bank', principal: 'mallory', roles: ['teller'] });
    for (let i = 0; i < 3; i++) await via.ask({ to: owner.id, amount: 100 });
    const deadline = Date.now() + 20_000;
    while (a.deadLetterCounts().forbidden < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(a.deadLetterCounts().forbidden, 3);
    assert.deepEqual(await owner.snapshot(), { balance: 1000, ops: 1 });
    // Alice through a teller: allowed by the owner's policy, and the withdrawal lands.
    await a.actor(teller, `t${t}`, { tenant: 'bank', principal: 'alice', roles: ['teller'] }).ask({ to: owner.id, amount: 100 });
    let balance = 1000;
    while (balance === 1000 && Date.now() < deadline) balance = (await owner.snapshot()).balance;
    assert.equal(balance, 900);
  }),
);
