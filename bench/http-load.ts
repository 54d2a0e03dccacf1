/**
 * HTTP load on examples/http-server.ts against a baseline: the same HTTP server code
 * (serveActors: routes, parsing, JSON, status codes, metrics) with the counters in a
 * plain Map on the main thread, each message run through the counter kernel's TS
 * reference. The only difference between the two is where the counter lives.
 *
 * autocannon POSTs {"add":1} to /actors/counter/<round>-user-<i> over KEYS keys, against
 * servers started in this process (default backend, logger off). Both servers are up
 * for the whole run and measured alternately, in rounds: round 1 ringshard then Map,
 * round 2 Map then ringshard, and so on (each after its own warm-up). After each
 * measured run the counters' state is checked against the 2xx responses autocannon saw.
 * Prints one table (with CPU per response: the whole process, and the main thread with its
 * busy share, which tells a CPU-bound main thread from one waiting on replies) and the
 * ratio ringshard / Map of 2xx per second, and writes bench/results/http-load.json.
 *
 *   node --import tsx bench/http-load.ts
 *   RINGSHARD_HTTP_SECONDS (default 10)          measured seconds per server and round
 *   RINGSHARD_HTTP_WARMUP_SECONDS (default 2)    warm-up seconds per server
 *   RINGSHARD_HTTP_ROUNDS (default 2)            rounds (each measures both servers)
 *   RINGSHARD_HTTP_CONNECTIONS (default 64)
 *
 * Client and servers share this process (and its event loop): the figures are a floor for
 * a server alone, and the ratio between the two servers in one run is what counts.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { Registry } from 'prom-client';
import { serveActors, startServer, type ActorHandle, type ActorSource, type HttpServer } from '../examples/http-server.ts';
import { ErrorCode, RingshardError, counter, type MessageOf, type ReferenceContext, type Schema } from '../src/index.ts';
import { printTable, writeJson } from './report.ts';
import { RunnerContext } from '../src/kernels/reference-runner.ts';

const SECONDS = positive('RINGSHARD_HTTP_SECONDS', 10);
const WARMUP_SECONDS = positive('RINGSHARD_HTTP_WARMUP_SECONDS', 2);
const ROUNDS = positive('RINGSHARD_HTTP_ROUNDS', 2);
const CONNECTIONS = positive('RINGSHARD_HTTP_CONNECTIONS', 64);
const PIPELINING = 1;
const KEYS = 1000;

function positive(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!(value > 0) || !Number.isFinite(value)) throw new Error(`${name} must be a number > 0, got ${process.env[name]}`);
  return value;
}

type CounterState = MessageOf<typeof counter.state>;
type CounterRequest = MessageOf<typeof counter.request>;

/**
 * The baseline: counters in a Map, handled on the calling thread by the counter kernel's
 * TS reference (the CPU backend's semantics, u32 wrap included). Messages are checked
 * against the kernel's request schema as the cluster checks them, with the same error.
 * (Exported for the test that holds its answers to the cluster's.)
 */
export class MapCounters implements ActorSource {
  readonly registry = new Registry();
  readonly states = new Map<string, CounterState>();
  private readonly handle = counter.reference!.handle!;
  private readonly ctx = new RunnerContext([], { maxSends: 0, sendWords: 0 }) as unknown as ReferenceContext;

  actor(kernel: string, key: string): ActorHandle {
    if (kernel !== counter.name) throw new RingshardError(ErrorCode.UNKNOWN_KERNEL, `unknown kernel ${JSON.stringify(kernel)}: this server runs 'counter'`);
    return {
      ask: (msg) => this.run(() => this.apply(key, msg)),
      askMany: (msgs) =>
        this.run(() => {
          msgs.forEach((m, i) => this.check(m, `message ${i}: `)); // all or nothing, as askMany
          return msgs.map((m) => this.apply(key, m));
        }),
      snapshot: () => this.run(() => ({ ...(this.states.get(key) ?? { total: 0, count: 0 }) })),
    };
  }

  /** Sum of the counts of the `keys` counters `prefix-<i>`. */
  count(prefix: string, keys = KEYS): number {
    let sum = 0;
    for (let i = 0; i < keys; i++) sum += this.states.get(`${prefix}-${i}`)?.count ?? 0;
    return sum;
  }

