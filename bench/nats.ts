/**
 * Nodes on NATS, all in one run (a nats-server started here, two nodes in this process):
 *   - ask and askMany(256) to actors the calling node owns (local: no NATS per message)
 *     against actors the other node owns (remote: batched calls over NATS), throughput
 *     and p50/p99, in alternating slices;
 *   - the same with `durable: true` (every message journaled in JetStream first);
 *   - failover: a durable node in a child process is SIGKILLed while the other asks its
 *     actors; the time from the kill to the first answer from the actor's new home, with
 *     the default heartbeat (250 ms) and deadAfterMs (1,500 ms).
 * Prints tables and writes bench/results/nats.json.
 *
 *   npm run bench:nats      RINGSHARD_BENCH_SECONDS (default 1) per slice
 */
import { Cluster, counter, type ActorRef } from '../src/index.ts';
import { requestAdapter } from '../workers/gpu-host.ts';
import { startNatsServer } from '../test/helpers/nats-server.ts';
import { startChildNode } from '../test/helpers/nats-node.ts';
import { printTable, writeJson, machine } from './report.ts';
import { closedLoops } from './lib/load.ts';

type Ref = ActorRef<typeof counter.state, typeof counter.request, typeof counter.reply>;
const SLICE = Number(process.env.RINGSHARD_BENCH_SECONDS ?? 1);
const ROUNDS = 2;
const LANES = 64;
const ACTORS = 256;
const backend = (process.env.RINGSHARD_BENCH_BACKEND as 'webgpu' | 'cpu' | undefined) ?? ((await requestAdapter()) ? 'webgpu' : 'cpu');

interface Slice {
  msgsPerSec: number;
  latencies: number[];
}

/** LANES closed loops over the refs for SLICE seconds; latency per call in ms. */
async function lanes(refs: Ref[], per: number, call: (r: Ref) => Promise<unknown>): Promise<Slice> {
  const latencies: number[] = [];
  const msgsPerSec = await closedLoops(refs, LANES, per, SLICE, call, latencies);
  return { msgsPerSec, latencies };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))] ?? NaN;
};

