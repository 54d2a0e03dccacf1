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
 *
 * Calls between nodes travel signed (signCallFrame / openSignedFrame):
 *
 *   +-------+-----------+-------+-------+---------------------------+---------------+
 *   | magic | body bytes| seq lo| seq hi| body: a call frame (above)| Ed25519 sig   |
 *   | RSS1  |  (x4)     |  rising per sender incarnation            | 64 bytes      |
 *   +-------+-----------+-------+-------+---------------------------+---------------+
 *
 * The signature covers the destination's subject and everything before it (the body's
 * header names the sender incarnation `from` and the destination incarnation `to`), so
 * a frame is good for one incarnation of one node, once: the owner refuses a sequence
 * number it has seen from that sender.
 *
 * Decoding trusts nothing: every length and index is checked against the bytes there
 * are, and a frame that does not add up throws a FrameError.
 */
import { ErrorCode } from '../errors.ts';
import { CallOp, type Call } from '../coordinator/actor-call.ts';

const CALL_MAGIC = 0x52534331; // 'RSC1'
const REPLY_MAGIC = 0x52535231; // 'RSR1'
const SIGNED_MAGIC = 0x52535331; // 'RSS1'

export { CallOp, type Call } from '../coordinator/actor-call.ts';

export const ReplyStatus = { OK: 0, NOT_OWNER: 1, ERROR: 2 } as const;
export type ReplyStatus = (typeof ReplyStatus)[keyof typeof ReplyStatus];

export interface Reply {
  readonly id: number;
  readonly status: ReplyStatus;
  readonly payload: Uint32Array;
  readonly error?: { readonly code: ErrorCode | string; readonly message: string };
}

const CALL_HEAD = 13;
const REPLY_HEAD = 3;
/** Magic, body length, sequence (2 words). */
const SIGNED_HEAD_BYTES = 16;
export const SIGNATURE_BYTES = 64;

/** A frame that does not add up (lengths, indices, magic): the serving node counts it as 'bad-frame'. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Which kind of frame the bytes claim to be, by their magic (nothing else is checked). */
export function frameKind(data: Uint8Array): 'call' | 'signed-call' | 'reply' | 'unknown' {
  if (data.byteLength < 4) return 'unknown';
  const magic = (data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24)) >>> 0;
  return magic === CALL_MAGIC ? 'call' : magic === SIGNED_MAGIC ? 'signed-call' : magic === REPLY_MAGIC ? 'reply' : 'unknown';
}

function frame(magic: number, header: unknown, words: number): { out: Uint32Array; at: number } {
  const json = Buffer.from(JSON.stringify(header));
  const padded = (json.length + 3) & ~3;
  const out = new Uint32Array(2 + padded / 4 + words);
  out[0] = magic;
  out[1] = json.length;
  new Uint8Array(out.buffer).set(json, 8);
  return { out, at: 2 + padded / 4 };
}

