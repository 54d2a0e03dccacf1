/**
 * Cluster options: typed, documented with their defaults, and validated one by one at the
 * public edge with the option's path and the value received in the message.
 */
import { resolvePersist, type PersistOptions, type ResolvedPersist } from '../persist/persist-options.ts';
import { fail, integer, oneOf, positive, powerOfTwo } from '../options/checks.ts';
import type { CheckpointPolicy } from '../protocol.ts';
import { ErrorCode, RingshardError, describeValue } from '../errors.ts';
import type { Kernel } from '../kernels/define-kernel.ts';
import { MAX_SHARDS, MAX_KERNELS, ACTOR_SLOT_MASK, replySlotWords, requestSlotWords } from '../layout/record.ts';
import type { PlacementStrategy } from '../coordinator/placement.ts';
import { DEFAULT_MAX_LOOP_ITERATIONS } from '../kernels/assemble.ts';
import { MAX_RING_CAPACITY, ringByteLength } from '../rings/spsc-ring.ts';
import { MAX_ROLES, ROLE_NAME, roleConstant } from '../kernels/generated-names.ts';
import { Registry } from 'prom-client';
import { resolveNats, type NatsOptions, type ResolvedNats } from '../nats/nats-options.ts';
import { refuseUnknownKeys, type KeysOf } from '../options/unknown-keys.ts';
export type { NatsOptions } from '../nats/nats-options.ts';

export interface MetricsOptions {
  /**
   * Actors with series of their own (at a time, across the cluster): a number, 'all' or
   * 'none'. The rest are counted under actor="_other"; per-kernel series stay exact.
   * @default 1000
   */
  readonly perActor?: number | 'all' | 'none';
  /** Register the cluster's metrics here instead of in a new Registry. */
  readonly registry?: Registry;
  /** Serve /metrics on this port (0: any free port). No server when absent. */
  readonly port?: number;
  /** Address for the /metrics server. @default '127.0.0.1' */
  readonly host?: string;
  /**
   * What the per-actor series (ringshard_actor_*) may show besides `kernel` and
   * `actor` (the actor's cluster-wide id, `ref.id`):
   * 'tenant' adds a `tenant` label, 'key' a `key` label. Tenant names and keys are often
   * personal data (e-mail addresses, account names), so a scrape shows neither unless
   * asked to.
   * @default []
   * @example ['tenant', 'key']
   */
  readonly labels?: readonly MetricLabel[];
}

/** An identifying label the per-actor series may carry (MetricsOptions.labels). */
export type MetricLabel = 'tenant' | 'key';
const METRIC_LABELS: readonly MetricLabel[] = ['tenant', 'key'];

export type BackendChoice = 'auto' | 'webgpu' | 'cpu';

/**
 * The keys of each options object that the resolvers below read; any other key is
 * refused (ERR_RINGSHARD_INVALID_OPTION, with a did-you-mean), so a typo cannot pass
 * for a default. A new option is one more name in its list: `KeysOf` below fails to
 * compile until the list and the interface agree. (options.nats is checked by its own
 * resolver, src/nats/nats-options.ts.)
 */
export const CLUSTER_OPTION_KEYS = [
  'kernels', 'nats', 'persist', 'shards', 'backend', 'ringCapacity', 'replyRingCapacity', 'maxBatch', 'framesInFlight',
  'initialActorsPerShard', 'maxActorsPerShard', 'backpressure', 'maxQueuedPerShard', 'maxK2KQueuedPerShard',
  'askTimeoutMs', 'adapterName', 'dawnFlags', 'logger', 'metrics', 'placement', 'maxLoopIterations',
  'checkpointEvery', 'maxDispatchMs', 'maxRestartsPerMinute', 'maxSendsPerMessage', 'roles', 'authorize', 'idleAfterMs',
] as const;
/** options.idleAfterMs unless given (Dapr's actorIdleTimeout is the same hour). */
export const DEFAULT_IDLE_AFTER_MS = 3_600_000;
export const METRICS_OPTION_KEYS = ['perActor', 'registry', 'port', 'host', 'labels'] as const;
export const CHECKPOINT_OPTION_KEYS = ['records', 'ms'] as const;
export type OptionKeysComplete = [
  KeysOf<ClusterOptions, typeof CLUSTER_OPTION_KEYS>,
  KeysOf<MetricsOptions, typeof METRICS_OPTION_KEYS>,
  KeysOf<Exclude<ClusterOptions['checkpointEvery'], false | undefined>, typeof CHECKPOINT_OPTION_KEYS>,
];
export const OPTION_KEYS_COMPLETE: OptionKeysComplete = [true, true, true];

