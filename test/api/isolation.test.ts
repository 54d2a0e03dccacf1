/**
 * Tenants never meet, tried the way an attacker would: identities that could collide,
 * K2K into another tenant's actors or past the policy, denied refs that still answer,
 * guessable ids, and queues and tables that grow without bound. Both backends where a
 * shard is involved; property tests (fast-check) where a rule must hold for every input.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Cluster, ErrorCode, defineKernel } from '../../src/index.ts';
import { actorIdentity, identityParts } from '../../src/coordinator/actor-directory.ts';
import { ActorIds } from '../../src/coordinator/actor-ids.ts';
import { NameTable } from '../../src/coordinator/name-table.ts';
import { Authorizer } from '../../src/api/authorizer.ts';
import { gpuOrSkip, NO_GPU } from '../helpers/gpu.ts';
import { parseExposition, valueOf } from '../helpers/exposition.ts';
import { fwd, sink, teller, vault } from '../helpers/k2k-kernels.ts';
import { startSecureCluster } from '../helpers/secure-cluster.ts';

const BACKENDS = ['cpu', 'webgpu'] as const;
const isForbidden = (e: { code?: string }) => e.code === ErrorCode.FORBIDDEN;

/** Sends copies of every message to itself: K2K amplification without end. */
const amp = defineKernel({
  name: 'amp',
  state: { seen: 'u32' },
  request: { n: 'u32' },
  reply: { seen: 'u32' },
  sends: { self: 'amp' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).seen += 1u;
  for (var i = 0u; i < 4u; i++) { _ = send_self(ctx, (*ctx).actor, SelfRequest(msg.n + 1u)); }
  return Reply((*state).seen);
}`,
  reference: (s, m, ctx) => {
    s.seen = (s.seen + 1) >>> 0;
    for (let i = 0; i < 4; i++) ctx.send('self', ctx.actor, { n: m.n + 1 });
    return { seen: s.seen };
  },
});

const counter = defineKernel({
  name: 'plain',
  state: { total: 'u32' },
  request: { add: 'u32' },
  reply: { total: 'u32' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).total += msg.add;
  return Reply((*state).total);
}`,
  reference: (s, m) => {
    s.total = (s.total + m.add) >>> 0;
    return { total: s.total };
  },
});

const start = startSecureCluster;

test('identity: a NUL in a tenant is refused, and (kernel, tenant, key) -> identity is one-to-one (property)', async (t) => {
  const cluster = await start(t, 'cpu');
  if (!cluster) return;
  // The probe's attack: tenant 'a' key 'b\0c' against tenant 'a\0b' key 'c'.
  const a = cluster.actor(vault, 'b\u0000c', { tenant: 'a' });
  assert.throws(() => cluster.actor(vault, 'c', { tenant: 'a\u0000b' }), (e: { code?: string; message: string }) => e.code === ErrorCode.INVALID_OPTION && /tenant must not contain NUL/.test(e.message));
  await a.tell({ op: 0, amount: 777 });
  assert.equal((await a.ask({ op: 0, amount: 1 })).balance, 778);

  const names = fc.string({ unit: fc.constantFrom('a', 'b', '\u0000', 'é', '\u200e', ':', '1'), maxLength: 6 });
  fc.assert(
    fc.property(fc.tuple(names, names), fc.tuple(names, names), ([t1, k1], [t2, k2]) => {
      const refused = (tenant: string, key: string) => {
        try {
          cluster.actor(vault, key === '' ? 'x' : key, { tenant });
          return false;
        } catch (error) {
          assert.equal((error as { code?: string }).code, ErrorCode.INVALID_OPTION);
          return true;
        }
      };
      assert.equal(refused(t1, k1), t1.includes('\u0000'));
      if (t1.includes('\u0000') || t2.includes('\u0000')) return;
      const i1 = actorIdentity('vault', t1, k1);
      const i2 = actorIdentity('vault', t2, k2);
      assert.equal(i1 === i2, t1 === t2 && k1 === k2, `${JSON.stringify([t1, k1])} vs ${JSON.stringify([t2, k2])}`);
      assert.deepEqual(identityParts(i1), { kernel: 'vault', tenant: t1, key: k1 });
    }),
    { numRuns: 2000 },
  );
});

