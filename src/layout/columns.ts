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

export class ColumnCodec {
  constructor(
    readonly layout: SchemaLayout,
    private readonly what: string,
  ) {}

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
    const fields = this.layout.fields;
    return {
      count,
      words: this.layout.words,
      write: (u32, f32, base, stride) => {
        for (const f of fields) writeColumn(f, given[f.name]!, count, u32, f32, base, stride, this);
      },
    };
  }

  /** Empty columns for `n` messages (replies are written into them). */
  allocate(n: number): AnyColumns {
    const out: AnyColumns = {};
    for (const f of this.layout.fields) out[f.name] = new ARRAY_OF[f.type](n * (f.length === 0 ? 1 : f.length));
    return out;
  }

  /** Message i of `cols` from word `offset` of a record. */
  put(cols: AnyColumns, i: number, u32: Uint32Array, f32: Float32Array, offset: number): void {
    for (const f of this.layout.fields) {
      const col = cols[f.name]!;
      const src = f.type === 'f32' ? f32 : u32;
      if (f.length === 0) col[i] = src[offset + f.offset]!;
      else for (let j = 0, per = f.length; j < per; j++) col[i * per + j] = src[offset + f.offset + j]!;
    }
  }

  /** @internal reports a bad f32 value */
  badValue(f: FieldLayout, at: number, value: number): never {
    const per = f.length === 0 ? 1 : f.length;
    this.fail(`column '${f.name}' message ${(at / per) | 0}${f.length ? ` element ${at % per}` : ''}: ${value} is not a finite f32`);
  }
}

function writeColumn(f: FieldLayout, col: AnyColumn, n: number, u32: Uint32Array, f32: Float32Array, base: number, stride: number, codec: ColumnCodec): void {
  const at = base + f.offset;
  if (f.type === 'f32') {
    const per = f.length === 0 ? 1 : f.length;
    for (let k = 0; k < col.length; k++) {
      const v = col[k]!;
      if (v - v !== 0) codec.badValue(f, k, v);
    }
    if (per === 1) for (let i = 0; i < n; i++) f32[at + i * stride] = col[i]!;
    else for (let i = 0; i < n; i++) for (let j = 0; j < per; j++) f32[at + i * stride + j] = col[i * per + j]!;
    return;
  }
  // u32 and i32 store their bits (an i32 -1 is the word 0xffffffff).
  if (f.length === 0) for (let i = 0; i < n; i++) u32[at + i * stride] = col[i]!;
  else for (let i = 0, per = f.length; i < n; i++) for (let j = 0; j < per; j++) u32[at + i * stride + j] = col[i * per + j]!;
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

/** A copy of a batch's payloads (a MovingLink holds them while the actor moves). */
export function packedBatch(batch: MessageBatch): MessageBatch {
  const payloadWords = batch.words;
  const words = new Uint32Array(batch.count * payloadWords);
  batch.write(words, new Float32Array(words.buffer), 0, payloadWords);
  return {
    count: batch.count,
    words: payloadWords,
    write(u32, _f32, base, stride) {
      for (let i = 0; i < batch.count; i++) for (let w = 0; w < payloadWords; w++) u32[base + i * stride + w] = words[i * payloadWords + w]!;
    },
  };
}