/**
 * Most bytes of SharedArrayBuffer one shard's two rings may take (request ring and
 * reply ring together). SharedArrayBuffer itself allows more (an allocation of 2^33
 * bytes succeeded here, 2^35 failed, as "Array buffer allocation failed"), but a ring
 * that large is a mistake far more often than a need, and offsets into it stay below
 * 2^31 words.
 */
export const MAX_RING_BYTES_PER_SHARD = 2 ** 31;

export interface ClusterOptions {
  /** The kernels actors may run. Names must be unique. */
  readonly kernels: readonly Kernel<any, any, any>[];
  /**
   * Makes this process one node of a cluster of processes (on this host or others)
   * that meet on a NATS server with JetStream (`nats-server -js`): actors are placed over
   * every live node's shards, and a ref reaches its actor wherever it lives.
   * @example { servers: 'nats://127.0.0.1:4222', node: 'gpu-a', durable: true }
   */
  readonly nats?: NatsOptions;
  /**
   * Keeps every actor's state across process restarts on this host, in an embedded store
   * at `path` (LMDB; nothing to install or run): a tell resolves, and an ask's reply is
   * given, once the message is on disk. Actors come back lazily, on their first message
   * after a start. Not with `nats` (a NATS node keeps state with `nats.durable`).
   * @example { path: './ringshard-state' }
   */
  readonly persist?: PersistOptions;
  /**
   * Shards (worker threads, one GPUDevice each). 'auto' is one per GPU adapter found,
   * at least one. With one adapter and N > 1, every shard opens its own device on it.
   * @default 'auto'
   */
  readonly shards?: number | 'auto';
  /**
   * 'webgpu' requires an adapter; 'cpu' runs the kernels' TS references; 'auto' picks
   * webgpu when an adapter exists, else cpu, and logs its choice.
   * @default 'auto'
   */
  readonly backend?: BackendChoice;
  /**
   * Request ring slots per shard (power of two). Records stay in the ring until a
   * checkpoint covers them, so the ring needs room beyond the batches in flight (at
   * 65536 the recovery bench measured 12-22% lower tell throughput with checkpoints on;
   * at 262144, within noise of off).
   * @default 262144
   */
  readonly ringCapacity?: number;
  /** Reply ring slots per shard (power of two). @default ringCapacity */
  readonly replyRingCapacity?: number;
  /** Most records in one dispatch. @default 16384 */
  readonly maxBatch?: number;
  /** Batches on the GPU at once per shard. @default 3 */
  readonly framesInFlight?: number;
  /** Actor state slots a shard's state buffer starts with; it doubles as needed. @default 1024 */
  readonly initialActorsPerShard?: number;
  /** Most actors one shard may hold. @default 1048576 */
  readonly maxActorsPerShard?: number;
  /**
   * When a request ring is full: 'wait' queues the record (tell/ask resolve later), up to
   * maxQueuedPerShard; 'reject' fails at once with ERR_RINGSHARD_RING_FULL.
   * @default 'wait'
   */
  readonly backpressure?: 'wait' | 'reject';
  /** Records a shard may hold waiting for ring space before tell rejects. @default ringCapacity */
  readonly maxQueuedPerShard?: number;
  /**
   * K2K messages (sent by kernels) a shard may hold waiting for ring space, apart from
   * callers' records (maxQueuedPerShard): past it a K2K send is dropped and counted as a
   * dead letter 'overflow'. Bounds the memory of a kernel that amplifies its sends (one
   * that sends copies to itself), and a caller's record never waits behind more than
   * ringCapacity + this many K2K records. Under 'reject' K2K messages still wait, up to it.
   * @default maxQueuedPerShard
   */
  readonly maxK2KQueuedPerShard?: number;
  /** Default ask timeout in ms (Infinity for none). @default 30000 */
  readonly askTimeoutMs?: number;
  /**
   * An actor that took no message for this long is deactivated: its state kept (in host
   * memory, or in the store with options.persist), its GPU slot and directory entry
   * freed; its next message brings it back with the same state and id, without init. A
   * kernel's own idleAfterMs overrides it; 0: never. Not with options.nats yet.
   * @default 3600000 (one hour)
   */
  readonly idleAfterMs?: number;
  /** Use the first adapter whose name contains this text. */
  readonly adapterName?: string;
  /** Extra dawn.node flags, e.g. ['backend=vulkan']. */
  readonly dawnFlags?: readonly string[];
  /** Where ringshard reports decisions such as the backend 'auto' chose; false for silence. @default console.error */
  readonly logger?: ((line: string) => void) | false;
  /**
   * Prometheus metrics (cluster.registry), optionally served on a port; false turns the
   * metric tables off entirely.
   * @default {}  (metrics on, 1000 per-actor series, no server)
   * @example { perActor: 'all', port: 9464 }
   */
  readonly metrics?: MetricsOptions | false;
  /**
   * Where a new actor lives: 'hash' (rendezvous hashing of kernel, tenant and key, so an
   * actor lands on the same shard every time), 'least-loaded' (the shard with the fewest
   * active actors when it activates), or `(key, kernel, tenant, shards) => index`.
   * `cluster.actor(k, key, { shard })` pins one actor instead.
   * @default 'hash'
   */
  readonly placement?: PlacementStrategy;
  /**
   * Loop iterations (all loops together) one message's handler, or one init or shutdown
   * hook, may run. Past it every loop breaks, the message fails with ERR_RINGSHARD_BUDGET
   * and the actor's state is left as it was before the message; the rest of the batch is
   * unaffected. Applies to WGSL kernels (the cpu backend runs TS references as they are).
   * At most 2^31 - 1.
   * @default 1048576 (2^20)
   */
  readonly maxLoopIterations?: number;
  /**
   * When each shard checkpoints its actors (GPU state and admission data, only the actors
   * that changed) into memory the coordinator owns: after `records` records or after `ms`
   * milliseconds with records not covered yet, whichever comes first (0: not by that
   * rule), and whenever the request ring is full. Records stay in the ring until a
   * checkpoint covers them, so a worker that dies or loses its device is replaced by one
   * that restores the checkpoint and replays the records after it: no message is lost or
   * handled twice, every ask is answered once. `false` turns checkpoints off: a replaced
   * worker then starts its actors afresh and drops what it had not handled.
   * @default { records: ringCapacity / 16 (16384), ms: 50 }
   */
  readonly checkpointEvery?: { readonly records?: number; readonly ms?: number } | false;
  /**
   * A batch still on the GPU after this many ms is taken as hung: the shard's worker is
   * replaced and recovers from its checkpoint, the hung batch is replayed one actor at a
   * time, and an actor whose messages hang it again is quarantined (its messages are
   * refused with ERR_RINGSHARD_QUARANTINED; the other actors keep being served).
   * Infinity turns the watchdog off.
   * @default 15000
   */
  readonly maxDispatchMs?: number;
  /**
   * Worker replacements (crashes, lost devices, watchdog) one shard may have within a
   * minute; one more fails the shard for good (its asks reject), so a kernel that keeps
   * crashing its worker does not loop forever.
   * @default 5
   */
  readonly maxRestartsPerMinute?: number;
  /**
   * Sends (K2K) one message's handler may make; one more send_<name> returns false and
   * sends nothing. Each message has room for this many in its batch's outbox.
   * @default 4
   */
  readonly maxSendsPerMessage?: number;
  /**
   * The cluster's role names (at most 32). WGSL gets ROLE_<NAME> = 1u << index (bit
   * masks), a reference's ctx the same names; `cluster.actor(k, key, { roles })` gives a
   * ref's principal its roles, which handle_secure sees in ctx.roles.
   * @default []
   */
  readonly roles?: readonly string[];
  /**
   * The admission policy: asked once per (principal, roles, tenant, kernel, key) the first
   * time a ref is used, and cached. When it returns anything but true, every message
   * through that ref rejects with ERR_RINGSHARD_FORBIDDEN and nothing reaches a shard. A
   * policy that throws denies (and is logged). Must be synchronous.
   * @default none (every ref may send)
   */
  readonly authorize?: (request: AuthorizeRequest) => boolean;
}

