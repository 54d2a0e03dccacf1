import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PendingReplies, type PendingAsk } from '../../src/shard/pending-replies.ts';
import { compileCodec } from '../../src/layout/codec.ts';
import { Status } from '../../src/layout/record.ts';

const codec = compileCodec({ v: 'u32' }, 'reply');

function entry(base: number, count: number, overrides: Partial<PendingAsk> = {}) {
  let result: unknown;
  let error: Error | undefined;
  const e: PendingAsk = {
    base, count, received: 0, codec, many: count > 1, sink: undefined, values: count > 1 ? new Array(count) : undefined, value: undefined,
    failures: undefined, deadline: Infinity, timeoutMs: Infinity, settled: false, what: `ask#${base}`,
    resolve: (v) => (result = v), reject: (err) => (error = err), ...overrides,
  };
  return { e, result: () => result, error: () => error };
}

function reply(p: PendingReplies, correlation: number, v: number, status: number = Status.OK) {
  const words = new Uint32Array([v]);
  p.deliver(correlation, status, words, new Float32Array(words.buffer), 0);
}

test('replies resolve asks in order; askMany collects a run of correlations', () => {
  const p = new PendingReplies();
  const a = entry(1, 1);
  const b = entry(2, 3);
  p.push(a.e);
  p.push(b.e);
  reply(p, 1, 10);
  assert.deepEqual(a.result(), { v: 10 });
  reply(p, 2, 20);
  reply(p, 3, 30);
  assert.equal(b.result(), undefined);
  reply(p, 4, 40);
  assert.deepEqual(b.result(), [{ v: 20 }, { v: 30 }, { v: 40 }]);
  assert.equal(p.size, 0);
  assert.equal(p.unsettled, 0);
});

test('a duplicate reply (replayed record) is dropped, never answered twice', () => {
  const p = new PendingReplies();
  const a = entry(5, 2);
  p.push(a.e);
  reply(p, 5, 1);
  reply(p, 5, 999); // replay of the first record
  reply(p, 6, 2);
  assert.deepEqual(a.result(), [{ v: 1 }, { v: 2 }]);
  reply(p, 6, 3); // late duplicate after completion
  assert.equal(p.dropped, 2);
});

test('correlation ids wrap around 2^32 without confusing entries', () => {
  const p = new PendingReplies();
  const a = entry(0xfffffffe, 1);
  const b = entry(1, 1);
  p.push(a.e);
  p.push(b.e);
  reply(p, 0xfffffffe, 7);
  reply(p, 1, 8);
  assert.deepEqual([a.result(), b.result()], [{ v: 7 }, { v: 8 }]);
});

test('an entry settled early (timeout) still consumes its reply, the next gets its own', () => {
  const p = new PendingReplies();
  const a = entry(1, 1);
  const b = entry(2, 1);
  p.push(a.e);
  p.push(b.e);
  p.settle(a.e, new Error('timed out'));
  reply(p, 1, 100);
  reply(p, 2, 200);
  assert.equal(a.result(), undefined);
  assert.equal(a.error()?.message, 'timed out');
  assert.deepEqual(b.result(), { v: 200 });
});

test('a non-OK status rejects with the status; askMany reports which failed', () => {
  const p = new PendingReplies();
  const a = entry(1, 1);
  const m = entry(2, 3);
  p.push(a.e);
  p.push(m.e);
  reply(p, 1, 0, 9);
  reply(p, 2, 1);
  reply(p, 3, 0, Status.REJECTED);
  reply(p, 4, 3);
  assert.match(a.error()!.message, /handler set status 9/);
  const err = m.error() as Error & { failures: unknown; replies: unknown[] };
  assert.deepEqual(err.failures, [{ index: 1, status: Status.REJECTED }]);
  assert.deepEqual(err.replies[2], { v: 3 });
  assert.match(err.message, /rejected by its shard/);
});

test('many entries grow the queue; rejectAll fails what is left', () => {
  const p = new PendingReplies();
  const entries = Array.from({ length: 500 }, (_, i) => entry(i + 1, 1));
  for (const x of entries) p.push(x.e);
  for (let i = 1; i <= 250; i++) reply(p, i, i);
  p.rejectAll(new Error('gone'));
  assert.deepEqual(entries[249]!.result(), { v: 250 });
  assert.equal(entries[250]!.error()?.message, 'gone');
  assert.equal(p.unsettled, 0);
});

test('timeouts fire for the entries past their deadline only', async () => {
  const p = new PendingReplies();
  const fast = entry(1, 1, { deadline: performance.now() + 10, timeoutMs: 10 });
  const slow = entry(2, 1, { deadline: performance.now() + 60_000, timeoutMs: 60_000 });
  p.push(fast.e);
  p.push(slow.e);
  await new Promise<void>((resolve) => {
    const check = () => (fast.error() ? resolve() : setTimeout(check, 5));
    check();
  });
  assert.match(fast.error()!.message, /timed out after 10 ms/);
  assert.equal(slow.error(), undefined);
  reply(p, 1, 1);
  reply(p, 2, 2);
  assert.deepEqual(slow.result(), { v: 2 });
});
