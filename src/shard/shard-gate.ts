/**
 * Whether a shard takes a record: not once it failed for good or was closed, and not
 * for an actor the watchdog quarantined. One object, read by the request writer on
 * every record and set by the supervisor and the client's stop.
 */
import { ErrorCode, RingshardError, closedError } from '../errors.ts';

export class ShardGate {
  /** Set once the shard failed for good (its worker kept dying, or could not start). */
  failure: RingshardError | undefined;
  closed = false;
  /** Actors whose messages kept hanging the dispatch; their messages are refused. */
  readonly quarantined = new Set<number>();

  constructor(
    readonly index: number,
    /** For the quarantine message: the watchdog's limit. */
    private readonly maxDispatchMs: number,
  ) {}

  /** Throws why the shard takes nothing now, if it does not. */
  check(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.closed) throw closedError();
  }

  /** Throws when a record for `actorId` must not be written (the hot path's one check). */
  admit(actorId: number): void {
    if (this.failure !== undefined || this.closed) this.check();
    if (this.quarantined.size > 0 && this.quarantined.has(actorId)) {
      throw new RingshardError(
        ErrorCode.QUARANTINED,
        `actor ${actorId} on shard ${this.index} is quarantined: its messages hung the shard's dispatch for longer than maxDispatchMs (${this.maxDispatchMs} ms) twice, so its messages are refused; other actors are served`,
      );
    }
  }
}
