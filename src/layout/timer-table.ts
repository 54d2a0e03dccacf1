/**
 * The timer table: the one definition of an actor's timers, which live in its state.
 *
 * A kernel with `fn on_timer` keeps, after its own state fields, a hidden field
 * `rs_timers` of maxTimers entries, TIMER_ENTRY_WORDS words each:
 *
 *   word 0 ~id        the timer's id, bit-inverted: 0 is a free entry (id 0xffffffff is never a timer's)
 *   word 1 due hi     when it is due: wall-clock milliseconds (a 64-bit count, in two words)
 *   word 2 due lo
 *   word 3 every      its period in ms; 0 for a timer that fires once
 *
 * Being state, timers go wherever the state goes: checkpoints, migration, idle
 * deactivation, the store. The coordinator's timer service only indexes them (by the
 * notices set_timer leaves in the outbox) to know when to send a TIMER record; the
 * record names the timer and the due time it fires for, and the shard runs `on_timer`
 * only if the table still holds that timer for that time. So a fire sent twice, or for a
 * timer since cleared or re-armed, does nothing, and a timer fires once per due time.
 *
 * Due times are computed from the stamp of the record that armed (or fired) the timer,
 * its hybrid clock's wall milliseconds, so a replay arms the same timer for the same time.
 */
import { NO_ACTOR, SEND_HEADER_WORDS, SEND_OP_SHIFT, SendHeader } from './record.ts';
import { TIMERS_FIELD, type Schema } from './schema.ts';

/** The hidden state field (a u32 array) holding an actor's timers (named in schema.ts, which lets a stored state end with it). */
export { TIMERS_FIELD };
export const TIMER_ENTRY_WORDS = 4;
export const TimerEntry = { notId: 0, dueHi: 1, dueLo: 2, every: 3 } as const;

/** Timers an actor of a kernel with on_timer may hold at once when the kernel does not say. */
export const DEFAULT_MAX_TIMERS = 4;
/** The most a kernel may ask for (kernel option maxTimers). */
export const MAX_TIMERS = 64;
/** Never a timer's id: it marks a free entry. */
export const NO_TIMER = 0xffffffff;

/** Words of a TIMER, SET_TIMER and CLEAR_TIMER record's payload (the record needs this many at least). */
export const TIMER_RECORD_WORDS = 3;
/** TIMER record payload: [id, due hi, due lo]; SET_TIMER: [id, due in ms from now, every ms]; CLEAR_TIMER: [id]. */
export const TimerRecord = { id: 0, dueHi: 1, dueLo: 2, dueMs: 1, everyMs: 2 } as const;
/** A timer notice's payload words (its `to` word is the timer's id): [table entry, due hi, due lo]. */
export const TIMER_NOTICE_WORDS = 3;
export const TimerNotice = { entry: 0, dueHi: 1, dueLo: 2 } as const;

const TWO_32 = 0x1_0000_0000;

/** A due time (64-bit wall ms) as two words, high first: every layout above keeps it so (due hi, due lo). */
export function readMs(words: ArrayLike<number>, at: number): number {
  return words[at]! * TWO_32 + words[at + 1]!;
}

export function writeMs(words: Uint32Array, at: number, ms: number): void {
  words[at] = Math.floor(ms / TWO_32);
  words[at + 1] = ms >>> 0;
}

/**
 * Writes a timer record on its way to an actor (a fire, SET_TIMER or CLEAR_TIMER) as the
 * send record the K2K router and the links forward: to the actor, from nobody, the op in
 * the kernel word's high half, then the record's payload words.
 */
export function writeTimerSend(into: Uint32Array, actorId: number, kernelId: number, op: number, tenantId: number, payload: ArrayLike<number>): void {
  into.fill(0, 0, SEND_HEADER_WORDS);
  into[SendHeader.to] = actorId;
  into[SendHeader.kernel] = (kernelId | (op << SEND_OP_SHIFT)) >>> 0;
  into[SendHeader.source] = NO_ACTOR;
  into[SendHeader.tenant] = tenantId;
  for (let i = 0; i < payload.length; i++) into[SEND_HEADER_WORDS + i] = payload[i]!;
}

/** The schema a kernel's actors keep: its state, then the timer table when it has timers. */
export function storedStateSchema(state: Schema, maxTimers: number): Schema {
  return maxTimers > 0 ? { ...state, [TIMERS_FIELD]: ['u32', maxTimers * TIMER_ENTRY_WORDS] } : state;
}

