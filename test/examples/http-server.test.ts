/**
 * examples/http-server.ts over real HTTP (fetch): replies, batches, snapshots, every error
 * status it promises, overload, the /metrics it serves, and running the file directly.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { serveActors, startServer, type RunningServer, type ServerOptions } from '../../examples/http-server.ts';
import { MapCounters } from '../../bench/http-load.ts';
import { counter, echo } from '../../src/index.ts';
import { parseExposition, sumOf, valueOf } from '../helpers/exposition.ts';
import { gpuTest } from '../helpers/gpu.ts';
import { busy as slow, flaky } from '../helpers/kernels.ts';

const MiB = 1024 * 1024;
const ROUTE = '/actors/:kernel/:key';

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any;
}

/** One HTTP request; a string body is sent as is, anything else as JSON. */
async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(base + path, init);
  const text = await res.text();
  const json = /json/.test(res.headers.get('content-type') ?? '');
  return { status: res.status, headers: res.headers, body: json ? JSON.parse(text) : text };
}

const post = (s: RunningServer, path: string, body: unknown) => call(s.url, 'POST', path, body);
const get = (s: RunningServer, path: string) => call(s.url, 'GET', path);

/** GET /metrics, parsed (NaN values included: the exporter spells them as the format does). */
async function scrape(s: RunningServer) {
  const res = await fetch(`${s.url}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(await res.text());
}

/** The f32 Welford statistics the stats kernel computes, sample by sample. */
function expectedStats(samples: readonly number[]) {
  const f = Math.fround;
  let count = 0;
  let mean = 0;
  let m2 = 0;
  let min = 3.4028234663852886e38;
  let max = -3.4028234663852886e38;
  for (const s of samples) {
    const x = f(s);
    count++;
    const delta = f(x - mean);
    mean = f(mean + f(delta / f(count)));
    m2 = f(m2 + f(delta * f(x - mean)));
    min = Math.min(min, x);
    max = Math.max(max, x);
  }
  return { count, mean, variance: count > 1 ? f(m2 / f(count - 1)) : 0, min, max };
}

/** Deterministic samples in [-50, 50). */
function samplesFor(seed: number, n: number): number[] {
  let x = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return Math.fround((x / 2 ** 32) * 100 - 50);
  });
}

async function withServer(options: ServerOptions, fn: (s: RunningServer) => Promise<void>): Promise<void> {
  const server = await startServer(options);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

describe('http-server (cpu backend)', () => {
  let s: RunningServer;
  before(async () => {
    s = await startServer({ port: 0, cluster: { backend: 'cpu' } });
  });
  after(async () => {
    await s?.close();
  });

  test('listens on an ephemeral port and reports its URL', () => {
    assert.ok(s.port > 0);
    assert.equal(s.url, `http://127.0.0.1:${s.port}`);
    assert.equal(s.cluster.backend, 'cpu');
    assert.deepEqual(s.cluster.info().kernels, ['echo', 'counter', 'stats']);
  });

  test('counter: totals accumulate 1..n in order; keys are independent', async () => {
    for (let i = 1; i <= 20; i++) {
      const r = await post(s, '/actors/counter/acc', { add: i });
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
      assert.deepEqual(r.body, { total: (i * (i + 1)) / 2, count: i });
    }
    assert.deepEqual((await post(s, '/actors/counter/acc-other', { add: 7 })).body, { total: 7, count: 1 });
    assert.deepEqual((await get(s, '/actors/counter/acc')).body, { total: 210, count: 20 });
  });

  test('keys are URL-decoded (a %2F stays inside the key)', async () => {
    const key = 'user 42/é?&';
    const r = await post(s, `/actors/counter/${encodeURIComponent(key)}`, { add: 3 });
    assert.deepEqual(r.body, { total: 3, count: 1 });
    assert.deepEqual(await s.cluster.actor(counter, key).snapshot(), { total: 3, count: 1 });
    assert.equal((await post(s, '/actors/counter/%E0%A4%A', { add: 1 })).status, 400);
  });

  test('echo: the message comes back with the per-actor count and the actor id', async () => {
    const first = await post(s, '/actors/echo/e1', { seq: 7, value: -3, data: [1.5, -2, 0.25, 1e6] });
    const second = await post(s, '/actors/echo/e1', { seq: 8, value: 2147483647, data: [0, 0, 0, 0.1] });
    const actor = s.cluster.actor(echo, 'e1').actorId;
    assert.equal(typeof actor, 'number');
    assert.equal(first.status, 200);
    assert.ok(Number.isInteger(first.body.messageId) && Number.isInteger(second.body.messageId));
    assert.ok(second.body.messageId > first.body.messageId);
    assert.deepEqual(first.body, { seq: 7, value: -3, data: [1.5, -2, 0.25, 1e6], count: 1, actor, messageId: first.body.messageId });
    assert.deepEqual(second.body, { seq: 8, value: 2147483647, data: [0, 0, 0, Math.fround(0.1)], count: 2, actor, messageId: second.body.messageId });
  });

  test('stats: single asks and batches match the f32 Welford expectation', async () => {
    const all: number[] = [];
    let last: unknown;
    for (let m = 0; m < 5; m++) {
      const samples = samplesFor(m + 1, 8);
      const n = m === 4 ? 5 : 8; // the last message uses only 5 of its 8 samples
      all.push(...samples.slice(0, n));
      const r = await post(s, '/actors/stats/sensor-1', { samples, n });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, expectedStats(all));
      last = r.body;
    }
    // Sanity against double precision: same statistics within f32 error.
    const mean = all.reduce((a, b) => a + b, 0) / all.length;
    const variance = all.reduce((a, b) => a + (b - mean) ** 2, 0) / (all.length - 1);
    const got = last as { mean: number; variance: number; min: number; max: number };
    assert.ok(Math.abs(got.mean - mean) < 1e-4, `mean ${got.mean} vs ${mean}`);
    assert.ok(Math.abs(got.variance - variance) / variance < 1e-4, `variance ${got.variance} vs ${variance}`);
    assert.equal(got.min, Math.min(...all));
    assert.equal(got.max, Math.max(...all));

    const batch = [samplesFor(10, 8), samplesFor(11, 8), samplesFor(12, 8)];
    const r = await post(s, '/actors/stats/sensor-2', batch.map((samples) => ({ samples, n: 8 })));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, [expectedStats(batch[0]!), expectedStats([...batch[0]!, ...batch[1]!]), expectedStats(batch.flat())]);
  });

  test('a JSON array is one askMany: replies in order; [] gives []', async () => {
    const r = await post(s, '/actors/counter/many', [{ add: 1 }, { add: 2 }, { add: 3 }]);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, [
      { total: 1, count: 1 },
      { total: 3, count: 2 },
      { total: 6, count: 3 },
    ]);
    assert.deepEqual((await post(s, '/actors/counter/many', [])).body, []);
    // One bad message refuses the whole batch before anything is sent.
    const bad = await post(s, '/actors/counter/many', [{ add: 1 }, { ad: 2 }]);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'ERR_RINGSHARD_SCHEMA');
    assert.match(bad.body.error, /message 1: .*missing field 'add'/);
    assert.deepEqual((await get(s, '/actors/counter/many')).body, { total: 6, count: 3 });
  });

  test('GET is a snapshot: a fresh actor has its initial state', async () => {
    assert.deepEqual((await get(s, '/actors/counter/fresh')).body, { total: 0, count: 0 });
    // stats' init sets min/max to the f32 extremes.
    assert.deepEqual((await get(s, '/actors/stats/fresh')).body, { count: 0, mean: 0, m2: 0, min: 3.4028234663852886e38, max: -3.4028234663852886e38 });
    await post(s, '/actors/echo/fresh', { seq: 1, value: 1, data: [0, 0, 0, 0] });
    assert.deepEqual((await get(s, '/actors/echo/fresh')).body, { count: 1 });
  });

  test('invalid JSON: 400 with the parser message', async () => {
    for (const text of ['{"add":', 'add=1', '']) {
      let parserMessage = '';
      try {
        JSON.parse(text);
      } catch (error) {
        parserMessage = (error as Error).message;
      }
      const r = await post(s, '/actors/counter/bad', text);
      assert.equal(r.status, 400);
      assert.deepEqual(r.body, { error: `invalid JSON: ${parserMessage}` });
    }
  });

  test('a message that does not fit the schema: 400 naming the field', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{}, /missing field 'add'/],
      [{ ad: 1 }, /missing field 'add'/],
      [{ add: 1, extra: 2 }, /extra/],
      [{ add: 'one' }, /'add'|add/],
      [5, /object|5/],
      [null, /null|object/],
    ];
    for (const [body, pattern] of cases) {
      const r = await post(s, '/actors/counter/schema', body === null ? 'null' : body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.code, 'ERR_RINGSHARD_SCHEMA');
      assert.match(r.body.error, pattern);
    }
    const r = await post(s, '/actors/stats/schema', { samples: [1, 2, 3], n: 3 });
    assert.equal(r.status, 400);
    assert.match(r.body.error, /samples/);
    // Nothing was applied.
    assert.deepEqual((await get(s, '/actors/counter/schema')).body, { total: 0, count: 0 });
  });

  test('unknown kernel: 404 with the message; unknown routes: 404', async () => {
    const r = await post(s, '/actors/nope/a', { add: 1 });
    assert.equal(r.status, 404);
    assert.equal(r.body.code, 'ERR_RINGSHARD_UNKNOWN_KERNEL');
    assert.match(r.body.error, /unknown kernel "nope".*'echo', 'counter', 'stats'/);
    assert.equal((await get(s, '/actors/nope/a')).status, 404);
    for (const path of ['/', '/nope', '/actors', '/actors/counter', '/actors/counter/', '/actors/counter/a/b', '/metrics/x']) {
      const g = await get(s, path);
      assert.equal(g.status, 404, path);
      assert.equal(typeof g.body.error, 'string');
      assert.equal(g.body.code, undefined);
    }
  });

  test('wrong method: 405 with Allow', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const r = await call(s.url, method, '/actors/counter/a', { add: 1 });
      assert.equal(r.status, 405);
      assert.equal(r.headers.get('allow'), 'GET, POST');
      assert.equal(typeof r.body.error, 'string');
    }
    const m = await post(s, '/metrics', {});
    assert.equal(m.status, 405);
    assert.equal(m.headers.get('allow'), 'GET');
  });

  test('bodies over 1 MiB: 413, with or without content-length; exactly 1 MiB is fine', async () => {
    const exact = '{"add":1}'.padEnd(MiB, ' ');
    assert.deepEqual((await post(s, '/actors/counter/big', exact)).body, { total: 1, count: 1 });
    const over = await post(s, '/actors/counter/big', exact + ' ');
    assert.equal(over.status, 413);
    assert.match(over.body.error, /larger than 1048576 bytes/);
    // Chunked (no content-length): refused while streaming.
    const chunk = new TextEncoder().encode(' '.repeat(64 * 1024));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 40; i++) controller.enqueue(chunk);
        controller.close();
      },
    });
    const res = await fetch(`${s.url}/actors/counter/big`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    assert.equal(res.status, 413);
    assert.match(((await res.json()) as { error: string }).error, /larger than/);
    // Nothing was applied, and the server carries on.
    assert.deepEqual((await post(s, '/actors/counter/big', { add: 2 })).body, { total: 3, count: 2 });
  });
});

