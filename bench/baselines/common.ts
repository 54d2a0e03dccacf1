/** Shared by the baselines: the result shape and a TS model of the counter kernel. */

export interface BaselineResult {
  readonly msgsPerSec: number;
  readonly messages: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

/** xorshift32: cheap deterministic inputs, so a failing run can be replayed. */
export function nextAdd(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

/**
 * Expected counter replies. Each actor keeps the running totals of what was sent to it;
 * a reply {total, count} must match the total after `count` messages, and counts for one
 * actor must arrive strictly increasing (the handler runs one message at a time).
 */
export class CounterModel {
  private readonly prefix: number[][];
  private readonly lastCount: Uint32Array;

  constructor(readonly actors: number) {
    this.prefix = Array.from({ length: actors }, () => [0]);
    this.lastCount = new Uint32Array(actors);
  }

  send(actor: number, add: number): void {
    const p = this.prefix[actor];
    if (!p) throw new Error(`actor ${actor} out of range 0..${this.actors - 1}`);
    p.push((p[p.length - 1]! + add) >>> 0);
  }

  receive(actor: number, total: number, count: number): void {
    const p = this.prefix[actor]!;
    const last = this.lastCount[actor]!;
    if (count <= last) throw new Error(`actor ${actor}: count ${count} after ${last} (not increasing)`);
    if (count >= p.length) throw new Error(`actor ${actor}: count ${count} but only ${p.length - 1} sent`);
    if (total !== p[count]) throw new Error(`actor ${actor}: total ${total} after ${count} messages, expected ${p[count]}`);
    this.lastCount[actor] = count;
  }

  /** Every message sent has been answered: the last count seen is the number sent. */
  checkFinal(): void {
    for (let a = 0; a < this.actors; a++) {
      const sent = this.prefix[a]!.length - 1;
      if (this.lastCount[a] !== sent) throw new Error(`actor ${a}: last reply count ${this.lastCount[a]}, sent ${sent}`);
    }
  }
}
