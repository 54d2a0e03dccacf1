/**
 * The record layout: the one definition of what a message and a reply look like in a
 * ring slot and in GPU memory. Coordinator, shard worker, TS codecs and the generated
 * WGSL all read their offsets from here.
 *
 * Request record (one ring slot; every cell is one u32 word):
 *
 *   word  0 target       on the ring: where the actor lives now, shard << 24 | state slot;
 *                        in the batch the GPU reads, the shard's grouper has put the
 *                        actor's id here (cluster-wide, stable while it lives: ctx.actor)
 *   word  1 kernelOp     kernel id << 16 | op (OP_MESSAGE, OP_INIT, ...)
 *   word  2 correlation  reply correlation id; 0 for tell (no reply wanted)
 *   word  3 source       sending actor's id, NO_ACTOR for messages from outside;
 *                        INIT and IMPORT: the id of the actor that arrives
 *   word  4 tenant       tenant id the coordinator checked
 *   word  5 principal    principal id the coordinator checked; IMPORT: the part's offset
 *   word  6 roles        the principal's role bits (cluster roles, bit i = roles[i])
 *   word  7 hlcHi        hybrid logical clock: wall milliseconds >> 16
 *   word  8 hlcLo        (wall milliseconds & 0xffff) << 16 | logical counter
 *   word  9 enqueuedUs   enqueue time, microseconds since the cluster epoch (mod 2^32)
 *   word 10.. payload    the kernel's request schema, packed words
 *
 * An actor's id is not its location: the coordinator's directory maps ids to locations
 * and the shard learns an actor's id when it arrives (INIT, IMPORT), so a record needs
 * one word to say where it goes, and a migration changes only that word.
 *
 * IMPORT records carry an arriving actor's state in parts: the payload holds the state's
 * words from word offset `principal` on (as many as a slot's payload holds), and the
 * parts follow each other in the ring, the first (offset 0) activating the slot.
 *
 * A message's id is its index in the shard's request ring (a monotonic u32), so it needs
 * no header word and stays the same when a record is replayed.
 *
 * Reply record:
 *
 *   word 0 correlation   copied from the request
 *   word 1 target        copied from the request (where the actor was)
 *   word 2 status        Status.OK, Status.REJECTED or the handler's own non-zero code
 *   word 3 enqueuedUs    copied from the request, for latency accounting
 *   word 4.. payload     reply schema (OP_MESSAGE) or state schema (SNAPSHOT, SHUTDOWN, EXPORT)
 *
 * Send record (a kernel-to-kernel message on its way out, in the same reply ring; its
 * correlation word is 0, which no reply has, since tells get no reply):
 *
 *   word  0 correlation  0: this is a send
 *   word  1 to           the receiving actor's id (as the handler gave it)
 *   word  2 kernel       the kernel the sender declared for it (its `sends` entry)
 *   word  3 cause        message id (request ring index) of the message that sent it
 *   word  4 ordinal      the send's number within that message (0, 1, ...)
 *   word  5 source       the sending actor's id (the receiver's ctx.source)
 *   word  6 tenant       the sending actor's tenant (a send never crosses tenants)
 *   word  7 principal    the sending message's principal and role bits: a chain of
 *   word  8 roles          messages acts on behalf of the caller that started it
 *   word  9 hlcHi        the sending message's clock, merged by the receiver's
 *   word 10 hlcLo
 *   word 11.. payload    the receiving kernel's request schema
 *
 * The kernel word holds the receiving kernel's id in its low 16 bits and the op the
 * forwarded record gets in the high 16 (0: OP_MESSAGE, the only op a handler sends;
 * ringshard's timer fires carry OP_TIMER). TIMER_NOTICE there marks a timer notice, not
 * a message: the actor armed a timer (to: the timer's id; payload: the timer table's
 * slot and the due time), which the coordinator's timer service indexes.
 *
 * (cause, ordinal) orders a shard's sends: a replay after recovery sends again what its
 * predecessor sent already, and the coordinator drops those by it (exactly once).
 */

/** Header fields of a request record, in word order. */
export const REQUEST_HEADER_FIELDS = [
  'target',
  'kernelOp',
  'correlation',
  'source',
  'tenant',
  'principal',
  'roles',
  'hlcHi',
  'hlcLo',
  'enqueuedUs',
] as const;

/** Header fields of a reply record, in word order. */
export const REPLY_HEADER_FIELDS = ['correlation', 'target', 'status', 'enqueuedUs'] as const;

/** Header fields of a send record (a K2K message in the reply ring), in word order. */
export const SEND_HEADER_FIELDS = ['correlation', 'to', 'kernel', 'cause', 'ordinal', 'source', 'tenant', 'principal', 'roles', 'hlcHi', 'hlcLo'] as const;

type Offsets<T extends readonly string[]> = { readonly [K in T[number]]: number };

function offsetsOf<T extends readonly string[]>(fields: T): Offsets<T> {
  const out: Record<string, number> = {};
  fields.forEach((name, i) => (out[name] = i));
  return Object.freeze(out) as Offsets<T>;
}

/** Word offset of each request header field. */
export const RequestHeader = offsetsOf(REQUEST_HEADER_FIELDS);
/** Word offset of each reply header field. */
export const ReplyHeader = offsetsOf(REPLY_HEADER_FIELDS);
/** Word offset of each send header field. */
export const SendHeader = offsetsOf(SEND_HEADER_FIELDS);

