/**
 * A progress line for long runs: rewritten in place on a terminal, one plain line per
 * second otherwise (CI logs, pipes), always on stderr so stdout can carry JSON.
 */
import type { Progress } from './load-generator.ts';

export function formatRate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} M/s`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)} k/s`;
  return `${perSecond.toFixed(0)} /s`;
}

export function formatMicros(us: number): string {
  if (us >= 1e6) return `${(us / 1e6).toFixed(2)} s`;
  if (us >= 1e3) return `${(us / 1e3).toFixed(2)} ms`;
  return `${us.toFixed(0)} us`;
}

export class ProgressLine {
  private readonly tty: boolean;
  private lastPlain = -Infinity;
  private width = 0;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    /** Printed before each line; may change between phases. */
    public label = '',
  ) {
    this.tty = out.isTTY === true;
  }

  update(p: Progress): void {
    const text = `${this.label}${p.phase === 'warmup' ? 'warm-up' : 'measure'} ${p.elapsedSeconds.toFixed(1)}s  ${p.completed.toLocaleString('en-US')} msgs  ${formatRate(p.messagesPerSecond)}  p99 ${formatMicros(p.p99Us)}`;
    if (this.tty) {
      this.out.write(`\r${text.padEnd(this.width)}`);
      this.width = text.length;
    } else if (performance.now() - this.lastPlain >= 1000) {
      this.lastPlain = performance.now();
      this.out.write(`${text}\n`);
    }
  }

  /** Ends the line on a terminal, so what follows starts on its own line. */
  done(): void {
    if (this.tty && this.width > 0) this.out.write('\n');
    this.width = 0;
  }
}