test('overload: a full ring answers 503 with Retry-After; what was accepted is correct', async () => {
  await withServer({ cluster: { backend: 'cpu', shards: 1, ringCapacity: 4, maxBatch: 4, kernels: [counter, slow] } }, async (s) => {
    // Occupy the only shard: its INIT and message keep 2 of the 4 slots until it is done.
    const busy = post(s, '/actors/busy/x', { ms: 1000 });
    const deadline = Date.now() + 10_000;
    while (s.cluster.info().shards[0]!.ringDepth < 2) {
      assert.ok(Date.now() < deadline, 'the slow message never reached the ring');
      await new Promise((r) => setTimeout(r, 1));
    }
    const adds = Array.from({ length: 40 }, (_, i) => i + 1);
    const answers = await Promise.all(adds.map((add) => post(s, '/actors/counter/hot', { add })));
    const refused = answers.filter((a) => a.status === 503);
    assert.ok(refused.length >= 1, 'no request was refused');
    for (const a of refused) {
      assert.equal(a.headers.get('retry-after'), '1');
      assert.equal(a.body.code, 'ERR_RINGSHARD_RING_FULL');
      assert.match(a.body.error, /ring is full/);
    }
    // Every other answer is a correct reply: in handling order (count), each total adds its add.
    const accepted = answers.map((a, i) => ({ ...a, add: adds[i]! })).filter((a) => a.status !== 503);
    for (const a of accepted) assert.equal(a.status, 200, JSON.stringify(a.body));
    accepted.sort((a, b) => a.body.count - b.body.count);
    let total = 0;
    accepted.forEach((a, i) => {
      total += a.add;
      assert.deepEqual(a.body, { total, count: i + 1 });
    });
    assert.deepEqual((await busy).body, { n: 1 });
    assert.deepEqual((await get(s, '/actors/counter/hot')).body, { total, count: accepted.length });
    const m = await scrape(s);
    assert.equal(valueOf(m, 'http_requests_total', { method: 'POST', route: ROUTE, status: '503' }), refused.length);
    assert.equal(sumOf(m, 'ringshard_messages_total', { kernel: 'counter', status: 'ok' }), accepted.length);
  });
});

