/**
 * The asks of one shard that wait for replies. A shard answers strictly in ring order
 * (batches complete in order, replies leave in record order), so pending asks form a
 * FIFO: each reply belongs to the oldest entry, and no map from correlation id to promise
 * is needed. An askMany is one entry covering a run of consecutive correlation ids.
 *
 * A reply older than the oldest entry is a duplicate (a record replayed after a worker
 * was replaced) and is dropped, so no ask is answered twice.
 */
import type { Codec } from '../layout/codec.ts';
import { ErrorCode, RingshardError } from '../errors.ts';
import { Status } from '../layout/record.ts';
import type { ReplySink } from '../coordinator/shard-link.ts';

export interface PendingAsk {
  /** Correlation id of the first record. */
  readonly base: number;
  readonly count: number;
  received: number;
  /** Decodes a reply payload; none for records whose reply carries no payload. */
  readonly codec: Codec | undefined;
  /** One value for ask/snapshot/terminate, an array for askMany. */
  readonly many: boolean;
  /** An askMany whose replies go into typed columns instead of `values`. */
  readonly sink: ReplySink | undefined;
  values: unknown[] | undefined;
  value: unknown;
  failures: Array<{ index: number; status: number; reason?: string }> | undefined;
  /** performance.now() after which the ask fails with ERR_RINGSHARD_TIMEOUT. */
  readonly deadline: number;
  readonly timeoutMs: number;
  /** Settled early (timed out, or the shard failed): later replies are dropped. */
  settled: boolean;
  /** For messages: "ask to kernel 'counter' actor 'user-42'". */
  readonly what: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  /** Runs when the last reply arrived, before the promise settles. */
  readonly onDone?: ((entry: PendingAsk) => void) | undefined;
}

/**
 * The error for a record's non-OK status. `reason`: why, where the shard said
 * (Status.REFERENCE_FAILED: "kernel 'k' reference threw: ...").
 */
export function statusError(what: string, status: number, reason?: string): RingshardError {
  if (status === Status.REFERENCE_FAILED) {
    return new RingshardError(
      ErrorCode.HANDLER,
      `${what} failed: ${reason ?? "its kernel's TS reference threw or returned a value that does not fit the kernel's schema (why was not kept: more failures followed on its shard)"}; the actor's state is as it was before the message`,
    );
  }
  if (status === Status.BUDGET) {
    return new RingshardError(
      ErrorCode.BUDGET,
      `${what} failed: its handler ran out of loop iterations (options.maxLoopIterations), so it was stopped and the actor's state left as it was before the message`,
    );
  }
  if (status === Status.FORBIDDEN) {
    return new RingshardError(
      ErrorCode.FORBIDDEN,
      `${what} was refused by its handler (STATUS_FORBIDDEN): the actor's state is as it was before the message, and nothing it sent was delivered`,
    );
  }
  if (status === Status.QUARANTINED) {
    return new RingshardError(
      ErrorCode.QUARANTINED,
      `${what} was refused: the actor is quarantined, because its messages hung its shard's dispatch for longer than maxDispatchMs again after a replay`,
    );
  }
  if (status === Status.REJECTED) {
    return new RingshardError(
      ErrorCode.HANDLER,
      `${what} was rejected by its shard: the actor is not active there for this kernel and tenant`,
    );
  }
  return new RingshardError(ErrorCode.HANDLER, `${what} failed: the handler set status ${status}`);
}

export class PendingReplies {
  private items: Array<PendingAsk | undefined> = new Array(64);
  private head = 0;
  private tail = 0;
  private mask = 63;
  /** Entries not yet settled (what keeps a caller waiting). */
  unsettled = 0;
  /** Replies that matched no entry (duplicates after a replay, or strays). */
  dropped = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  /** Why the record of this correlation id failed with Status.REFERENCE_FAILED (cpu backend), if still known. */
  explain: ((correlation: number) => string | undefined) | undefined;

  get size(): number {
    return this.tail - this.head;
  }

  push(entry: PendingAsk): void {
    if (this.tail - this.head === this.items.length) this.grow();
    this.items[this.tail & this.mask] = entry;
    this.tail++;
    this.unsettled++;
    if (entry.deadline < this.timerAt) this.armTimer(entry.deadline);
  }

