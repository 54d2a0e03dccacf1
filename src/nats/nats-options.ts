/**
 * options.nats: one process = one node of a cluster that spans processes and hosts,
 * found and coordinated through a NATS server (JetStream on: `nats-server -js`).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ErrorCode, RingshardError, describeValue } from '../errors.ts';

export interface NatsOptions {
  /** The NATS server(s): 'nats://127.0.0.1:4222', or several. */
  readonly servers: string | readonly string[];
  /** This node's name, unique among live nodes. @default `${hostname}-${pid}-${random}` */
  readonly node?: string;
  /**
   * Every message goes into a JetStream journal before its tell resolves or its ask's
   * reply is given; actor snapshots go to a KV bucket and the journal is trimmed behind
   * them. A node that dies loses nothing acknowledged; a restarted cluster restores every
   * actor. Without it, a node that dies loses the state of the actors it held.
   * @default false
   */
  readonly durable?: boolean;
  /** Names the subjects, buckets and stream: clusters of different names share a server without meeting. @default 'ringshard' */
  readonly cluster?: string;
  /** How often a node says it is alive. @default 250 */
  readonly heartbeatMs?: number;
  /** A node not heard from for this long is taken as dead, and its actors come back elsewhere. @default 1500 */
  readonly deadAfterMs?: number;
  /** durable: how often an actor that received messages is snapshotted (and its journal trimmed). @default 2000 */
  readonly snapshotEveryMs?: number;
}

export interface ResolvedNats {
  readonly servers: string[];
  readonly node: string;
  readonly durable: boolean;
  readonly cluster: string;
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;
  readonly snapshotEveryMs: number;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

function bad(path: string, expected: string, value: unknown): never {
  throw new RingshardError(ErrorCode.INVALID_OPTION, `options.nats.${path} must be ${expected}, got ${describeValue(value)}`);
}

function ms(path: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 10) bad(path, 'a number of milliseconds >= 10', value);
  return value;
}

export function resolveNats(value: unknown): ResolvedNats | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') bad('', 'an object', value);
  const o = value as NatsOptions;
  const servers = typeof o.servers === 'string' ? [o.servers] : o.servers;
  if (!Array.isArray(servers) || servers.length === 0 || !servers.every((s) => typeof s === 'string' && s.length > 0)) {
    bad('servers', "a server URL ('nats://host:4222') or a non-empty array of them", o.servers);
  }
  const node = o.node ?? `${hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 32)}-${process.pid}-${randomBytes(3).toString('hex')}`;
  if (typeof node !== 'string' || !NAME.test(node)) bad('node', 'a name of 1-64 letters, digits, _ or -', node);
  const cluster = o.cluster ?? 'ringshard';
  if (typeof cluster !== 'string' || !NAME.test(cluster)) bad('cluster', 'a name of 1-64 letters, digits, _ or -', cluster);
  if (o.durable !== undefined && typeof o.durable !== 'boolean') bad('durable', 'a boolean', o.durable);
  const heartbeatMs = ms('heartbeatMs', o.heartbeatMs, 250);
  const deadAfterMs = ms('deadAfterMs', o.deadAfterMs, 1500);
  if (deadAfterMs < 3 * heartbeatMs) bad('deadAfterMs', `at least 3 x heartbeatMs (${3 * heartbeatMs})`, deadAfterMs);
  return {
    servers: [...servers],
    node,
    durable: o.durable ?? false,
    cluster,
    heartbeatMs,
    deadAfterMs,
    snapshotEveryMs: ms('snapshotEveryMs', o.snapshotEveryMs, 2000),
  };
}
