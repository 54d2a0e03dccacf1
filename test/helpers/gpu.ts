/**
 * GPU availability for tests. With RINGSHARD_REQUIRE_GPU=1 (CI) a missing adapter is a
 * test failure; without it, GPU tests are reported as skipped with the reason, so a
 * laptop without Vulkan still runs everything else.
 */
import { test, type TestContext } from 'node:test';
import { requestAdapter } from '../../src/worker/gpu/gpu-host.ts';

export const gpuRequired = process.env.RINGSHARD_REQUIRE_GPU === '1';

let probe: Promise<boolean> | undefined;
export function adapterAvailable(): Promise<boolean> {
  probe ??= requestAdapter().then((a) => a !== null, () => false);
  return probe;
}

/**
 * True when an adapter exists; false when none does (the caller skips); throws when none
 * does and RINGSHARD_REQUIRE_GPU=1, so that a required GPU test fails instead of skipping.
 */
export async function gpuOrSkip(): Promise<boolean> {
  if (await adapterAvailable()) return true;
  if (gpuRequired) throw new Error('RINGSHARD_REQUIRE_GPU=1 but no WebGPU adapter was found (is a Vulkan driver installed?)');
  return false;
}

export const NO_GPU = 'no WebGPU adapter on this machine; set RINGSHARD_REQUIRE_GPU=1 to make this a failure';

/** Runs `fn` when an adapter exists; fails when none exists and RINGSHARD_REQUIRE_GPU=1. */
export function gpuTest(name: string, fn: (t: TestContext) => Promise<void>, options: { timeout?: number } = {}): void {
  test(name, { timeout: options.timeout ?? 120_000 }, async (t) => {
    if (!(await gpuOrSkip())) {
      t.skip(NO_GPU);
      return;
    }
    await fn(t);
  });
}