  private run<T>(f: () => T): Promise<T> {
    try {
      return Promise.resolve(f());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private check(msg: unknown, where = ''): void {
    const why = counter.codecs.request.check(msg);
    if (why !== undefined) throw new RingshardError(ErrorCode.SCHEMA, `${where}kernel 'counter' request: ${why}`);
  }

  private apply(key: string, msg: MessageOf<Schema>): MessageOf<Schema> {
    this.check(msg);
    let state = this.states.get(key);
    if (state === undefined) this.states.set(key, (state = { total: 0, count: 0 }));
    return this.handle(state, msg as CounterRequest, this.ctx);
  }
}

/**
 * CPU seconds the main thread (client and HTTP server) has used, from /proc (Linux; clock
 * ticks of 1/100 s, the USER_HZ of every Linux port Node runs on); undefined elsewhere.
 */
function mainThreadCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

interface Target {
  readonly name: string;
  readonly server: HttpServer;
  /** Messages the KEYS counters `prefix-<i>` hold, read back from their state. */
  countsOf(prefix: string): Promise<number>;
}

/** POSTs {"add":1} to /actors/counter/<prefix>-<i>, i taking turns over KEYS keys. */
function load(target: Target, prefix: string, seconds: number): Promise<autocannon.Result> {
  let next = 0;
  return autocannon({
    url: target.server.url,
    connections: CONNECTIONS,
    pipelining: PIPELINING,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"add":1}',
        setupRequest: (request) => ({ ...request, path: `/actors/counter/${prefix}-${next++ % KEYS}` }),
      },
    ],
  });
}

/** Sums and counts of the cluster's batch histograms, to tell how it batched a run. */
async function batchTotals(registry: Registry): Promise<{ batches: number; records: number; dispatchSeconds: number; latencySeconds: number; messages: number }> {
  const metrics = await registry.getMetricsAsJSON();
  const sum = (name: string, suffix: string) =>
    ((metrics.find((m) => m.name === name)?.values ?? []) as Array<{ metricName?: string; value: number }>)
      .filter((v) => v.metricName === `${name}${suffix}`)
      .reduce((s, v) => s + v.value, 0);
  return {
    batches: sum('ringshard_batch_size_records', '_count'),
    records: sum('ringshard_batch_size_records', '_sum'),
    dispatchSeconds: sum('ringshard_dispatch_duration_seconds', '_sum'),
    latencySeconds: sum('ringshard_message_latency_seconds', '_sum'),
    messages: sum('ringshard_message_latency_seconds', '_count'),
  };
}

interface Measured {
  readonly name: string;
  readonly round: number;
  readonly result: autocannon.Result;
  readonly check: { readonly handled: number; readonly ok: number; readonly cutOff: number; readonly verified: boolean };
  readonly batching?: { readonly batches: number; readonly recordsPerBatch: number; readonly dispatchMs: number; readonly messageLatencyMs: number };
  /**
   * CPU per 2xx response: all threads of the process (autocannon, HTTP, shard worker and
   * the software GPU), and the main thread alone; mainBusy is the main thread's share of
   * the run's wall time (near 1: the main thread is the limit; well below: waiting on replies).
   */
  readonly cpu: { readonly processUs: number; readonly mainUs?: number; readonly mainBusy?: number };
}

/** One measured run; `clusterRegistry` is given when the target is the ringshard server. */
async function measure(target: Target, round: number, clusterRegistry?: Registry): Promise<Measured> {
  const prefix = `r${round}-user`;
  const before = clusterRegistry ? await batchTotals(clusterRegistry) : undefined;
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuSeconds();
  const result = await load(target, prefix, SECONDS);
  const cpu1 = process.cpuUsage(cpu0);
  const main1 = mainThreadCpuSeconds();
  // autocannon ends a timed run by cutting its connections: requests in flight then (at most
  // one per connection and pipelined slot) are handled by the server but never counted as
  // responses. So the state may exceed the 2xx count by that much, and never fall short.
  const handled = await target.countsOf(prefix);
  const ok = result['2xx'];
  const cutOff = handled - ok;
  const verified = cutOff >= 0 && cutOff <= CONNECTIONS * PIPELINING;
  let batching: Measured['batching'];
  if (before && clusterRegistry) {
    const after = await batchTotals(clusterRegistry);
    const batches = after.batches - before.batches;
    batching = {
      batches,
      recordsPerBatch: batches > 0 ? (after.records - before.records) / batches : 0,
      dispatchMs: batches > 0 ? ((after.dispatchSeconds - before.dispatchSeconds) * 1000) / batches : 0,
      messageLatencyMs: after.messages > before.messages ? ((after.latencySeconds - before.latencySeconds) * 1000) / (after.messages - before.messages) : 0,
    };
  }
  const perOk = (seconds: number) => (ok > 0 ? (seconds * 1e6) / ok : 0);
  const mainSeconds = main0 !== undefined && main1 !== undefined ? main1 - main0 : undefined;
  const cpu: Measured['cpu'] = {
    processUs: perOk((cpu1.user + cpu1.system) / 1e6),
    ...(mainSeconds !== undefined ? { mainUs: perOk(mainSeconds), mainBusy: mainSeconds / result.duration } : {}),
  };
  return { name: target.name, round, result, check: { handled, ok, cutOff, verified }, ...(batching ? { batching } : {}), cpu };
}