  private grow(): void {
    const size = this.items.length * 2;
    const next: Array<PendingAsk | undefined> = new Array(size);
    for (let i = this.head; i < this.tail; i++) next[i - this.head] = this.items[i & this.mask];
    this.tail -= this.head;
    this.head = 0;
    this.items = next;
    this.mask = size - 1;
  }

  /** Routes one reply. `offset` is the reply payload's word offset in `words`. */
  deliver(correlation: number, status: number, words: Uint32Array, floats: Float32Array, offset: number): void {
    for (;;) {
      const entry = this.items[this.head & this.mask];
      if (this.head === this.tail || entry === undefined) {
        this.dropped++;
        return;
      }
      const index = (correlation - entry.base) | 0;
      if (index < entry.received) {
        this.dropped++; // older than what this entry waits for: a duplicate
        return;
      }
      if (index >= entry.count) {
        // Its replies can no longer come (they would have arrived in order): fail it.
        this.settle(entry, new RingshardError(ErrorCode.WORKER_EXIT, `${entry.what}: replies went missing`));
        this.pop();
        continue;
      }
      entry.received = index + 1;
      if (!entry.settled) {
        if (status !== Status.OK) {
          const reason = status === Status.REFERENCE_FAILED ? this.explain?.(correlation) : undefined;
          (entry.failures ??= []).push(reason === undefined ? { index, status } : { index, status, reason });
        } else if (entry.sink !== undefined) {
          entry.sink.put(index, words, floats, offset);
        } else if (entry.codec) {
          const value = entry.codec.decode(words, floats, offset);
          if (entry.many) entry.values![index] = value;
          else entry.value = value;
        }
      }
      if (entry.received === entry.count) {
        this.pop();
        this.complete(entry);
      }
      return;
    }
  }

  private pop(): void {
    this.items[this.head & this.mask] = undefined;
    this.head++;
  }

  private complete(entry: PendingAsk): void {
    entry.onDone?.(entry);
    if (entry.settled) return;
    if (entry.failures) {
      const first = entry.failures[0]!;
      const error = statusError(entry.many ? `${entry.what} (message ${first.index})` : entry.what, first.status, first.reason);
      if (entry.many) {
        Object.assign(error, { failures: entry.failures, replies: entry.sink ? entry.sink.result() : entry.values });
        error.message += ` (${entry.failures.length} of ${entry.count} messages failed; see error.failures)`;
      }
      this.settle(entry, error);
      return;
    }
    entry.settled = true;
    this.unsettled--;
    entry.resolve(entry.sink ? entry.sink.result() : entry.many ? entry.values : entry.value);
  }

  /** Fails one entry now (e.g. its record could not be sent); its replies, if any, are dropped. */
  settle(entry: PendingAsk, error: Error): void {
    if (entry.settled) return;
    entry.settled = true;
    this.unsettled--;
    entry.reject(error);
  }

  /** Rejects every waiting entry (the shard is gone) and forgets them all. */
  rejectAll(error: Error): void {
    for (let i = this.head; i < this.tail; i++) {
      const entry = this.items[i & this.mask];
      if (entry) this.settle(entry, error);
      this.items[i & this.mask] = undefined;
    }
    this.head = this.tail = 0;
    this.clearTimer();
  }

  private armTimer(at: number): void {
    this.clearTimer();
    if (!Number.isFinite(at)) return;
    this.timerAt = at;
    // Unref'd: waiting asks alone do not keep a process alive (the shard workers do).
    this.timer = setTimeout(() => this.expire(), Math.max(0, at - performance.now())).unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  // Timeouts are rare: one timer for the earliest deadline, and a scan when it fires.
  private expire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (let i = this.head; i < this.tail; i++) {
      const entry = this.items[i & this.mask];
      if (!entry || entry.settled) continue;
      if (entry.deadline <= now) {
        this.settle(entry, new RingshardError(ErrorCode.TIMEOUT, `${entry.what} timed out after ${entry.timeoutMs} ms`));
      } else if (entry.deadline < next) {
        next = entry.deadline;
      }
    }
    if (next < Infinity) this.armTimer(next);
  }
}
