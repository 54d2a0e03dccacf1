/**
 * Seeded randomness for tests: every test that draws random inputs takes its seed from
 * RINGSHARD_SEED (or a fresh one) and prints it when it fails, so a failure can be replayed.
 */
import type { TestContext } from 'node:test';
import { LoadRng } from '../../src/load/load-rng.ts';

/** The load tests' seeded generator (sfc32), keeping its seed for the report. */
export class Rng extends LoadRng {
  constructor(readonly seed: number) {
    super(seed);
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
