/**
 * What the owner checks of a call from another node before it goes into a ring: the
 * frame was decoded with every length checked (wire.ts) and its signature verified
 * (node-runtime.ts); here, per call, that the op is one there is, the kernel is known, the
 * message count agrees with the words, and every payload word is one the kernel's
 * request schema allows. The caller's codec checked the message objects; the words are
 * all the owner gets, so it checks them again, as words.
 *
 * What a word can hold against its schema: u32 and i32 fields take any 32 bits; an f32
 * field takes any finite float (the codec refuses NaN and the infinities: an f32 word
 * whose exponent bits are all ones, `(w & 0x7f800000) === 0x7f800000`).
 */
import { TIMER_RECORD_WORDS } from '../layout/timer-table.ts';
import type { SchemaLayout } from '../layout/schema.ts';
import { CallOp, type Call } from './wire.ts';

/** Why an owner refused another node's call (ringshard_node_calls_refused_total{reason}). */
export const REFUSAL_REASONS = ['unsigned', 'bad-signature', 'unknown-node', 'replay', 'bad-frame', 'unknown-kernel', 'count-mismatch', 'schema'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

const F32_EXPONENT = 0x7f800000;

/**
 * A checker of payload words against a request layout: true when `count` messages of
 * `layout.words` words each, from `payload[0]`, hold only values the schema allows.
 * Built once per kernel; the loop touches only the f32 words (none for an all-integer
 * schema).
 */
export function wordsChecker(layout: SchemaLayout): (payload: Uint32Array, count: number) => boolean {
  const f32: number[] = [];
  for (const f of layout.fields) if (f.type === 'f32') for (let i = 0; i < f.words; i++) f32.push(f.offset + i);
  const per = layout.words;
  if (f32.length === 0) return () => true;
  const offsets = Int32Array.from(f32);
  return (payload, count) => {
    for (let m = 0, base = 0; m < count; m++, base += per) {
      for (let i = 0; i < offsets.length; i++) if ((payload[base + offsets[i]!]! & F32_EXPONENT) === F32_EXPONENT) return false;
    }
    return true;
  };
}

/** What the owner knows of a kernel: its request's words and checker. */
export interface KernelWords {
  readonly words: number;
  readonly check: (payload: Uint32Array, count: number) => boolean;
}

/** The reason to refuse `call`, or undefined when it may run (`kernel` undefined: not a kernel here). */
export function refusalOf(call: Call, kernel: KernelWords | undefined): RefusalReason | undefined {
  switch (call.op) {
    case CallOp.TELL:
    case CallOp.ASK:
      if (!kernel) return 'unknown-kernel';
      if (call.words !== kernel.words || call.payload.length !== call.count * call.words) return 'count-mismatch';
      return kernel.check(call.payload, call.count) ? undefined : 'schema';
    case CallOp.SNAPSHOT:
    case CallOp.TERMINATE:
      if (!kernel) return 'unknown-kernel';
      return call.count === 0 && call.words === 0 && call.payload.length === 0 ? undefined : 'count-mismatch';
    case CallOp.SET_TIMER:
    case CallOp.CLEAR_TIMER:
      if (!kernel) return 'unknown-kernel';
      return call.count === 1 && call.words === TIMER_RECORD_WORDS && call.payload.length === TIMER_RECORD_WORDS ? undefined : 'count-mismatch';
    default:
      return 'bad-frame';
  }
}
