/**
 * The coordinator's timer service: an index of every armed timer's next due time, so
 * that a due timer is sent to its actor as a TIMER record (src/layout/timer-table.ts).
 *
 * Timers themselves live in their actors' state; this index learns of them from the
 * notices set_timer (and each fire of a periodic timer) leaves in the outbox, keyed by
 * actor and table entry. One entry per armed timer: a re-arm moves it in the heap, a
 * clear leaves it until it comes due (its TIMER record then finds nothing and does
 * nothing). So the cost grows with the timers that come due, not with those armed: one
 * Node timer waits for the earliest, and nothing runs per batch.
 *
 * A fire goes through the K2K router's delivery (by actor id: to wherever the actor lives,
 * reactivating a deactivated one) as a send record whose kernel word carries OP_TIMER.
 */
import { NO_ACTOR, Op, SEND_HEADER_WORDS, SEND_OP_SHIFT, SendHeader } from '../layout/record.ts';
import { MAX_TIMERS, TIMER_RECORD_WORDS, TimerRecord } from '../layout/timer-table.ts';

interface Due {
  /** actorId * MAX_TIMERS + table entry. */
  readonly key: number;
  actorId: number;
  timerId: number;
  dueMs: number;
  /** Where it is in the heap. */
  at: number;
}

/** Due timers sent per turn of the event loop at most; the rest follow on the next turn. */
const FIRES_PER_TURN = 16_384;
/** setTimeout's longest delay. */
const MAX_DELAY_MS = 2 ** 31 - 1;

export class TimerService {
  private readonly byKey = new Map<number, Due>();
  private readonly heap: Due[] = [];
  private wake: NodeJS.Timeout | undefined;
  private wakeAt = Infinity;
  private closed = false;
  /** The send record a fire is built in (the router copies what it keeps). */
  private readonly record: Uint32Array;
  /** TIMER records sent (a fire the shard finds stale included). */
  fired = 0;

  constructor(
    /** Delivers a fire (a send record at word `o`) to its actor: the K2K router's timer path; false: no room now. */
    private readonly deliver: (words: Uint32Array, o: number) => boolean,
    payloadWords: number,
    /** Wall-clock milliseconds, the clock record stamps are read against. */
    private readonly now: () => number = () => performance.timeOrigin + performance.now(),
  ) {
    this.record = new Uint32Array(SEND_HEADER_WORDS + Math.max(payloadWords, TIMER_RECORD_WORDS));
  }

  /** Armed timers the index holds (cleared ones included until they come due). */
  get size(): number {
    return this.byKey.size;
  }

  /** The earliest due time, or Infinity. */
  get nextDueMs(): number {
    return this.heap.length > 0 ? this.heap[0]!.dueMs : Infinity;
  }

  /** An actor armed timer `timerId` in table entry `entry`, due at `dueMs`. */
  notice(actorId: number, entry: number, timerId: number, dueMs: number): void {
    if (this.closed || entry >= MAX_TIMERS) return;
    const key = actorId * MAX_TIMERS + entry;
    let due = this.byKey.get(key);
    if (due === undefined) {
      due = { key, actorId, timerId, dueMs, at: this.heap.length };
      this.byKey.set(key, due);
      this.heap.push(due);
      this.up(due.at);
    } else {
      const earlier = dueMs < due.dueMs;
      due.timerId = timerId;
      due.dueMs = dueMs;
      if (earlier) this.up(due.at);
      else this.down(due.at);
    }
    this.schedule();
  }

  /** Drops an actor's timers (it was terminated: its ids are never used again). */
  forget(actorId: number): void {
    for (let k = 0; k < MAX_TIMERS; k++) {
      const due = this.byKey.get(actorId * MAX_TIMERS + k);
      if (due !== undefined) this.remove(due);
    }
  }

  /** Sends every timer due by now (at most FIRES_PER_TURN; the rest on the next turn). */
  fireDue(): number {
    const now = this.now();
    const heap = this.heap;
    let n = 0;
    while (heap.length > 0 && heap[0]!.dueMs <= now && n < FIRES_PER_TURN) {
      const due = heap[0]!;
      if (!this.send(due)) {
        // Its shard has no room (ring and K2K queue full): the rest wait for the next wake.
        this.full = true;
        break;
      }
      this.remove(due);
      n++;
    }
    this.fired += n;
    return n;
  }

  /** The last round stopped at a full shard: the next wake comes soon, not at a due time. */
  private full = false;

  close(): void {
    this.closed = true;
    if (this.wake) clearTimeout(this.wake);
    this.wake = undefined;
    this.byKey.clear();
    this.heap.length = 0;
  }

  private send(due: Due): boolean {
    const w = this.record;
    w.fill(0);
    w[SendHeader.to] = due.actorId;
    // The router puts in the actor's kernel and tenant (it finds the actor by id).
    w[SendHeader.kernel] = (Op.TIMER << SEND_OP_SHIFT) >>> 0;
    w[SendHeader.source] = NO_ACTOR;
    w[SEND_HEADER_WORDS + TimerRecord.id] = due.timerId;
    w[SEND_HEADER_WORDS + TimerRecord.dueHi] = Math.floor(due.dueMs / 0x1_0000_0000);
    w[SEND_HEADER_WORDS + TimerRecord.dueLo] = due.dueMs >>> 0;
    return this.deliver(w, 0);
  }

  private readonly onWake = (): void => {
    this.wake = undefined;
    this.wakeAt = Infinity;
    this.fireDue();
    this.schedule();
  };

  /** One Node timer, for the earliest due time (or the next turn, when fires are left). */
  private schedule(): void {
    if (this.closed || this.heap.length === 0) return;
    // After a full shard: again in a millisecond (its worker drains the ring meanwhile).
    const at = this.full ? this.now() + 1 : this.heap[0]!.dueMs;
    this.full = false;
    if (this.wake !== undefined && this.wakeAt <= at) return;
    if (this.wake !== undefined) clearTimeout(this.wake);
    this.wakeAt = at;
    this.wake = setTimeout(this.onWake, Math.min(MAX_DELAY_MS, Math.max(0, Math.ceil(at - this.now()))));
    this.wake.unref();
  }

  private remove(due: Due): void {
    this.byKey.delete(due.key);
    const heap = this.heap;
    const last = heap.pop()!;
    if (last === due) return;
    heap[due.at] = last;
    last.at = due.at;
    this.up(last.at);
    this.down(last.at);
  }

  private up(i: number): void {
    const heap = this.heap;
    const item = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (p.dueMs <= item.dueMs) break;
      heap[i] = p;
      p.at = i;
      i = parent;
    }
    heap[i] = item;
    item.at = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap[child + 1]!.dueMs < heap[child]!.dueMs) child++;
      const c = heap[child]!;
      if (c.dueMs >= item.dueMs) break;
      heap[i] = c;
      c.at = i;
      i = child;
    }
    heap[i] = item;
    item.at = i;
  }
}
