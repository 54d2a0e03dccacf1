/**
 * Exactly-once for K2K sends across a shard's recoveries. A shard's send records come in
 * (cause, ordinal) order: the request ring index of the message that sent them and the
 * send's number within it, both fixed by the record, so a replacement worker that runs a
 * message again sends the same (cause, ordinal) again. A send at or before the last one
 * passed on was passed on already.
 */
export class SendDeduplicator {
  private cause = 0;
  private ordinal = 0;
  private any = false;
  /** Sends passed on (each once), and repeats dropped. */
  passedOn = 0;
  dropped = 0;

  /** True when the send is new (pass it on); false for a replay's repeat. */
  accept(cause: number, ordinal: number): boolean {
    if (this.any) {
      // Ring indices wrap at 2^32: compare by distance.
      const after = (cause - this.cause) | 0;
      if (after < 0 || (after === 0 && ordinal <= this.ordinal)) {
        this.dropped++;
        return false;
      }
    }
    this.cause = cause;
    this.ordinal = ordinal;
    this.any = true;
    this.passedOn++;
    return true;
  }
}
