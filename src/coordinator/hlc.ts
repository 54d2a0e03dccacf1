/**
 * Hybrid logical clock for message timestamps: wall milliseconds (48 bits) and a 16-bit
 * logical counter, packed into the two header words hlcHi / hlcLo. Monotonic even when
 * the wall clock stands still or steps back.
 *
 * Reading the wall clock costs tens of nanoseconds, a lot next to encoding a message, so
 * the clock is read at most once per `refreshEvery` ticks and on refresh(); between reads
 * the logical counter advances, which is what an HLC does anyway.
 */
export class HybridClock {
  /** Header word 6 of the last tick. */
  hi = 0;
  /** Header word 7 of the last tick. */
  lo = 0;
  /** Microseconds since `epochMs` (mod 2^32) as of the last wall-clock read. */
  nowUs = 0;
  private wallMs = 0;
  private loBase = 0;
  private logical = 0;
  private untilRead = 0;

  constructor(
    readonly epochMs: number,
    private readonly refreshEvery = 256,
  ) {}

  /** Forces the next tick to read the wall clock. */
  refresh(): void {
    this.untilRead = 0;
  }

  /** Advances the clock; the new timestamp is in `hi`, `lo` and `nowUs`. */
  tick(): void {
    if (--this.untilRead < 0) this.readWall();
    if (++this.logical > 0xffff) this.setWall(this.wallMs + 1); // 65536 stamps in 1 ms: borrow the next
    this.lo = this.loBase + this.logical;
  }

  /** The most stamps tickMany gives at once. */
  static readonly MAX_RUN = 0x8000;

  /**
   * Advances the clock by `n` stamps at once (n <= MAX_RUN) for a run of records: they
   * are `hi` with lo = the returned value + 0, 1, ... n - 1 (never crossing into the next
   * millisecond's words), and `lo` is the last of them.
   */
  tickMany(n: number): number {
    if (--this.untilRead < 0) this.readWall();
    if (this.logical + n > 0xffff) this.setWall(this.wallMs + 1);
    const first = this.loBase + this.logical + 1;
    this.logical += n;
    this.lo = this.loBase + this.logical;
    return first;
  }

  /**
   * Merges a timestamp from elsewhere (a K2K sender's): the next tick is after it, even
   * when it is ahead of this clock's wall time.
   */
  receive(hi: number, lo: number): void {
    const wallMs = hi * 0x10000 + (lo >>> 16);
    const logical = lo & 0xffff;
    if (wallMs > this.wallMs) {
      this.setWall(wallMs);
      this.logical = logical;
    } else if (wallMs === this.wallMs && logical > this.logical) {
      this.logical = logical;
    }
    // hi and lo stay one timestamp (setWall moved hi): the merged one, until the next tick.
    this.lo = this.loBase + this.logical;
  }

  private readWall(): void {
    this.untilRead = this.refreshEvery;
    const now = performance.timeOrigin + performance.now();
    this.nowUs = Math.floor((now - this.epochMs) * 1000) >>> 0;
    const ms = Math.floor(now);
    if (ms > this.wallMs) this.setWall(ms);
  }

  private setWall(ms: number): void {
    this.wallMs = ms;
    this.logical = 0;
    this.hi = Math.floor(ms / 0x10000);
    this.loBase = (ms % 0x10000) * 0x10000;
  }
}

/** Wall milliseconds and logical counter of a packed timestamp. */
export function unpackHlc(hi: number, lo: number): { wallMs: number; logical: number } {
  return { wallMs: hi * 0x10000 + (lo >>> 16), logical: lo & 0xffff };
}
