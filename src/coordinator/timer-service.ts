/**
 * The coordinator's timer service: an index of every armed timer's next due time, so
 * that a due timer is sent to its actor as a TIMER record (src/layout/timer-table.ts).
 *
 * Timers themselves live in their actors' state; this index learns of them from the
 * notices set_timer (and each fire of a periodic timer) leaves in the outbox, keyed by
 * actor and table entry (DueIndex: typed arrays, no object per timer). One entry per
 * armed timer: a re-arm moves it in the heap, a clear leaves it until it comes due (its
 * TIMER record then finds nothing and does nothing). So the cost grows with the timers that come due, not with those armed: one
 * Node timer waits for the earliest, and nothing runs per batch.
 *
 * A fire goes through the K2K router's delivery (by actor id: to wherever the actor lives,
 * reactivating a deactivated one) as a send record whose kernel word carries OP_TIMER.
 */
import { Op, SEND_HEADER_WORDS } from '../layout/record.ts';
import { MAX_TIMERS, TIMER_RECORD_WORDS, TimerRecord, writeMs, writeTimerSend } from '../layout/timer-table.ts';
import { DueIndex } from './due-index.ts';

/** Due timers sent per turn of the event loop at most; the rest follow on the next turn. */
const FIRES_PER_TURN = 16_384;
/** setTimeout's longest delay. */
const MAX_DELAY_MS = 2 ** 31 - 1;

export class TimerService {
  private readonly index = new DueIndex();
  private wake: NodeJS.Timeout | undefined;
  private wakeAt = Infinity;
  private closed = false;
  /** The send record a fire is built in (the router copies what it keeps), and its payload. */
  private readonly record: Uint32Array;
  private readonly payload = new Uint32Array(TIMER_RECORD_WORDS);
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
    return this.index.size;
  }

  /** An actor armed timer `timerId` in table entry `entry`, due at `dueMs`. */
  notice(actorId: number, entry: number, timerId: number, dueMs: number): void {
    if (this.closed || entry >= MAX_TIMERS) return;
    this.index.set(actorId, entry, timerId, dueMs);
    this.schedule();
  }

  /** An actor's armed timers as a state holds them: [table entry, timer id, due ms] per timer (timer-table.ts armedTimers). */
  noticeAll(actorId: number, armed: readonly number[]): void {
    for (let i = 0; i + 2 < armed.length; i += 3) this.notice(actorId, armed[i]!, armed[i + 1]!, armed[i + 2]!);
  }

  /** Drops an actor's timers (it was terminated: its ids are never used again). */
  forget(actorId: number): void {
    for (let k = 0; k < MAX_TIMERS; k++) this.index.delete(actorId, k);
  }

  /** Sends every timer due by now (at most FIRES_PER_TURN; the rest on the next turn). */
  fireDue(): number {
    const now = this.now();
    const index = this.index;
    let n = 0;
    while (index.size > 0 && index.nextDue <= now && n < FIRES_PER_TURN) {
      if (!this.send(index.topActor, index.topTimer, index.nextDue)) {
        // Its shard has no room (ring and K2K queue full): the rest wait for the next wake.
        this.full = true;
        break;
      }
      index.pop();
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
    this.index.clear();
  }

  private send(actorId: number, timerId: number, dueMs: number): boolean {
    const payload = this.payload;
    payload[TimerRecord.id] = timerId;
    writeMs(payload, TimerRecord.dueHi, dueMs);
    // Kernel and tenant 0: the router puts in the actor's (it finds the actor by id).
    writeTimerSend(this.record, actorId, 0, Op.TIMER, 0, payload);
    return this.deliver(this.record, 0);
  }

  private readonly onWake = (): void => {
    this.wake = undefined;
    this.wakeAt = Infinity;
    this.fireDue();
    this.schedule();
  };

  /** One Node timer, for the earliest due time (or the next turn, when fires are left). */
  private schedule(): void {
    if (this.closed || this.index.size === 0) return;
    // After a full shard: again in a millisecond (its worker drains the ring meanwhile).
    const at = this.full ? this.now() + 1 : this.index.nextDue;
    this.full = false;
    if (this.wake !== undefined && this.wakeAt <= at) return;
    if (this.wake !== undefined) clearTimeout(this.wake);
    this.wakeAt = at;
    this.wake = setTimeout(this.onWake, Math.min(MAX_DELAY_MS, Math.max(0, Math.ceil(at - this.now()))));
    this.wake.unref();
  }
}
