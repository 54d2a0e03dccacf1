/**
 * The shard's coordinator half without a worker: the request writer against a ring this
 * test consumes by hand, the gate's refusals, and the reply reader's delivery and send
 * dedupe. Property tests drive random mixes of sends, runs, forwards and partial
 * consumption through a small ring that overflows.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, RingshardError } from '../../src/errors.ts';
import { compileCodec } from '../../src/layout/codec.ts';
import { objectBatch } from '../../src/layout/columns.ts';
import { KERNEL_ID_SHIFT, Op, OP_MASK, REPLY_HEADER_WORDS, REQUEST_HEADER_WORDS, ReplyHeader, RequestHeader, SEND_HEADER_WORDS, SendHeader, Status, requestSlotWords } from '../../src/layout/record.ts';
import { SpscRing } from '../../src/rings/spsc-ring.ts';
import { HybridClock } from '../../src/coordinator/hlc.ts';
import type { Caller, RecordTarget } from '../../src/coordinator/shard-link.ts';
import { OverflowQueue } from '../../src/shard/overflow-queue.ts';
import { ReplyReader } from '../../src/shard/reply-reader.ts';
import { RequestWriter } from '../../src/shard/request-writer.ts';
import { ShardGate } from '../../src/shard/shard-gate.ts';

const codec = compileCodec({ v: 'u32', w: 'f32' }, 'test request');
const RECORD_WORDS = requestSlotWords(codec.words);

function target(actor: number): RecordTarget {
  return { actorId: 100 + actor, location: actor, kernelId: 1 + (actor % 2), tenantId: 7 };
}
const caller: Caller = { principalId: 3, roles: 5, sourceId: 9 };

function setup(capacity: number, policy: 'wait' | 'reject' = 'wait', maxQueued = 1 << 20) {
  const ring = SpscRing.create({ capacity, slotWords: RECORD_WORDS });
  const gate = new ShardGate(0, 1000);
  const overflow = new OverflowQueue(ring, RECORD_WORDS, policy, maxQueued, 0, maxQueued);
  const clock = new HybridClock(performance.timeOrigin + performance.now(), 16);
  const writer = new RequestWriter(ring, overflow, clock, RECORD_WORDS, gate);
  return { ring, gate, overflow, writer };
}

interface Seen {
  actor: number;
  op: number;
  kernel: number;
  correlation: number;
  v: number;
  tenant: number;
  source: number;
  hi: number;
  lo: number;
}

/** Takes up to `max` published records off the ring, as the worker would, and frees them. */
function consume(ring: SpscRing, max: number, into: Seen[]): number {
  const start = ring.readIndex;
  const n = ring.take(max);
  for (let i = 0; i < n; i++) {
    const o = ring.slotOffset(start + i);
    const w = ring.words;
    into.push({
      actor: w[o + RequestHeader.target]!,
      op: w[o + RequestHeader.kernelOp]! & OP_MASK,
      kernel: w[o + RequestHeader.kernelOp]! >>> KERNEL_ID_SHIFT,
      correlation: w[o + RequestHeader.correlation]!,
      v: w[o + REQUEST_HEADER_WORDS]!,
      tenant: w[o + RequestHeader.tenant]!,
      source: w[o + RequestHeader.source]!,
      hi: w[o + RequestHeader.hlcHi]!,
      lo: w[o + RequestHeader.hlcLo]!,
    });
  }
  ring.commit(n);
  return n;
}

type Step =
  | { kind: 'send'; actor: number; v: number }
  | { kind: 'many'; actor: number; vs: number[]; correlated: boolean }
  | { kind: 'forward'; actor: number; v: number }
  | { kind: 'consume'; max: number }
  | { kind: 'tick' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('send' as const), actor: fc.nat(5), v: fc.nat() }),
  fc.record({ kind: fc.constant('many' as const), actor: fc.nat(5), vs: fc.array(fc.nat(), { minLength: 1, maxLength: 40 }), correlated: fc.boolean() }),
  fc.record({ kind: fc.constant('forward' as const), actor: fc.nat(5), v: fc.nat() }),
  fc.record({ kind: fc.constant('consume' as const), max: fc.integer({ min: 1, max: 50 }) }),
  fc.constant({ kind: 'tick' as const }),
);

