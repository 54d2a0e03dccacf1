/**
 * The wire format between nodes and the placement over nodes, on fresh random inputs:
 * calls and replies come back exactly as sent (unicode names, empty payloads, many
 * calls per frame); rendezvous ownership is the same from any member order, spreads over
 * (node, shard) pairs, and a node joining takes only the actors it wins. Decoding trusts
 * no length: mutated, cut or grown frames decode to calls that add up, or throw a
 * FrameError (never a TypeError or RangeError, never a call past the frame's end); a
 * signed frame opens only whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallOp, FrameError, ReplyStatus, decodeCalls, decodeReplies, encodeCalls, encodeReplies, openSignedFrame, signCallFrame, type Call, type Reply } from '../../src/nats/wire.ts';
import { RendezvousTable } from '../../src/nats/rendezvous.ts';
import { ReplayWindow } from '../../src/nats/signing.ts';
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
    const frame = encodeCalls('node-a#1', calls, { senders });
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
  assert.throws(() => decodeCalls(new Uint8Array(8)), { name: 'FrameError', message: /not a ringshard frame/ });
});

test('wire: mutated, cut and grown frames decode to calls that add up, or throw a FrameError', (t) => {
  const rng = seededRng(t);
  const calls: Call[] = Array.from({ length: 4 }, (_, i) => ({
    id: i + 1, epoch: 1, op: CallOp.ASK, kernel: 'counter', tenant: 't', key: `k${i}`, principal: 'p', roles: 1, source: 0xffffffff,
    hlcHi: 0, hlcLo: 0, count: i, words: 1, payload: Uint32Array.from({ length: i }, () => rng.u32()),
  }));
  const frames = [encodeCalls('node-a#00000001', calls, { to: 'node-b#00000002' }), encodeReplies(calls.map((c) => ({ id: c.id, status: ReplyStatus.ERROR, payload: c.payload, error: { code: 'X', message: 'y' } })))];
  let decoded = 0;
  for (let round = 0; round < 4000; round++) {
    const valid = frames[round % 2]!;
    let bytes: Uint8Array;
    const kind = rng.int(0, 2);
    if (kind === 0) {
      bytes = new Uint8Array(valid);
      for (let f = rng.int(1, 6); f > 0; f--) { const i = rng.int(0, bytes.length - 1); bytes[i] = bytes[i]! ^ rng.int(1, 255); }
    } else if (kind === 1) {
      bytes = valid.slice(0, rng.int(0, valid.length - 1));
    } else {
      bytes = new Uint8Array(valid.length + rng.int(1, 40));
      bytes.set(valid);
      for (let i = valid.length; i < bytes.length; i++) bytes[i] = rng.int(0, 255);
    }
    try {
      if (round % 2 === 0) {
        const d = decodeCalls(bytes);
        for (const c of d.calls) {
          assert.equal(c.payload.length, c.count * c.words);
          assert.equal(typeof c.kernel, 'string');
          assert.equal(typeof c.principal, 'string');
        }
      } else {
        for (const r of decodeReplies(bytes)) assert.ok([ReplyStatus.OK, ReplyStatus.NOT_OWNER, ReplyStatus.ERROR].includes(r.status));
      }
      decoded++;
    } catch (error) {
      assert.ok(error instanceof FrameError, `round ${round}: ${(error as Error).name}: ${(error as Error).message}`);
    }
  }
  assert.ok(decoded > 0 && decoded < 4000, `decoded ${decoded} of 4000`);
  // A signed frame opens only with its exact length; its signature covers subject and bytes.
  const sig = new Uint8Array(64).fill(7);
  const signed = signCallFrame(frames[0]!, 'ringshard.rpc.node-b', 2 ** 40 + 5, () => sig);
  const open = openSignedFrame(signed);
  assert.equal(open.seq, 2 ** 40 + 5);
  assert.deepEqual([...open.body], [...frames[0]!]);
  assert.deepEqual([...open.signature], [...sig]);
  assert.notDeepEqual([...open.signed('ringshard.rpc.node-b')], [...open.signed('ringshard.rpc.node-a')]);
  assert.throws(() => openSignedFrame(signed.subarray(0, signed.length - 4)), FrameError);
  assert.throws(() => decodeCalls(signed), { name: 'FrameError', message: /not a ringshard frame/ });
});

test('replay window: each sequence number once; late ones within the window once; older ones never', () => {
  const w = new ReplayWindow();
  assert.ok(w.accept(1) && w.accept(2) && w.accept(5));
  assert.ok(!w.accept(5) && !w.accept(2), 'seen before');
  assert.ok(w.accept(4) && !w.accept(4), 'late, within the window: once');
  assert.ok(w.accept(5000));
  assert.ok(!w.accept(5000 - ReplayWindow.WINDOW), 'older than the window');
  assert.ok(w.accept(5000 - ReplayWindow.WINDOW + 1) && !w.accept(5000 - ReplayWindow.WINDOW + 1));
  for (let s = 5001; s < 9000; s++) assert.ok(w.accept(s));
  assert.ok(!w.accept(5000) && !w.accept(8999));
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
