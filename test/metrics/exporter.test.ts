import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { chooseFormat, renderMetrics, serveMetrics } from '../../src/metrics/exporter.ts';
import { Cluster, counter } from '../../src/index.ts';
import { parseExposition, valueOf } from '../helpers/exposition.ts';

test('chooseFormat reads the Accept header', () => {
  assert.equal(chooseFormat(undefined), 'prometheus');
  assert.equal(chooseFormat('text/plain'), 'prometheus');
  assert.equal(chooseFormat('application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5'), 'openmetrics');
});

test('a host registry merged with the cluster registry serves both, in both formats', async () => {
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', logger: false });
  const own = new Registry();
  collectDefaultMetrics({ register: own });
  const requests = new Counter({ name: 'http_requests_total', help: 'requests', registers: [own] });
  requests.inc(3);
  const server = await serveMetrics(Registry.merge([cluster.registry, own]), { port: 0 });
  try {
    await cluster.actor(counter, 'a').ask({ add: 1 });
    const res = await fetch(server.url);
    const m = parseExposition(await res.text());
    assert.equal(valueOf(m, 'http_requests_total'), 3);
    assert.equal(valueOf(m, 'ringshard_messages_total', { kernel: 'counter', status: 'ok' }), 1);
    assert.ok(m.has('process_cpu_seconds_total'));
    const om = await renderMetrics(Registry.merge([cluster.registry, own]), 'openmetrics');
    assert.match(om.body, /^http_requests_total 3$/m);
    assert.match(om.body, /# EOF\n$/);
    // Rendering OpenMetrics must not rename counters for later Prometheus scrapes.
    assert.match(await (await fetch(server.url)).text(), /^# TYPE http_requests_total counter$/m);
  } finally {
    await server.close();
    await cluster.shutdown();
  }
});

test('the exporter answers 404 off its path, 405 for other methods, and HEAD without a body', async () => {
  const server = await serveMetrics(new Registry(), { port: 0 });
  try {
    const base = server.url.replace('/metrics', '');
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(server.url, { method: 'POST' })).status, 405);
    const head = await fetch(server.url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  } finally {
    await server.close();
  }
});

test('Cluster.start reports a metrics port it cannot use, naming the option', async () => {
  const server = await serveMetrics(new Registry(), { port: 0 });
  try {
    await assert.rejects(
      Cluster.start({ kernels: [counter], backend: 'cpu', logger: false, metrics: { port: server.port } }),
      (err: any) => err.code === 'ERR_RINGSHARD_INVALID_OPTION' && /options.metrics.port: cannot serve metrics: .*EADDRINUSE/.test(err.message),
    );
  } finally {
    await server.close();
  }
});
