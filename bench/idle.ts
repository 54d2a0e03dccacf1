/**
 * Idle deactivation (options.idleAfterMs) under a mostly-cold workload: N distinct keys
 * (RINGSHARD_BENCH_KEYS, default 1,000,000; the 10,000,000 is
 * `RINGSHARD_BENCH_KEYS=10000000 npm run bench:idle`, minutes and gigabytes), each sent
 * one message, with a small idleAfterMs, on a cluster with deactivation, against the same
 * keys with deactivation off (as many as fit: its slots are not freed). Reports the
 * throughput of one message per new key, the most actors active at once, RSS, the
 * latency of an ask that reactivates a deactivated actor (p50/p99), and checks a sample
 * of states afterwards. With RINGSHARD_BENCH_PERSIST=1 the deactivated states go to an
 * LMDB store instead of host memory.
 *
 *   npm run bench:idle     RINGSHARD_BENCH_BACKEND=cpu|webgpu (default cpu: no GPU work to speak of)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, counter } from '../src/index.ts';
import { percentile, printTable, writeJson } from './report.ts';

const KEYS = Number(process.env.RINGSHARD_BENCH_KEYS ?? 1_000_000);
const IDLE_MS = 200;
const CHUNK = 8_192;
const REACTIVATIONS = 2_000;
const backend = (process.env.RINGSHARD_BENCH_BACKEND as 'cpu' | 'webgpu' | undefined) ?? 'cpu';
const persist = process.env.RINGSHARD_BENCH_PERSIST === '1';
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

async function run(idle: boolean): Promise<Record<string, number>> {
  const dir = persist ? mkdtempSync(join(tmpdir(), 'ringshard-bench-idle-')) : undefined;
  const keys = idle ? KEYS : Math.min(KEYS, 1_000_000);
  const cluster = await Cluster.start({
    kernels: [counter],
    backend,
    shards: 1,
    logger: false,
    maxActorsPerShard: idle ? 1 << 20 : Math.max(keys, 1024),
    idleAfterMs: idle ? IDLE_MS : 0,
    ...(dir ? { persist: { path: dir, durability: 'checkpoint' as const } } : {}),
  });
  try {
    (globalThis as { gc?: () => void }).gc?.();
    const rss0 = process.memoryUsage().rss;
    const heap0 = process.memoryUsage().heapUsed;
    let mostActive = 0;
    let mostRss = rss0;
    const t0 = performance.now();
    for (let base = 0; base < keys; base += CHUNK) {
      const sends: Array<Promise<void>> = [];
      for (let i = base; i < Math.min(keys, base + CHUNK); i++) sends.push(cluster.actor(counter, `k${i}`).tell({ add: i }));
      await Promise.all(sends);
      // As a server's I/O does: the event loop turns, so the sweep timer runs.
      await new Promise((resolve) => setImmediate(resolve));
      if ((base / CHUNK) % 16 === 0) {
        mostActive = Math.max(mostActive, cluster.info().actors);
        mostRss = Math.max(mostRss, process.memoryUsage().rss);
      }
    }
    await cluster.drain();
    const seconds = (performance.now() - t0) / 1000;
    // What stays (garbage collected: the peak above includes garbage not yet collected).
    if (idle) for (let i = 0; i < 4; i++) await cluster.sweepIdle();
    (globalThis as { gc?: () => void }).gc?.();
    const kept = process.memoryUsage().rss - rss0;
    const heap = process.memoryUsage().heapUsed - heap0;
    // Wait for the sweeps to deactivate what is left, then reactivate some (one ask each).
    const lat: number[] = [];
    if (idle) {
      for (let n = 0; n < REACTIVATIONS; n++) {
        const i = Math.floor((n * 2654435761) % keys);
        const s = performance.now();
        const r = await cluster.actor(counter, `k${i}`).ask({ add: 0 });
        lat.push((performance.now() - s) * 1000);
        if (r.total !== i >>> 0 || r.count < 2) throw new Error(`k${i}: ${JSON.stringify(r)}`);
      }
      lat.sort((a, b) => a - b);
    }
    return {
      keys,
      'msgs/s': Math.round(keys / seconds),
      'most active': mostActive,
      'RSS peak MB': mb(mostRss - rss0),
      'RSS after GC MB': mb(kept),
      'main heap after GC B/key': Math.round(heap / keys),
      'reactivating ask p50 us': lat.length ? Math.round(percentile(lat, 50)) : NaN,
      'p99 us': lat.length ? Math.round(percentile(lat, 99)) : NaN,
    };
  } finally {
    await cluster.shutdown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

const on = await run(true);
const off = await run(false);
printTable(`one message per new key (${backend}, counter, 1 shard, idleAfterMs ${IDLE_MS}${persist ? ", persist 'checkpoint'" : ''}; ${new Date().toISOString().slice(0, 10)})`, [
  { case: 'deactivation on', ...on },
  { case: 'deactivation off', ...off },
]);
console.log(`\nJSON: ${writeJson('idle', { backend, persist, on, off })}`);
