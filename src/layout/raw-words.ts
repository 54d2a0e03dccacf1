/**
 * Payloads as raw u32 words: what a node serving another node's calls hands its rings
 * (the words came checked from the caller's codec) and takes back from them, with no
 * object per message on the way.
 */
import type { Codec } from './codec.ts';
import type { ReplySink } from '../coordinator/shard-link.ts';

/** A codec whose messages are their payload words (a Uint32Array of `words`). */
export function rawCodec(base: Codec): Codec<any> {
  const words = base.words;
  return {
    layout: base.layout,
    words,
    encode(msg: Uint32Array, u32: Uint32Array, _f32: Float32Array, offset: number) {
      u32.set(msg.subarray(0, words), offset);
    },
    store(msg: Uint32Array, u32: Uint32Array, _f32: Float32Array, offset: number) {
      u32.set(msg.subarray(0, words), offset);
    },
    decode(u32: Uint32Array, _f32: Float32Array, offset: number) {
      return u32.slice(offset, offset + words);
    },
    check: () => undefined,
  };
}

/** Collects `count` replies of `per` words each into one packed array. */
export function wordsSink(count: number, per: number): ReplySink & { readonly words: Uint32Array } {
  const words = new Uint32Array(count * per);
  return {
    words,
    put(i, u32, _f32, offset) {
      words.set(u32.subarray(offset, offset + per), i * per);
    },
    result: () => words,
  };
}

/** Encodes one message (checked by the codec: ERR_RINGSHARD_SCHEMA) into new words. */
export function encodeOne(codec: Codec, msg: unknown): Uint32Array {
  const words = new Uint32Array(codec.words);
  codec.encode(msg as never, words, new Float32Array(words.buffer), 0);
  return words;
}

/** Decodes `count` replies of `codec` from packed words: into the sink, or as an array. */
export function decodeMany(codec: Codec, words: Uint32Array, count: number, sink?: ReplySink): unknown {
  const f32 = new Float32Array(words.buffer, words.byteOffset, words.length);
  if (sink) {
    for (let i = 0; i < count; i++) sink.put(i, words, f32, i * codec.words);
    return sink.result();
  }
  const out: unknown[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = codec.decode(words, f32, i * codec.words);
  return out;
}
