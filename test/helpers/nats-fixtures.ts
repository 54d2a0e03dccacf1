/**
 * The NATS tests' fixtures, one copy each:
 * - FAST: heartbeats every 100 ms, a node silent for 600 ms is dead (failover in a test's time);
 * - withNatsCluster: a nats-server (test/helpers/nats-server.ts) and the nodes a test starts
 *   on it (clusters in this process, nodes in child processes), all stopped after the
 *   body, whether it returned or threw, in this order: what the test deferred (last
 *   first; closed-loop loads among it), child nodes still alive, clusters (in the order
 *   they started), the server. A test may kill or stop any of them on purpose first:
 *   Cluster.shutdown() and NatsServer.stop() may be called again, and a child node that
 *   is gone is left alone;
 * - closedLoopAsks: one loop per counter actor that asks again as soon as its last ask
 *   is answered, until stop(), which gives each actor's reply counts and the failures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, type ClusterOptions } from '../../src/index.ts';
import { startNatsServer, type NatsServer, type NatsServerOptions } from './nats-server.ts';
import { startChildNode, type ChildNode } from './nats-node.ts';

/** options.nats timings for tests: a dead node is noticed (and its actors taken over) within 600 ms. */
export const FAST = { heartbeatMs: 100, deadAfterMs: 600 };

type NatsOptions = NonNullable<ClusterOptions['nats']>;

/**
 * Cluster.start's options for a node of the fixture's server: shards 1, backend 'cpu',
 * logger off unless given; options.nats is { servers: the server's URL, node, ...FAST,
 * ...nats } (so `nats` may add to or override any of them, servers included).
 */
export type NodeOptions = Omit<ClusterOptions, 'nats'> & { readonly node: string; readonly nats?: Partial<NatsOptions> };

/** startChildNode's options; servers (the fixture's server) and FAST unless given. */
export type ChildNodeOptions = Omit<Parameters<typeof startChildNode>[0], 'servers'> & { readonly servers?: string };

export interface NatsFixture {
  /** The server the body started with (after restartServer(), its return value or fixture.server is the one running). */
  readonly server: NatsServer;
  /** A cluster on the server (see NodeOptions), shut down after the body unless the body did. */
  start(options: NodeOptions): Promise<Cluster>;
  /** A node in a child process (test/helpers/nats-node.ts), shut down (or killed) after the body unless it is gone. */
  startChild(options: ChildNodeOptions): Promise<ChildNode>;
  /** Stops the server (if it still runs) and starts it again on the same port with the same JetStream store. */
  restartServer(): Promise<NatsServer>;
  /** closedLoopAsks, stopped after the body (before any node) unless the body stopped it. */
  closedLoopAsks: typeof closedLoopAsks;
  /** `fn` runs after the body, before any node stops; the last deferred runs first. */
  defer(fn: () => unknown): void;
}

export interface NatsFixtureOptions extends NatsServerOptions {
  /**
   * After the body, wait at most this long for each cluster's shutdown (for a test that
   * stops the server on purpose: a node may not finish leaving without it).
   * @default no limit
   */
  readonly shutdownWithinMs?: number;
}

/** How long a child node gets to leave cleanly after the body before it is killed. */
const CHILD_SHUTDOWN_MS = 10_000;

const childAlive = (c: ChildNode) => c.child.exitCode === null && c.child.signalCode === null;