/** What the authorize policy is asked about. */
export interface AuthorizeRequest {
  readonly principal: string;
  readonly roles: readonly string[];
  readonly tenant: string;
  readonly kernel: string;
  readonly key: string;
}

export interface ResolvedOptions {
  readonly kernels: readonly Kernel[];
  readonly nats: ResolvedNats | undefined;
  readonly persist: ResolvedPersist | undefined;
  readonly shards: number | 'auto';
  readonly backend: BackendChoice;
  readonly ringCapacity: number;
  readonly replyRingCapacity: number;
  readonly maxBatch: number;
  readonly framesInFlight: number;
  readonly initialActorsPerShard: number;
  readonly maxActorsPerShard: number;
  readonly backpressure: 'wait' | 'reject';
  readonly maxQueuedPerShard: number;
  readonly maxK2KQueuedPerShard: number;
  readonly askTimeoutMs: number;
  /** Per kernel (by index): idleAfterMs, 0 for never. */
  readonly idleAfterMs: readonly number[];
  readonly adapterName: string | undefined;
  readonly dawnFlags: readonly string[] | undefined;
  readonly log: (line: string) => void;
  readonly placement: PlacementStrategy;
  readonly maxLoopIterations: number;
  readonly checkpointEvery: CheckpointPolicy | undefined;
  readonly maxDispatchMs: number;
  readonly maxRestartsPerMinute: number;
  readonly maxSendsPerMessage: number;
  readonly roles: readonly string[];
  readonly authorize: ((request: AuthorizeRequest) => boolean) | undefined;
  readonly metrics:
    | { readonly perActor: number; readonly registry: Registry; readonly port: number | undefined; readonly host: string | undefined; readonly labels: readonly MetricLabel[] }
    | false;
}

