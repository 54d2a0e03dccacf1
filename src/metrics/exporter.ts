/**
 * The /metrics exporter: serves a prom-client Registry (the cluster's, or one merged with
 * a host server's) over node:http, in the Prometheus text format, or in OpenMetrics when
 * the scraper's Accept header asks for it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, type Metric } from 'prom-client';

export type ExpositionFormat = 'prometheus' | 'openmetrics';

/** OpenMetrics when the Accept header names it, the Prometheus text format otherwise. */
export function chooseFormat(accept: string | undefined): ExpositionFormat {
  return accept !== undefined && /application\/openmetrics-text/i.test(accept) ? 'openmetrics' : 'prometheus';
}

/**
 * Renders `registry` in `format`. prom-client renames counters (drops `_total`) on the
 * metric objects when it renders OpenMetrics, which would then leak into later
 * Prometheus-format scrapes; so OpenMetrics is rendered through thin per-scrape wrappers.
 */
export async function renderMetrics(registry: Registry, format: ExpositionFormat): Promise<{ contentType: string; body: string }> {
  if (format === 'prometheus') {
    return { contentType: Registry.PROMETHEUS_CONTENT_TYPE, body: spellNaN(await registry.metrics()) };
  }
  // prom-client's typings omit the constructor's content-type argument.
  const OpenMetricsRegistry = Registry as unknown as new (contentType: string) => Registry;
  const om = new OpenMetricsRegistry(Registry.OPENMETRICS_CONTENT_TYPE);
  for (const m of registry.getMetricsAsArray()) {
    const metric = m as unknown as { name: string; help: string; type: string; get(): Promise<object> };
    const wrapper = {
      name: metric.name,
      help: metric.help,
      type: metric.type,
      get: async () => ({ ...(await metric.get()), name: wrapper.name }),
      reset: () => {},
    };
    om.registerMetric(wrapper as unknown as Metric);
  }
  return { contentType: Registry.OPENMETRICS_CONTENT_TYPE, body: spellNaN(await om.metrics()) };
}

// prom-client 15 writes NaN as "Nan" (e.g. event-loop-lag gauges before their first
// sample). Both formats spell it "NaN"; strict parsers refuse the other spelling.
function spellNaN(text: string): string {
  return text.replace(/ Nan$/gm, ' NaN');
}

/** A node:http request handler serving `registry` at `path`. */
export function metricsHandler(registry: Registry, path = '/metrics'): http.RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== path) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found; metrics are at ${path}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    renderMetrics(registry, chooseFormat(req.headers.accept)).then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (error: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${error.message}\n`);
      },
    );
  };
}

export interface MetricsServerOptions {
  /** TCP port; 0 picks a free one. @default 9464 */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default '/metrics' */
  readonly path?: string;
}

export interface MetricsServer {
  /** Where the metrics are, e.g. http://127.0.0.1:9464/metrics */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Starts an HTTP server that serves `registry`; resolves once it listens. */
export async function serveMetrics(registry: Registry, options: MetricsServerOptions = {}): Promise<MetricsServer> {
  const path = options.path ?? '/metrics';
  const host = options.host ?? '127.0.0.1';
  const server = http.createServer(metricsHandler(registry, path));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9464, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}${path}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
