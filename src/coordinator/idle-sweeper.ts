/**
 * Idle deactivation: every half of the shortest idleAfterMs, a sweep starts a new
 * activity epoch (src/coordinator/activity.ts) and hands the actors that took no message
 * for their kernel's idleAfterMs to the locator, which exports their state (after every
 * record sent before), keeps it (in host memory, or in the store with options.persist)
 * and frees their slot and directory entry. Their next message, ask or K2K message
 * activates them again with that state and the same id, without INIT. An actor is
 * deactivated between idleAfterMs and 1.5x idleAfterMs after its last message.
 *
 * A sweep walks the active actors (no work per message beyond the epoch stamp) and
 * deactivates at most MAX_PER_SWEEP of them; the next sweep takes the rest.
 */
import type { ActorDirectory, ActorEntry } from './actor-directory.ts';
import { activity } from './activity.ts';

const MAX_PER_SWEEP = 16_384;

export class IdleSweeper {
  /** The epoch each sweep started, oldest first (as many as the longest wait needs). */
  private readonly marks: number[] = [];
  /** Per kernel id: sweeps without a message before an actor goes (Infinity: never). */
  private readonly sweepsFor: number[];
  private readonly timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  readonly periodMs: number;

  constructor(
    private readonly directory: ActorDirectory,
    /** Per kernel id: idleAfterMs (0: never deactivated). */
    afterMs: readonly number[],
    private readonly deactivate: (entry: ActorEntry) => Promise<void>,
  ) {
    const enabled = afterMs.filter((ms) => ms > 0);
    this.periodMs = enabled.length > 0 ? Math.max(5, Math.min(...enabled) / 2) : 0;
    this.sweepsFor = afterMs.map((ms) => (ms > 0 ? Math.ceil(ms / this.periodMs) : Infinity));
    if (this.periodMs > 0) {
      this.timer = setInterval(() => void this.sweep(), this.periodMs);
      this.timer.unref();
    }
  }

  /** One sweep (a sweep still running is waited for instead). */
  sweep(): Promise<void> {
    this.sweeping ??= this.run().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async run(): Promise<void> {
    const marks = this.marks;
    marks.push(++activity.epoch);
    const longest = Math.max(...this.sweepsFor.filter(Number.isFinite), 0);
    if (marks.length > longest + 1) marks.splice(0, marks.length - longest - 1);
    const last = marks.length - 1;
    const going: Array<Promise<void>> = [];
    for (const entry of this.directory.entries()) {
      const n = this.sweepsFor[entry.kernelId]!;
      if (n > last || entry.seen >= marks[last - n]! || entry.link.moving !== undefined) continue;
      going.push(this.deactivate(entry));
      if (going.length >= MAX_PER_SWEEP) break;
    }
    await Promise.allSettled(going);
  }

  /** No more sweeps; resolves when the one running (if any) is over. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.sweeping;
  }
}
