/**
 * The wire format between nodes and the placement over nodes, on fresh random inputs:
 * calls and replies come back exactly as sent (unicode names, empty payloads, many
 * calls per frame); rendezvous ownership is the same from any member order, spreads over
 * (node, shard) pairs, and a node joining takes only the actors it wins.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallOp, ReplyStatus, decodeCalls, decodeReplies, encodeCalls, encodeReplies, type Call, type Reply } from '../../src/nats/wire.ts';
import { RendezvousTable } from '../../src/nats/rendezvous.ts';
import { seededRng } from '../helpers/random.ts';

test('wire: calls and replies round-trip', (t) => {
  const rng = seededRng(t);
  const names = ['', 'a', 'user-42', 'tenant ü ✓', 'k\u0000x', 'x'.repeat(300)];
  for (let round = 0; round < 50; round++) {
    const calls: Call[] = Array.from({ length: rng.int(0, 20) }, () => {
      const count = rng.int(0, 4);
      const words = rng.int(0, 5);
      return {
        id: rng.u32(),
        epoch: rng.u32(),
        op: [CallOp.TELL, CallOp.ASK, CallOp.SNAPSHOT, CallOp.TERMINATE][rng.int(0, 3)]!,
        kernel: names[rng.int(0, names.length - 1)]!,
        tenant: names[rng.int(0, names.length - 1)]!,
        key: names[rng.int(0, names.length - 1)]!,
        principal: names[rng.int(0, names.length - 1)]!,
        roles: rng.u32(),
        source: rng.u32(),
        hlcHi: rng.u32(),
        hlcLo: rng.u32(),
        count,
        words,
        payload: Uint32Array.from({ length: count * words }, () => rng.u32()),
      };
    });
    const senders = calls.map(() => names[rng.int(0, names.length - 1)]!);
    const frame = encodeCalls('node-a#1', calls, senders);
    // NATS may hand over an unaligned view: decode must cope.
    const shifted = new Uint8Array(frame.length + 1).subarray(1);
    shifted.set(frame);
    for (const bytes of [frame, shifted]) {
      const back = decodeCalls(bytes);
      assert.equal(back.from, 'node-a#1');
      assert.deepEqual(back.senders, senders);
      assert.deepEqual(back.calls.map((c) => ({ ...c, payload: [...c.payload] })), calls.map((c) => ({ ...c, payload: [...c.payload] })));
    }
    const replies: Reply[] = calls.map((c, i) => ({
      id: c.id,
      status: [ReplyStatus.OK, ReplyStatus.NOT_OWNER, ReplyStatus.ERROR][i % 3]!,
      payload: c.payload,
      ...(i % 3 === 2 ? { error: { code: 'ERR_RINGSHARD_HANDLER', message: `failed ${i} ü` } } : {}),
    }));
    const got = decodeReplies(encodeReplies(replies));
    assert.deepEqual(got.map((r) => ({ ...r, payload: [...r.payload] })), replies.map((r) => ({ ...r, payload: [...r.payload] })));
  }
  assert.throws(() => decodeCalls(new Uint8Array(8)), /not a ringshard frame/);
});

test('rendezvous over nodes: order-free, spread, and a join moves only what the new node wins', (t) => {
  const rng = seededRng(t);
  const members = [{ node: 'a', shards: 2 }, { node: 'b', shards: 1 }, { node: 'c', shards: 3 }];
  const table = new RendezvousTable(members);
  const shuffled = new RendezvousTable([members[2]!, members[0]!, members[1]!]);
  const ids = Array.from({ length: 6000 }, () => `counter\u0000\u0000${rng.u32().toString(36)}`);
  const counts = new Map<string, number>();
  for (const id of ids) {
    const o = table.owner(id)!;
    assert.deepEqual(shuffled.owner(id), o);
    counts.set(`${o.node}/${o.shard}`, (counts.get(`${o.node}/${o.shard}`) ?? 0) + 1);
  }
  // Six (node, shard) pairs: each near 1,000.
  assert.equal(counts.size, 6);
  for (const [pair, n] of counts) assert.ok(n > 800 && n < 1200, `${pair}: ${n}`);
  const joined = new RendezvousTable([...members, { node: 'd', shards: 1 }]);
  let moved = 0;
  for (const id of ids) {
    const before = table.owner(id)!;
    const after = joined.owner(id)!;
    if (after.node !== before.node || after.shard !== before.shard) {
      assert.equal(after.node, 'd', 'an actor moved to a node that did not join');
      moved++;
    }
  }
  assert.ok(moved > 600 && moved < 1100, `moved ${moved} of 6000 (about 1/7 expected)`);
  assert.equal(new RendezvousTable([]).owner('x'), undefined);
});
