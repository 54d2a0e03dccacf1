/**
 * Nodes on NATS, all in one run (a nats-server started here, two nodes in this process):
 *   - ask and askMany(256) to actors the calling node owns (local: no NATS per message)
 *     against actors the other node owns (remote: batched calls over NATS), throughput
 *     and p50/p99, in alternating slices;
 *   - the same with `durable: true` (every message journaled in JetStream first);
 *   - failover: a durable node in a child process is SIGKILLed while the other asks its
 *     actors; the time from the kill to the first answer from the actor's new home, with
 *     the default heartbeat (250 ms) and deadAfterMs (1,500 ms);
 *   - signing: remote ask, tell and askMany(256) between two nodes that sign and verify
 *     every frame (as nodes always do) against two that do not (UNSIGNED_FOR_BENCH, an
 *     internal switch only this bench sets), both pairs up at once, in alternating slices.
 * Prints tables and writes bench/results/nats.json.
 *
 *   npm run bench:nats      RINGSHARD_BENCH_SECONDS (default 1) per slice;
 *                           RINGSHARD_BENCH_ONLY=signing runs the signing part alone
 */
import { Cluster, counter, type ActorRef } from '../src/index.ts';
import { requestAdapter } from '../src/worker/gpu/gpu-host.ts';
import { startNatsServer } from '../test/helpers/nats-server.ts';
import { startChildNode } from '../test/helpers/nats-node.ts';
import { printTable, writeJson, machine } from './report.ts';
import { closedLoops, measureTell } from './lib/load.ts';
import { UNSIGNED_FOR_BENCH, type NatsOptions } from '../src/nats/nats-options.ts';

type Ref = ActorRef<typeof counter.state, typeof counter.request, typeof counter.reply>;
const SLICE = Number(process.env.RINGSHARD_BENCH_SECONDS ?? 1);
const ROUNDS = 2;
const LANES = 64;
const ACTORS = 256;
const ONLY = process.env.RINGSHARD_BENCH_ONLY;
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
/** `ACTORS` refs of `from` whose actors the other node owns. */
function remoteRefs(from: Cluster, prefix: string): Ref[] {
  const refs: Ref[] = [];
  for (let i = 0; refs.length < ACTORS; i++) {
    const ref = from.actor(counter, `${prefix}${i}`);
    if (from.locate(ref).node !== from.nodeName) refs.push(ref);
  }
  return refs;
}

