/**
 * Messages as typed columns: the hot path for callers whose data is in typed arrays
 * already. A schema's columns are one typed array per field, `n` values long for a
 * scalar and `n * length` for an array field (message i's elements at i * length):
 *
 *   stats request { samples: ['f32', 8], n: 'u32' }  ->  { samples: Float32Array(8n), n: Uint32Array(n) }
 *
 * u32 and i32 columns take any value their array can hold, so only their lengths are
 * checked (and f32 values: finite, as the object path requires), field by field, with
 * the field and the index in the error. Packing writes straight into record slots.
 */
import { ErrorCode, RingshardError, describeValue } from '../errors.ts';
import type { FieldLayout, FieldType, Schema, SchemaLayout } from './schema.ts';

type ColumnOfScalar<T> = T extends 'u32' ? Uint32Array : T extends 'i32' ? Int32Array : Float32Array;
/** The typed array of one field's column. */
export type ColumnOf<T extends FieldType> = T extends readonly [infer E, number] ? ColumnOfScalar<E> : ColumnOfScalar<T>;
/** A schema's messages as columns. */
export type ColumnsOf<S extends Schema> = { [K in keyof S]: ColumnOf<S[K]> };

type AnyColumn = Uint32Array | Int32Array | Float32Array;
type AnyColumns = Record<string, AnyColumn>;

const ARRAY_OF = { u32: Uint32Array, i32: Int32Array, f32: Float32Array } as const;

/** Many messages of one schema, however they were given: what a link packs into records. */
export interface MessageBatch {
  readonly count: number;
  /** Payload words of one message. */
  readonly words: number;
  /** Writes message i's payload at `base + i * stride` words, for every i; throws ERR_RINGSHARD_SCHEMA. */
  write(u32: Uint32Array, f32: Float32Array, base: number, stride: number): void;
}

/** True when `value` looks like columns (an object of typed arrays), not an array of messages. */
export function isColumns(value: unknown): value is AnyColumns {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  for (const k in value) return ArrayBuffer.isView((value as Record<string, unknown>)[k]);
  return false;
}

/** Writes reply i's fields from a record into columns bound at creation (generated straight-line code). */
export type ColumnPut = (i: number, u32: Uint32Array, f32: Float32Array, offset: number) => void;

export class ColumnCodec {
  /** Makes a ColumnPut over the given columns (one generated function per schema). */
  private readonly putter: (cols: AnyColumns) => ColumnPut;
  /** Writes n messages from columns into records (generated: monomorphic typed-array code). */
  private readonly writer: (cols: AnyColumns, n: number, u32: Uint32Array, f32: Float32Array, base: number, stride: number) => void;

  constructor(
    readonly layout: SchemaLayout,
    private readonly what: string,
  ) {
    // Per field one statement (or a short loop for arrays), reading the columns from
    // locals: a message costs a few stores, no lookups by name.
    const names = layout.fields.map((_, k) => `c${k}`);
    const body = `return function put(i, u32, f32, o) {\n${layout.fields.map((f, k) => copyField(f, k, 'toColumn')).join('\n')}\n};`;
    const make = new Function(...names, body) as (...cols: AnyColumn[]) => ColumnPut;
    this.putter = (cols) => make(...layout.fields.map((f) => cols[f.name]!));

    // f32 values are checked first (finite), then one pass writes every field of a message.
    const checks = layout.fields.flatMap((f, k) =>
      f.type === 'f32' ? [`for (let x = 0; x < c${k}.length; x++) { const v = c${k}[x]; if (v - v !== 0) bad(${k}, x, v); }`] : [],
    );
    const stores = layout.fields.map((f, k) => copyField(f, k, 'toRecord'));
    const writeBody = [
      'return function write(cols, n, u32, f32, base, stride) {',
      ...layout.fields.map((f, k) => `const c${k} = cols[${JSON.stringify(f.name)}];`),
      ...checks,
      'for (let i = 0, o = base; i < n; i++, o += stride) {',
      ...stores,
      '}',
      '};',
    ].join('\n');
    this.writer = new Function('bad', writeBody)((k: number, at: number, v: number) => this.badValue(layout.fields[k]!, at, v));
  }

  /** A ColumnPut writing into `cols` (from allocate). */
  putInto(cols: AnyColumns): ColumnPut {
    return this.putter(cols);
  }

  private fail(message: string): never {
    throw new RingshardError(ErrorCode.SCHEMA, `${this.what}: ${message}`);
  }

