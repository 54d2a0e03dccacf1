/** fast-check arbitraries for schemas and for messages that fit them. */
import fc from 'fast-check';
import type { FieldType, Schema, ScalarType } from '../../src/layout/schema.ts';

const scalar = fc.constantFrom<ScalarType>('u32', 'i32', 'f32');
const fieldType: fc.Arbitrary<FieldType> = fc.oneof(
  scalar,
  fc.tuple(scalar, fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 9, max: 20 }))).map(([t, n]) => [t, n] as const),
);
// Field names: identifiers that are not WGSL keywords (the prefix `v_` keeps them clear).
const fieldName = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/).map((s) => `v_${s}`);

export const schemaArb: fc.Arbitrary<Schema> = fc.dictionary(fieldName, fieldType, { minKeys: 1, maxKeys: 8 });

// Subnormal f32 values are excluded: GPUs may flush them to zero (WGSL allows it).
const f32 = fc
  .float({ noNaN: true, noDefaultInfinity: true })
  .filter((v) => v === 0 || Math.abs(v) >= 2 ** -126);
const scalarValue = (t: ScalarType): fc.Arbitrary<number> =>
  t === 'u32' ? fc.integer({ min: 0, max: 0xffffffff }) : t === 'i32' ? fc.integer({ min: -0x80000000, max: 0x7fffffff }) : f32;

export function messageArb(schema: Schema): fc.Arbitrary<Record<string, number | number[]>> {
  const parts: Record<string, fc.Arbitrary<number | number[]>> = {};
  for (const [name, type] of Object.entries(schema)) {
    parts[name] = typeof type === 'string' ? scalarValue(type) : fc.array(scalarValue(type[0]), { minLength: type[1], maxLength: type[1] });
  }
  return fc.record(parts).map((m) => ({ ...m }));
}

export const schemaWithMessages = (count: number) =>
  schemaArb.chain((schema) => fc.tuple(fc.constant(schema), fc.array(messageArb(schema), { minLength: 1, maxLength: count })));
