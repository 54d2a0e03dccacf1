/**
 * When an open-loop load's messages are due: a constant arrival rate, or stages that
 * ramp linearly from the rate the stage before ended at to their own (the first stage
 * holds its rate), as k6's ramping-arrival-rate does. Messages due by time t is the
 * integral of the rate up to t, so a late sender catches up instead of losing messages,
 * and latency counts from each message's due time (no coordinated omission).
 */
export interface Stage {
  /** Messages per second at the stage's end (ramped to from the stage before's). */
  readonly rate: number;
  readonly seconds: number;
}

export class ArrivalSchedule {
  /** Per stage: start time (ms), start rate, end rate, duration (ms), messages due before it. */
  private readonly parts: Array<{ at: number; from: number; to: number; ms: number; before: number }> = [];
  readonly durationMs: number;

  constructor(stages: readonly Stage[]) {
    let at = 0;
    let before = 0;
    let previous = stages[0]?.rate ?? 0;
    for (const s of stages) {
      const ms = s.seconds * 1000;
      this.parts.push({ at, from: previous, to: s.rate, ms, before });
      before += ((previous + s.rate) / 2) * s.seconds;
      at += ms;
      previous = s.rate;
    }
    this.durationMs = at;
  }

  static constant(rate: number, seconds: number): ArrivalSchedule {
    return new ArrivalSchedule([{ rate, seconds }]);
  }

  /** Messages due by `t` ms after the start (fractional). */
  dueBy(t: number): number {
    const parts = this.parts;
    let i = parts.length - 1;
    while (i > 0 && t < parts[i]!.at) i--;
    const p = parts[i];
    if (!p) return 0;
    const x = Math.min(Math.max(t - p.at, 0), p.ms) / 1000;
    const seconds = p.ms / 1000;
    // Integral of a linear ramp from `from` to `to` over `seconds`, up to x.
    const slope = seconds > 0 ? (p.to - p.from) / seconds : 0;
    return p.before + p.from * x + (slope * x * x) / 2;
  }

  /** The rate (messages/s) the schedule asks for at `t` ms. */
  rateAt(t: number): number {
    const parts = this.parts;
    let i = parts.length - 1;
    while (i > 0 && t < parts[i]!.at) i--;
    const p = parts[i];
    if (!p) return 0;
    const f = p.ms > 0 ? Math.min(Math.max(t - p.at, 0), p.ms) / p.ms : 1;
    return p.from + (p.to - p.from) * f;
  }

  /** The time (ms) message number `n` (from 0) is due: the inverse of dueBy (the schedule's end past its last). */
  dueAt(n: number): number {
    for (const p of this.parts) {
      const seconds = p.ms / 1000;
      const area = ((p.from + p.to) / 2) * seconds;
      if (n >= p.before + area) continue;
      const r = n - p.before;
      const slope = seconds > 0 ? (p.to - p.from) / seconds : 0;
      // from * x + slope * x^2 / 2 = r, for x in seconds.
      const x = Math.abs(slope) < 1e-12 ? (p.from > 0 ? r / p.from : 0) : (-p.from + Math.sqrt(Math.max(0, p.from * p.from + 2 * slope * r))) / slope;
      return p.at + Math.min(Math.max(x, 0), seconds) * 1000;
    }
    return this.durationMs;
  }
}