/** Wall-clock milliseconds of a hybrid clock stamp (src/coordinator/hlc.ts). */
export function wallMsOf(hlcHi: number, hlcLo: number): number {
  return hlcHi * 0x10000 + (hlcLo >>> 16);
}

/**
 * An actor's timer table as words (at `at` in `words`): what the TS reference runs on,
 * with the same rules as the generated WGSL (src/kernels/timer-wgsl.ts).
 */
export class TimerTable {
  constructor(
    private words: Uint32Array,
    private at: number,
    /** Entries the table has: the kernel's maxTimers (0: it has no timers). */
    public max: number,
  ) {}

  /** Points the table at another actor's words (of a kernel with `max` timers). */
  moveTo(words: Uint32Array, at: number, max = this.max): void {
    this.words = words;
    this.at = at;
    this.max = max;
  }

  /** The entry holding timer `id`, or -1. */
  entryOf(id: number): number {
    const w = this.words;
    const notId = ~id >>> 0;
    for (let k = 0; k < this.max; k++) if (w[this.at + k * TIMER_ENTRY_WORDS] === notId) return k;
    return -1;
  }

  idAt(entry: number): number | undefined {
    const notId = this.words[this.at + entry * TIMER_ENTRY_WORDS]!;
    return notId === 0 ? undefined : ~notId >>> 0;
  }

  dueAt(entry: number): number {
    return readMs(this.words, this.at + entry * TIMER_ENTRY_WORDS + TimerEntry.dueHi);
  }

  everyAt(entry: number): number {
    return this.words[this.at + entry * TIMER_ENTRY_WORDS + TimerEntry.every]!;
  }

  /** Arms (or re-arms) timer `id` for `dueMs` (absolute); the entry, or -1 when the table is full. */
  arm(id: number, dueMs: number, everyMs: number): number {
    let k = this.entryOf(id);
    if (k < 0) {
      const w = this.words;
      for (let j = 0; j < this.max && k < 0; j++) if (w[this.at + j * TIMER_ENTRY_WORDS] === 0) k = j;
      if (k < 0) return -1;
    }
    this.write(k, id, dueMs, everyMs);
    return k;
  }

  private write(k: number, id: number, dueMs: number, everyMs: number): void {
    const o = this.at + k * TIMER_ENTRY_WORDS;
    const w = this.words;
    w[o + TimerEntry.notId] = ~id >>> 0;
    writeMs(w, o + TimerEntry.dueHi, dueMs);
    w[o + TimerEntry.every] = everyMs;
  }

  /** Clears timer `id`; false when none was armed. */
  clear(id: number): boolean {
    const k = this.entryOf(id);
    if (k < 0) return false;
    this.words.fill(0, this.at + k * TIMER_ENTRY_WORDS, this.at + (k + 1) * TIMER_ENTRY_WORDS);
    return true;
  }

  /**
   * A TIMER record for timer `id` due at `dueMs`, handled at `nowMs`: the entry it fires,
   * with the timer advanced (once: cleared; periodic: its next due time, or `every` from
   * now when that is past already), or -1 when the table does not hold that timer for
   * that time (nothing fires).
   */
  fire(id: number, dueMs: number, nowMs: number): number {
    const k = this.entryOf(id);
    if (k < 0 || this.dueAt(k) !== dueMs) return -1;
    const every = this.everyAt(k);
    if (every === 0) this.clear(id);
    else {
      let next = dueMs + every;
      if (next <= nowMs) next = nowMs + every;
      this.write(k, id, next, every);
    }
    return k;
  }
}

/** The armed timers of a stored state (the table at word `at`): [entry, timer id, due ms] per timer. */
export function armedTimers(state: Uint32Array, at: number, max: number): number[] {
  const table = new TimerTable(state, at, max);
  const out: number[] = [];
  if (state.length < at + max * TIMER_ENTRY_WORDS) return out;
  for (let k = 0; k < max; k++) {
    const id = table.idAt(k);
    if (id !== undefined) out.push(k, id, table.dueAt(k));
  }
  return out;
}

/** ctx.timer_late_ms: how late a fire is, in ms, clamped to a u32. */
export function lateMs(dueMs: number, nowMs: number): number {
  return nowMs <= dueMs ? 0 : Math.min(nowMs - dueMs, 0xffffffff);
}
