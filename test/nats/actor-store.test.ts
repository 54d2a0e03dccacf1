/**
 * ActorStore against a real nats-server: leases (free, own, a dead holder's, a live
 * holder's handed over, an earlier incarnation of the same node's), snapshots, and the
 * journal (one entry per turn for all actors, read back per actor after a sequence by
 * the incarnation that takes over, trimmed only behind what every local actor covers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { ActorStore, TRIM_AFTER_ENTRIES, storeKey } from '../../src/nats/actor-store.ts';
import { nodeOf } from '../../src/nats/membership.ts';
import { CallOp, type Call } from '../../src/nats/wire.ts';
import { startNatsServer } from '../helpers/nats-server.ts';

function call(key: string, id: number, payload: number[]): Call {
  return { id, epoch: 1, op: CallOp.TELL, kernel: 'counter', tenant: 't', key, principal: 'p', roles: 3, source: 0xffffffff, hlcHi: 0, hlcLo: 0, count: payload.length, words: 1, payload: new Uint32Array(payload) };
}
const keyOf = (k: string) => storeKey(`counter\u0000t\u0000${k}`);

test('ActorStore: leases between incarnations', { timeout: 60_000 }, async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const open = (inc: string) => ActorStore.open(nc, 'leases', false, inc);
    const [a1, b1, a2, c1] = await Promise.all(['a#1', 'b#1', 'a#2', 'c#1'].map(open));
    assert.equal(nodeOf('gpu-a#1f'), 'gpu-a');
    const key = keyOf('k');
    assert.match(key, /^a[0-9a-f]{16}$/);
    assert.notEqual(keyOf('k2'), key);
    const alive = new Set(['a#1', 'b#1', 'c#1']);
    const isLive = (incarnation: string) => alive.has(incarnation);
    assert.deepEqual(await a1!.acquire(key, isLive, 1000), { how: 'free' });
    assert.deepEqual(await a1!.acquire(key, isLive, 1000), { how: 'own' });
    await assert.rejects(b1!.acquire(key, isLive, 100), /'a' did not hand it over/);
    const waiting = b1!.acquire(key, isLive, 5000);
    await new Promise((r) => setTimeout(r, 50));
    await c1!.release(key); // not the holder: no effect
    await a1!.release(key);
    assert.deepEqual(await waiting, { how: 'handed-over' });
    alive.delete('b#1');
    assert.deepEqual(await c1!.acquire(key, isLive, 1000), { how: 'dead', previous: 'b#1' });
    // A node since restarted (b#2 alive): b#1's leases are a dead incarnation's.
    alive.add('b#2');
    const third = keyOf('third');
    await b1!.acquire(third, () => true, 1000);
    assert.deepEqual(await c1!.acquire(third, isLive, 1000), { how: 'dead', previous: 'b#1' });
    // Node a restarted (a#2): a lease of a#1 is its own, taken with a#1's journal to read.
    const other = keyOf('other');
    await a1!.acquire(other, isLive, 1000);
    assert.deepEqual(await a2!.acquire(other, isLive, 1000), { how: 'own', previous: 'a#1' });
  } finally {
    await nc.close();
    await server.stop();
  }
});

test('ActorStore: snapshots and the journal (per turn, read per actor, trimmed behind what is covered)', { timeout: 60_000 }, async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const store = await ActorStore.open(nc, 'journal', true, 'n#1');
    const heir = await ActorStore.open(nc, 'journal', true, 'm#1');
    const x = keyOf('x');
    const y = keyOf('y');
    assert.equal(await store.readSnapshot(x), undefined);
    await store.writeSnapshot(x, 2 ** 40 + 5, new Uint32Array([7, 8, 9]));
    const snap = await store.readSnapshot(x);
    assert.deepEqual({ seq: snap!.seq, state: [...snap!.state] }, { seq: 2 ** 40 + 5, state: [7, 8, 9] });

    // One turn: calls of two actors, one entry.
    const turn1 = await Promise.all([store.append(x, call('x', 1, [10]), 's#1'), store.append(y, call('y', 2, [20]), ''), store.append(x, call('x', 3, [11, 12]), 's#1')]);
    assert.equal(new Set(turn1).size, 1, 'one entry for the turn');
    const turn2 = await store.append(x, call('x', 4, [13]), '');
    assert.ok(turn2 > turn1[0]!);
    assert.equal(await store.journaled(x), turn2);
    assert.equal(await store.journaled(y), turn1[0]);
    assert.equal(await heir.journaled(x), 0, 'the heir journaled nothing of it');
    const calls = async (key: string, after: number) => (await heir.read(key, after, 'n#1')).map((j) => [j.call.id, j.sender, [...j.call.payload]]);
    assert.deepEqual(await calls(x, 0), [[1, 's#1', [10]], [3, 's#1', [11, 12]], [4, '', [13]]]);
    assert.deepEqual(await calls(x, turn1[0]!), [[4, '', [13]]]);
    assert.deepEqual(await calls(y, 0), [[2, '', [20]]]);

    // Trim: never past what a local actor still needs, and only once it is worth a purge.
    const fresh = await ActorStore.open(nc, 'journal', true, 'n#1'); // a reader that has no index cached
    const ids = async (key: string) => (await fresh.read(key, 0, 'n#1')).map((j) => j.call.id);
    await store.trimOwn([x, y], (k) => (k === x ? turn1[0]! : 0));
    assert.deepEqual(await ids(x), [1, 3, 4], 'a short journal is not purged');
    const yEntries: number[] = [];
    for (let i = 0; i < TRIM_AFTER_ENTRIES + 76; i++) yEntries.push(await store.append(y, call('y', 100 + i, [i]), ''));
    // x is covered up to turn 1: turn 2 (x's call 4) must stay, so nothing before it goes.
    await store.trimOwn([x, y], (k) => (k === x ? turn1[0]! : yEntries[1049]!));
    assert.deepEqual(await ids(x), [1, 3, 4], 'held back by x: not worth a purge');
    // x covers all of its calls, y its first 1,050 entries: those go, with every entry before them.
    await store.trimOwn([x, y], (k) => (k === x ? turn2 : yEntries[1049]!));
    const after = await ActorStore.open(nc, 'journal', true, 'n#1');
    assert.deepEqual((await after.read(x, 0, 'n#1')).map((j) => j.call.id), []);
    assert.deepEqual((await after.read(y, 0, 'n#1')).map((j) => j.call.id), yEntries.slice(1050).map((_, i) => 100 + 1050 + i));

    // forget: an empty snapshot covering everything journaled before.
    await store.forget(x);
    const tomb = await store.readSnapshot(x);
    assert.deepEqual({ seq: tomb!.seq, state: tomb!.state.length }, { seq: turn2, state: 0 });

    // sweep: a dead incarnation's journal goes once no lease names it, never before.
    const dead = await ActorStore.open(nc, 'journal', true, 'd#1');
    const z = keyOf('z');
    await dead.acquire(z, () => true, 1000);
    await dead.append(z, call('z', 7, [70]), 'caller#9');
    assert.equal(await heir.sweep(['m#1', 'n#1']), 0, "d#1's journal: a lease names it");
    const gone = (incarnation: string) => incarnation !== 'd#1';
    assert.deepEqual(await heir.acquire(z, gone, 1000), { how: 'dead', previous: 'd#1' });
    assert.equal(await heir.sweep(['m#1', 'n#1']), 1, 'no lease names d#1 any more');
    assert.equal(await heir.sweep(['m#1', 'n#1']), 0);
    // The taker read the journal before its lease named it: the replay is still there.
    assert.deepEqual((await heir.read(z, 0, 'd#1')).map((j) => [j.call.id, j.sender]), [[7, 'caller#9']]);
    assert.deepEqual(await (await ActorStore.open(nc, 'journal', true, 'q#1')).read(z, 0, 'd#1'), [], 'purged from the stream');

    // Ids.
    await store.registerId(42, 'counter\u0000t\u0000x');
    assert.equal(await store.identityOf(42), 'counter\u0000t\u0000x');
    assert.equal(await store.identityOf(43), undefined);
  } finally {
    await nc.close();
    await server.stop();
  }
});