test('records carry the caller tenant: a ref stamps its own tenant id, which its actor holds', async (t) => {
  const cluster = await start(t, 'cpu');
  if (!cluster) return;
  const acme = cluster.actor(vault, 'x', { tenant: 'acme' });
  const evil = cluster.actor(vault, 'x', { tenant: 'evil' });
  await acme.tell({ op: 0, amount: 5 });
  await evil.tell({ op: 0, amount: 7 });
  assert.notEqual(acme.caller.tenantId, evil.caller.tenantId);
  assert.equal(acme.caller.tenantId, acme.tenantId);
  assert.equal((await acme.snapshot()).balance, 5);
  assert.equal((await evil.snapshot()).balance, 7);
});

for (const backend of BACKENDS) {
  test(`${backend}: K2K delivery asks the policy for the carried principal: a vault denied to mallory stays shut through a forwarder`, async (t) => {
    const asked: string[] = [];
    const cluster = await start(t, backend, {
      authorize: ({ principal, kernel, key }) => {
        asked.push(`${principal}/${kernel}/${key}`);
        return !(principal === 'mallory' && kernel === 'vault');
      },
    });
    if (!cluster) return;
    const owner = cluster.actor(vault, 'acct', { tenant: 'bank', principal: 'alice', roles: ['teller'] });
    await owner.tell({ op: 0, amount: 1000 });
    const vaultId = owner.id;
    // Mallory may use the teller kernel, which sends withdrawals to a vault by id.
    const via = cluster.actor(teller, 't', { tenant: 'bank', principal: 'mallory', roles: ['teller'] });
    for (let i = 0; i < 5; i++) await via.tell({ to: vaultId, amount: 100 });
    await cluster.drain();
    assert.deepEqual(await owner.snapshot(), { balance: 1000, ops: 1 }, 'no withdrawal reached the vault');
    assert.equal(cluster.deadLetterCounts().forbidden, 5);
    const families = parseExposition(await cluster.registry.metrics());
    assert.equal(valueOf(families, 'ringshard_dead_letters_total', { reason: 'forbidden' }), 5);
    assert.equal(valueOf(families, 'ringshard_policy_refusals_total', { kernel: 'vault', reason: 'denied' }), 5);
    assert.equal(asked.filter((a) => a === 'mallory/vault/acct').length, 1, 'one question, then the cached answer');
    // Alice through the same teller kernel: allowed, and the withdrawal lands.
    const aliceVia = cluster.actor(teller, 't2', { tenant: 'bank', principal: 'alice', roles: ['teller'] });
    await aliceVia.tell({ to: vaultId, amount: 100 });
    await cluster.drain();
    assert.equal((await owner.snapshot()).balance, 900);
  });
}

test('a denied ref answers nothing: id, actorId, shard, locate, migrate, snapshot and terminate reject with ERR_RINGSHARD_FORBIDDEN', async (t) => {
  const cluster = await start(t, 'cpu', { authorize: ({ principal }) => principal !== 'mallory' });
  if (!cluster) return;
  const alice = cluster.actor(vault, 'acct', { tenant: 'bank', principal: 'alice' });
  await alice.tell({ op: 0, amount: 10 });
  const mallory = cluster.actor(vault, 'acct', { tenant: 'bank', principal: 'mallory' });
  assert.throws(() => mallory.id, isForbidden);
  assert.throws(() => mallory.actorId, isForbidden);
  assert.throws(() => mallory.shard, isForbidden);
  assert.throws(() => cluster.locate(mallory), isForbidden);
  const other = (alice.shard + 1) % 2;
  await assert.rejects(cluster.migrate(mallory, other), isForbidden);
  assert.equal(alice.shard, other === 0 ? 1 : 0, 'the actor did not move');
  await assert.rejects(mallory.snapshot(), isForbidden);
  await assert.rejects(mallory.terminate(), isForbidden);
  assert.equal((await alice.snapshot()).balance, 10, 'still there, untouched');
});

