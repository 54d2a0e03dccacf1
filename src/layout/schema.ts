/**
 * Kernel schemas: the one description of a request, reply or state from which both the
 * TypeScript codec (codec.ts) and the WGSL struct text (wgsl.ts) are generated.
 *
 *   { add: 'u32', pos: ['f32', 3] }
 *
 * Every scalar is one 32-bit word; arrays are packed words. Fields are laid out in
 * declaration order with no padding, so a schema of N words is N words everywhere:
 * in the ring, in GPU buffers and in the WGSL loaders.
 */
import { ErrorCode, RingshardError, describeValue } from '../errors.ts';
import { MAX_PAYLOAD_WORDS } from './record.ts';

export type ScalarType = 'u32' | 'i32' | 'f32';
export type FieldType = ScalarType | readonly [ScalarType, number];
export type Schema = Readonly<Record<string, FieldType>>;

export interface FieldLayout {
  readonly name: string;
  readonly type: ScalarType;
  /** 0 for a scalar, the element count for an array. */
  readonly length: number;
  /** Word offset of the field inside the payload. */
  readonly offset: number;
  readonly words: number;
}

export interface SchemaLayout {
  readonly fields: readonly FieldLayout[];
  readonly words: number;
}

/** JS value for a schema: numbers for scalars, number arrays for arrays. */
export type ValueOf<T extends FieldType> = T extends ScalarType ? number : number[];
export type MessageOf<S extends Schema> = { [K in keyof S]: ValueOf<S[K]> };

const SCALARS: ReadonlySet<string> = new Set(['u32', 'i32', 'f32']);

// WGSL keywords and reserved words (WGSL spec, sections 15.2 and 15.3): a field becomes
// a struct member, and a member may not use them.
const WGSL_RESERVED: ReadonlySet<string> = new Set(
  (
    'alias break case const const_assert continue continuing default diagnostic discard ' +
    'else enable false fn for if let loop override requires return struct switch true var ' +
    'while NULL Self abstract active alignas alignof as asm asm_fragment async attribute ' +
    'auto await become binding_array cast catch class co_await co_return co_yield coherent ' +
    'column_major common compile compile_fragment concept const_cast consteval constexpr ' +
    'constinit crate debugger decltype delete demote demote_to_helper do dynamic_cast enum ' +
    'explicit export extends extern external fallthrough filter final finally friend from ' +
    'fxgroup get goto groupshared highp impl implements import inline instanceof interface ' +
    'layout lowp macro macro_rules match mediump meta mod module move mut mutable namespace ' +
    'new nil noexcept noinline nointerpolation non_coherent noncoherent noperspective null ' +
    'nullptr of operator package packoffset partition pass patch pixelfragment precise ' +
    'precision premerge priv protected pub public readonly ref regardless register ' +
    'reinterpret_cast require resource restrict self set shared sizeof smooth snorm static ' +
    'static_assert static_cast std subroutine super target template this thread_local throw ' +
    'trait try type typedef typeid typename typeof union unless unorm unsafe unsized use ' +
    'using varying virtual volatile wgsl where with writeonly yield'
  ).split(' '),
);
/** The hidden field a stored state may end with: the actor's timer table (see timer-table.ts). */
export const TIMERS_FIELD = 'rs_timers';

// Names the generated code uses for its own members and helpers.
const RESERVED_PREFIX = /^(rs_|_)/;
const IDENT = /^[A-Za-z][A-Za-z0-9_]*$/;

/**
 * Validates a schema and computes its layout. `what` names the schema in errors
 * ("kernel 'counter' request"), so a message says exactly which field of which
 * kernel is wrong. `stored`: an actor's stored state, which may end with the timer table.
 */
export function layoutSchema(schema: unknown, what: string, maxWords = MAX_PAYLOAD_WORDS, stored = false): SchemaLayout {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    throw schemaError(`${what} schema must be an object of fields, got ${describeValue(schema)}`);
  }
  const names = Object.keys(schema);
  if (names.length === 0) throw schemaError(`${what} schema is empty: it needs at least one field`);
  const fields: FieldLayout[] = [];
  let offset = 0;
  for (const name of names) {
    // A stored state (timer-table.ts) has ringshard's timer table as its last field.
    const hidden = stored && name === TIMERS_FIELD && name === names[names.length - 1];
    if (!hidden && (!IDENT.test(name) || RESERVED_PREFIX.test(name) || WGSL_RESERVED.has(name))) {
      throw schemaError(
        `${what} field ${JSON.stringify(name)} is not a usable name: fields must match ` +
          `[A-Za-z][A-Za-z0-9_]*, not start with 'rs_' and not be a WGSL keyword`,
      );
    }
    const spec = (schema as Record<string, unknown>)[name];
    let type: string;
    let length = 0;
    if (typeof spec === 'string') {
      type = spec;
    } else if (Array.isArray(spec) && spec.length === 2 && typeof spec[0] === 'string') {
      type = spec[0];
      length = spec[1] as number;
      if (!Number.isInteger(length) || length < 1) {
        throw schemaError(
          `${what} field '${name}' has array length ${describeValue(spec[1])}; it must be an integer >= 1`,
        );
      }
    } else {
      throw schemaError(
        `${what} field '${name}' has type ${describeValue(spec)}; expected 'u32', 'i32', 'f32' or [type, length]`,
      );
    }
    if (!SCALARS.has(type)) {
      throw schemaError(
        `${what} field '${name}' has unknown type ${JSON.stringify(type)}; expected 'u32', 'i32' or 'f32'`,
      );
    }
    const words = length === 0 ? 1 : length;
    fields.push({ name, type: type as ScalarType, length, offset, words });
    offset += words;
  }
  if (offset > maxWords) {
    throw new RingshardError(
      ErrorCode.TOO_LARGE,
      `${what} schema is ${offset} words (${offset * 4} bytes); a ring slot holds at most ` +
        `${maxWords} payload words (${maxWords * 4} bytes)`,
    );
  }
  return { fields, words: offset };
}

function schemaError(message: string): RingshardError {
  return new RingshardError(ErrorCode.SCHEMA, message);
}
