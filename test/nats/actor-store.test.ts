/**
 * ActorStore against a real nats-server: leases (free, own, a dead holder's, a live
 * holder's handed over), snapshots, and the journal (batched entries, read back in order
 * after a sequence, trimmed behind a snapshot and only behind it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { ActorStore, TRIM_AFTER_ENTRIES, storeKey } from '../../src/nats/actor-store.ts';
import { CallOp, type Call } from '../../src/nats/wire.ts';
import { startNatsServer } from '../helpers/nats-server.ts';

function call(id: number, payload: number[]): Call {
  return { id, epoch: 1, op: CallOp.TELL, kernel: 'counter', tenant: 't', key: 'k', principal: 'p', roles: 3, source: 0xffffffff, hlcHi: 0, hlcLo: 0, count: payload.length, words: 1, payload: new Uint32Array(payload) };
}

test('ActorStore: leases, snapshots, journal append/read/trim', { timeout: 60_000 }, async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const store = await ActorStore.open(nc, 'store-test', true);
    const key = storeKey('counter\u0000t\u0000k');
    assert.match(key, /^a[0-9a-f]{16}$/);
    assert.notEqual(storeKey('counter\u0000t\u0000k2'), key);

    // Leases.
    const alive = new Set(['n1', 'n2']);
    const isLive = (n: string) => alive.has(n);
    assert.equal(await store.acquire(key, 'n1', isLive, 1000), 'free');
    assert.equal(await store.acquire(key, 'n1', isLive, 1000), 'own');
    await assert.rejects(store.acquire(key, 'n2', isLive, 100), /did not hand it over/);
    const waiting = store.acquire(key, 'n2', isLive, 5000);
    await new Promise((r) => setTimeout(r, 50));
    await store.release(key, 'n1');
    assert.equal(await waiting, 'handed-over');
    alive.delete('n2');
    assert.equal(await store.acquire(key, 'n3', isLive, 1000), 'dead');
    await store.release(key, 'n1'); // not the holder: no effect
    assert.equal(await store.acquire(key, 'n3', isLive, 1000), 'own');

    // Snapshots.
    assert.equal(await store.readSnapshot(key), undefined);
    await store.writeSnapshot(key, 2 ** 40 + 5, new Uint32Array([7, 8, 9]));
    const snap = await store.readSnapshot(key);
    assert.deepEqual({ seq: snap!.seq, state: [...snap!.state] }, { seq: 2 ** 40 + 5, state: [7, 8, 9] });

    // Journal: calls of one turn share an entry; entries come back in order.
    const first = await Promise.all([store.append(key, call(1, [10]), 'a#1'), store.append(key, call(2, [11, 12]), 'b#1')]);
    assert.equal(first[0], first[1], 'one entry for the turn');
    const second = await store.append(key, call(3, [13]), '');
    assert.ok(second > first[0]!);
    assert.equal(await store.journaled(key), second);
    assert.equal(await store.lastSeq(key), second);
    const read = async (after: number) => {
      const out: Array<[number, string, number[]]> = [];
      for await (const j of store.read(key, after)) out.push([j.call.id, j.sender, [...j.call.payload]]);
      return out;
    };
    assert.deepEqual(await read(0), [[1, 'a#1', [10]], [2, 'b#1', [11, 12]], [3, '', [13]]]);
    assert.deepEqual(await read(first[0]!), [[3, '', [13]]]);
    // trimIfLong leaves a short journal alone; trim drops exactly what the snapshot covers.
    await store.trimIfLong(key, first[0]!);
    assert.deepEqual((await read(0)).map((c) => c[0]), [1, 2, 3]);
    assert.ok(TRIM_AFTER_ENTRIES > 2);
    await store.trim(key, first[0]!);
    assert.deepEqual((await read(0)).map((c) => c[0]), [3]);
    // forget: journal and snapshot gone.
    await store.forget(key);
    assert.deepEqual(await read(0), []);
    assert.equal(await store.readSnapshot(key), undefined);
    assert.equal(await store.lastSeq(key), 0);

    // Ids.
    await store.registerId(42, 'counter\u0000t\u0000k');
    assert.equal(await store.identityOf(42), 'counter\u0000t\u0000k');
    assert.equal(await store.identityOf(43), undefined);
  } finally {
    await nc.close();
    await server.stop();
  }
});
