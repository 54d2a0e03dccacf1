import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { SpscRing, ringByteLength } from '../../src/rings/spsc-ring.ts';
import { seededRng } from '../helpers/random.ts';
import { startTsWorker } from '../helpers/threads.ts';
import { RECORD_WORDS, checkRecord, fillRecord } from './fixtures/records.ts';

function records(from: number, count: number, seed = 7): Uint32Array {
  const out = new Uint32Array(count * RECORD_WORDS);
  for (let i = 0; i < count; i++) fillRecord(out, i * RECORD_WORDS, from + i, seed);
  return out;
}

describe('SpscRing shape', () => {
  test('rejects capacities that are not powers of two', () => {
    for (const capacity of [0, 1, 3, 1000, 2.5, -4]) {
      assert.throws(() => SpscRing.create({ capacity, slotWords: 4 }), new RegExp(`power of two.*got ${capacity}`));
    }
  });
  test('rejects a bad slot size', () => {
    assert.throws(() => SpscRing.create({ capacity: 8, slotWords: 0 }), /slotWords must be a positive integer, got 0/);
  });
  test('one size formula for allocation and attachment', () => {
    const ring = SpscRing.create({ capacity: 64, slotWords: 16 });
    assert.equal(ring.buffer.byteLength, ringByteLength({ capacity: 64, slotWords: 16 }));
    const other = new SpscRing(ring.buffer);
    assert.equal(other.capacity, 64);
    assert.equal(other.slotWords, 16);
  });
});

describe('SpscRing single thread', () => {
  for (const startIndex of [0, 0x7fffff00, -200]) {
    test(`cursors stay consistent under random operations (start ${startIndex})`, (t) => {
      const rng = seededRng(t);
      const capacity = 1 << rng.int(1, 7);
      const ring = SpscRing.create({ capacity, slotWords: RECORD_WORDS, startIndex });
      let written = 0;
      let read = 0;
      let committed = 0;
      for (let step = 0; step < 20_000; step++) {
        const op = rng.int(0, 4);
        if (op === 4) {
          // A run written in place: granted only when free and not across the ring's end.
          const want = rng.int(0, capacity + 2);
          const seq = ring.headIndex;
          const fits = want > 0 && (seq & (capacity - 1)) + want <= capacity && written - committed + want <= capacity;
          const o = ring.claimRun(want);
          assert.equal(o >= 0, fits, `claimRun(${want}) at ${seq} with ${written - committed} in the ring`);
          if (o < 0) continue;
          assert.equal(o, ring.slotOffset(seq));
          const run = records(written, want);
          if (rng.float() < 0.3) {
            ring.unclaimMany(want); // its writer failed a check: nothing becomes visible
            continue;
          }
          ring.words.set(run, o);
          assert.equal(ring.publish(), want);
          written += want;
        } else if (op === 0) {
          const want = rng.int(0, capacity + 2);
          const n = ring.tryPush(records(written, want), want);
          assert.equal(n, Math.min(want, capacity - (written - committed)));
          written += n;
        } else if (op === 1) {
          const start = ring.readIndex;
          const n = ring.take(rng.int(0, capacity));
          for (let i = 0; i < n; i++) assert.equal(checkRecord(ring.words, ring.slotOffset(start + i), read + i), undefined);
          read += n;
        } else if (op === 2) {
          const k = rng.int(0, read - committed);
          ring.commit(k);
          committed += k;
        } else if (rng.float() < 0.05) {
          // A replacement consumer: what was taken and not committed comes again.
          assert.equal(ring.rewind(), read - committed);
          read = committed;
        }
        assert.equal(ring.availableRead() + ring.uncommitted() + ring.availableWrite(), capacity);
        assert.equal(ring.depth(), written - committed);
        assert.equal(ring.availableRead(), written - read);
      }
    });
  }

  test('a full ring refuses a non-blocking push and keeps uncommitted records intact', () => {
    const ring = SpscRing.create({ capacity: 8, slotWords: RECORD_WORDS });
    assert.equal(ring.tryPush(records(0, 8), 8), 8);
    assert.equal(ring.tryPush(records(8, 1), 1), 0);
    assert.equal(ring.claim(), -1);
    // Taken but not committed is still occupied.
    assert.equal(ring.take(8), 8);
    assert.equal(ring.tryPush(records(8, 1), 1), 0);
    for (let i = 0; i < 8; i++) assert.equal(checkRecord(ring.words, ring.slotOffset(i), i), undefined);
    ring.commit(3);
    assert.equal(ring.tryPush(records(8, 5), 5), 3);
    for (let i = 3; i < 8; i++) assert.equal(checkRecord(ring.words, ring.slotOffset(i), i), undefined);
  });

  test('commit beyond what was taken is refused', () => {
    const ring = SpscRing.create({ capacity: 8, slotWords: 1 });
    ring.tryPush(new Uint32Array(4), 4);
    ring.take(2);
    assert.throws(() => ring.commit(3), /cannot commit 3 records: only 2 are taken/);
  });

  test('claim/publish makes records visible with one store', () => {
    const ring = SpscRing.create({ capacity: 4, slotWords: 2 });
    for (let i = 0; i < 3; i++) ring.words[ring.claim()] = 100 + i;
    assert.equal(ring.availableRead(), 0, 'claimed records are invisible until published');
    assert.equal(ring.publish(), 3);
    const start = ring.readIndex;
    assert.equal(ring.take(10), 3);
    assert.deepEqual([0, 1, 2].map((i) => ring.words[ring.slotOffset(start + i)]), [100, 101, 102]);
  });

  test('waitReadableAsync resolves on publish and reports close', async () => {
    const ring = SpscRing.create({ capacity: 4, slotWords: 1 });
    const waiting = ring.waitReadableAsync();
    assert.equal(ring.consumerWaiting, true);
    ring.tryPush(new Uint32Array([5]), 1);
    assert.equal(await waiting, 'ok');
    ring.take(1);
    const closing = ring.waitReadableAsync();
    ring.close();
    assert.equal(await closing, 'closed');
    assert.equal(await ring.waitReadableAsync(10), 'closed');
  });

  test('waitReadableAsync times out when nothing comes', async () => {
    const ring = SpscRing.create({ capacity: 4, slotWords: 1 });
    assert.equal(await ring.waitReadableAsync(5), 'timed-out');
  });
});

describe('SpscRing across threads', () => {
  test('a blocking producer waits on a full ring and never overwrites', async (t) => {
    const capacity = 16;
    const ring = SpscRing.create({ capacity, slotWords: RECORD_WORDS });
    const worker = startTsWorker(new URL('./fixtures/blocking-producer.ts', import.meta.url), {
      buffer: ring.buffer,
      count: capacity + 1,
      seed: 7,
    });
    t.after(() => worker.terminate());
    const done = once(worker, 'message');
    // Handshake through the SAB: the producer announces that it sleeps on COMMITTED.
    while (!ring.producerWaiting) await tick();
    assert.equal(ring.availableRead(), capacity);
    assert.equal(ring.take(capacity), capacity);
    // Taken is not committed: the producer must still be asleep and slot 0 untouched.
    for (let i = 0; i < 50; i++) await tick();
    assert.equal(ring.producerWaiting, true);
    for (let i = 0; i < capacity; i++) assert.equal(checkRecord(ring.words, ring.slotOffset(i), i), undefined);
    ring.commit(1);
    await done;
    assert.equal(ring.availableRead(), 1);
    assert.equal(checkRecord(ring.words, ring.slotOffset(capacity), capacity), undefined);
    assert.equal(ring.closed, true);
  });
});
