/**
 * Seeded randomness for tests: every test that draws random inputs takes its seed from
 * RINGSHARD_SEED (or a fresh one) and prints it when it fails, so a failure can be replayed.
 */
import type { TestContext } from 'node:test';

/** xorshift128+ style generator over 32-bit state; fast and good enough for tests. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(readonly seed: number) {
    this.a = seed | 0 || 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = (seed * 31) | 0 || 0x7f4a7c15;
    for (let i = 0; i < 16; i++) this.u32();
  }
  /** Uniform u32 (sfc32). */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor((this.u32() / 4294967296) * (hi - lo + 1));
  }
  float(): number {
    return this.u32() / 4294967296;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
}

export function testSeed(): number {
  const env = process.env.RINGSHARD_SEED;
  return env ? Number(env) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
}

/** A seeded Rng whose seed is reported if the test fails. */
export function seededRng(t: TestContext): Rng {
  const seed = testSeed();
  t.diagnostic(`seed ${seed} (replay with RINGSHARD_SEED=${seed})`);
  return new Rng(seed);
}
