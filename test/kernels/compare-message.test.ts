import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareMessage } from '../../src/kernels/reference-model.ts';

const schema = { n: 'u32', x: 'f32', v: ['f32', 3], ids: ['i32', 2] } as const;
const expected = { n: 7, x: 1.5, v: [1, 2, 3], ids: [-1, 4] };

test('compareMessage: equal messages (f32 within 1e-5 relative) compare equal', () => {
  assert.equal(compareMessage({ ...expected }, expected, schema), undefined);
  assert.equal(compareMessage({ ...expected, x: 1.5 * (1 + 5e-6), v: [1, 2, 3 * (1 - 5e-6)] }, expected, schema), undefined);
});

test('compareMessage names what differs', () => {
  const cases: Array<[unknown, RegExp]> = [
    [null, /expected an object, got null/],
    [{ ...expected, n: 8 }, /^n is 8, expected 7$/],
    [{ ...expected, x: 1.6 }, /^x is 1.6, expected 1.5$/],
    [{ ...expected, v: [1, 2] }, /^v has 2 elements, expected 3$/],
    [{ ...expected, v: 5 }, /^v has no elements, expected 3$/],
    [{ ...expected, ids: [-1, 5] }, /^ids\[1\] is 5, expected 4$/],
    [{ ...expected, n: '7' }, /^n is 7, expected 7$/],
    [{ n: 7, x: 1.5, v: [1, 2, 3] }, /^fields are n, x, v, expected n, x, v, ids$/],
    [{ ...expected, extra: 1 }, /^fields are n, x, v, ids, extra, expected n, x, v, ids$/],
  ];
  for (const [actual, pattern] of cases) assert.match(compareMessage(actual, expected, schema) ?? 'equal', pattern, JSON.stringify(actual));
});

test('compareMessage skips the fields it is told to', () => {
  assert.equal(compareMessage({ ...expected, n: 99 }, expected, schema, ['n']), undefined);
  assert.match(compareMessage({ ...expected, n: 99, x: 2 }, expected, schema, ['n']) ?? '', /^x is 2/);
});