test('every record written arrives once, in the order written, with its header, through ring and overflow', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { maxLength: 60 }), fc.constantFrom(8, 16, 64), async (steps, capacity) => {
      const { ring, writer } = setup(capacity);
      const expected: { actor: number; v: number; correlation: number; op: number }[] = [];
      const seen: Seen[] = [];
      const sendWords = new Uint32Array(SEND_HEADER_WORDS + codec.words);
      let correlation = 1;
      const waits: Promise<void>[] = [];
      for (const s of steps) {
        if (s.kind === 'send') {
          const c = s.v % 3 === 0 ? correlation++ : 0;
          waits.push(writer.send(target(s.actor), Op.MESSAGE, codec, { v: s.v, w: 0.5 }, c, caller));
          expected.push({ actor: s.actor, v: s.v, correlation: c, op: Op.MESSAGE });
        } else if (s.kind === 'many') {
          const base = s.correlated ? correlation : 0;
          if (s.correlated) correlation += s.vs.length;
          waits.push(writer.sendMany(target(s.actor), Op.MESSAGE, objectBatch(codec, s.vs.map((v) => ({ v, w: 1 }))), base, caller));
          s.vs.forEach((v, i) => expected.push({ actor: s.actor, v, correlation: base === 0 ? 0 : base + i, op: Op.MESSAGE }));
        } else if (s.kind === 'forward') {
          sendWords[SendHeader.source] = 55;
          sendWords[SendHeader.tenant] = 7;
          sendWords[SEND_HEADER_WORDS] = s.v;
          writer.forward(target(s.actor), sendWords, 0, codec.words, (error) => assert.fail(`dead letter: ${error.message}`));
          expected.push({ actor: s.actor, v: s.v, correlation: 0, op: Op.MESSAGE });
        } else if (s.kind === 'consume') {
          writer.publish();
          consume(ring, s.max, seen);
          await Promise.resolve();
        } else {
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      // Drain: consume until every record (ring and overflow) has arrived.
      const drained = writer.drainQueued();
      let done = false;
      void drained.then(() => (done = true));
      while (!done || ring.availableRead() > 0) {
        writer.publish();
        consume(ring, capacity, seen);
        await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(waits);
      assert.equal(seen.length, expected.length, 'records lost or doubled');
      for (let i = 0; i < expected.length; i++) {
        const e = expected[i]!;
        const g = seen[i]!;
        assert.deepEqual([g.actor, g.v, g.correlation, g.op, g.kernel, g.tenant], [e.actor, e.v, e.correlation, e.op, target(e.actor).kernelId, 7], `record ${i}`);
        if (i > 0) {
          const p = seen[i - 1]!;
          assert.ok(g.hi > p.hi || (g.hi === p.hi && g.lo > p.lo), `record ${i}'s stamp is not after record ${i - 1}'s`);
        }
      }
    }),
    { numRuns: 60 },
  );
});