/** A view of the bytes as words: copied when NATS hands over an unaligned view. */
function wordsOf(data: Uint8Array, what: string): Uint32Array {
  if (data.byteLength < 8 || data.byteLength % 4 !== 0) throw new FrameError(`${what}: a frame of ${data.byteLength} bytes`);
  const bytes = data.byteOffset % 4 === 0 ? data : new Uint8Array(data);
  return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

function open(data: Uint8Array, magic: number, what: string): { header: Record<string, unknown>; words: Uint32Array; at: number } {
  const words = wordsOf(data, what);
  if (words[0] !== magic) throw new FrameError(`${what}: not a ringshard frame`);
  const length = words[1]!;
  if (length > words.byteLength - 8) throw new FrameError(`${what}: a header of ${length} bytes in a frame of ${words.byteLength}`);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(words.buffer, words.byteOffset + 8, length).toString());
  } catch {
    throw new FrameError(`${what}: its header is not JSON`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new FrameError(`${what}: its header is not an object`);
  return { header: header as Record<string, unknown>, words, at: 2 + ((length + 3) & ~3) / 4 };
}

function stringList(value: unknown, what: string, field: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new FrameError(`${what}: header.${field} is not a list of strings`);
  return value as string[];
}

/**
 * Encodes calls from `from` (a node's incarnation name) into one frame. A journal entry
 * holds calls of many senders: `senders` names each call's. `to` names the destination
 * incarnation of a call between nodes (signed with the frame).
 */
export function encodeCalls(from: string, calls: readonly Call[], extra: { readonly senders?: readonly string[]; readonly to?: string } = {}): Uint8Array {
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
  const header = { from, ...(extra.to !== undefined ? { to: extra.to } : {}), strings, ...(extra.senders ? { senders: extra.senders } : {}) };
  const { out, at } = frame(CALL_MAGIC, header, words);
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

export interface DecodedCalls {
  readonly from: string;
  /** The destination incarnation (calls between nodes). */
  readonly to?: string;
  readonly calls: Call[];
  readonly senders?: string[];
}

/** Decodes a call frame; throws a FrameError when anything in it does not add up. */
export function decodeCalls(data: Uint8Array): DecodedCalls {
  const what = 'call frame';
  const { header, words, at } = open(data, CALL_MAGIC, what);
  if (typeof header.from !== 'string') throw new FrameError(`${what}: header.from is not a string`);
  if (header.to !== undefined && typeof header.to !== 'string') throw new FrameError(`${what}: header.to is not a string`);
  const strings = stringList(header.strings, what, 'strings');
  const senders = header.senders === undefined ? undefined : stringList(header.senders, what, 'senders');
  const name = (i: number, o: number) => {
    if (i >= strings.length) throw new FrameError(`${what}: the call at word ${o} names string ${i} of ${strings.length}`);
    return strings[i]!;
  };
  const calls: Call[] = [];
  for (let o = at; o < words.length; ) {
    if (words.length - o < CALL_HEAD) throw new FrameError(`${what}: ${words.length - o} words at word ${o}, short of a call's ${CALL_HEAD}`);
    const count = words[o + 11]!;
    const per = words[o + 12]!;
    // Both are u32: their product is exact as a double up to 2^53 and compares right beyond.
    const n = count * per;
    if (n > words.length - o - CALL_HEAD) throw new FrameError(`${what}: the call at word ${o} claims ${count} x ${per} payload words; ${words.length - o - CALL_HEAD} are there`);
    calls.push({
      id: words[o]!,
      epoch: words[o + 1]!,
      op: words[o + 2]! as CallOp,
      kernel: name(words[o + 3]!, o),
      tenant: name(words[o + 4]!, o),
      key: name(words[o + 5]!, o),
      principal: name(words[o + 6]!, o),
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
  if (senders && senders.length !== calls.length) throw new FrameError(`${what}: ${senders.length} senders for ${calls.length} calls`);
  return { from: header.from, ...(header.to !== undefined ? { to: header.to as string } : {}), calls, ...(senders ? { senders } : {}) };
}

/**
 * The bytes a call frame's signature covers: the destination subject, a newline, then
 * the signed frame up to its signature (one copy: Ed25519 signs one buffer).
 */
function signedBytes(subject: string, envelope: Uint8Array, end: number): Buffer {
  const s = Buffer.from(`${subject}\n`);
  const out = Buffer.allocUnsafe(s.length + end);
  s.copy(out, 0);
  out.set(envelope.subarray(0, end), s.length);
  return out;
}

/** Wraps a call frame (`body`, from encodeCalls with `to`) for `subject`, sequence `seq`, signed by `sign`. */
export function signCallFrame(body: Uint8Array, subject: string, seq: number, sign: (data: Uint8Array) => Uint8Array): Uint8Array {
  const out = new Uint8Array(SIGNED_HEAD_BYTES + body.byteLength + SIGNATURE_BYTES);
  const head = new Uint32Array(out.buffer, 0, SIGNED_HEAD_BYTES / 4);
  head[0] = SIGNED_MAGIC;
  head[1] = body.byteLength;
  head[2] = seq % 2 ** 32;
  head[3] = Math.floor(seq / 2 ** 32);
  out.set(body, SIGNED_HEAD_BYTES);
  const end = SIGNED_HEAD_BYTES + body.byteLength;
  const signature = sign(signedBytes(subject, out, end));
  if (signature.byteLength !== SIGNATURE_BYTES) throw new Error(`a signature of ${signature.byteLength} bytes`);
  out.set(signature, end);
  return out;
}

export interface SignedFrame {
  readonly seq: number;
  /** The call frame inside (decode it with decodeCalls). */
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
  /** What the signature must cover, for the subject the frame came on. */
  signed(subject: string): Buffer;
}

/** Opens the signed envelope (lengths checked; the signature is not: see SignedFrame.signed). */
export function openSignedFrame(data: Uint8Array): SignedFrame {
  const what = 'signed call frame';
  const bytes = data.byteOffset % 4 === 0 ? data : new Uint8Array(data);
  if (bytes.byteLength < SIGNED_HEAD_BYTES + SIGNATURE_BYTES || bytes.byteLength % 4 !== 0) throw new FrameError(`${what}: a frame of ${bytes.byteLength} bytes`);
  const head = new Uint32Array(bytes.buffer, bytes.byteOffset, SIGNED_HEAD_BYTES / 4);
  if (head[0] !== SIGNED_MAGIC) throw new FrameError(`${what}: not a ringshard frame`);
  const length = head[1]!;
  if (length !== bytes.byteLength - SIGNED_HEAD_BYTES - SIGNATURE_BYTES) throw new FrameError(`${what}: a body of ${length} bytes in a frame of ${bytes.byteLength}`);
  const end = SIGNED_HEAD_BYTES + length;
  return {
    seq: head[2]! + head[3]! * 2 ** 32,
    body: bytes.subarray(SIGNED_HEAD_BYTES, end),
    signature: bytes.subarray(end),
    signed: (subject) => signedBytes(subject, bytes, end),
  };
}

export function encodeReplies(replies: readonly Reply[]): Uint8Array {
  const errors: Record<number, Reply['error']> = {};
  let words = 0;
  for (const r of replies) {
    words += REPLY_HEAD + r.payload.length;
    if (r.error) errors[r.id] = r.error;
  }
  const { out, at } = frame(REPLY_MAGIC, { errors }, words);
  let o = at;
  for (const r of replies) {
    out[o] = r.id;
    out[o + 1] = r.status;
    out[o + 2] = r.payload.length;
    out.set(r.payload, o + REPLY_HEAD);
    o += REPLY_HEAD + r.payload.length;
  }
  return new Uint8Array(out.buffer);
}

/** Decodes a reply frame; throws a FrameError when anything in it does not add up. */
export function decodeReplies(data: Uint8Array): Reply[] {
  const what = 'reply frame';
  const { header, words, at } = open(data, REPLY_MAGIC, what);
  const errors = header.errors;
  if (errors === null || typeof errors !== 'object') throw new FrameError(`${what}: header.errors is not an object`);
  const replies: Reply[] = [];
  for (let o = at; o < words.length; ) {
    if (words.length - o < REPLY_HEAD) throw new FrameError(`${what}: ${words.length - o} words at word ${o}, short of a reply's ${REPLY_HEAD}`);
    const id = words[o]!;
    const status = words[o + 1]!;
    const n = words[o + 2]!;
    if (n > words.length - o - REPLY_HEAD) throw new FrameError(`${what}: the reply at word ${o} claims ${n} words; ${words.length - o - REPLY_HEAD} are there`);
    if (status !== ReplyStatus.OK && status !== ReplyStatus.NOT_OWNER && status !== ReplyStatus.ERROR) throw new FrameError(`${what}: status ${status}`);
    const e = Object.hasOwn(errors, id) ? (errors as Record<number, unknown>)[id] : undefined;
    const error = e !== null && typeof e === 'object' ? { code: String((e as { code?: unknown }).code), message: String((e as { message?: unknown }).message) } : undefined;
    replies.push({ id, status: status as ReplyStatus, payload: words.slice(o + REPLY_HEAD, o + REPLY_HEAD + n), ...(error ? { error } : {}) });
    o += REPLY_HEAD + n;
  }
  return replies;
}