test('actor ids are not sequential: a keyed permutation, unique, and its inverse tells issued ids (property)', () => {
  const ids = new ActorIds();
  const seen = new Set<number>();
  let sequentialPairs = 0;
  let previous = -1;
  for (let n = 1; n <= 20_000; n++) {
    const id = ids.idFor(n);
    assert.ok(id !== 0 && id !== 0xffffffff && Number.isInteger(id) && id > 0 && id < 2 ** 32);
    assert.ok(!seen.has(id), `id ${id} given twice`);
    seen.add(id);
    assert.equal(ids.ordinalOf(id), n);
    if (id === previous + 1) sequentialPairs++;
    previous = id;
  }
  assert.ok(sequentialPairs < 5, `${sequentialPairs} consecutive ids follow each other`);
  // Two clusters (two keys) give different sequences.
  const other = new ActorIds();
  let same = 0;
  for (let n = 1; n <= 1000; n++) if (other.idFor(n) === ids.idFor(n)) same++;
  assert.ok(same < 3);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 0xfffffffe }), (n) => ids.ordinalOf(ids.idFor(n)) === n),
    { numRuns: 5000 },
  );
});

for (const backend of BACKENDS) {
  test(`${backend}: a kernel of tenant 'evil' that sends to every id it can think of reaches no actor of tenant 'acme'`, async (t) => {
    const cluster = await start(t, backend, { kernels: [vault, sink, fwd, teller] });
    if (!cluster) return;
    const acme = Array.from({ length: 20 }, (_, i) => cluster.actor(sink, `s${i}`, { tenant: 'acme' }));
    for (const a of acme) await a.tell({ amount: 1, seq: 1, me: 0, hlcHi: 0, hlcLo: 0 });
    const evil = cluster.actor(fwd, 'f', { tenant: 'evil' });
    const evilSink = cluster.actor(sink, 'mine', { tenant: 'evil' });
    await evilSink.tell({ amount: 0, seq: 1, me: 0, hlcHi: 0, hlcLo: 0 });
    // Every real id (as if guessed right), then the ids a counter would have given.
    const targets = [...acme.map((a) => a.id), ...Array.from({ length: 64 }, (_, i) => i + 1)];
    for (const to of targets) await evil.tell({ to, amount: 1000, sink: 0, me: 1 });
    await cluster.drain();
    for (const a of acme) assert.equal((await a.snapshot()).total, 1, 'an acme sink got nothing from evil');
    const dead = cluster.deadLetterCounts();
    assert.equal(dead['cross-tenant'], acme.length);
    assert.equal(dead['cross-tenant'] + dead['no-such-actor'] + dead['wrong-kernel'], targets.length);
  });
}

