/**
 * loadTest()'s ramping stages on this machine: sized from what it sustains (a closed
 * loop first), then a hold, a ramp and a hold again; per second, what the schedule asked
 * for, what was sent and completed, and the p99 (from each message's due time).
 *
 *   npm run bench:load    RINGSHARD_BENCH_BACKEND=cpu|webgpu (default cpu)
 */
import { Cluster, counter } from '../src/index.ts';
import { loadTest, type LoadRng } from '../src/load/index.ts';
import { printTable, writeJson } from './report.ts';

const backend = (process.env.RINGSHARD_BENCH_BACKEND as 'cpu' | 'webgpu' | undefined) ?? 'cpu';
const cluster = await Cluster.start({ kernels: [counter], backend, shards: 1, logger: false });
const message = (_i: number, rng: LoadRng) => ({ add: rng.int(0, 9) });
try {
  const sustained = (await loadTest({ cluster, kernel: counter, message, actors: 1000, mode: 'ask', seconds: 2, concurrency: 256 })).totals.messagesPerSecond;
  const low = Math.round(sustained * 0.1);
  const high = Math.round(sustained * 0.5);
  const stages = [{ rate: low, seconds: 3 }, { rate: high, seconds: 4 }, { rate: high, seconds: 3 }];
  const r = await loadTest({ cluster, kernel: counter, message, actors: 1000, mode: 'ask', stages, keyPrefix: 'stage-' });
  const rows = r.series.map((s) => ({
    second: s.second,
    target: s.target ?? '',
    sent: s.sent,
    'sent / target': s.target ? (s.sent / s.target).toFixed(3) : '',
    completed: s.completed,
    'p99 ms': (s.latencyUs.p99 / 1000).toFixed(2),
  }));
  printTable(`ramping stages (${backend}, 1 shard, counter asks; sustained ${Math.round(sustained).toLocaleString('en-US')}/s closed loop; stages ${stages.map((s) => `${s.rate}:${s.seconds}`).join(',')}; ${new Date().toISOString().slice(0, 10)})`, rows);
  const full = r.series.filter((s) => s.target);
  const worst = Math.max(...full.map((s) => Math.abs(s.sent / s.target! - 1)));
  printTable('summary', [{ 'worst second, |sent / target - 1|': worst.toFixed(3), 'p99 ms (all)': (r.totals.latencyUs.p99 / 1000).toFixed(2), failed: r.totals.failed, mismatches: r.totals.mismatchCount }]);
  writeJson('load-stages', { backend, sustained, stages, series: r.series, totals: r.totals });
} finally {
  await cluster.shutdown();
}