/** `promise`'s value, or onLate()'s once `ms` passed first (no limit: ms undefined). */
async function within<T>(promise: Promise<T>, ms: number | undefined, onLate: () => T | Promise<T>): Promise<T> {
  if (ms === undefined) return promise;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
  try {
    const first = await Promise.race([promise, late]);
    return first === 'late' ? onLate() : first;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `body` with a nats-server (options: startNatsServer's, plus shutdownWithinMs) and
 * stops everything it started afterwards (see the file's comment for the order). The
 * body's error wins; otherwise the first error of the clean-up (a shutdown that failed)
 * fails the test.
 */
export async function withNatsCluster<T>(body: (fixture: NatsFixture) => Promise<T>): Promise<T>;
export async function withNatsCluster<T>(options: NatsFixtureOptions, body: (fixture: NatsFixture) => Promise<T>): Promise<T>;
export async function withNatsCluster<T>(
  a: NatsFixtureOptions | ((fixture: NatsFixture) => Promise<T>),
  b?: (fixture: NatsFixture) => Promise<T>,
): Promise<T> {
  const [options, body] = typeof a === 'function' ? [{} as NatsFixtureOptions, a] : [a, b!];
  const { shutdownWithinMs, ...serverOptions } = options;
  // A store of the fixture's own unless given, so that restartServer() finds the streams again.
  const ownStore = serverOptions.storeDir === undefined ? mkdtempSync(join(tmpdir(), 'ringshard-nats-')) : undefined;
  const storeDir = serverOptions.storeDir ?? ownStore!;
  let server: NatsServer;
  try {
    server = await startNatsServer({ ...serverOptions, storeDir });
  } catch (error) {
    if (ownStore) rmSync(ownStore, { recursive: true, force: true });
    throw error;
  }
  const clusters: Cluster[] = [];
  const children: ChildNode[] = [];
  const deferred: (() => unknown)[] = [];
  const fixture: NatsFixture = {
    get server() {
      return server;
    },
    async start({ node, nats, ...rest }) {
      const cluster = await Cluster.start({ shards: 1, backend: 'cpu', logger: false, ...rest, nats: { servers: server.url, node, ...FAST, ...nats } });
      clusters.push(cluster);
      return cluster;
    },
    async startChild(childOptions) {
      const child = await startChildNode({ servers: server.url, ...FAST, ...childOptions });
      children.push(child);
      return child;
    },
    async restartServer() {
      await server.stop();
      server = await startNatsServer({ ...serverOptions, storeDir, port: server.port });
      return server;
    },
    closedLoopAsks(refs, loopOptions) {
      const load = closedLoopAsks(refs, loopOptions);
      deferred.push(() => load.stop());
      return load;
    },
    defer(fn) {
      deferred.push(fn);
    },
  };

  let failed = false;
  let bodyError: unknown;
  let result: T | undefined;
  try {
    result = await body(fixture);
  } catch (error) {
    failed = true;
    bodyError = error;
  }
  const cleanupErrors: unknown[] = [];
  const attempt = async (step: () => unknown) => {
    try {
      await step();
    } catch (error) {
      cleanupErrors.push(error);
    }
  };
  for (const fn of deferred.reverse()) await attempt(fn);
  for (const child of children) {
    if (childAlive(child)) await attempt(() => within(child.shutdown(), CHILD_SHUTDOWN_MS, () => child.kill()).catch(() => child.kill()));
  }
  for (const cluster of clusters) await attempt(() => within(cluster.shutdown(), shutdownWithinMs, () => undefined));
  await attempt(() => server.stop());
  if (ownStore) rmSync(ownStore, { recursive: true, force: true });
  if (failed) throw bodyError;
  if (cleanupErrors.length > 0) throw cleanupErrors[0];
  return result as T;
}

/** What closedLoopAsks needs of a ref: a counter's ask (the reply's count is the actor's message count). */
export interface CounterRef {
  ask(msg: { add: number }): Promise<{ count: number }>;
}

export interface ClosedLoopOptions<R extends CounterRef> {
  /** Asks in flight per actor: each round sends this many ({ add: 1 } each) at once and waits for all of them. @default 1 */
  readonly burst?: number;
  /** After each round whose asks all succeeded, with its counts (a throw here counts as a failure). */
  readonly afterRound?: (ref: R, counts: number[]) => void;
}

export interface ClosedLoop {
  /** Rounds that failed so far (an ask rejected). */
  readonly failures: number;
  /** Stops asking and resolves, once every loop's last round ended, with each ref's reply counts (in the order of refs) and the failures. */
  stop(): Promise<{ counts: number[][]; failures: number }>;
}

/**
 * Closed-loop load: one loop per ref (counter actors) asking { add: 1 } (`burst` at a
 * time), each round after the previous one's replies; a rejected round is counted as a
 * failure and the loop goes on. Starts at once. stop() may be called more than once.
 */
export function closedLoopAsks<R extends CounterRef>(refs: readonly R[], options: ClosedLoopOptions<R> = {}): ClosedLoop {
  const burst = options.burst ?? 1;
  let stopping = false;
  let failures = 0;
  const loops = refs.map(async (ref) => {
    const counts: number[] = [];
    while (!stopping) {
      try {
        const got = await Promise.all(Array.from({ length: burst }, () => ref.ask({ add: 1 })));
        const round = got.map((r) => r.count);
        counts.push(...round);
        options.afterRound?.(ref, round);
      } catch {
        failures++;
      }
    }
    return counts;
  });
  let stopped: Promise<{ counts: number[][]; failures: number }> | undefined;
  return {
    get failures() {
      return failures;
    },
    stop() {
      stopping = true;
      stopped ??= Promise.all(loops).then((counts) => ({ counts, failures }));
      return stopped;
    },
  };
}