test('overload: beyond maxInFlight, 503 with Retry-After before the body is read; /metrics still answers', async () => {
  await withServer({ maxInFlight: 0, cluster: { backend: 'cpu' } }, async (s) => {
    const r = await post(s, '/actors/counter/a', { add: 1 });
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.match(r.body.error, /maxInFlight 0/);
    assert.equal((await get(s, '/actors/counter/a')).status, 503);
    assert.equal((await get(s, '/metrics')).status, 200);
    assert.equal(s.cluster.info().actors, 0);
  });
});

test('a handler status is 422; an ask timeout is 504; a closed cluster is 503', async () => {
  await withServer({ cluster: { backend: 'cpu', shards: 1, kernels: [flaky, slow], askTimeoutMs: 100 } }, async (s) => {
    assert.deepEqual((await post(s, '/actors/flaky/f', { fail: 0 })).body, { n: 1 });
    const failed = await post(s, '/actors/flaky/f', { fail: 7 });
    assert.equal(failed.status, 422);
    assert.equal(failed.body.code, 'ERR_RINGSHARD_HANDLER');
    assert.match(failed.body.error, /status 7/);
    const batch = await post(s, '/actors/flaky/f', [{ fail: 0 }, { fail: 3 }]);
    assert.equal(batch.status, 422);
    assert.match(batch.body.error, /1 of 2 messages failed/);

    const late = await post(s, '/actors/busy/t', { ms: 400 });
    assert.equal(late.status, 504);
    assert.equal(late.body.code, 'ERR_RINGSHARD_TIMEOUT');
    assert.match(late.body.error, /timed out after 100 ms/);

    await s.cluster.shutdown();
    const closed = await post(s, '/actors/flaky/f', { fail: 0 });
    assert.equal(closed.status, 503);
    assert.equal(closed.body.code, 'ERR_RINGSHARD_CLOSED');
    assert.equal(closed.headers.get('retry-after'), '1');
  });
});