function resolveMetrics(value: unknown): ResolvedOptions['metrics'] {
  if (value === false) return false;
  if (value !== undefined && (value === null || typeof value !== 'object')) fail('metrics', 'an object or false', value);
  const m = (value ?? {}) as MetricsOptions;
  refuseUnknownKeys(m, METRICS_OPTION_KEYS, 'metrics');
  let perActor = 1000;
  if (m.perActor === 'all') perActor = Infinity;
  else if (m.perActor === 'none') perActor = 0;
  else if (m.perActor !== undefined) perActor = integer('metrics.perActor', m.perActor, 1000, 0, Number.MAX_SAFE_INTEGER);
  if (m.registry !== undefined && !(m.registry instanceof Registry)) fail('metrics.registry', 'a prom-client Registry', m.registry);
  if (m.host !== undefined && typeof m.host !== 'string') fail('metrics.host', 'a string', m.host);
  const labels = m.labels ?? [];
  if (!Array.isArray(labels)) fail('metrics.labels', `an array of ${METRIC_LABELS.map((l) => `'${l}'`).join(', ')}`, labels);
  labels.forEach((label: unknown, i) => {
    if (!METRIC_LABELS.includes(label as MetricLabel)) fail(`metrics.labels[${i}]`, METRIC_LABELS.map((l) => `'${l}'`).join(' or '), label);
  });
  return {
    labels: Object.freeze([...new Set(labels)]),
    perActor,
    registry: m.registry ?? new Registry(),
    port: m.port === undefined ? undefined : integer('metrics.port', m.port, 0, 0, 65535),
    host: m.host,
  };
}



