/**
 * A ringshard cluster behind node:http: every actor is a URL, every request body a message.
 *
 *   POST /actors/counter/user-42  {"add":5}              -> {"total":5,"count":1}
 *   POST /actors/counter/user-42  [{"add":1},{"add":2}]  -> [{"total":6,...},{"total":8,...}]
 *   GET  /actors/counter/user-42                          -> {"total":8,"count":3}  (its state)
 *   GET  /metrics                                         -> cluster, process and HTTP metrics
 *
 * Run it with `node --import tsx examples/http-server.ts` (PORT, default 8080), or embed it:
 * `const server = await startServer({ port: 0 }); ...; await server.close();`
 *
 * The HTTP side (routes, parsing, status codes, metrics) is serveActors(): it asks whatever
 * ActorSource it is given. startServer() gives it a Cluster; bench/http-load.ts also gives it
 * a plain Map of counters, so the two servers it compares differ only in where actors live.
 *
 * In an application, import from 'ringshard' and 'ringshard/metrics' instead of the paths below.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { Cluster, ErrorCode, RingshardError, counter, echo, stats, type ClusterOptions, type MessageOf, type Schema } from '../src/index.ts';
import { chooseFormat, renderMetrics } from '../src/metrics/exporter.ts';

export interface HttpOptions {
  /** TCP port; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Actor requests handled at once; more are answered 503. @default 10_000 */
  readonly maxInFlight?: number;
}

export interface ServerOptions extends HttpOptions {
  /**
   * Cluster options, over this server's defaults: the built-in kernels, `logger: false`,
   * and `backpressure: 'reject'` (a full ring answers 503 at once instead of queueing).
   */
  readonly cluster?: Partial<ClusterOptions>;
}

/** One actor as the server uses it: an ActorRef has this shape. */
export interface ActorHandle {
  ask(msg: MessageOf<Schema>): Promise<unknown>;
  askMany(msgs: readonly MessageOf<Schema>[]): Promise<unknown[]>;
  snapshot(): Promise<unknown>;
}

/** Where the server's actors live: a Cluster has this shape. */
export interface ActorSource {
  /** The actor `key` of `kernel`; throws ERR_RINGSHARD_UNKNOWN_KERNEL for a kernel it does not run. */
  actor(kernel: string, key: string): ActorHandle;
  /** Served on /metrics, merged with the server's own metrics. */
  readonly registry: Registry;
}

export interface HttpServer {
  /** e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly port: number;
  /** Stops accepting connections and lets requests in progress finish. */
  close(): Promise<void>;
}

export interface RunningServer extends HttpServer {
  readonly cluster: Cluster;
  /** Stops accepting connections, lets requests in progress finish, shuts the cluster down. */
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;
/** Seconds a client should wait after a 503 (the ring drains in well under a second). */
const RETRY_AFTER_SECONDS = 1;
/** How long close() lets requests in progress finish before cutting their connections. */
const CLOSE_GRACE_MS = 5_000;

/** An error that already knows its HTTP answer. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly code?: string,
  ) {
    super(message);
  }
}

/** How each ringshard error code maps to HTTP; codes not listed are a 500. */
const STATUS_BY_CODE: Partial<Record<string, number>> = {
  [ErrorCode.SCHEMA]: 400, // the message does not fit the kernel's request schema
  [ErrorCode.UNKNOWN_KERNEL]: 404,
  [ErrorCode.HANDLER]: 422, // the kernel's handler refused the message (set ctx.status)
  [ErrorCode.RING_FULL]: 503, // backpressure: the shard's ring is full right now
  [ErrorCode.CLOSED]: 503, // shutting down
  [ErrorCode.WORKER_EXIT]: 503, // a shard is being replaced; its actors restart afresh
  [ErrorCode.DEVICE_LOST]: 503,
  [ErrorCode.TIMEOUT]: 504,
};

function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof RingshardError) {
    const status = STATUS_BY_CODE[error.code] ?? 500;
    return new HttpError(status, error.message, status === 503 ? overloadHeaders() : {}, error.code);
  }
  console.error('http-server: unexpected error:', error);
  return new HttpError(500, 'internal server error');
}

