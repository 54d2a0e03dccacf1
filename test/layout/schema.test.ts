import assert from 'node:assert/strict';
import { test } from 'node:test';
import { layoutSchema } from '../../src/layout/schema.ts';
import { MAX_PAYLOAD_WORDS } from '../../src/layout/record.ts';

const rejects = (schema: unknown, code: string, pattern: RegExp) =>
  assert.throws(
    () => layoutSchema(schema, "kernel 'k' state"),
    (err: any) => err.code === code && pattern.test(err.message),
  );

test('layout offsets follow declaration order', () => {
  const l = layoutSchema({ a: 'u32', b: ['f32', 4], c: 'i32' }, 's');
  assert.deepEqual(l.fields.map((f) => [f.name, f.offset, f.words]), [['a', 0, 1], ['b', 1, 4], ['c', 5, 1]]);
  assert.equal(l.words, 6);
});

test('an empty schema is rejected', () => rejects({}, 'ERR_RINGSHARD_SCHEMA', /kernel 'k' state schema is empty/));
test('a non-object schema is rejected', () => rejects('u32', 'ERR_RINGSHARD_SCHEMA', /must be an object of fields, got "u32"/));
test('an unknown type names the field', () => rejects({ ok: 'u32', x: 'f64' }, 'ERR_RINGSHARD_SCHEMA', /field 'x' has unknown type "f64"/));
test('a bad array length names the field', () => rejects({ v: ['f32', 0] }, 'ERR_RINGSHARD_SCHEMA', /field 'v' has array length 0/));
test('a malformed field type names the field', () => rejects({ v: ['f32'] }, 'ERR_RINGSHARD_SCHEMA', /field 'v' has type an array of length 1/));
test('a WGSL keyword as field name is rejected', () => rejects({ loop: 'u32' }, 'ERR_RINGSHARD_SCHEMA', /field "loop" is not a usable name/));
test('a reserved prefix is rejected', () => rejects({ rs_x: 'u32' }, 'ERR_RINGSHARD_SCHEMA', /field "rs_x"/));
test('a schema too large for a slot is rejected with its size', () =>
  rejects({ big: ['u32', MAX_PAYLOAD_WORDS + 1] }, 'ERR_RINGSHARD_TOO_LARGE', new RegExp(`is ${MAX_PAYLOAD_WORDS + 1} words`)));
test('the largest schema that fits is accepted', () => {
  assert.equal(layoutSchema({ big: ['u32', MAX_PAYLOAD_WORDS] }, 's').words, MAX_PAYLOAD_WORDS);
});