export function resolveOptions(options: ClusterOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new RingshardError(ErrorCode.INVALID_OPTION, `Cluster.start() expects an options object, got ${describeValue(options)}`);
  }
  refuseUnknownKeys(options, CLUSTER_OPTION_KEYS);
  const kernels = options.kernels;
  if (!Array.isArray(kernels) || kernels.length === 0) fail('kernels', 'a non-empty array of kernels from defineKernel()', kernels);
  if (kernels.length > MAX_KERNELS) fail('kernels', `at most ${MAX_KERNELS} kernels`, kernels);
  const names = new Set<string>();
  kernels.forEach((k, i) => {
    if (k === null || typeof k !== 'object' || typeof k.name !== 'string' || !k.codecs) {
      fail(`kernels[${i}]`, 'a kernel from defineKernel()', k);
    }
    if (names.has(k.name)) fail(`kernels[${i}]`, `a kernel with a unique name ('${k.name}' appears twice)`, k.name);
    names.add(k.name);
  });
  let shards: number | 'auto' = 'auto';
  if (options.shards !== undefined && options.shards !== 'auto') shards = integer('shards', options.shards, 1, 1, MAX_SHARDS);
  const ringCapacity = powerOfTwo('ringCapacity', options.ringCapacity, 262_144, 2, MAX_RING_CAPACITY);
  const maxBatch = integer('maxBatch', options.maxBatch, Math.min(16384, ringCapacity), 1, 1 << 20);
  if (maxBatch > ringCapacity) fail('maxBatch', `at most options.ringCapacity (${ringCapacity}): a batch is taken from the ring`, maxBatch);
  const replyRingCapacity = powerOfTwo('replyRingCapacity', options.replyRingCapacity, ringCapacity, 2, MAX_RING_CAPACITY);
  checkRingBytes(kernels, ringCapacity, replyRingCapacity, options.replyRingCapacity !== undefined);
  const maxActorsPerShard = integer('maxActorsPerShard', options.maxActorsPerShard, 1 << 20, 1, ACTOR_SLOT_MASK + 1);
  const logger = options.logger;
  if (logger !== undefined && logger !== false && typeof logger !== 'function') fail('logger', 'a function or false', logger);
  if (options.adapterName !== undefined && typeof options.adapterName !== 'string') fail('adapterName', 'a string', options.adapterName);
  if (options.dawnFlags !== undefined && (!Array.isArray(options.dawnFlags) || !options.dawnFlags.every((f) => typeof f === 'string'))) {
    fail('dawnFlags', 'an array of strings', options.dawnFlags);
  }
  const askTimeoutMs = positive('askTimeoutMs', options.askTimeoutMs, 30_000);
  if (options.nats && options.idleAfterMs !== undefined && options.idleAfterMs !== 0) fail('idleAfterMs', '0 or absent with options.nats (nodes do not deactivate actors yet)', options.idleAfterMs);
  const idleAfterMs = options.nats ? 0 : integer('idleAfterMs', options.idleAfterMs, DEFAULT_IDLE_AFTER_MS, 0, 2 ** 31 - 1);
  const maxQueuedPerShard = integer('maxQueuedPerShard', options.maxQueuedPerShard, ringCapacity, 0, Number.MAX_SAFE_INTEGER);
  const nats = resolveNats(options.nats);

  const persist = resolvePersist(options.persist);
  if (nats && persist) fail('persist', 'absent with options.nats (a node keeps its actors with options.nats.durable)', options.persist);
  const placement = options.placement ?? 'hash';
  if (placement !== 'hash' && placement !== 'least-loaded' && typeof placement !== 'function') {
    fail('placement', "'hash', 'least-loaded' or a function (key, kernel, tenant, shards) => shard index", placement);
  }
  return {
    kernels,
    nats,
    persist,
    shards,
    placement,
    // At most 2^31 - 1: a budget of 2^31 crashed Mesa's llvmpipe (SIGFPE) when compiling (measured).
    maxLoopIterations: integer('maxLoopIterations', options.maxLoopIterations, DEFAULT_MAX_LOOP_ITERATIONS, 1, 0x7fffffff),
    backend: oneOf('backend', options.backend, 'auto', ['auto', 'webgpu', 'cpu']),
    ringCapacity,
    replyRingCapacity,
    maxBatch,
    framesInFlight: integer('framesInFlight', options.framesInFlight, 3, 1, 16),
    initialActorsPerShard: Math.min(integer('initialActorsPerShard', options.initialActorsPerShard, 1024, 1, ACTOR_SLOT_MASK + 1), maxActorsPerShard),
    maxActorsPerShard,
    backpressure: oneOf('backpressure', options.backpressure, 'wait', ['wait', 'reject']),
    maxQueuedPerShard,
    maxK2KQueuedPerShard: integer('maxK2KQueuedPerShard', options.maxK2KQueuedPerShard, Math.min(1 << 26, maxQueuedPerShard), 0, 1 << 26),
    askTimeoutMs,
    idleAfterMs: kernels.map((k) => (k.idleAfterMs ?? idleAfterMs)),
    adapterName: options.adapterName,
    dawnFlags: options.dawnFlags,
    log: logger === false ? () => {} : (logger ?? ((line: string) => console.error(line))),
    metrics: resolveMetrics(options.metrics),
    checkpointEvery: resolveCheckpointEvery(options.checkpointEvery, ringCapacity),
    maxDispatchMs: positive('maxDispatchMs', options.maxDispatchMs, 15_000),
    maxRestartsPerMinute: integer('maxRestartsPerMinute', options.maxRestartsPerMinute, 5, 0, 1_000_000),
    maxSendsPerMessage: integer('maxSendsPerMessage', options.maxSendsPerMessage, 4, 1, 64),
    roles: resolveRoles(options.roles),
    authorize: resolveAuthorize(options.authorize),
  };
}

