/**
 * The attack found on 2026-12-05, replayed on a server anyone may use: a plain NATS
 * client reads `<cluster>.hb`, learns the nodes' names and incarnations, and sends
 * forged calls to `<cluster>.rpc.<node>` as principal 'alice' with every role bit: a
 * withdrawal, a state read and a terminate; unsigned, signed with its own key (as
 * another node's incarnation, and as an incarnation nobody announced), a captured frame
 * replayed, the same frame sent to another node; heartbeats of a node's incarnation with
 * the attacker's key, replayed and altered. Then frames a node signed that do not
 * add up: count=60000 with no words, words cut short, NaN and Infinity in an f32 field,
 * an unknown kernel. None changes any state (checked through a legit ref); each refusal
 * is counted by reason in ringshard_node_calls_refused_total. And a property: random
 * mutations of a valid signed frame are all refused, none throws out of the
 * subscription callback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { ErrorCode, type Cluster } from '../../src/index.ts';
import { CallOp, ReplyStatus, decodeReplies, encodeCalls, signCallFrame, type Call } from '../../src/nats/wire.ts';
import { NO_ACTOR } from '../../src/layout/record.ts';
import { FAST, withNatsCluster, type NatsFixture } from '../helpers/nats-fixtures.ts';
import { wallet } from '../helpers/nats-kernels.ts';
import { parseExposition, valueOf } from '../helpers/exposition.ts';

const REASONS = ['unsigned', 'bad-signature', 'unknown-node', 'replay', 'bad-frame', 'unknown-kernel', 'count-mismatch', 'schema'] as const;

/** What a test reaches inside a node: its runtime (internal, for signing frames as the node would). */
interface Runtime {
  readonly incarnation: string;
  readonly sign: (data: Uint8Array) => Uint8Array;
  readonly remoteLink: { frameSeq: number };
  /** The node's call server: every frame from NATS goes to it. */
  readonly server: { serveFrame(m: Msg): void };
}
const runtimeOf = (c: Cluster) => (c as unknown as { locator: Runtime }).locator;

async function refusals(c: Cluster): Promise<Record<string, number>> {
  const families = parseExposition(await c.registry.metrics());
  return Object.fromEntries(REASONS.map((reason) => [reason, valueOf(families, 'ringshard_node_calls_refused_total', { reason })]));
}

const f32bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0]!;

function call(over: Partial<Call>): Call {
  return { id: 1, epoch: 1, op: CallOp.TELL, kernel: 'wallet', tenant: '', key: '', principal: 'alice', roles: 0xffffffff, source: NO_ACTOR, hlcHi: 0, hlcLo: 0, count: 1, words: 1, payload: new Uint32Array([f32bits(600)]), ...over };
}

async function startPair(start: NatsFixture['start']): Promise<[Cluster, Cluster]> {
  const node = (name: string) => start({ kernels: [wallet], roles: ['teller', 'auditor'], authorize: (r) => r.roles.includes('teller'), node: name });
  return [await node('node-a'), await node('node-b')];
}