export const REQUEST_HEADER_WORDS = REQUEST_HEADER_FIELDS.length;
export const REPLY_HEADER_WORDS = REPLY_HEADER_FIELDS.length;
export const SEND_HEADER_WORDS = SEND_HEADER_FIELDS.length;

/** A ring slot is at most this many bytes; schemas are checked against it. */
export const MAX_SLOT_BYTES = 1024;
export const WORD_BYTES = 4;
/** Largest request, reply or state schema, in words. */
export const MAX_PAYLOAD_WORDS = MAX_SLOT_BYTES / WORD_BYTES - REQUEST_HEADER_WORDS;

/** What a record asks the shard to do with the target actor. */
export const Op = {
  /** Run `handle` with the payload; reply if correlation != 0. */
  MESSAGE: 0,
  /** Zero the actor's state and run `init`: the first record an actor ever sees. */
  INIT: 1,
  /** Run `shutdown`, reply with the final state; the slot may then be reused. */
  SHUTDOWN: 2,
  /** Reply with the current state, unchanged. */
  SNAPSHOT: 3,
  /** Reply with the state and free the slot, without running `shutdown`: the actor moves. */
  EXPORT: 4,
  /** Take (a part of) the state from the payload, without running `init`: the actor arrives. */
  IMPORT: 5,
  /**
   * A timer came due (src/layout/timer-table.ts): payload [timer id, due hi, due lo]. Runs
   * `on_timer` if the actor's timer of that id is still armed for that due time, else
   * does nothing (Status.TIMER_NOT_DUE): so a fire is handled once however often it is sent.
   */
  TIMER: 6,
  /** Arms a timer from outside (ref.setTimer): payload [timer id, due ms, every ms]. */
  SET_TIMER: 7,
  /** Clears a timer from outside (ref.clearTimer): payload [timer id]. */
  CLEAR_TIMER: 8,
} as const;
export type Op = (typeof Op)[keyof typeof Op];

/**
 * Outcome of one record, in the reply's status word. Any other value is the non-zero
 * code a handler stored in ctx.status (1 .. MAX_USER_STATUS; larger codes are clamped to it).
 */
export const Status = {
  OK: 0,
  /**
   * A TIMER record for a timer no longer armed for that due time (cleared, re-armed, or
   * fired already): nothing ran. SET_TIMER: the actor's timer table is full (maxTimers).
   */
  TIMER_NOT_DUE: 0xfffffffa,
  /**
   * cpu backend: the kernel's TS reference threw, or returned (or left as state) a value
   * that does not fit the kernel's schema; the state is as it was before the message, and
   * the ask's ERR_RINGSHARD_HANDLER says why (src/kernels/reference-errors.ts). The GPU
   * never reports it.
   */
  REFERENCE_FAILED: 0xfffffffb,
  /**
   * The message was refused: handle_secure set STATUS_FORBIDDEN (its state changes and
   * sends are discarded), and the ask rejects with ERR_RINGSHARD_FORBIDDEN.
   */
  FORBIDDEN: 0xfffffffc,
  /** The actor is quarantined: its messages hung the shard's dispatch (maxDispatchMs) again and again. */
  QUARANTINED: 0xfffffffd,
  /** The handler (or hook) spent its loop budget (maxLoopIterations); its changes were undone. */
  BUDGET: 0xfffffffe,
  /** The shard refused the record: the actor slot is not active, or not for this kernel or tenant. */
  REJECTED: 0xffffffff,
} as const;

/** The largest code a handler's own status may have; the codes above it are ringshard's. */
export const MAX_USER_STATUS = 0xfffffff9;

export const KERNEL_ID_SHIFT = 16;
export const OP_MASK = 0xffff;
export const MAX_KERNELS = 1 << 16;

/** A send record's kernel word: kernel id | op << SEND_OP_SHIFT. */
export const SEND_OP_SHIFT = 16;
/** A send record's kernel word for a timer notice (see the send record above). */
export const TIMER_NOTICE = 0xffffffff;

/** A location (the header's target word, on the ring) is a shard and a state slot in it. */
export const ACTOR_SLOT_BITS = 24;
export const ACTOR_SLOT_MASK = (1 << ACTOR_SLOT_BITS) - 1;
export const MAX_SHARDS = 1 << (32 - ACTOR_SLOT_BITS);
/** No actor: the source of messages from outside the cluster; never an actor's id. */
export const NO_ACTOR = 0xffffffff;

export function actorLocation(shard: number, slot: number): number {
  return ((shard << ACTOR_SLOT_BITS) | slot) >>> 0;
}

export function kernelOp(kernel: number, op: Op): number {
  return ((kernel << KERNEL_ID_SHIFT) | op) >>> 0;
}

/** Slot words for a request ring whose largest request payload is `payloadWords`. */
export function requestSlotWords(payloadWords: number): number {
  return REQUEST_HEADER_WORDS + payloadWords;
}

/**
 * Slot words for a reply ring whose largest reply or state payload is `payloadWords`
 * and whose largest send payload (a receiving kernel's request) is `sendPayloadWords`.
 */
export function replySlotWords(payloadWords: number, sendPayloadWords = -1): number {
  return Math.max(REPLY_HEADER_WORDS + payloadWords, sendPayloadWords < 0 ? 0 : SEND_HEADER_WORDS + sendPayloadWords);
}
