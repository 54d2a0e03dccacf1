/**
 * The checkpoint store is never torn: a worker that dies while writing a delta leaves the
 * previous checkpoint as it was; one that dies while applying a published delta leaves it
 * to its successor, which applies it again (idempotent). Checked against a plain model of
 * "the last published checkpoint" on random deltas.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMISSION_WORDS, CheckpointStore } from '../../src/recovery/checkpoint-store.ts';
import { SpscRing } from '../../src/rings/spsc-ring.ts';
import { seededRng } from '../helpers/random.ts';

const STRIDE = 3;

test('random deltas, some torn before publishing, some published but cut short while applied: the image is always the last published one', (t) => {
  const rng = seededRng(t);
  const store = CheckpointStore.create(STRIDE, 4096, 0);
  const model = new Map<number, number[]>(); // slot -> admission + state words
  let covered = 0;
  let slots = 0;
  for (let round = 0; round < 300; round++) {
    const count = rng.int(0, 40);
    const chosen = new Set<number>();
    while (chosen.size < count) chosen.add(rng.int(0, 2000));
    const list = [...chosen];
    const words = list.map(() => Array.from({ length: ADMISSION_WORDS + STRIDE }, () => rng.u32()));
    const delta = store.beginDelta(count);
    list.forEach((slot, i) => {
      delta.slots[i] = slot;
      delta.admission.set(words[i]!.slice(0, ADMISSION_WORDS), i * ADMISSION_WORDS);
      delta.states.set(words[i]!.slice(ADMISSION_WORDS), i * STRIDE);
    });
    const high = Math.max(slots, ...list.map((s) => s + 1));
    const fate = rng.float();
    if (fate < 0.2) {
      // The worker died before publishing: nothing changes.
    } else {
      covered += rng.int(1, 100);
      if (fate < 0.4) {
        // Published, then the worker died part-way through applying it: a successor applies it.
        const c = new Int32Array(store.buffers.control);
        Atomics.store(c, 4, count);
        Atomics.store(c, 3, covered);
        Atomics.store(c, 5, high);
        Atomics.store(c, 2, 1);
        const partial = new Uint32Array(store.buffers.states.byteLength >= high * STRIDE * 4 ? store.buffers.states : new SharedArrayBuffer(0));
        if (partial.length > 0 && list.length > 0) partial[list[0]! * STRIDE] = 0xdeadbeef;
        new CheckpointStore(store.buffers).applyDelta();
      } else {
        store.publishDelta(count, covered, high);
      }
      list.forEach((slot, i) => model.set(slot, words[i]!));
      slots = high;
    }
    const again = new CheckpointStore(store.buffers);
    again.applyDelta();
    assert.equal(again.covered, covered, `round ${round}: covered`);
    assert.equal(again.slots, slots, `round ${round}: slots`);
    const admission = again.admission();
    const states = again.states();
    for (const [slot, w] of model) {
      assert.deepEqual([...admission.subarray(slot * ADMISSION_WORDS, (slot + 1) * ADMISSION_WORDS), ...states.subarray(slot * STRIDE, (slot + 1) * STRIDE)], w, `round ${round}: slot ${slot}`);
    }
  }
});

test('ring: records stay until released; a successor resumes where the checkpoint ends and knows which were answered', () => {
  const ring = SpscRing.create({ capacity: 8, slotWords: 1, startIndex: 0x7ffffffc });
  const consumer = new SpscRing(ring.buffer);
  const start = ring.headIndex;
  assert.equal(ring.tryPush(Uint32Array.from([1, 2, 3, 4, 5, 6]), 6), 6);
  assert.equal(consumer.take(6), 6);
  consumer.markHandled((start + 4) | 0);
  assert.equal(consumer.depth(), 2, 'two not answered');
  assert.equal(consumer.retained(), 4, 'four answered, kept');
  assert.equal(ring.availableWrite(), 2, 'kept records hold their slots');
  consumer.release((start + 3) | 0);
  assert.equal(ring.availableWrite(), 5);
  // A successor: the checkpoint covers 3 records; it resumes there.
  const successor = new SpscRing(ring.buffer);
  successor.rewindTo((start + 3) | 0);
  assert.equal(successor.readIndex, (start + 3) | 0);
  assert.equal(successor.handledIndex, (start + 4) | 0, 'record 4 was answered: replay it for state only');
  assert.equal(successor.take(8), 3);
  assert.throws(() => successor.rewindTo((start + 1) | 0), /cannot resume at record/);
  // commit() frees and counts as handled.
  successor.commit(3);
  assert.equal(successor.handledIndex, (start + 6) | 0);
  assert.equal(successor.depth(), 0);
  assert.equal(successor.retained(), 0);
});
