/**
 * HTTP load on examples/http-server.ts: autocannon POSTs {"add":1} to /actors/counter/user-<i>
 * over KEYS keys, against a server started in this process (default backend, logger off).
 * Afterwards the counters' state is checked against the 2xx responses autocannon saw.
 * Prints a table and writes bench/results/http-load.json.
 *
 *   node --import tsx bench/http-load.ts
 *   RINGSHARD_HTTP_SECONDS (default 10), RINGSHARD_HTTP_CONNECTIONS (default 64)
 *
 * Client and server share this process (and its event loop): the figures are a floor for
 * the server alone, and the comparison with other runs on the same machine is what counts.
 */
import autocannon from 'autocannon';
import { startServer, type RunningServer } from '../examples/http-server.ts';
import { counter } from '../src/index.ts';
import { printTable, writeJson } from './report.ts';

const SECONDS = Number(process.env.RINGSHARD_HTTP_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.RINGSHARD_HTTP_CONNECTIONS ?? 64);
const PIPELINING = 1;
const WARMUP_SECONDS = 2;
const KEYS = 1000;

/** POSTs {"add":1} to /actors/counter/<prefix>-<i>, i taking turns over KEYS keys. */
function load(server: RunningServer, prefix: string, seconds: number): Promise<autocannon.Result> {
  let next = 0;
  return autocannon({
    url: server.url,
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

/** The sum of the counts of the KEYS counters named `prefix-<i>`, read back from their state. */
async function countsOf(server: RunningServer, prefix: string): Promise<number> {
  const states = await Promise.all(Array.from({ length: KEYS }, (_, i) => server.cluster.actor(counter, `${prefix}-${i}`).snapshot()));
  return states.reduce((sum, s) => sum + s.count, 0);
}

const server = await startServer({ port: 0 });
try {
  const info = server.cluster.info();
  const adapter = info.shards[0]?.adapter;
  const device = adapter ? `${adapter.vendor} ${adapter.device || adapter.architecture}`.trim() : 'none';
  console.log(`server ${server.url}: backend ${info.backend} (${device}), ${info.shards.length} shard(s)`);
  console.log(`warm-up ${WARMUP_SECONDS}s, then ${SECONDS}s: ${CONNECTIONS} connections, pipelining ${PIPELINING}, ${KEYS} keys`);

  // Warm-up on other keys, so the check below counts the measured run only.
  await load(server, 'warmup', WARMUP_SECONDS);
  const result = await load(server, 'user', SECONDS);

  // autocannon ends a timed run by cutting its connections: requests in flight then (at most
  // one per connection and pipelined slot) are handled by the server but never counted as
  // responses. So the state may exceed the 2xx count by that much, and never fall short.
  const handled = await countsOf(server, 'user');
  const ok = result['2xx'];
  const cutOff = handled - ok;
  const verified = cutOff >= 0 && cutOff <= CONNECTIONS * PIPELINING;

  const row = {
    case: `POST /actors/counter/:key (${KEYS} keys)`,
    'req/s': Math.round(result.requests.average),
    'p50 ms': result.latency.p50,
    'p90 ms': result.latency.p90,
    'p99 ms': result.latency.p99,
    '2xx': ok,
    'non-2xx': result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    'state count': handled,
  };
  printTable(`ringshard HTTP load (${info.backend}, ${SECONDS}s, ${CONNECTIONS} connections)`, [row]);
  console.log(
    verified
      ? `\nstate check ok: counters hold ${handled} messages = ${ok} 2xx responses + ${cutOff} cut off when autocannon stopped`
      : `\nSTATE CHECK FAILED: counters hold ${handled} messages but autocannon saw ${ok} 2xx responses`,
  );

  const file = writeJson('http-load', {
    backend: info.backend,
    device,
    shards: info.shards.length,
    seconds: SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    connections: CONNECTIONS,
    pipelining: PIPELINING,
    keys: KEYS,
    result: row,
    latencyMs: { mean: result.latency.mean, p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    requestsPerSecond: { mean: result.requests.mean, stddev: result.requests.stddev, min: result.requests.min, max: result.requests.max },
    totalRequests: result.requests.total,
    statusCodes: result.statusCodeStats,
    check: { handled, ok, cutOff, verified },
  });
  console.log(`wrote ${file}`);
  if (!verified) process.exitCode = 1;
} finally {
  await server.close();
}