/**
 * Refuses ring capacities whose two rings would take more than MAX_RING_BYTES_PER_SHARD,
 * saying how many bytes they need. Slot sizes are the cluster's (src/api/cluster.ts):
 * the largest request, and the largest reply, state or K2K send of these kernels.
 */
function checkRingBytes(kernels: readonly Kernel[], ringCapacity: number, replyRingCapacity: number, replyGiven: boolean): void {
  const byName = new Map(kernels.map((k) => [k.name, k]));
  const requestWords = Math.max(...kernels.map((k) => k.codecs.request.words));
  const resultWords = Math.max(...kernels.map((k) => Math.max(k.codecs.reply.words, k.codecs.state.words)));
  // A sends entry naming a kernel the cluster does not run is refused later (ERR_RINGSHARD_UNKNOWN_KERNEL).
  const sendWords = kernels.flatMap((k) => k.sends ?? []).map((e) => byName.get(typeof e.to === 'string' ? e.to : e.to.name)?.codecs.request.words ?? 0);
  const requestBytes = ringByteLength({ capacity: ringCapacity, slotWords: requestSlotWords(requestWords) });
  const replyBytes = ringByteLength({ capacity: replyRingCapacity, slotWords: replySlotWords(resultWords, sendWords.length > 0 ? Math.max(...sendWords) : -1) });
  if (requestBytes + replyBytes <= MAX_RING_BYTES_PER_SHARD) return;
  const path = replyGiven && replyBytes > requestBytes ? 'replyRingCapacity' : 'ringCapacity';
  throw new RingshardError(
    ErrorCode.INVALID_OPTION,
    `options.${path} ${path === 'ringCapacity' ? ringCapacity : replyRingCapacity} is too large: with these kernels a shard's request ring (${ringCapacity} slots) and reply ring (${replyRingCapacity} slots) need ${requestBytes + replyBytes} bytes of SharedArrayBuffer (${requestBytes} + ${replyBytes}), more than the ${MAX_RING_BYTES_PER_SHARD} (2 GiB) a shard may have`,
  );
}

function resolveRoles(value: unknown): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail('roles', 'an array of role names', value);
  if (value.length > MAX_ROLES) fail('roles', `at most ${MAX_ROLES} role names (one bit each)`, value);
  const seen = new Set<string>();
  value.forEach((role: unknown, i) => {
    if (typeof role !== 'string' || !ROLE_NAME.test(role)) fail(`roles[${i}]`, `a role name matching ${ROLE_NAME} (it becomes a WGSL constant)`, role);
    const constant = roleConstant(role);
    if (seen.has(constant)) fail(`roles[${i}]`, `a unique role name ('${role}' gives ${constant} twice)`, role);
    seen.add(constant);
  });
  return Object.freeze([...value] as string[]);
}

function resolveAuthorize(value: unknown): ResolvedOptions['authorize'] {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') fail('authorize', 'a function ({ principal, roles, tenant, kernel, key }) => boolean', value);
  return value as ResolvedOptions['authorize'];
}

function resolveCheckpointEvery(value: ClusterOptions['checkpointEvery'], ringCapacity: number): CheckpointPolicy | undefined {
  if (value === false) return undefined;
  if (value !== undefined && (value === null || typeof value !== 'object')) fail('checkpointEvery', '{ records?, ms? } or false', value);
  if (value !== undefined) refuseUnknownKeys(value, CHECKPOINT_OPTION_KEYS, 'checkpointEvery');
  const everyRecords = integer('checkpointEvery.records', value?.records, Math.max(1, ringCapacity / 16), 0, ringCapacity);
  const everyMs = value?.ms === undefined ? 50 : value.ms;
  if (typeof everyMs !== 'number' || !(everyMs >= 0) || !Number.isFinite(everyMs)) fail('checkpointEvery.ms', 'a finite number >= 0', everyMs);
  if (everyRecords === 0 && everyMs === 0) fail('checkpointEvery', 'a policy with records or ms above 0 (or false for no checkpoints)', value);
  return { everyRecords, everyMs };
}
