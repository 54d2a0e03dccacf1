/**
 * Test helpers around the reference model (src/kernels/reference-model.ts): random
 * messages for a schema, and an assertion form of compareMessage.
 */
import assert from 'node:assert/strict';
import { compareMessage, type Message } from '../../src/kernels/reference-model.ts';
import type { FieldType, Schema } from '../../src/layout/schema.ts';
import type { Rng } from './random.ts';

export { KernelModel } from '../../src/kernels/reference-model.ts';

function randomScalar(type: string, rng: Rng): number {
  if (type === 'u32') return rng.u32();
  if (type === 'i32') return rng.u32() | 0;
  return Math.fround((rng.float() - 0.5) * 2000);
}

/** A random message for `schema` (f32 values in [-1000, 1000)). */
export function randomMessage(schema: Schema, rng: Rng): Message {
  const out: Message = {};
  for (const [name, type] of Object.entries(schema) as Array<[string, FieldType]>) {
    out[name] = typeof type === 'string' ? randomScalar(type, rng) : Array.from({ length: type[1] }, () => randomScalar(type[0], rng));
  }
  return out;
}

/** Asserts `actual` equals `expected` (see compareMessage), naming `what` if not. */
export function assertMatches(actual: unknown, expected: Message, schema: Schema, what: string, skip: readonly string[] = []): void {
  const problem = compareMessage(actual, expected, schema, skip);
  assert.equal(problem, undefined, `${what}: ${problem}`);
}