test('forged calls from a plain NATS client, and frames that do not add up: refused, counted, no state changed', { timeout: 120_000 }, () =>
  withNatsCluster(async ({ server, start, defer }) => {
    const [a, b] = await startPair(start);
    let attacker: NatsConnection | undefined;
    defer(() => attacker?.close());
    const bank = { principal: 'bank', roles: ['teller'] };
    let key = 0;
    while (a.locate(a.actor(wallet, `acct-${key}`, bank)).node !== 'node-b') key++;
    const acct = `acct-${key}`;
    const teller = a.actor(wallet, acct, { principal: 'bank', roles: ['teller'] });
    assert.deepEqual(await teller.ask({ amount: -1000 }), { balance: 1000, ops: 1 });

    // The attacker: heartbeats tell it every node's name and incarnation.
    attacker = await connect({ servers: server.url });
    const incarnations = new Map<string, string>();
    const hb = attacker.subscribe('ringshard.hb');
    for await (const m of hb) {
      const beat = m.json<{ node: string; incarnation: string }>();
      incarnations.set(beat.node, beat.incarnation);
      if (incarnations.size === 2) break;
    }
    const aInc = incarnations.get('node-a')!;
    const bInc = incarnations.get('node-b')!;
    assert.equal(aInc, runtimeOf(a).incarnation);
    const own = generateKeyPairSync('ed25519');
    const ownSign = (d: Uint8Array) => sign(null, d, own.privateKey);

    // Membership: node-a's incarnation announced with the attacker's key (self-signed, in
    // the format membership.ts signs), a captured heartbeat again, one altered, and an
    // old-style "gone": each ignored and counted; node-a stays a member with its own key.
    const beat = (m: { seq: number; leaving: boolean; key: string }) => ['ringshard-hb', 'ringshard', 'node-a', aInc, m.seq, 1, m.leaving ? 1 : 0, m.key].join('\n');
    const ownKey = own.publicKey.export({ format: 'jwk' }).x!;
    attacker.publish('ringshard.hb', JSON.stringify({ node: 'node-a', incarnation: aInc, seq: 2 ** 40, shards: 1, leaving: true, key: ownKey, sig: Buffer.from(ownSign(Buffer.from(beat({ seq: 2 ** 40, leaving: true, key: ownKey })))).toString('base64url') }));
    const realBeat = await (async () => {
      for await (const m of attacker!.subscribe('ringshard.hb')) {
        const b = m.json<{ node: string; leaving: boolean }>();
        if (b.node === 'node-a') return b;
      }
      throw new Error('no heartbeat');
    })();
    attacker.publish('ringshard.hb', JSON.stringify(realBeat)); // replayed
    attacker.publish('ringshard.hb', JSON.stringify({ ...realBeat, seq: 2 ** 41, leaving: true })); // altered
    attacker.publish('ringshard.gone', 'node-a');
    await attacker.flush();
    // (node-a ignores heartbeats of its own name; node-b counts.)
    const expectIgnored = { malformed: 1, 'bad-signature': 1, 'key-changed': 1, replay: 1 };
    const ignoredAtB = async () => {
      const families = parseExposition(await b.registry.metrics());
      return Object.fromEntries(Object.keys(expectIgnored).map((reason) => [reason, valueOf(families, 'ringshard_node_heartbeats_ignored_total', { reason })]));
    };
    const hbDeadline = Date.now() + 5000;
    while (JSON.stringify(await ignoredAtB()) !== JSON.stringify(expectIgnored) && Date.now() < hbDeadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await ignoredAtB(), expectIgnored);
    await new Promise((r) => setTimeout(r, 3 * FAST.heartbeatMs));
    assert.deepEqual(b.members().map((m) => m.node), ['node-a', 'node-b'], 'node-a is still a member at node-b');
    // Its forged calls: withdraw 600, read the state, terminate.
    const forged = [call({ id: 1 }), call({ id: 2, op: CallOp.SNAPSHOT, count: 0, words: 0, payload: new Uint32Array(0) }), call({ id: 3, op: CallOp.TERMINATE, count: 0, words: 0, payload: new Uint32Array(0) })].map((c) => ({ ...c, key: acct }));
    const toB = 'ringshard.rpc.node-b';
    const mallory = 'mallory#0badf00d';
    const repliesToMallory: number[] = [];
    attacker.subscribe('ringshard.reply.mallory_0badf00d', { callback: (_e, m) => void repliesToMallory.push(...decodeReplies(m.data).map((r) => r.status)) });
    // Unsigned, as the attack went.
    attacker.publish(toB, encodeCalls(aInc, forged, { to: bInc }), { reply: 'ringshard.reply.attacker' });
    // Signed with its own key, claiming node-a's incarnation.
    attacker.publish(toB, signCallFrame(encodeCalls(aInc, forged, { to: bInc }), toB, 2 ** 40, ownSign));
    // Signed with its own key, as an incarnation nobody announced: "not mine", sent again by a real node.
    attacker.publish(toB, signCallFrame(encodeCalls(mallory, forged, { to: bInc }), toB, 1, ownSign));
    // Junk.
    attacker.publish(toB, new Uint8Array([1, 2, 3]));

    // A frame node-a really sent, captured and sent again, to node-b and to node-a.
    const captured: Uint8Array[] = [];
    const tap = attacker.subscribe(toB, { callback: (_e, m) => void captured.push(new Uint8Array(m.data)) });
    await attacker.flush();
    assert.deepEqual(await teller.ask({ amount: -1 }), { balance: 1001, ops: 2 });
    tap.unsubscribe();
    assert.equal(captured.filter((f) => f.byteLength > 100).length, 1, 'one legit frame captured');
    const legit = captured.find((f) => f.byteLength > 100)!;
    attacker.publish(toB, legit);
    attacker.publish('ringshard.rpc.node-a', legit);

    // Frames node-a signed (as a node with a bug would) that do not add up.
    const ra = runtimeOf(a);
    const signedByA = (calls: Call[]) => signCallFrame(encodeCalls(ra.incarnation, calls, { to: bInc }), toB, ++ra.remoteLink.frameSeq, ra.sign);
    const badCalls = [
      call({ id: 901, key: acct, count: 60000, words: 0, payload: new Uint32Array(0) }), // 60,000 messages of no words
      call({ id: 902, key: acct, payload: new Uint32Array([0x7fc00000]) }), // NaN
      call({ id: 903, key: acct, payload: new Uint32Array([f32bits(-Infinity)]) }),
      call({ id: 904, key: acct, kernel: 'nope' }),
      call({ id: 905, key: acct, words: 2, payload: new Uint32Array([1, 2]) }), // words per message not the kernel's
      call({ id: 906, key: acct, op: 7 as CallOp }),
      call({ id: 907, key: acct, op: CallOp.SNAPSHOT, count: 1 }),
    ];
    attacker.publish(toB, signedByA(badCalls));
    // count x words past the end of the frame: the whole frame is refused (bad-frame).
    const short = encodeCalls(ra.incarnation, [call({ id: 908, key: acct, count: 60000, words: 1, payload: new Uint32Array(0) })], { to: bInc });
    attacker.publish(toB, signCallFrame(short, toB, ++ra.remoteLink.frameSeq, ra.sign));
    await attacker.flush();

    const expected = { unsigned: 1, 'bad-signature': 1, 'unknown-node': 3, replay: 1, 'bad-frame': 3, 'unknown-kernel': 1, 'count-mismatch': 3, schema: 2 };
    const deadline = Date.now() + 10_000;
    let got = await refusals(b);
    while (JSON.stringify(got) !== JSON.stringify(expected) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      got = await refusals(b);
    }
    assert.deepEqual(got, expected);
    // node-a: the frame for node-b is not node-a's to serve (signed for another subject).
    const expectedAtA = { ...Object.fromEntries(REASONS.map((r) => [r, 0])), 'bad-signature': 1 };
    let atA = await refusals(a);
    while (JSON.stringify(atA) !== JSON.stringify(expectedAtA) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      atA = await refusals(a);
    }
    assert.deepEqual(atA, expectedAtA);
    // The unannounced incarnation got "not mine" for each call, nothing else.
    while (repliesToMallory.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(repliesToMallory, [ReplyStatus.NOT_OWNER, ReplyStatus.NOT_OWNER, ReplyStatus.NOT_OWNER]);
    // No state changed: the deposits only, the actor not terminated.
    assert.deepEqual(await teller.snapshot(), { balance: 1001, ops: 2 });
    assert.deepEqual(await b.actor(wallet, acct, { principal: 'bank', roles: ['teller'] }).snapshot(), { balance: 1001, ops: 2 });
    // Legit calls go on from both nodes.
    assert.deepEqual(await teller.ask({ amount: 1 }), { balance: 1000, ops: 3 });
    await assert.rejects(a.actor(wallet, acct, { principal: 'alice', roles: ['auditor'] }).ask({ amount: 600 }), { code: ErrorCode.FORBIDDEN });
  }),
);

test('property: random mutations and truncations of a valid signed frame are refused, none throws, no state changes', { timeout: 120_000 }, () =>
  withNatsCluster(async ({ start }) => {
    const [a, b] = await startPair(start);
    let key = 0;
    while (a.locate(a.actor(wallet, `p-${key}`, { principal: 'bank', roles: ['teller'] })).node !== 'node-b') key++;
    const acct = `p-${key}`;
    const teller = a.actor(wallet, acct, { principal: 'bank', roles: ['teller'] });
    assert.deepEqual(await teller.ask({ amount: -50 }), { balance: 50, ops: 1 });
    const ra = runtimeOf(a);
    const rb = runtimeOf(b);
    const toB = 'ringshard.rpc.node-b';
    const calls = [call({ id: 1, key: acct, principal: 'bank', roles: 1, payload: new Uint32Array([f32bits(5)]) }), call({ id: 2, key: acct, principal: 'bank', roles: 1, op: CallOp.SNAPSHOT, count: 0, words: 0, payload: new Uint32Array(0) })];
    // Signed as node-a signs its next frame (so node-a's own frames after it still rise).
    const valid = signCallFrame(encodeCalls(ra.incarnation, calls, { to: rb.incarnation }), toB, ++ra.remoteLink.frameSeq, ra.sign);
    const total = async () => Object.values(await refusals(b)).reduce((x, y) => x + y, 0);
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), flips: fc.array(fc.tuple(fc.nat(valid.byteLength - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }) }),
      fc.record({ kind: fc.constant('truncate' as const), length: fc.nat(valid.byteLength - 1) }),
      fc.record({ kind: fc.constant('append' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
    );
    let served = 0;
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        let frame: Uint8Array;
        if (m.kind === 'flip') {
          frame = new Uint8Array(valid);
          for (const [i, x] of m.flips) frame[i] = frame[i]! ^ x;
        } else if (m.kind === 'truncate') {
          frame = valid.slice(0, m.length);
        } else {
          frame = new Uint8Array(valid.byteLength + m.extra.byteLength);
          frame.set(valid);
          frame.set(m.extra, valid.byteLength);
        }
        const before = await total();
        // The subscription callback's body, called as NATS calls it: it must not throw.
        assert.doesNotThrow(() => rb.server.serveFrame({ data: frame, subject: toB, reply: 'ringshard.reply.x', respond: () => true } as unknown as Msg));
        served++;
        assert.ok((await total()) > before, 'a mutated frame was not refused');
      }),
      { numRuns: 300, seed: Number(process.env.FC_SEED ?? Date.now() % 2 ** 31) },
    );
    assert.equal(served, 300);
    // The valid frame itself is served: the property did not pass by refusing everything.
    rb.server.serveFrame({ data: valid, subject: toB, reply: 'ringshard.reply.x', respond: () => true } as unknown as Msg);
    const deadline = Date.now() + 5000;
    while ((await teller.snapshot()).ops !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await teller.snapshot(), { balance: 45, ops: 2 });
  }),
);