for (const backend of BACKENDS) {
  test(`${backend}: a kernel that sends four copies to itself is bounded: K2K past maxK2KQueuedPerShard is a dead letter 'overflow', callers are served, shutdown ends`, async (t) => {
    if (backend === 'webgpu' && !(await gpuOrSkip())) return t.skip(NO_GPU);
    const maxK2K = 2048;
    const cluster = await Cluster.start({ kernels: [amp, counter], backend, shards: 1, logger: false, ringCapacity: 4096, maxK2KQueuedPerShard: maxK2K });
    let stopped = false;
    t.after(() => (stopped ? undefined : cluster.shutdown()));
    const bomb = cluster.actor(amp, 'bomb');
    await bomb.tell({ n: 0 });
    // Wait until the amplification has filled the K2K budget (dead letters 'overflow' come).
    while (cluster.deadLetterCounts().overflow < 10_000) await new Promise((r) => setImmediate(r));
    const info = cluster.info();
    assert.ok(info.shards[0]!.queued <= maxK2K + 4096, `queued ${info.shards[0]!.queued}`);
    // A caller is not locked out: its asks are served while the bomb goes on.
    const c = cluster.actor(counter, 'c');
    for (let i = 1; i <= 20; i++) assert.equal((await c.ask({ add: 1 })).total, i);
    assert.ok(cluster.info().shards[0]!.queued <= maxK2K + 4096);
    const families = parseExposition(await cluster.registry.metrics());
    assert.ok(valueOf(families, 'ringshard_dead_letters_total', { reason: 'overflow' })! >= 10_000);
    await cluster.shutdown();
    stopped = true;
  });
}

test('name tables and the policy cache are bounded: 300,000 refs with fresh names leave bounded tables', async (t) => {
  const cluster = await start(t, 'cpu', { authorize: () => true });
  if (!cluster) return;
  const held = cluster.actor(vault, 'keep', { tenant: 'kept-tenant', principal: 'kept-principal' });
  await held.tell({ op: 0, amount: 1 });
  for (let i = 0; i < 300_000; i++) {
    const ref = cluster.actor(vault, `k${i}`, { tenant: `tenant-${i}`, principal: `user-${i}@example.com` });
    if (i % 10 === 0) ref.checkAllowed(); // asks the policy: one cached answer each
  }
  const { tables } = cluster.info();
  assert.ok(tables.policyAnswers <= 2 * 16_384, `policy answers ${tables.policyAnswers}`);
  // The refs are garbage now: once collected, their names go, but for the 4,096 kept idle.
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 50 && (cluster.info().tables.tenants > 4096 + 10 || cluster.info().tables.principals > 4096 + 10); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  const after = cluster.info().tables;
  assert.ok(after.tenants <= 4096 + 10 && after.principals <= 4096 + 10, JSON.stringify(after));
  // The living ref and its actor kept theirs, with the same ids.
  assert.equal((await held.ask({ op: 0, amount: 1 })).balance, 2);
});

test('NameTable: held names keep their id, released ones stay among the last keepIdle, ids are never given twice', () => {
  const table = new NameTable(3);
  const a = table.hold('a');
  assert.equal(table.hold('a'), a);
  const ids = new Set([a]);
  for (const name of ['b', 'c', 'd', 'e']) {
    const id = table.hold(name);
    assert.ok(!ids.has(id));
    ids.add(id);
    table.release(id);
  }
  assert.equal(table.size, 4, "'a' held, 'c', 'd', 'e' idle: 'b' forgotten");
  assert.equal(table.name(a), 'a');
  const b2 = table.hold('b');
  assert.ok(!ids.has(b2), 'a forgotten name comes back with a new id');
  table.release(a);
  table.release(a);
  assert.equal(table.name(a), 'a', 'idle, still known');
  assert.equal(table.hold(''), 0);
});

test('Authorizer: answers are cached per tuple and the cache is bounded', () => {
  let asked = 0;
  const authorizer = new Authorizer(() => (asked++, true), () => {}, 1, 100);
  for (let i = 0; i < 1000; i++) authorizer.decide({ principal: `p${i}`, roles: [], tenant: '', kernelName: 'k', kernelId: 0, key: 'x' });
  assert.equal(asked, 1000);
  assert.ok(authorizer.cached <= 100);
  authorizer.decide({ principal: 'p999', roles: [], tenant: '', kernelName: 'k', kernelId: 0, key: 'x' });
  assert.equal(asked, 1000, 'a recent answer is cached');
  authorizer.decide({ principal: 'p0', roles: [], tenant: '', kernelName: 'k', kernelId: 0, key: 'x' });
  assert.equal(asked, 1001, 'an old one fell out and is asked again');
});