test('/metrics: cluster counters exact per kernel, HTTP counters, process default metrics', async () => {
  await withServer({ cluster: { backend: 'cpu', shards: 2 } }, async (s) => {
    for (let i = 0; i < 7; i++) assert.equal((await post(s, `/actors/counter/k${i % 3}`, { add: 1 })).status, 200);
    assert.equal((await post(s, '/actors/counter/k0', [{ add: 1 }, { add: 1 }, { add: 1 }, { add: 1 }])).status, 200);
    assert.equal((await post(s, '/actors/counter/k0', { nope: 1 })).status, 400); // never sent
    assert.equal((await get(s, '/actors/counter/k1')).status, 200); // a snapshot is not a message
    for (let i = 0; i < 2; i++) assert.equal((await post(s, '/actors/stats/s', { samples: samplesFor(i, 8), n: 8 })).status, 200);

    const m = await scrape(s);
    assert.equal(sumOf(m, 'ringshard_messages_total', { kernel: 'counter', status: 'ok' }), 11);
    assert.equal(sumOf(m, 'ringshard_messages_total', { kernel: 'counter' }), 11);
    assert.equal(sumOf(m, 'ringshard_messages_total', { kernel: 'stats', status: 'ok' }), 2);
    assert.equal(sumOf(m, 'ringshard_messages_total', { kernel: 'echo' }), 0);
    assert.equal(m.get('http_requests_total')?.type, 'counter');
    assert.equal(valueOf(m, 'http_requests_total', { method: 'POST', route: ROUTE, status: '200' }), 10);
    assert.equal(valueOf(m, 'http_requests_total', { method: 'POST', route: ROUTE, status: '400' }), 1);
    assert.equal(valueOf(m, 'http_requests_total', { method: 'GET', route: ROUTE, status: '200' }), 1);
    assert.equal(valueOf(m, 'http_request_duration_seconds_count', { method: 'POST', route: ROUTE, status: '200' }), 10);
    assert.ok(valueOf(m, 'http_request_duration_seconds_sum', { method: 'POST', route: ROUTE, status: '200' }) > 0);
    assert.equal(m.get('process_cpu_seconds_total')?.type, 'counter');
    assert.ok(valueOf(m, 'process_cpu_seconds_total') > 0);
    assert.equal(valueOf(m, 'ringshard_info', { backend: 'cpu' }), 1);

    // The first scrape is counted once it is answered; OpenMetrics when asked for.
    const om = await fetch(`${s.url}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
    assert.equal(om.headers.get('content-type'), 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    const omText = await om.text();
    assert.match(omText, /^http_requests_total\{method="GET",route="\/metrics",status="200"\} 1$/m);
    assert.ok(omText.endsWith('# EOF\n'));
    const again = await scrape(s);
    assert.equal(valueOf(again, 'http_requests_total', { method: 'GET', route: '/metrics', status: '200' }), 2);
  });
});

test("bench/http-load.ts's baseline (serveActors over a Map of counters) answers as the cluster server does", async () => {
  const map = new MapCounters();
  const front = await serveActors(map, { port: 0 });
  try {
    await withServer({ cluster: { backend: 'cpu', shards: 2 } }, async (s) => {
      const requests: Array<[string, string, unknown?]> = [
        ['POST', '/actors/counter/a', { add: 5 }],
        ['POST', '/actors/counter/a', [{ add: 1 }, { add: 2 }]],
        ['POST', '/actors/counter/a', []],
        ['POST', '/actors/counter/a%2Fb', { add: 4294967295 }],
        ['POST', '/actors/counter/a%2Fb', { add: 2 }], // u32 wraps
        ['GET', '/actors/counter/a'],
        ['GET', '/actors/counter/fresh'],
        ['POST', '/actors/counter/a', { add: 1, extra: 2 }],
        ['POST', '/actors/counter/a', [{ add: 1 }, { ad: 2 }]],
        ['POST', '/actors/counter/a', '{"add":'],
        ['POST', '/actors/counter/%E0%A4%A', { add: 1 }],
        ['PUT', '/actors/counter/a', { add: 1 }],
        ['GET', '/actors/counter'],
        ['POST', '/metrics', {}],
        ['GET', '/actors/counter/a'],
      ];
      for (const [method, path, body] of requests) {
        const [want, got] = await Promise.all([call(s.url, method, path, body), call(front.url, method, path, body)]);
        assert.equal(got.status, want.status, `${method} ${path}`);
        assert.deepEqual(got.body, want.body, `${method} ${path}`);
        assert.equal(got.headers.get('allow'), want.headers.get('allow'), `${method} ${path}`);
      }
      // A kernel the Map does not run is a 404 with the same code (its message names what it runs).
      const unknown = await call(front.url, 'POST', '/actors/stats/a', { samples: [1], n: 1 });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.code, 'ERR_RINGSHARD_UNKNOWN_KERNEL');
      assert.deepEqual(map.states.get('a'), { total: 8, count: 3 });

      // The same HTTP metrics; the Map has no cluster metrics to add.
      const res = await fetch(`${front.url}/metrics`);
      const m = parseExposition(await res.text());
      assert.equal(valueOf(m, 'http_requests_total', { method: 'POST', route: ROUTE, status: '200' }), 5);
      assert.equal(valueOf(m, 'http_requests_total', { method: 'POST', route: ROUTE, status: '400' }), 3);
      assert.equal(valueOf(m, 'http_requests_total', { method: 'POST', route: 'unmatched', status: '400' }), 1); // bad percent-encoding
      assert.equal(m.get('ringshard_messages_total'), undefined);
    });
  } finally {
    await front.close();
  }
});

test('run directly: serves on PORT, prints its URL, exits 0 on SIGTERM', { timeout: 120_000 }, async () => {
  const file = fileURLToPath(new URL('../../examples/http-server.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let stdout = '';
    child.stdout.setEncoding('utf8');
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (text: string) => {
        stdout += text;
        const found = /(http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
        if (found) resolve(found[1]!);
      });
      child.once('exit', (code) => reject(new Error(`exited with ${code} before listening: ${stdout}`)));
    });
    const r = await call(url, 'POST', '/actors/counter/cli', { add: 4 });
    assert.deepEqual(r.body, { total: 4, count: 1 });
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

gpuTest('webgpu (default backend, 1 shard): asks, batches, snapshots and metrics over HTTP', async () => {
  await withServer({ cluster: { shards: 1 } }, async (s) => {
    assert.equal(s.cluster.backend, 'webgpu');
    for (let i = 1; i <= 10; i++) assert.deepEqual((await post(s, '/actors/counter/g', { add: i })).body, { total: (i * (i + 1)) / 2, count: i });
    assert.deepEqual((await post(s, '/actors/counter/g', [{ add: 100 }, { add: 1 }])).body, [
      { total: 155, count: 11 },
      { total: 156, count: 12 },
    ]);
    assert.deepEqual((await get(s, '/actors/counter/g')).body, { total: 156, count: 12 });

    const e = await post(s, '/actors/echo/g', { seq: 5, value: -9, data: [1, 2, 3, 4.5] });
    assert.deepEqual(e.body, { seq: 5, value: -9, data: [1, 2, 3, 4.5], count: 1, actor: s.cluster.actor(echo, 'g').actorId, messageId: e.body.messageId });

    // GPU f32 division may differ from JS by a few ulps: compare within a tolerance.
    const samples = samplesFor(99, 8);
    const got = (await post(s, '/actors/stats/g', { samples, n: 8 })).body;
    const want = expectedStats(samples);
    assert.equal(got.count, 8);
    assert.equal(got.min, want.min);
    assert.equal(got.max, want.max);
    assert.ok(Math.abs(got.mean - want.mean) <= 1e-4 * Math.max(1, Math.abs(want.mean)), `mean ${got.mean} vs ${want.mean}`);
    assert.ok(Math.abs(got.variance - want.variance) <= 1e-4 * want.variance, `variance ${got.variance} vs ${want.variance}`);

    assert.equal((await post(s, '/actors/stats/g', { samples: [1], n: 1 })).status, 400);
    const m = await scrape(s);
    assert.equal(sumOf(m, 'ringshard_messages_total', { kernel: 'counter', status: 'ok' }), 12);
    assert.equal(sumOf(m, 'ringshard_messages_total', { kernel: 'stats', status: 'ok' }), 1);
    assert.equal(valueOf(m, 'ringshard_info', { backend: 'webgpu' }), 1);
  });
});

