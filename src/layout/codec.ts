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

/** The largest finite f32 (2^128 - 2^104): an f32 field takes numbers from -F32_MAX to F32_MAX. */
export const F32_MAX = 3.4028234663852886e38;

/**
 * A value a reference produced does not fit its schema: `field` is where ('total',
 * 'pos[1]', or '' for the value itself) and `problem` what is wrong ('= -5, not a u32').
 */
export class ValueMismatch extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field} ${problem}`);
    this.name = 'ValueMismatch';
  }
}

export function compileCodec<S extends Schema>(schema: S, what: string, stored?: boolean): Codec<MessageOf<S>>;
export function compileCodec(schema: Schema, what: string, stored?: boolean): Codec;
export function compileCodec(schema: Schema, what: string, stored = false): Codec {
  const layout = layoutSchema(schema, what, undefined, stored);
  const check = (msg: unknown) => explain(layout, msg);
  const fail = (msg: unknown): never => {
    throw new RingshardError(ErrorCode.SCHEMA, `${what}: ${explain(layout, msg) ?? 'does not fit the schema'}`);
  };
  const encode = new Function('fail', encoderSource(layout))(fail) as Codec['encode'];
  const store = new Function(storerSource(layout))() as Codec['store'];
  const decode = new Function(decoderSource(layout))() as Codec['decode'];
  return { layout, words: layout.words, encode, store, decode, check };
}

/** Writes a value into words at `offset`; see compileCheckedStore. */
export type CheckedStore = (msg: unknown, u32: Uint32Array, f32: Float32Array, offset: number) => void;

/**
 * A store for values a kernel's TS reference produced (its reply, or the state it
 * leaves): the encoder's checks, one combined test per field (a typeof and a range
 * comparison: the only cost on the reference's hot path), then the write. Throws a
 * ValueMismatch naming the field; fields the schema does not have are ignored. On a
 * throw some words of the destination may have been written.
 */
export function compileCheckedStore(layout: SchemaLayout): CheckedStore {
  return new Function('bad', checkedStorerSource(layout))((k: number, i: number, v: unknown, m: unknown) => mismatch(layout, k, i, v, m)) as CheckedStore;
}

// A condition that is true when `v` is NOT a valid value of the type. typeof comes first:
// `>>>` and `|` throw a bare TypeError on a BigInt or a Symbol. The f32 range test is
// false for NaN, so one comparison pair also refuses NaN and the infinities.
function invalid(type: FieldLayout['type'], v: string): string {
  switch (type) {
    case 'u32':
      return `typeof ${v} !== 'number' || (${v} >>> 0) !== ${v}`;
    case 'i32':
      return `typeof ${v} !== 'number' || (${v} | 0) !== ${v}`;
    case 'f32':
      return `typeof ${v} !== 'number' || !(${v} >= -${F32_MAX} && ${v} <= ${F32_MAX})`;
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

// The encoder's checks with storage writes and a caller-given `bad(field, element, value, m)`
// (element -1: the scalar itself, -2: the array), no count of extra keys.
function checkedStorerSource(layout: SchemaLayout): string {
  const lines = [
    'return function storeChecked(m, u, f, o) {',
    "  if (m === null || typeof m !== 'object') bad(-1, -1, m, m);",
    '  let v, e;',
  ];
  layout.fields.forEach((field, k) => {
    lines.push(`  v = m[${JSON.stringify(field.name)}];`);
    if (field.length === 0) {
      lines.push(`  if (${invalid(field.type, 'v')}) bad(${k}, -1, v, m);`);
      lines.push(`  ${view(field.type)}[o + ${field.offset}] = v;`);
      return;
    }
    lines.push(`  if (v == null || v.length !== ${field.length}) bad(${k}, -2, v, m);`);
    lines.push(`  for (let i = 0; i < ${field.length}; i++) {`);
    lines.push(`    e = v[i]; if (${invalid(field.type, 'e')}) bad(${k}, i, e, m); ${view(field.type)}[o + ${field.offset} + i] = e;`);
    lines.push('  }');
  });
  lines.push('};');
  return lines.join('\n');
}

function mismatch(layout: SchemaLayout, k: number, element: number, value: unknown, msg: unknown): never {
  if (k < 0) throw new ValueMismatch('', `= ${showValue(value)}, not an object with fields ${fieldList(layout)}`);
  const field = layout.fields[k]!;
  if (element === -1 && !(field.name in (msg as object))) throw new ValueMismatch(field.name, `is missing (${TYPE_NAME[field.type]})`);
  if (element === -2) throw new ValueMismatch(field.name, `= ${showValue(value)}, not an array of ${field.length} ${field.type}`);
  throw new ValueMismatch(element < 0 ? field.name : `${field.name}[${element}]`, `= ${showValue(value)}, not ${TYPE_NAME[field.type]}`);
}

const TYPE_NAME = { u32: 'a u32', i32: 'an i32', f32: 'a finite f32' } as const;

/** `-5`, `"x"`, `5n`, `Symbol(x)`, `an object`: a value as a reference's author wrote it. */
function showValue(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol') return value.toString();
  return describeValue(value);
}

/**
 * The body of a decoder (`return function decode(u, f, o) {...}` and its helpers). The
 * cpu backend compiles it in its reference sandbox too, so that the objects references
 * get are the sandbox's (src/kernels/reference-sandbox.ts).
 */
export function decoderSource(layout: SchemaLayout): string {
  // Objects come from a constructor and arrays from a reader function, not from literals:
  // V8 pretenures a literal's allocation site once its objects survive young-generation
  // collections (an askMany holds its replies until the last one comes), and then every
  // decode allocated in the old generation: echo's askMany fell from ~10 M to 1.4-2 M
  // messages/s, in about one run in three, when another kernel had run first (measured
  // 2026-12-05; `--no-allocation-site-pretenuring` removed it). Objects made by `new`
  // carry no allocation site. R's prototype is Object.prototype: replies stay plain objects.
  const helpers: string[] = [];
  const assigns = layout.fields.map((field) => {
    const key = JSON.stringify(field.name);
    const read = (i: string) =>
      field.type === 'f32' ? `f[${i}]` : field.type === 'i32' ? `(u[${i}] | 0)` : `u[${i}]`;
    if (field.length === 0) return `this[${key}] = ${read(`o + ${field.offset}`)};`;
    // A reader of its own per array field, so each call site stays monomorphic.
    const reader = `read${helpers.length}`;
    const fill =
      field.length <= UNROLL_LIMIT
        ? Array.from({ length: field.length }, (_, i) => `a[${i}] = ${read(`o + ${i}`)};`).join(' ')
        : `for (let i = 0; i < ${field.length}; i++) a[i] = ${read('o + i')};`;
    helpers.push(`function ${reader}(u, f, o) { const a = new Array(${field.length}); ${fill} return a; }`);
    return `this[${key}] = ${reader}(u, f, o + ${field.offset});`;
  });
  return [
    ...helpers,
    `function Decoded(u, f, o) { ${assigns.join(' ')} }`,
    'Decoded.prototype = Object.prototype;',
    'return function decode(u, f, o) { return new Decoded(u, f, o); };',
  ].join('\n');
}

const TYPE_TEXT = {
  u32: 'a u32 (an integer from 0 to 4294967295)',
  i32: 'an i32 (an integer from -2147483648 to 2147483647)',
  f32: `an f32 (a finite number from -${F32_MAX} to ${F32_MAX})`,
} as const;

function validScalar(type: FieldLayout['type'], v: unknown): boolean {
  if (typeof v !== 'number') return false;
  if (type === 'u32') return v >>> 0 === v;
  if (type === 'i32') return (v | 0) === v;
  return v >= -F32_MAX && v <= F32_MAX;
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