  /** How many messages `cols` holds; throws naming the field when it does not fit the schema. */
  count(cols: unknown): number {
    if (!isColumns(cols)) this.fail(`expected columns (an object of typed arrays, one per field), got ${describeValue(cols)}`);
    const given = cols as AnyColumns;
    for (const name of Object.keys(given)) {
      if (!this.layout.fields.some((f) => f.name === name)) this.fail(`column '${name}' is not a field of the schema (${this.fieldList()})`);
    }
    let n = -1;
    for (const f of this.layout.fields) {
      const col = given[f.name];
      const type = ARRAY_OF[f.type];
      if (col === undefined) this.fail(`column '${f.name}' is missing (${this.fieldList()})`);
      if (!(col instanceof type)) this.fail(`column '${f.name}' must be a ${type.name} (field type ${f.type}), got ${describeValue(col)}`);
      const per = f.length === 0 ? 1 : f.length;
      if (col.length % per !== 0) this.fail(`column '${f.name}' has ${col.length} values, not a multiple of its ${per} per message`);
      const messages = col.length / per;
      if (n >= 0 && messages !== n) this.fail(`column '${f.name}' holds ${messages} messages where the columns before it hold ${n}`);
      n = messages;
    }
    return n;
  }

  private fieldList(): string {
    return this.layout.fields.map((f) => `${f.name}: ${f.type}${f.length ? `[${f.length}]` : ''}`).join(', ');
  }

  /** A MessageBatch over `cols` (checked now: shape; values as they are written). */
  batch(cols: unknown): MessageBatch {
    const count = this.count(cols);
    const given = cols as AnyColumns;
    const writer = this.writer;
    return { count, words: this.layout.words, write: (u32, f32, base, stride) => writer(given, count, u32, f32, base, stride) };
  }

  /** Empty columns for `n` messages (replies are written into them). */
  allocate(n: number): AnyColumns {
    const out: AnyColumns = {};
    for (const f of this.layout.fields) out[f.name] = new ARRAY_OF[f.type](n * (f.length === 0 ? 1 : f.length));
    return out;
  }

  private badValue(f: FieldLayout, at: number, value: number): never {
    const per = f.length === 0 ? 1 : f.length;
    this.fail(`column '${f.name}' message ${(at / per) | 0}${f.length ? ` element ${at % per}` : ''}: ${value} is not a finite f32`);
  }
}

/**
 * Generated code copying field k of message i between its column `c<k>` and a record at
 * word `o` (`u32` / `f32` view the record's words).
 */
function copyField(f: FieldLayout, k: number, direction: 'toColumn' | 'toRecord'): string {
  const view = f.type === 'f32' ? 'f32' : 'u32';
  const copy = (record: string, column: string) => (direction === 'toColumn' ? `${column} = ${record};` : `${record} = ${column};`);
  if (f.length === 0) return copy(`${view}[o + ${f.offset}]`, `c${k}[i]`);
  return `for (let j = 0, b = i * ${f.length}; j < ${f.length}; j++) ${copy(`${view}[o + ${f.offset} + j]`, `c${k}[b + j]`)}`;
}

/** A MessageBatch over message objects, each checked by the codec as it is written. */
export function objectBatch(codec: { readonly words: number; encode(msg: never, u32: Uint32Array, f32: Float32Array, offset: number): void }, msgs: readonly unknown[]): MessageBatch {
  return {
    count: msgs.length,
    words: codec.words,
    write(u32, f32, base, stride) {
      for (let i = 0; i < msgs.length; i++) {
        try {
          codec.encode(msgs[i] as never, u32, f32, base + i * stride);
        } catch (error) {
          if (error instanceof RingshardError) error.message = `message ${i}: ${error.message}`;
          throw error;
        }
      }
    },
  };
}

/** Packs a batch (checking every message: ERR_RINGSHARD_SCHEMA) into new words, message after message. */
export function packWords(batch: MessageBatch): Uint32Array {
  const words = new Uint32Array(batch.count * batch.words);
  batch.write(words, new Float32Array(words.buffer), 0, batch.words);
  return words;
}

/** A batch over `count` messages of `per` words each, packed in `payload`. */
export function wordsBatch(payload: Uint32Array, count: number, per: number): MessageBatch {
  return {
    count,
    words: per,
    write(u32, _f32, base, stride) {
      copyStrided(payload, count, per, u32, base, stride);
    },
  };
}

/**
 * Copies `count` messages of `per` words, packed in `from`, to `to` at `base + i * stride`.
 * Word by word when messages are short (a subarray per message cost more than the copy).
 */
export function copyStrided(from: Uint32Array, count: number, per: number, to: Uint32Array, base: number, stride: number): void {
  if (stride === per) to.set(from.subarray(0, count * per), base);
  else if (per <= 16) {
    for (let i = 0, s = 0, d = base; i < count; i++, d += stride) for (let k = 0; k < per; k++) to[d + k] = from[s++]!;
  } else for (let i = 0; i < count; i++) to.set(from.subarray(i * per, (i + 1) * per), base + i * stride);
}

/** A copy of a batch's payloads (a MovingLink holds them while the actor moves). */
export function packedBatch(batch: MessageBatch): MessageBatch {
  return wordsBatch(packWords(batch), batch.count, batch.words);
}