function overloadHeaders(): Record<string, string> {
  return { 'retry-after': String(RETRY_AFTER_SECONDS) };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: http.ServerResponse, error: HttpError): void {
  sendJson(res, error.status, { error: error.message, ...(error.code ? { code: error.code } : {}) }, error.headers);
}

/** Reads the whole body, refusing (413) more than MAX_BODY_BYTES instead of buffering it. */
function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const tooLarge = () => new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`, { connection: 'close' });
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      chunks.push(chunk);
      if (size <= MAX_BODY_BYTES) return;
      // A chunked body with no content-length: stop keeping it (the 413 closes the connection).
      req.off('data', onData);
      chunks.length = 0;
      reject(tooLarge());
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new HttpError(400, `invalid JSON: ${(error as Error).message}`);
  }
}

type Route = { readonly name: 'actor'; readonly kernel: string; readonly key: string } | { readonly name: 'metrics' } | undefined;

/** `/actors/:kernel/:key` (both URL-decoded) or `/metrics`; anything else is no route. */
function matchRoute(pathname: string): Route {
  if (pathname === '/metrics') return { name: 'metrics' };
  const parts = pathname.split('/'); // split before decoding, so a key may contain %2F
  if (parts.length !== 4 || parts[0] !== '' || parts[1] !== 'actors' || !parts[2] || !parts[3]) return undefined;
  try {
    return { name: 'actor', kernel: decodeURIComponent(parts[2]), key: decodeURIComponent(parts[3]) };
  } catch {
    throw new HttpError(400, `malformed percent-encoding in ${pathname}`);
  }
}

/** Route templates, not raw paths, label the HTTP metrics: keys would make series unbounded. */
const ROUTE_LABEL = { actor: '/actors/:kernel/:key', metrics: '/metrics', none: 'unmatched' } as const;
const ALLOWED: Record<'actor' | 'metrics', readonly string[]> = { actor: ['GET', 'POST'], metrics: ['GET'] };

/** Starts a cluster of the built-in kernels and serves its actors over HTTP. */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const cluster = await Cluster.start({ kernels: [echo, counter, stats], logger: false, backpressure: 'reject', ...options.cluster });
  let front: HttpServer;
  try {
    front = await serveActors(refsOf(cluster), options);
  } catch (error) {
    await cluster.shutdown();
    throw error;
  }
  let closed: Promise<void> | undefined;
  async function close(): Promise<void> {
    await front.close();
    // Only now: requests still in progress needed the cluster to answer.
    await cluster.shutdown();
  }
  return { url: front.url, port: front.port, cluster, close: () => (closed ??= close()) };
}

/** Refs kept beyond this many are dropped (all at once) and made again on their next request. */
const MAX_CACHED_REFS = 100_000;

/**
 * The cluster's actors, one ActorRef per actor kept for its later requests. A ref is free
 * to make, but a fresh one builds its identity string anew and the cluster hashes it on
 * first use; a kept ref goes straight to its actor.
 */
function refsOf(cluster: Cluster): ActorSource {
  const refs = new Map<string, Map<string, ActorHandle>>();
  let size = 0;
  return {
    registry: cluster.registry,
    actor(kernel, key) {
      let byKey = refs.get(kernel);
      const cached = byKey?.get(key);
      if (cached !== undefined) return cached;
      const ref = cluster.actor(kernel, key); // throws ERR_RINGSHARD_UNKNOWN_KERNEL: nothing kept
      if (size >= MAX_CACHED_REFS) {
        refs.clear();
        size = 0;
        byKey = undefined;
      }
      if (byKey === undefined) refs.set(kernel, (byKey = new Map()));
      byKey.set(key, ref);
      size++;
      return ref;
    },
  };
}

/**
 * Serves `actors` over HTTP: the routes above, with their parsing, status codes and
 * metrics. Closing it does not close `actors`.
 */
export async function serveActors(actors: ActorSource, options: HttpOptions = {}): Promise<HttpServer> {
  const maxInFlight = options.maxInFlight ?? 10_000;

  // The server's own metrics live in their own Registry; /metrics serves it merged with the
  // actors' (both registries' metrics are fixed once started, so merging once is enough).
  const httpRegistry = new Registry();
  collectDefaultMetrics({ register: httpRegistry });
  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered', labelNames: ['method', 'route', 'status'], registers: [httpRegistry] });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from request to response sent',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [httpRegistry],
  });
  const registry = Registry.merge([actors.registry, httpRegistry]);

  let inFlight = 0;
  let closing = false;

  async function actorRequest(req: http.IncomingMessage, res: http.ServerResponse, kernel: string, key: string): Promise<void> {
    // Refuse before reading the body: under overload the cheapest answer is the best one.
    if (inFlight >= maxInFlight) throw new HttpError(503, `server busy: ${inFlight} requests in flight (maxInFlight ${maxInFlight})`, overloadHeaders());
    inFlight++;
    res.once('close', () => inFlight--);
    const actor = actors.actor(kernel, key); // throws ERR_RINGSHARD_UNKNOWN_KERNEL
    if (req.method === 'GET') return sendJson(res, 200, await actor.snapshot());
    // The actor checks the message against its kernel's schema (ERR_RINGSHARD_SCHEMA).
    const message = parseJson(await readBody(req)) as MessageOf<Schema>;
    // An array is a batch: one askMany, replies in order; refused as a whole (503) when
    // the ring has no room for all of it under 'reject' backpressure.
    const reply = Array.isArray(message) ? await actor.askMany(message) : await actor.ask(message);
    sendJson(res, 200, reply);
  }

  async function metricsRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const { contentType, body } = await renderMetrics(registry, chooseFormat(req.headers.accept));
    res.writeHead(200, { 'content-type': contentType }).end(body);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    let routeLabel: string = ROUTE_LABEL.none;
    const timer = duration.startTimer();
    res.once('finish', () => {
      const labels = { method, route: routeLabel, status: String(res.statusCode) };
      requests.inc(labels);
      timer(labels);
    });
    // While closing, end each keep-alive connection after its response, so close() can finish.
    if (closing) res.setHeader('connection', 'close');
    try {
      const route = matchRoute(new URL(req.url ?? '/', 'http://localhost').pathname);
      if (!route) throw new HttpError(404, `no route for ${method} ${req.url}`);
      routeLabel = ROUTE_LABEL[route.name];
      const allowed = ALLOWED[route.name];
      if (!allowed.includes(method)) throw new HttpError(405, `${method} is not allowed here; use ${allowed.join(' or ')}`, { allow: allowed.join(', ') });
      if (route.name === 'metrics') await metricsRequest(req, res);
      else await actorRequest(req, res, route.kernel, route.key);
    } catch (error) {
      const httpError = toHttpError(error);
      if (res.headersSent) res.destroy(httpError); // too late for an error response
      else sendError(res, httpError);
    }
  }

  const server = http.createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;

  let closed: Promise<void> | undefined;
  async function close(): Promise<void> {
    closing = true;
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
    await stopped;
    clearTimeout(force);
  }

  return { url: `http://${host}:${port}`, port, close: () => (closed ??= close()) };
}

// Run directly: serve on PORT (default 8080) until SIGINT or SIGTERM.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = await startServer({ port: Number(process.env.PORT ?? 8080), host: process.env.HOST ?? '127.0.0.1' });
  console.log(`ringshard http server on ${server.url} (backend ${server.cluster.backend}); try:`);
  console.log(`  curl -X POST ${server.url}/actors/counter/user-42 -d '{"add":5}'`);
  const stop = (signal: string) => {
    console.log(`${signal}: closing`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