/** Signed against unsigned frames between nodes: remote ask, tell and askMany(256), alternating slices. */
async function signing(): Promise<{ rows: Array<Record<string, string | number>>; raw: Record<string, unknown> }> {
  const start = (node: string, unsigned: boolean) => {
    const nats = { servers: server.url, node, cluster: unsigned ? 'bench-unsigned' : 'bench-signed', ...(unsigned ? { [UNSIGNED_FOR_BENCH]: true } : {}) } as NatsOptions;
    return Cluster.start({ kernels: [counter], shards: 1, backend, logger: false, nats });
  };
  const pairs = { signed: [await start('sig-a', false), await start('sig-b', false)], unsigned: [await start('uns-a', true), await start('uns-b', true)] };
  try {
    const refs = { signed: remoteRefs(pairs.signed[0]!, 's'), unsigned: remoteRefs(pairs.unsigned[0]!, 's') };
    await Promise.all([...refs.signed, ...refs.unsigned].map((r) => r.ask({ add: 1 })));
    const batch = Array.from({ length: 256 }, () => ({ add: 1 }));
    const cases: Record<string, (r: Ref[]) => Promise<Slice>> = {
      'ask, remote': (r) => lanes(r, 1, (x) => x.ask({ add: 1 })),
      'tell, remote (pipelined)': async (r) => ({ msgsPerSec: (await measureTell(r, SLICE)).msgsPerSec, latencies: [] }),
      'askMany(256), remote': (r) => lanes(r, 256, (x) => x.askMany(batch)),
    };
    // One unrecorded slice of each case on both pairs first: the first slices ran slow (JIT, buffers).
    for (const run of Object.values(cases)) for (const mode of ['signed', 'unsigned'] as const) await run(refs[mode]);
    const results = new Map<string, Slice[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, run] of Object.entries(cases)) {
        // Alternate which goes first, so neither always runs on a warmer machine.
        const order = round % 2 === 0 ? (['signed', 'unsigned'] as const) : (['unsigned', 'signed'] as const);
        for (const mode of order) {
          const key = `${mode}|${name}`;
          results.set(key, [...(results.get(key) ?? []), await run(refs[mode])]);
        }
      }
    }
    const mean = (xs: Slice[]) => xs.reduce((t, x) => t + x.msgsPerSec, 0) / xs.length;
    const out: Array<Record<string, string | number>> = [];
    for (const name of Object.keys(cases)) {
      const signed = results.get(`signed|${name}`)!;
      const unsigned = results.get(`unsigned|${name}`)!;
      const lat = (xs: Slice[], p: number) => pct(xs.flatMap((x) => x.latencies), p);
      out.push({
        case: name,
        'signed msgs/s': Math.round(mean(signed)),
        'unsigned msgs/s': Math.round(mean(unsigned)),
        'signed / unsigned': Number((mean(signed) / mean(unsigned)).toFixed(3)),
        'slices signed': signed.map((r) => `${(r.msgsPerSec / 1e3).toFixed(1)}k`).join(' / '),
        'slices unsigned': unsigned.map((r) => `${(r.msgsPerSec / 1e3).toFixed(1)}k`).join(' / '),
        'p50 ms signed/unsigned': signed[0]!.latencies.length > 0 ? `${lat(signed, 50).toFixed(2)} / ${lat(unsigned, 50).toFixed(2)}` : '-',
      });
    }
    const raw = Object.fromEntries([...results].map(([k, v]) => [k, v.map((s) => ({ msgsPerSec: s.msgsPerSec, p50: pct(s.latencies, 50), p99: pct(s.latencies, 99) }))]));
    return { rows: out, raw };
  } finally {
    for (const c of [...pairs.signed, ...pairs.unsigned]) await c.shutdown();
  }
}

try {
  if (ONLY === 'signing') {
    const day = new Date().toISOString().slice(0, 10);
    const signed = await signing();
    printTable(`Signed vs unsigned frames between two nodes in one process (${backend}, ${LANES} in flight, ${ACTORS} remote actors, ${day})`, signed.rows);
    const file = writeJson('nats-signing', { bench: 'nats', part: 'signing', backend, machine: machine(), slices: SLICE, rows: signed.rows, raw: signed.raw });
    console.log(`\nJSON: ${file}`);
    await server.stop();
    process.exit(0); // the rest of the bench is not wanted

  }
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

  const signed = await signing();
  const day = new Date().toISOString().slice(0, 10);
  printTable(`Signed vs unsigned frames between two nodes in one process (${backend}, ${LANES} in flight, ${ACTORS} remote actors, ${day})`, signed.rows);
  printTable(`Local vs remote calls, two nodes in one process on one nats-server (${backend}, ${LANES} in flight, ${ACTORS} actors each side, ${day})`, rows);
  const pick = (d: string, c: string) => Number(rows.find((r) => r.durable === d && r.case === c)!['msgs/s (mean)']);
  printTable('Ratios in this run', [
    { ratio: 'remote / local, ask', value: pick('no', 'ask, remote') / pick('no', 'ask, local') },
    { ratio: 'remote / local, askMany(256)', value: pick('no', 'askMany(256), remote') / pick('no', 'askMany(256), local') },
    { ratio: 'durable / not, ask local', value: pick('yes', 'ask, local') / pick('no', 'ask, local') },
    { ratio: 'durable / not, askMany(256) local', value: pick('yes', 'askMany(256), local') / pick('no', 'askMany(256), local') },
    { ratio: 'durable / not, askMany(256) remote', value: pick('yes', 'askMany(256), remote') / pick('no', 'askMany(256), remote') },
  ]);
  const file = writeJson('nats', { bench: 'nats', backend, machine: machine(), slices: SLICE, rows, raw, failover, signing: signed });
  console.log(`\nJSON: ${file}`);
} finally {
  await server.stop();
}