async function main(): Promise<void> {
  const running = await startServer({ port: 0 });
  const { cluster } = running;
  const mapCounters = new MapCounters();
  const mapServer = await serveActors(mapCounters, { port: 0 });
  const ringshard: Target = {
    name: 'ringshard',
    server: running,
    async countsOf(prefix) {
      const states = await Promise.all(Array.from({ length: KEYS }, (_, i) => cluster.actor(counter, `${prefix}-${i}`).snapshot()));
      return states.reduce((sum, s) => sum + s.count, 0);
    },
  };
  const baseline: Target = { name: 'Map', server: mapServer, countsOf: async (prefix) => mapCounters.count(prefix) };

  try {
    const info = cluster.info();
    const adapter = info.shards[0]?.adapter;
    const device = adapter ? `${adapter.vendor} ${adapter.device || adapter.architecture}`.trim() : 'none';
    console.log(`ringshard server ${running.url}: backend ${info.backend} (${device}), ${info.shards.length} shard(s)`);
    console.log(`Map server ${mapServer.url}: counters in a Map on the main thread (the counter kernel's TS reference)`);
    console.log(
      `each: warm-up ${WARMUP_SECONDS}s, then ${ROUNDS} round(s) of ${SECONDS}s alternating (ringshard first in odd rounds); ` +
        `${CONNECTIONS} connections, pipelining ${PIPELINING}, ${KEYS} keys`,
    );

    // Warm-up on other keys, so the checks count measured runs only.
    for (const target of [ringshard, baseline]) await load(target, 'warmup', WARMUP_SECONDS);
    const runs: Measured[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? [ringshard, baseline] : [baseline, ringshard];
      for (const target of order) runs.push(await measure(target, round, target === ringshard ? cluster.registry : undefined));
    }

    // Per server over all rounds: 2xx responses per second of measured time (a fast error
    // is not a request served).
    const total = (name: string) => {
      const mine = runs.filter((r) => r.name === name);
      return mine.reduce((s, r) => s + r.check.ok, 0) / mine.reduce((s, r) => s + r.result.duration, 0);
    };
    const ratio = total('ringshard') / total('Map');
    const rows = runs.map((r) => ({
      server: ROUNDS > 1 ? `${r.name} (round ${r.round})` : r.name,
      'req/s': Math.round(r.result.requests.average),
      'p50 ms': r.result.latency.p50,
      'p90 ms': r.result.latency.p90,
      'p99 ms': r.result.latency.p99,
      '2xx': r.check.ok,
      'non-2xx': r.result.non2xx,
      errors: r.result.errors,
      timeouts: r.result.timeouts,
      'state count': r.check.handled,
      check: r.check.verified ? 'ok' : 'FAILED',
      'CPU us/req': Math.round(r.cpu.processUs),
      'main us/req': r.cpu.mainUs !== undefined ? Math.round(r.cpu.mainUs) : '',
      'main busy': r.cpu.mainBusy !== undefined ? `${Math.round(r.cpu.mainBusy * 100)}%` : '',
    }));
    printTable(`HTTP load: POST /actors/counter/:key (${KEYS} keys), ${info.backend}, ${SECONDS}s per run, ${CONNECTIONS} connections`, rows);
    console.log(`\nringshard / Map: ${ratio.toFixed(2)} (${Math.round(total('ringshard'))} vs ${Math.round(total('Map'))} 2xx/s over all rounds)`);
    for (const r of runs) {
      const { handled, ok, cutOff, verified } = r.check;
      console.log(
        verified
          ? `state check ok (${r.name}, round ${r.round}): counters hold ${handled} messages = ${ok} 2xx responses + ${cutOff} cut off when autocannon stopped`
          : `STATE CHECK FAILED (${r.name}, round ${r.round}): counters hold ${handled} messages but autocannon saw ${ok} 2xx responses`,
      );
      if (r.batching) {
        const b = r.batching;
        console.log(
          `  ringshard batching (round ${r.round}): ${b.batches} batches, ${b.recordsPerBatch.toFixed(1)} records each, ` +
            `GPU round trip ${b.dispatchMs.toFixed(2)} ms per batch, enqueue to handled ${b.messageLatencyMs.toFixed(2)} ms per message`,
        );
      }
    }

    const file = writeJson('http-load', {
      backend: info.backend,
      device,
      shards: info.shards.length,
      seconds: SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      rounds: ROUNDS,
      order: 'alternating: ringshard then Map in odd rounds, Map then ringshard in even rounds; both servers up throughout',
      connections: CONNECTIONS,
      pipelining: PIPELINING,
      keys: KEYS,
      ratio,
      requestsPerSecond: { ringshard: total('ringshard'), map: total('Map') },
      runs: runs.map((r, i) => ({
        server: r.name,
        round: r.round,
        result: rows[i],
        latencyMs: { mean: r.result.latency.mean, p50: r.result.latency.p50, p90: r.result.latency.p90, p99: r.result.latency.p99, max: r.result.latency.max },
        requestsPerSecond: { mean: r.result.requests.mean, stddev: r.result.requests.stddev, min: r.result.requests.min, max: r.result.requests.max },
        totalRequests: r.result.requests.total,
        statusCodes: r.result.statusCodeStats,
        check: r.check,
        cpu: r.cpu,
        ...(r.batching ? { batching: r.batching } : {}),
      })),
    });
    console.log(`wrote ${file}`);
    if (!runs.every((r) => r.check.verified)) process.exitCode = 1;
  } finally {
    await mapServer.close();
    await running.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
