/**
 * Baseline: the kernel's TS reference in a piscina pool of as many threads as cores,
 * keys sharded over threads (one pool per thread, so a key's state lives in one place and
 * its messages stay in order), each task a batch of messages with their replies back.
 * What a server would build to use every core without a GPU.
 */
import os from 'node:os';
import { Piscina } from 'piscina';
import type { Kernel } from '../../src/kernels/define-kernel.ts';

export async function measurePiscinaPool(
  kernel: Kernel<any, any, any>,
  msg: Record<string, number | number[]>,
  seconds: number,
  opts: { keys?: number; batch?: number; inFlightPerThread?: number } = {},
): Promise<{ msgsPerSec: number; messages: number; threads: number }> {
  const threads = os.cpus().length;
  const keys = opts.keys ?? 1024;
  const batch = opts.batch ?? 256;
  const inFlight = opts.inFlightPerThread ?? 4;
  const wire = kernel.referenceWire!;
  const pools = Array.from(
    { length: threads },
    () =>
      new Piscina({
        filename: new URL('../../workers/ts-entry.mjs', import.meta.url).href,
        workerData: { tsEntry: new URL('./workers/reference-task.ts', import.meta.url).href, kernel: { state: kernel.state, handle: wire.handle, init: wire.init } },
        minThreads: 1,
        maxThreads: 1,
        stricterFIFO: true,
      }),
  );
  try {
    // Thread t owns keys t, t + threads, ...; a task takes `batch` of its messages.
    const taskFor = (t: number, n: number) => ({
      keys: Array.from({ length: batch }, (_, i) => (t + ((n * batch + i) * threads)) % keys),
      msgs: Array.from({ length: batch }, () => msg),
    });
    await Promise.all(pools.map((p, t) => p.run(taskFor(t, 0))));
    let messages = 0;
    const t0 = performance.now();
    const deadline = t0 + seconds * 1000;
    await Promise.all(
      pools.flatMap((pool, t) =>
        Array.from({ length: inFlight }, async (_, lane) => {
          for (let n = lane; performance.now() < deadline; n += inFlight) {
            const replies = (await pool.run(taskFor(t, n))) as unknown[];
            messages += replies.length;
          }
        }),
      ),
    );
    return { msgsPerSec: messages / ((performance.now() - t0) / 1000), messages, threads };
  } finally {
    await Promise.all(pools.map((p) => p.destroy()));
  }
}
