import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENTRIES, ReferenceErrors, TEXT_BYTES, createReferenceErrors } from '../../src/kernels/reference-errors.ts';

test('a recorded reason is found by its correlation id until ENTRIES later writes overwrite it', () => {
  const buffer = createReferenceErrors();
  const worker = new ReferenceErrors(buffer);
  const coordinator = new ReferenceErrors(buffer);
  assert.equal(coordinator.find(1), undefined);
  worker.record(1, "kernel 'k' reference threw: boom");
  worker.record(0xffffffff, 'the largest correlation id');
  assert.equal(coordinator.find(1), "kernel 'k' reference threw: boom");
  assert.equal(coordinator.find(0xffffffff), 'the largest correlation id');
  for (let i = 0; i < ENTRIES - 2; i++) worker.record(100 + i, `reason ${i}`);
  assert.equal(coordinator.find(1), "kernel 'k' reference threw: boom", 'still there after ENTRIES - 1 later writes');
  worker.record(7, 'the one that takes entry 0 again');
  assert.equal(coordinator.find(1), undefined);
  assert.equal(coordinator.find(7), 'the one that takes entry 0 again');
  assert.equal(coordinator.find(100 + ENTRIES - 3), `reason ${ENTRIES - 3}`);
});

test('text longer than TEXT_BYTES is cut with an ellipsis, multi-byte characters whole', () => {
  const t = new ReferenceErrors(createReferenceErrors());
  const long = `é${'x'.repeat(TEXT_BYTES * 2)}`;
  t.record(5, long);
  const got = t.find(5)!;
  assert.ok(got.startsWith('éxxx') && got.endsWith('…'), got.slice(-10));
  assert.ok(new TextEncoder().encode(got).length <= TEXT_BYTES);
  t.record(6, '🙂'.repeat(200));
  assert.ok(/^(🙂)+…$/u.test(t.find(6)!));
});
