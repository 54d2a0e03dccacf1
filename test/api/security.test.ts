/**
 * handle_secure, roles and the authorize policy. The policy decides at admission, in the
 * coordinator (a denied ref sends nothing, activates nothing); handle_secure decides per
 * message on the shard, from the principal's role bits, and a refused message changes no
 * state. Tenants never meet: the same key in two tenants is two actors, and a K2K send
 * across tenants is a dead letter. Both backends, checked against a TS model.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster, ErrorCode } from '../../src/index.ts';
import { seededRng } from '../helpers/random.ts';
import { parseExposition, sumOf, valueOf } from '../helpers/exposition.ts';
import { fwd, sink, teller, vault } from '../helpers/k2k-kernels.ts';
import { startSecureCluster } from '../helpers/secure-cluster.ts';

const BACKENDS = ['cpu', 'webgpu'] as const;
const isForbidden = (e: { code?: string }) => e.code === ErrorCode.FORBIDDEN;

const start = startSecureCluster;

test('the authorize policy is asked once per (principal, roles, tenant, kernel, key); a denied ref sends nothing', async (t) => {
  const asked: string[] = [];
  const cluster = await start(t, 'cpu', {
    authorize: ({ principal, roles, tenant, kernel, key }) => {
      asked.push(`${principal}/${roles.join('+')}/${tenant}/${kernel}/${key}`);
      return principal !== 'mallory';
    },
  });
  if (!cluster) return;
  const mallory = cluster.actor(vault, 'acct-1', { tenant: 'bank-a', principal: 'mallory' });
  await assert.rejects(mallory.ask({ op: 0, amount: 5 }), isForbidden);
  await assert.rejects(mallory.tell({ op: 0, amount: 5 }), isForbidden);
  await assert.rejects(mallory.askMany([{ op: 0, amount: 5 }]), isForbidden);
  await assert.rejects(mallory.snapshot(), isForbidden);
  await assert.rejects(mallory.terminate(), isForbidden);
  assert.throws(() => mallory.id, isForbidden);
  // Another ref with the same tuple: the cached answer.
  await assert.rejects(cluster.actor(vault, 'acct-1', { tenant: 'bank-a', principal: 'mallory' }).tell({ op: 0, amount: 1 }), isForbidden);
  assert.equal(cluster.info().actors, 0, 'nothing reached a shard: no actor was activated');

  const alice = cluster.actor(vault, 'acct-1', { tenant: 'bank-a', principal: 'alice', roles: ['teller'] });
  for (let i = 0; i < 10; i++) await alice.tell({ op: 0, amount: 1 });
  assert.equal((await alice.ask({ op: 0, amount: 0 })).balance, 10);
  const again = cluster.actor(vault, 'acct-1', { tenant: 'bank-a', principal: 'alice', roles: ['teller'] });
  await again.tell({ op: 0, amount: 1 });
  // The same principal with other roles is another question.
  await cluster.actor(vault, 'acct-1', { tenant: 'bank-a', principal: 'alice', roles: ['teller', 'auditor'] }).tell({ op: 0, amount: 1 });
  assert.deepEqual(asked, ['mallory//bank-a/vault/acct-1', 'alice/teller/bank-a/vault/acct-1', 'alice/auditor+teller/bank-a/vault/acct-1']);

  const families = parseExposition(await cluster.registry.metrics());
  assert.equal(valueOf(families, 'ringshard_policy_refusals_total', { kernel: 'vault', reason: 'denied' }), 7);
  assert.equal(valueOf(families, 'ringshard_policy_refusals_total', { kernel: 'vault', reason: 'policy-error' }), 0);
});

test('a policy that throws, or answers anything but true, denies and is reported', async (t) => {
  const lines: string[] = [];
  const cluster = await start(t, 'cpu', {
    logger: (line) => lines.push(line),
    authorize: ({ principal }) => {
      if (principal === 'boom') throw new Error('directory unreachable');
      return (principal === 'maybe' ? 'yes' : true) as boolean;
    },
  });
  if (!cluster) return;
  await assert.rejects(cluster.actor(vault, 'a', { principal: 'boom' }).ask({ op: 0, amount: 1 }), isForbidden);
  await assert.rejects(cluster.actor(vault, 'a', { principal: 'maybe' }).ask({ op: 0, amount: 1 }), isForbidden);
  assert.equal((await cluster.actor(vault, 'a', { principal: 'ok' }).ask({ op: 0, amount: 1 })).balance, 1);
  assert.ok(lines.some((l) => /authorize policy threw.*directory unreachable/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /returned "yes" \(string\).*not a boolean/.test(l)), lines.join('\n'));
  const families = parseExposition(await cluster.registry.metrics());
  assert.equal(valueOf(families, 'ringshard_policy_refusals_total', { kernel: 'vault', reason: 'policy-error' }), 1);
  assert.equal(valueOf(families, 'ringshard_policy_refusals_total', { kernel: 'vault', reason: 'denied' }), 1);
});

test('roles: an unknown role name and bad role lists are clear errors', async (t) => {
  const cluster = await start(t, 'cpu');
  if (!cluster) return;
  assert.throws(
    () => cluster.actor(vault, 'a', { roles: ['teller', 'admin'] }),
    (e: { code: string; message: string }) => e.code === ErrorCode.INVALID_OPTION && /unknown role "admin".*'teller', 'auditor'/.test(e.message),
  );
  for (const roles of [['teller', 'teller'], ['no spaces'], Array.from({ length: 33 }, (_, i) => `r${i}`), 'teller']) {
    await assert.rejects(
      Cluster.start({ kernels: [vault], backend: 'cpu', shards: 1, logger: false, roles: roles as string[] }),
      (e: { code: string }) => e.code === ErrorCode.INVALID_OPTION,
      JSON.stringify(roles),
    );
  }
});

for (const backend of BACKENDS) {
  test(`${backend}: handle_secure lets anyone deposit and only tellers withdraw; a refused message changes nothing`, async (t) => {
    const cluster = await start(t, backend);
    if (!cluster) return;
    const clerk = cluster.actor(vault, 'acct-1', { tenant: 'bank-a', principal: 'bob' });
    const teller = cluster.actor(vault, 'acct-1', { tenant: 'bank-a', principal: 'alice', roles: ['teller'] });
    const both = cluster.actor(vault, 'acct-1', { tenant: 'bank-a', principal: 'carol', roles: ['auditor', 'teller'] });
    assert.deepEqual(await clerk.ask({ op: 0, amount: 100 }), { balance: 100, roles: 0 });
    await assert.rejects(clerk.ask({ op: 1, amount: 40 }), isForbidden);
    assert.deepEqual(await clerk.snapshot(), { balance: 100, ops: 1 }, 'the refused withdrawal left balance and ops as they were');
    assert.deepEqual(await teller.ask({ op: 1, amount: 40 }), { balance: 60, roles: 1 });
    assert.deepEqual(await both.ask({ op: 1, amount: 10 }), { balance: 50, roles: 3 });
    // A refused tell is counted, not answered.
    await clerk.tell({ op: 1, amount: 1 });
    assert.deepEqual(await clerk.snapshot(), { balance: 50, ops: 3 });
    const families = parseExposition(await cluster.registry.metrics());
    assert.equal(sumOf(families, 'ringshard_messages_total', { kernel: 'vault', status: 'forbidden' }), 2);
    assert.equal(sumOf(families, 'ringshard_messages_total', { kernel: 'vault', status: 'ok' }), 3);
  });

  test(`${backend}: random deposits and withdrawals from refs with random roles match the TS model`, async (t) => {
    const cluster = await start(t, backend);
    if (!cluster) return;
    const rng = seededRng(t);
    const roleSets = [[], ['teller'], ['auditor'], ['teller', 'auditor']];
    const keys = ['a', 'b', 'c'];
    const balance = new Map<string, number>();
    const ops = new Map<string, number>();
    const checks: Array<Promise<void>> = [];
    let forbidden = 0;
    for (let i = 0; i < 600; i++) {
      const key = keys[rng.int(0, keys.length - 1)]!;
      const roles = roleSets[rng.int(0, roleSets.length - 1)]!;
      const mask = (roles.includes('teller') ? 1 : 0) | (roles.includes('auditor') ? 2 : 0);
      const op = rng.int(0, 1);
      const amount = rng.int(0, 50);
      const ref = cluster.actor(vault, key, { principal: `p${mask}`, roles });
      const before = balance.get(key) ?? 0;
      if (op === 1 && (mask & 1) === 0) {
        forbidden++;
        checks.push(assert.rejects(ref.ask({ op, amount }), isForbidden, `${key} #${i}`));
        continue;
      }
      const after = (op === 0 ? before + amount : before - amount) >>> 0;
      balance.set(key, after);
      ops.set(key, (ops.get(key) ?? 0) + 1);
      checks.push(ref.ask({ op, amount }).then((r) => assert.deepEqual(r, { balance: after, roles: mask }, `${key} #${i}`)));
    }
    await Promise.all(checks);
    for (const key of keys) {
      assert.deepEqual(await cluster.actor(vault, key).snapshot(), { balance: balance.get(key) ?? 0, ops: ops.get(key) ?? 0 }, key);
    }
    const families = parseExposition(await cluster.registry.metrics());
    assert.equal(sumOf(families, 'ringshard_messages_total', { kernel: 'vault', status: 'forbidden' }), forbidden);
  });

  test(`${backend}: the same key in two tenants is two actors; a K2K send across tenants is a dead letter`, async (t) => {
    const cluster = await start(t, backend);
    if (!cluster) return;
    const a = cluster.actor(vault, 'acct-1', { tenant: 'bank-a', principal: 'alice', roles: ['teller'] });
    const b = cluster.actor(vault, 'acct-1', { tenant: 'bank-b', principal: 'alice', roles: ['teller'] });
    await a.ask({ op: 0, amount: 10 });
    await b.ask({ op: 0, amount: 20 });
    assert.notEqual(a.id, b.id);
    assert.equal((await a.snapshot()).balance, 10);
    assert.equal((await b.snapshot()).balance, 20);

    const sinkA = cluster.actor(sink, 's', { tenant: 'bank-a' });
    const sinkB = cluster.actor(sink, 's', { tenant: 'bank-b' });
    const fwdA = cluster.actor(fwd, 'f', { tenant: 'bank-a' });
    for (let i = 0; i < 5; i++) await fwdA.tell({ to: sinkB.id, amount: 1, sink: 0, me: 0 });
    for (let i = 0; i < 3; i++) await fwdA.tell({ to: sinkA.id, amount: 1, sink: 1, me: 0 });
    await cluster.drain();
    assert.equal((await sinkB.snapshot()).count, 0, 'nothing crossed from bank-a to bank-b');
    assert.equal((await sinkA.snapshot()).count, 3);
    assert.equal(cluster.deadLetterCounts()['cross-tenant'], 5);
  });
}

for (const backend of BACKENDS) {
  test(`${backend}: a K2K message carries its caller's principal and roles to handle_secure`, async (t) => {
    const cluster = await start(t, backend);
    if (!cluster) return;
    const acct = cluster.actor(vault, 'acct', { tenant: 'bank-a', principal: 'owner', roles: ['teller'] });
    await acct.ask({ op: 0, amount: 100 });
    // The same teller actor, asked by a teller and by a clerk: only the teller's withdrawal passes the vault.
    const asTeller = cluster.actor(teller, 'desk', { tenant: 'bank-a', principal: 'alice', roles: ['teller'] });
    const asClerk = cluster.actor(teller, 'desk', { tenant: 'bank-a', principal: 'bob', roles: ['auditor'] });
    await asTeller.tell({ to: acct.id, amount: 30 });
    await asClerk.tell({ to: acct.id, amount: 50 });
    await cluster.drain();
    assert.deepEqual(await acct.snapshot(), { balance: 70, ops: 2 }, 'the clerk\'s withdrawal was refused and changed nothing');
    assert.equal((await asTeller.snapshot()).passed, 2, 'both were sent');
    const families = parseExposition(await cluster.registry.metrics());
    assert.equal(sumOf(families, 'ringshard_messages_total', { kernel: 'vault', status: 'forbidden' }), 1);
  });
}
