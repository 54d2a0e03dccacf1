/**
 * Messages for the built-in kernels, for the demo and `ringshard bench`: deterministic
 * (a seeded xorshift), varied enough that a wrong reply would show.
 */
import type { Kernel } from '../kernels/define-kernel.ts';
import type { Message } from '../kernels/reference-model.ts';
import { counter } from '../../shaders/builtins/counter.ts';
import { echo } from '../../shaders/builtins/echo.ts';
import { stats } from '../../shaders/builtins/stats.ts';
import type { KernelName } from './bench-options.ts';

export const BUILTIN_KERNELS: Readonly<Record<KernelName, Kernel<any, any, any>>> = { counter, echo, stats };

export class Workload {
  private x: number;
  private seq = 0;

  constructor(
    readonly kernel: Kernel<any, any, any>,
    seed = 0x2545f491,
  ) {
    this.x = seed | 0 || 1;
  }

  /** A fresh u32. */
  private next(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x;
    return x >>> 0;
  }

  /** Picks one of `n` actors uniformly. */
  pick(n: number): number {
    return this.next() % n;
  }

  message(): Message {
    switch (this.kernel.name) {
      case 'counter':
        return { add: this.next() & 0xffff };
      case 'echo':
        return { seq: this.seq++ >>> 0, value: this.next() | 0, data: [this.float(), this.float(), this.float(), this.float()] };
      case 'stats': {
        // A plain loop: Array.from with a callback cost ~1 us per message (profiled).
        const samples = new Array<number>(8);
        for (let j = 0; j < 8; j++) samples[j] = this.float() * 100;
        return { samples, n: 1 + (this.next() % 8) };
      }
      default:
        throw new Error(`no workload for kernel '${this.kernel.name}'`);
    }
  }

  private float(): number {
    return Math.fround((this.next() / 2 ** 32 - 0.5) * 20);
  }
}
