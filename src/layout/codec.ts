/**
 * TS side of a schema: an encoder that validates a message while writing it into a
 * slot, and a decoder that builds the object back. Both are generated per schema with
 * `new Function` so that the hot path is straight-line code with monomorphic property
 * reads, the same shape as the WGSL loaders generated from the same layout.
 */
import { ErrorCode, RingshardError, describeValue } from '../errors.ts';
import { layoutSchema, type FieldLayout, type MessageOf, type Schema, type SchemaLayout } from './schema.ts';

export interface Codec<M = Record<string, number | number[]>> {
  readonly layout: SchemaLayout;
  /** Payload size in 32-bit words. */
  readonly words: number;
  /**
   * Validates `msg` and writes it at word `offset`. `u32` and `f32` view the same
   * memory. Throws ERR_RINGSHARD_SCHEMA naming the field; on a throw some words of the
   * destination may have been written, so encode into a slot that is not yet published.
   */
  encode(msg: M, u32: Uint32Array, f32: Float32Array, offset: number): void;
  /**
   * Writes without validating, with storage semantics: u32 and i32 wrap modulo 2^32,
   * f32 rounds to the nearest float. This is what GPU memory does to a value, so the CPU
   * reference path stores state through it.
   */
  store(msg: M, u32: Uint32Array, f32: Float32Array, offset: number): void;
  /** Reads a message back from word `offset`. */
  decode(u32: Uint32Array, f32: Float32Array, offset: number): M;
  /** Returns why `msg` does not fit the schema, or undefined when it fits. */
  check(msg: unknown): string | undefined;
}

const UNROLL_LIMIT = 8;

export function compileCodec<S extends Schema>(schema: S, what: string): Codec<MessageOf<S>>;
export function compileCodec(schema: Schema, what: string): Codec;
export function compileCodec(schema: Schema, what: string): Codec {
  const layout = layoutSchema(schema, what);
  const check = (msg: unknown) => explain(layout, msg);
  const fail = (msg: unknown): never => {
    throw new RingshardError(ErrorCode.SCHEMA, `${what}: ${explain(layout, msg) ?? 'does not fit the schema'}`);
  };
  const encode = new Function('fail', encoderSource(layout))(fail) as Codec['encode'];
  const store = new Function(storerSource(layout))() as Codec['store'];
  const decode = new Function(decoderSource(layout))() as Codec['decode'];
  return { layout, words: layout.words, encode, store, decode, check };
}

// A condition that is true when `v` is NOT a valid value of the type.
function invalid(type: FieldLayout['type'], v: string): string {
  switch (type) {
    case 'u32':
      return `(${v} >>> 0) !== ${v}`;
    case 'i32':
      return `(${v} | 0) !== ${v}`;
    case 'f32':
      // `v - v` is 0 for finite numbers and NaN for NaN/Infinity; strings fail typeof.
      return `typeof ${v} !== 'number' || ${v} - ${v} !== 0`;
  }
}

function view(type: FieldLayout['type']): string {
  return type === 'f32' ? 'f' : 'u';
}

function encoderSource(layout: SchemaLayout): string {
  const lines = [
    'return function encode(m, u, f, o) {',
    "  if (m === null || typeof m !== 'object') fail(m);",
    '  let v, e;',
  ];
  for (const field of layout.fields) {
    const key = JSON.stringify(field.name);
    lines.push(`  v = m[${key}];`);
    if (field.length === 0) {
      lines.push(`  if (${invalid(field.type, 'v')}) fail(m);`);
      lines.push(`  ${view(field.type)}[o + ${field.offset}] = v;`);
    } else {
      lines.push(`  if (v == null || v.length !== ${field.length}) fail(m);`);
      if (field.length <= UNROLL_LIMIT) {
        for (let i = 0; i < field.length; i++) {
          lines.push(`  e = v[${i}]; if (${invalid(field.type, 'e')}) fail(m); ${view(field.type)}[o + ${field.offset + i}] = e;`);
        }
      } else {
        lines.push(`  for (let i = 0; i < ${field.length}; i++) {`);
        lines.push(`    e = v[i]; if (${invalid(field.type, 'e')}) fail(m); ${view(field.type)}[o + ${field.offset} + i] = e;`);
        lines.push('  }');
      }
    }
  }
  // Extra fields are an error too; counting keys is cheaper than listing them.
  lines.push('  let n = 0; for (const k in m) n++;');
  lines.push(`  if (n !== ${layout.fields.length}) fail(m);`);
  lines.push('};');
  return lines.join('\n');
}

