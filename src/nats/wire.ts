/**
 * What travels between nodes: calls (messages for actors, as the same u32 payload words
 * the rings carry, many to a NATS message) and their replies. A call names its actor by
 * kernel, tenant and key, and its caller by principal name and role bits: process-local
 * ids (actor ids, interned tenants and principals) never leave a node.
 *
 * Frame: u32 magic, u32 byte length of a JSON header, the header (padded to 4 bytes),
 * then the calls' or replies' words. The journal stores calls in the same frames.
 *
 *   call:  id, epoch, op, kernel, tenant, key, principal (indices into header.strings),
 *          roles, source, hlcHi, hlcLo, count, words per message, then count x words
 *          payload words
 *   reply: id, status, n, then n words (the replies' or the state's payload words)
 */
import { ErrorCode } from '../errors.ts';

const CALL_MAGIC = 0x52534331; // 'RSC1'
const REPLY_MAGIC = 0x52535231; // 'RSR1'

export const CallOp = { TELL: 0, ASK: 1, SNAPSHOT: 2, TERMINATE: 3 } as const;
export type CallOp = (typeof CallOp)[keyof typeof CallOp];

export interface Call {
  /** Unique per sender (`from`) incarnation: with it, the call's id for deduplication. */
  readonly id: number;
  /** The sender's route epoch for this actor: a refusal refuses the rest of the epoch. */
  readonly epoch: number;
  readonly op: CallOp;
  readonly kernel: string;
  readonly tenant: string;
  readonly key: string;
  readonly principal: string;
  readonly roles: number;
  /** The sending actor's cluster-wide id (a K2K message), NO_ACTOR from outside. */
  readonly source: number;
  /** The sender's clock (K2K: the receiver's clock is merged past it); 0, 0 for none. */
  readonly hlcHi: number;
  readonly hlcLo: number;
  /** Messages (TELL, ASK), each `words` payload words. */
  readonly count: number;
  readonly words: number;
  readonly payload: Uint32Array;
}

export const ReplyStatus = { OK: 0, NOT_OWNER: 1, ERROR: 2 } as const;
export type ReplyStatus = (typeof ReplyStatus)[keyof typeof ReplyStatus];

export interface Reply {
  readonly id: number;
  readonly status: ReplyStatus;
  readonly payload: Uint32Array;
  readonly error?: { readonly code: ErrorCode | string; readonly message: string };
}

const CALL_HEAD = 13;

function frame(magic: number, header: unknown, words: number): { out: Uint32Array; at: number } {
  const json = Buffer.from(JSON.stringify(header));
  const padded = (json.length + 3) & ~3;
  const out = new Uint32Array(2 + padded / 4 + words);
  out[0] = magic;
  out[1] = json.length;
  new Uint8Array(out.buffer).set(json, 8);
  return { out, at: 2 + padded / 4 };
}

function open(data: Uint8Array, magic: number, what: string): { header: any; words: Uint32Array; at: number } {
  // The words must be 4-byte aligned: copy when NATS hands us an unaligned view.
  const bytes = data.byteOffset % 4 === 0 && data.byteLength % 4 === 0 ? data : new Uint8Array(data);
  if (bytes.byteLength < 8 || bytes.byteLength % 4 !== 0) throw new Error(`${what}: a frame of ${data.byteLength} bytes`);
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  if (words[0] !== magic) throw new Error(`${what}: not a ringshard frame`);
  const length = words[1]!;
  const header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, length).toString());
  return { header, words, at: 2 + ((length + 3) & ~3) / 4 };
}

/**
 * Encodes calls from `from` (a node's incarnation name) into one frame. A journal entry
 * holds calls of many senders: `senders` names each call's.
 */
export function encodeCalls(from: string, calls: readonly Call[], senders?: readonly string[]): Uint8Array {
  const strings: string[] = [];
  const index = new Map<string, number>();
  const s = (text: string) => {
    let i = index.get(text);
    if (i === undefined) index.set(text, (i = strings.push(text) - 1));
    return i;
  };
  let words = 0;
  for (const c of calls) words += CALL_HEAD + c.payload.length;
  const refs = calls.map((c) => [s(c.kernel), s(c.tenant), s(c.key), s(c.principal)]);
  const { out, at } = frame(CALL_MAGIC, senders ? { from, strings, senders } : { from, strings }, words);
  let o = at;
  calls.forEach((c, i) => {
    const r = refs[i]!;
    out[o] = c.id;
    out[o + 1] = c.epoch;
    out[o + 2] = c.op;
    out[o + 3] = r[0]!;
    out[o + 4] = r[1]!;
    out[o + 5] = r[2]!;
    out[o + 6] = r[3]!;
    out[o + 7] = c.roles;
    out[o + 8] = c.source;
    out[o + 9] = c.hlcHi;
    out[o + 10] = c.hlcLo;
    out[o + 11] = c.count;
    out[o + 12] = c.words;
    out.set(c.payload, o + CALL_HEAD);
    o += CALL_HEAD + c.payload.length;
  });
  return new Uint8Array(out.buffer);
}

export function decodeCalls(data: Uint8Array): { from: string; calls: Call[]; senders?: string[] } {
  const { header, words, at } = open(data, CALL_MAGIC, 'call frame');
  const strings = header.strings as string[];
  const calls: Call[] = [];
  for (let o = at; o < words.length; ) {
    const count = words[o + 11]!;
    const per = words[o + 12]!;
    const n = count * per;
    calls.push({
      id: words[o]!,
      epoch: words[o + 1]!,
      op: words[o + 2]! as CallOp,
      kernel: strings[words[o + 3]!]!,
      tenant: strings[words[o + 4]!]!,
      key: strings[words[o + 5]!]!,
      principal: strings[words[o + 6]!]!,
      roles: words[o + 7]!,
      source: words[o + 8]!,
      hlcHi: words[o + 9]!,
      hlcLo: words[o + 10]!,
      count,
      words: per,
      payload: words.slice(o + CALL_HEAD, o + CALL_HEAD + n),
    });
    o += CALL_HEAD + n;
  }
  return { from: header.from as string, calls, ...(header.senders ? { senders: header.senders as string[] } : {}) };
}

export function encodeReplies(replies: readonly Reply[]): Uint8Array {
  const errors: Record<number, Reply['error']> = {};
  let words = 0;
  for (const r of replies) {
    words += 3 + r.payload.length;
    if (r.error) errors[r.id] = r.error;
  }
  const { out, at } = frame(REPLY_MAGIC, { errors }, words);
  let o = at;
  for (const r of replies) {
    out[o] = r.id;
    out[o + 1] = r.status;
    out[o + 2] = r.payload.length;
    out.set(r.payload, o + 3);
    o += 3 + r.payload.length;
  }
  return new Uint8Array(out.buffer);
}

export function decodeReplies(data: Uint8Array): Reply[] {
  const { header, words, at } = open(data, REPLY_MAGIC, 'reply frame');
  const replies: Reply[] = [];
  for (let o = at; o < words.length; ) {
    const id = words[o]!;
    const n = words[o + 2]!;
    const error = header.errors[id];
    replies.push({ id, status: words[o + 1]! as ReplyStatus, payload: words.slice(o + 3, o + 3 + n), ...(error ? { error } : {}) });
    o += 3 + n;
  }
  return replies;
}