const server = await startNatsServer();
const rows: Array<Record<string, string | number>> = [];
const raw: Record<string, unknown> = {};
try {
  for (const durable of [false, true]) {
    const nats = (node: string) => ({ servers: server.url, node, durable, cluster: durable ? 'bench-durable' : 'bench' });
    const a = await Cluster.start({ kernels: [counter], shards: 1, backend, logger: false, nats: nats('bench-a') });
    const b = await Cluster.start({ kernels: [counter], shards: 1, backend, logger: false, nats: nats('bench-b') });
    try {
      const local: Ref[] = [];
      const remote: Ref[] = [];
      for (let i = 0; local.length < ACTORS || remote.length < ACTORS; i++) {
        const ref = a.actor(counter, `n${i}`);
        const list = a.locate(ref).node === 'bench-a' ? local : remote;
        if (list.length < ACTORS) list.push(ref);
      }
      await Promise.all([...local, ...remote].map((r) => r.ask({ add: 1 })));
      const batch = Array.from({ length: 256 }, () => ({ add: 1 }));
      const cases = {
        'ask, local': () => lanes(local, 1, (r) => r.ask({ add: 1 })),
        'ask, remote': () => lanes(remote, 1, (r) => r.ask({ add: 1 })),
        'askMany(256), local': () => lanes(local, 256, (r) => r.askMany(batch)),
        'askMany(256), remote': () => lanes(remote, 256, (r) => r.askMany(batch)),
      };
      const results = new Map<string, Slice[]>();
      for (let round = 0; round < ROUNDS; round++) {
        for (const [name, run] of Object.entries(cases)) {
          const s = await run();
          results.set(name, [...(results.get(name) ?? []), s]);
        }
      }
      for (const [name, slices] of results) {
        const rates = slices.map((s) => s.msgsPerSec);
        const all = slices.flatMap((s) => s.latencies);
        rows.push({
          durable: durable ? 'yes' : 'no',
          case: name,
          'msgs/s (mean)': Math.round(rates.reduce((x, y) => x + y, 0) / rates.length),
          'slices': rates.map((r) => `${(r / 1e3).toFixed(0)}k`).join(' / '),
          'p50 ms': pct(all, 50),
          'p99 ms': pct(all, 99),
        });
      }
      raw[durable ? 'durable' : 'plain'] = Object.fromEntries([...results].map(([k, v]) => [k, v.map((s) => ({ msgsPerSec: s.msgsPerSec, p50: pct(s.latencies, 50), p99: pct(s.latencies, 99) }))]));
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  }

  // Failover after SIGKILL (durable, default heartbeat and deadAfterMs).
  const victim = await startChildNode({ servers: server.url, node: 'victim', durable: true, heartbeatMs: 250, deadAfterMs: 1500 });
  const survivor = await Cluster.start({ kernels: [counter], shards: 1, backend, logger: false, nats: { servers: server.url, node: 'survivor', durable: true, cluster: 'ringshard' } });
  let failover: Record<string, number> = {};
  try {
    const refs: Ref[] = [];
    for (let i = 0; refs.length < 64; i++) {
      const ref = survivor.actor(counter, `f${i}`);
      if (survivor.locate(ref).node === 'victim') refs.push(ref);
    }
    await Promise.all(refs.map((r) => r.ask({ add: 1 })));
    let killedAt = 0;
    let firstAnswer = 0;
    let maxLatency = 0;
    let stop = false;
    const load = Promise.all(
      refs.map(async (ref) => {
        while (!stop) {
          const s = performance.now();
          await ref.ask({ add: 1 });
          const now = performance.now();
          maxLatency = Math.max(maxLatency, now - s);
          if (killedAt > 0 && firstAnswer === 0 && s < killedAt && now > killedAt + 50) firstAnswer = now;
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 500));
    killedAt = performance.now();
    await victim.kill();
    while (firstAnswer === 0) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await load;
    failover = { deadAfterMs: 1500, heartbeatMs: 250, failoverMs: firstAnswer - killedAt, maxAskLatencyMs: maxLatency };
    printTable(`Failover after SIGKILL (durable, 64 actors of the killed node asked in closed loops)`, [
      { 'deadAfterMs (detection)': 1500, 'kill -> first answer from the new owner, ms': Math.round(firstAnswer - killedAt), 'longest ask across it, ms': Math.round(maxLatency) },
    ]);
  } finally {
    await victim.kill().catch(() => {});
    await survivor.shutdown();
  }

  const day = new Date().toISOString().slice(0, 10);
  printTable(`Local vs remote calls, two nodes in one process on one nats-server (${backend}, ${LANES} in flight, ${ACTORS} actors each side, ${day})`, rows);
  const pick = (d: string, c: string) => Number(rows.find((r) => r.durable === d && r.case === c)!['msgs/s (mean)']);
  printTable('Ratios in this run', [
    { ratio: 'remote / local, ask', value: pick('no', 'ask, remote') / pick('no', 'ask, local') },
    { ratio: 'remote / local, askMany(256)', value: pick('no', 'askMany(256), remote') / pick('no', 'askMany(256), local') },
    { ratio: 'durable / not, ask local', value: pick('yes', 'ask, local') / pick('no', 'ask, local') },
    { ratio: 'durable / not, askMany(256) local', value: pick('yes', 'askMany(256), local') / pick('no', 'askMany(256), local') },
    { ratio: 'durable / not, askMany(256) remote', value: pick('yes', 'askMany(256), remote') / pick('no', 'askMany(256), remote') },
  ]);
  const file = writeJson('nats', { bench: 'nats', backend, machine: machine(), slices: SLICE, rows, raw, failover });
  console.log(`\nJSON: ${file}`);
} finally {
  await server.stop();
}