function storerSource(layout: SchemaLayout): string {
  const lines = ['return function store(m, u, f, o) {', '  let v;'];
  for (const field of layout.fields) {
    lines.push(`  v = m[${JSON.stringify(field.name)}];`);
    if (field.length === 0) lines.push(`  ${view(field.type)}[o + ${field.offset}] = v;`);
    else lines.push(`  for (let i = 0; i < ${field.length}; i++) ${view(field.type)}[o + ${field.offset} + i] = v[i];`);
  }
  lines.push('};');
  return lines.join('\n');
}

function decoderSource(layout: SchemaLayout): string {
  const helpers: string[] = [];
  const parts = layout.fields.map((field) => {
    const key = JSON.stringify(field.name);
    const read = (i: string) =>
      field.type === 'f32' ? `f[${i}]` : field.type === 'i32' ? `(u[${i}] | 0)` : `u[${i}]`;
    if (field.length === 0) return `${key}: ${read(`o + ${field.offset}`)}`;
    if (field.length <= UNROLL_LIMIT) {
      const items = Array.from({ length: field.length }, (_, i) => read(`o + ${field.offset + i}`));
      return `${key}: [${items.join(', ')}]`;
    }
    // Long arrays get a reader of their own so each call site stays monomorphic.
    const reader = `read${helpers.length}`;
    helpers.push(
      `function ${reader}(u, f, o) { const a = new Array(${field.length}); ` +
        `for (let i = 0; i < ${field.length}; i++) a[i] = ${read('o + i')}; return a; }`,
    );
    return `${key}: ${reader}(u, f, o + ${field.offset})`;
  });
  return [...helpers, `return function decode(u, f, o) { return { ${parts.join(', ')} }; };`].join('\n');
}

const TYPE_TEXT = {
  u32: 'a u32 (an integer from 0 to 4294967295)',
  i32: 'an i32 (an integer from -2147483648 to 2147483647)',
  f32: 'an f32 (a finite number)',
} as const;

function validScalar(type: FieldLayout['type'], v: unknown): boolean {
  if (typeof v !== 'number') return false;
  if (type === 'u32') return v >>> 0 === v;
  if (type === 'i32') return (v | 0) === v;
  return Number.isFinite(v);
}

/** The slow path: says precisely what is wrong with a message. */
export function explain(layout: SchemaLayout, msg: unknown): string | undefined {
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
    return `message must be an object with fields ${fieldList(layout)}, got ${describeValue(msg)}`;
  }
  const record = msg as Record<string, unknown>;
  for (const field of layout.fields) {
    if (!(field.name in record)) return `missing field '${field.name}' (expected ${fieldList(layout)})`;
    const v = record[field.name];
    if (field.length === 0) {
      if (!validScalar(field.type, v)) return `field '${field.name}' must be ${TYPE_TEXT[field.type]}, got ${describeValue(v)}`;
      continue;
    }
    const arrayLike = Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
    if (!arrayLike || (v as ArrayLike<unknown>).length !== field.length) {
      return `field '${field.name}' must be an array of ${field.length} ${field.type}, got ${describeValue(v)}`;
    }
    const items = v as ArrayLike<unknown>;
    for (let i = 0; i < field.length; i++) {
      if (!validScalar(field.type, items[i])) {
        return `field '${field.name}[${i}]' must be ${TYPE_TEXT[field.type]}, got ${describeValue(items[i])}`;
      }
    }
  }
  const known = new Set(layout.fields.map((f) => f.name));
  for (const key in record) {
    if (!known.has(key)) return `unknown field '${key}' (expected ${fieldList(layout)})`;
  }
  return undefined;
}

function fieldList(layout: SchemaLayout): string {
  return layout.fields.map((f) => (f.length ? `${f.name}: ${f.type}[${f.length}]` : `${f.name}: ${f.type}`)).join(', ');
}