test('a refused record leaves nothing behind: closed, failed, quarantined, a bad message, a full ring under reject', () => {
  const { ring, gate, writer } = setup(4, 'reject', 0);
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (error) {
      return (error as RingshardError).code;
    }
    return undefined;
  };
  gate.quarantined.add(target(1).actorId);
  assert.equal(code(() => writer.send(target(1), Op.MESSAGE, codec, { v: 1, w: 0 }, 0, caller)), ErrorCode.QUARANTINED);
  assert.equal(code(() => writer.sendMany(target(1), Op.MESSAGE, objectBatch(codec, [{ v: 1, w: 0 }]), 0, caller)), ErrorCode.QUARANTINED);
  // Another actor is served.
  void writer.send(target(2), Op.MESSAGE, codec, { v: 2, w: 0 }, 0, caller);
  assert.equal(code(() => writer.send(target(2), Op.MESSAGE, codec, { v: -1, w: 0 }, 0, caller)), ErrorCode.SCHEMA);
  assert.equal(code(() => writer.sendMany(target(2), Op.MESSAGE, objectBatch(codec, [{ v: 3, w: 0 }, { v: 'x', w: 0 }]), 0, caller)), ErrorCode.SCHEMA);
  void writer.send(target(2), Op.MESSAGE, codec, { v: 4, w: 0 }, 0, caller);
  void writer.send(target(2), Op.MESSAGE, codec, { v: 5, w: 0 }, 0, caller);
  void writer.send(target(2), Op.MESSAGE, codec, { v: 6, w: 0 }, 0, caller);
  assert.equal(code(() => writer.send(target(2), Op.MESSAGE, codec, { v: 7, w: 0 }, 0, caller)), ErrorCode.RING_FULL);
  writer.publish();
  const seen: Seen[] = [];
  consume(ring, 100, seen);
  assert.deepEqual(seen.map((s) => s.v), [2, 4, 5, 6]);
  gate.failure = new RingshardError(ErrorCode.WORKER_EXIT, 'gone');
  assert.equal(code(() => writer.send(target(2), Op.MESSAGE, codec, { v: 8, w: 0 }, 0, caller)), ErrorCode.WORKER_EXIT);
  gate.failure = undefined;
  gate.closed = true;
  assert.equal(code(() => writer.send(target(2), Op.MESSAGE, codec, { v: 9, w: 0 }, 0, caller)), ErrorCode.CLOSED);
  assert.equal(code(() => writer.forward(target(2), new Uint32Array(SEND_HEADER_WORDS + 2), 0, 2, () => {})), ErrorCode.CLOSED);
  writer.publish();
  assert.equal(ring.availableRead(), 0);
});

test('the reply reader settles asks in ring order and passes each K2K send on once, a replay\'s repeat dropped', async () => {
  const ring = SpscRing.create({ capacity: 16, slotWords: REPLY_HEADER_WORDS + SEND_HEADER_WORDS + 4 });
  const gate = new ShardGate(0, 1000);
  const passed: number[] = [];
  const reader = new ReplyReader(ring, gate, (words, o) => passed.push(words[o + SEND_HEADER_WORDS]!), () => undefined);
  const replyCodec = compileCodec({ n: 'u32' }, 'test reply');
  const base = reader.allocateCorrelations(3);
  const many = reader.expect(base, 3, true, { codec: replyCodec, what: 'askMany', timeoutMs: 10_000 }, Promise.resolve());
  const one = reader.allocateCorrelations(1);
  const single = reader.expect(one, 1, false, { codec: replyCodec, what: 'ask', timeoutMs: 10_000 }, Promise.resolve());
  void reader.start();
  const put = (fill: (w: Uint32Array, o: number) => void) => {
    const o = ring.claim();
    ring.words.fill(0, o, o + ring.slotWords);
    fill(ring.words, o);
    ring.publish();
  };
  const reply = (correlation: number, n: number) =>
    put((w, o) => {
      w[o + ReplyHeader.correlation] = correlation;
      w[o + ReplyHeader.status] = Status.OK;
      w[o + REPLY_HEADER_WORDS] = n;
    });
  const send = (cause: number, ordinal: number, tag: number) =>
    put((w, o) => {
      w[o + SendHeader.correlation] = 0;
      w[o + SendHeader.cause] = cause;
      w[o + SendHeader.ordinal] = ordinal;
      w[o + SEND_HEADER_WORDS] = tag;
    });
  reply(base, 10);
  send(40, 0, 1);
  reply(base + 1, 11);
  send(40, 1, 2);
  send(40, 0, 1); // a replay's repeat
  reply(base + 2, 12);
  send(41, 0, 3);
  reply(one, 99);
  assert.deepEqual(await many, [{ n: 10 }, { n: 11 }, { n: 12 }]);
  assert.deepEqual(await single, { n: 99 });
  while (((reader.processedIndex - ring.publishedIndex) | 0) < 0) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(passed, [1, 2, 3]);
  assert.equal(reader.sends.dropped, 1);
  gate.closed = true;
  ring.close();
  await reader.stopped();
});
