/**
 * Cluster: the public entry point. Starts one shard per device (a worker thread with its
 * own GPUDevice and kernel set), places actors on shards by key, and shuts it all down.
 */
import { ErrorCode, RingshardError, closedError, describeValue } from '../errors.ts';
import type { Kernel } from '../kernels/define-kernel.ts';
import { assembleKernelModule, type ResolvedSend } from '../kernels/assemble.ts';
import { sendStructName } from '../kernels/generated-names.ts';
import { SEND_ENTRY_HEADER, batchLayout, type BatchShape } from '../layout/batch.ts';
import { SendHeader, replySlotWords, requestSlotWords } from '../layout/record.ts';
import type { Schema } from '../layout/schema.ts';
import type { BackendKind, CompileDiagnostic, KernelWire, ShardStarted } from '../protocol.ts';
import { ActorDirectory, type ActorEntry } from '../coordinator/actor-directory.ts';
import { NameTable } from '../coordinator/name-table.ts';
import { DEAD_LETTER_REASONS, deadLetterReason, type DeadLetterReason } from '../coordinator/dead-letters.ts';
import { HybridClock } from '../coordinator/hlc.ts';
import { placeActor, type PlacementStrategy } from '../coordinator/placement.ts';
import { MovingLink } from '../coordinator/moving-link.ts';
import { ShardClient } from '../shard/shard-client.ts';
import { serveMetrics, type MetricsServer } from '../metrics/exporter.ts';
import { ClusterMetrics } from '../metrics/cluster-metrics.ts';
import { Registry } from 'prom-client';
import { ActorRef, type ActorHost } from './actor-ref.ts';
import { resolveOptions, type ClusterOptions, type ResolvedOptions } from './options.ts';
import { Authorizer, type Decision, type DeliveryNames } from './authorizer.ts';
import { chooseBackend, distinctAdapters } from './backend-choice.ts';
import { packageVersion } from '../package-version.ts';
import { NodeRuntime, type LocalNode } from '../nats/node-runtime.ts';

export interface ActorOptions {
  /** The tenant the actor belongs to; actors of different tenants never share state. @default '' */
  readonly tenant?: string;
  /** The principal messages from this ref carry (ctx.principal). @default '' */
  readonly principal?: string;
  /** The principal's roles, from the cluster's `roles` (ctx.roles has their bits). @default [] */
  readonly roles?: readonly string[];
  /**
   * Pins the actor to this shard when it activates, instead of the cluster's placement
   * (an actor already active stays where it is; cluster.migrate() moves it).
   */
  readonly shard?: number;
}

/** Where an actor lives: its node ('local' for a cluster without options.nats) and a shard of that node. */
export interface ActorLocation {
  readonly node: string;
  readonly shard: number;
}

/** A live node of the cluster. */
export interface MemberInfo {
  readonly node: string;
  /** Its shards (the placement's candidates are every (node, shard) pair). */
  readonly shards: number;
  /** True for the node this process runs. */
  readonly self: boolean;
}

export interface ShardInfo {
  readonly index: number;
  readonly backend: BackendKind;
  readonly adapter?: ShardStarted['adapter'];
  readonly actors: number;
  readonly ringCapacity: number;
  readonly ringDepth: number;
  /** Request records already answered and kept until a checkpoint covers them. */
  readonly ringRetained: number;
  readonly queued: number;
  readonly failed?: string;
  /** The shard worker's Linux thread id (per-thread CPU: /proc/<pid>/task/<tid>/schedstat). */
  readonly tid?: number;
}

export interface ClusterInfo {
  readonly backend: BackendKind;
  readonly shards: readonly ShardInfo[];
  readonly kernels: readonly string[];
  readonly actors: number;
  /**
   * Entries in the bounded tables: tenant and principal names (kept while a ref or an
   * actor names them, then among the 4,096 released last) and cached policy answers
   * (the 16,384 used last, for refs and for K2K deliveries each).
   */
  readonly tables: { readonly tenants: number; readonly principals: number; readonly policyAnswers: number };
}

function formatDiagnostics(diagnostics: readonly CompileDiagnostic[]): string {
  return diagnostics
    .map((d) => {
      const where = d.line > 0 ? `line ${d.line}, column ${d.column}` : 'in the generated module';
      const hint = d.line === 0 && /handle|State|Request|Reply/.test(d.message) ? ' (check the signature of fn handle and its types)' : '';
      return `kernel '${d.kernel}': WGSL ${d.type} at ${where}: ${d.message}${hint}${d.source !== undefined ? `\n    ${d.source.trim()}` : ''}`;
    })
    .join('\n');
}

const VERSION = packageVersion();

export { DEAD_LETTER_REASONS, type DeadLetterReason } from '../coordinator/dead-letters.ts';

/**
 * Each kernel's sends entries, resolved to the cluster's kernels (a kernel object or a
 * kernel name, the sender's own name included).
 */
function resolveSends(kernels: readonly Kernel[]): ResolvedSend[][] {
  const byName = new Map(kernels.map((k, i) => [k.name, i]));
  return kernels.map((k) => {
    const structs = new Set<string>();
    return k.sends.map((entry) => {
      const name = typeof entry.to === 'string' ? entry.to : entry.to.name;
      const id = byName.get(name);
      if (id === undefined || (typeof entry.to !== 'string' && kernels[id] !== entry.to)) {
        throw new RingshardError(
          ErrorCode.UNKNOWN_KERNEL,
          `kernel '${k.name}': sends.${entry.name} names kernel '${name}', which this cluster does not run${id !== undefined ? ' (it runs another kernel of that name)' : ''}; its kernels: ${kernels.map((x) => `'${x.name}'`).join(', ')}`,
        );
      }
      const struct = sendStructName(entry.name);
      if (structs.has(struct)) throw new RingshardError(ErrorCode.INVALID_KERNEL, `kernel '${k.name}': two sends entries give the struct ${struct}; rename one`);
      structs.add(struct);
      return { name: entry.name, kernelId: id, kernelName: name, request: kernels[id]!.codecs.request.layout };
    });
  });
}

export class Cluster implements ActorHost {
  readonly backend: BackendKind;
  readonly askTimeoutMs: number;
  /**
   * The cluster's Prometheus metrics (empty when options.metrics is false). Serve it, or
   * merge it into a host server's: `Registry.merge([cluster.registry, register])`.
   */
  readonly registry: Registry;
  private readonly metrics: ClusterMetrics | undefined;
  private metricsServer: MetricsServer | undefined;
  private readonly shards: ShardClient[];
  private readonly placement: PlacementStrategy;
  private readonly kernelIds = new Map<Kernel<any, any, any>, number>();
  private readonly kernelsByName = new Map<string, Kernel<any, any, any>>();
  private readonly directory: ActorDirectory;
  private readonly tenants: NameTable;
  private readonly principals = new NameTable();
  /** A ref holds its tenant and principal names while it lives (name-table.ts). */
  private readonly refNames = new FinalizationRegistry<{ tenant: number; principal: number }>((held) => {
    this.tenants.release(held.tenant);
    this.principals.release(held.principal);
  });
  private closing: Promise<void> | undefined;
  private readonly roleNames: readonly string[];
  private readonly authorizer: Authorizer;
  /** K2K: per kernel id, its request payload words (what a forwarded record carries). */
  private readonly sendPayloadWords: number;
  /** K2K messages routed so far (delivered or dead letters): drain() waits until no more come. */
  private routed = 0;
  private readonly deadLetters = new Map<string, number>(DEAD_LETTER_REASONS.map((r) => [r, 0]));
  /** options.nats: this process's node of a multi-node cluster. */
  private node: NodeRuntime | undefined;
  private readonly log: (line: string) => void;

  private readonly clock: HybridClock;
  private readonly kernelNames: readonly string[];

  private constructor(options: ResolvedOptions, backend: BackendKind, shards: ShardClient[], directory: ActorDirectory, metrics: ClusterMetrics | undefined, sendPayloadWords: number, clock: HybridClock) {
    this.clock = clock;
    this.kernelNames = options.kernels.map((k) => k.name);
    this.backend = backend;
    this.askTimeoutMs = options.askTimeoutMs;
    this.placement = options.placement;
    this.shards = shards;
    options.kernels.forEach((k, i) => {
      this.kernelIds.set(k, i);
      this.kernelsByName.set(k.name, k);
    });
    this.directory = directory;
    this.tenants = directory.tenants;
    this.metrics = metrics;
    this.registry = metrics?.registry ?? new Registry();
    this.roleNames = options.roles;
    this.authorizer = new Authorizer(options.authorize, options.log, options.kernels.length);
    this.sendPayloadWords = sendPayloadWords;
    this.log = options.log;
    metrics?.attachCounters({ deadLetters: () => this.deadLetters, policyRefusals: () => this.authorizer.refusals, node: () => this.node?.counters() });
    for (const shard of shards) {
      shard.listen({
        onSend: (words, offset) => this.route(words, offset),
        onFailure: (error) => options.log(`ringshard: ${error.message}`),
        onLog: (line) => options.log(line),
        onRestart: (reason) => {
          options.log(`ringshard: restarting shard ${shard.index}: ${reason.message}`);
          this.directory.resetShard(shard.index);
          this.metrics?.shardRestarted(shard.index);
        },
        onRecover: (cause, reason) => options.log(`ringshard: recovering shard ${shard.index} from its checkpoint (${cause}): ${reason.message}`),
        onQuarantine: (actorId) => {
          const entry = this.directory.byActorId(actorId);
          options.log(`ringshard: quarantined ${entry ? `kernel '${entry.kernelName}' actor '${entry.key}'` : `actor ${actorId}`} on shard ${shard.index}: its messages hung the dispatch twice`);
        },
      });
      metrics?.attach(shard.index, shard.metricsSource());
    }
  }

  /** Where /metrics is served, when options.metrics.port was given. */
  get metricsUrl(): string | undefined {
    return this.metricsServer?.url;
  }

  /** Starts the shards and compiles every kernel on each; rejects with every compile error. */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const resolved = resolveOptions(options);
    const { kernels } = resolved;
    const { backend, adapter: adapterInfo } = await chooseBackend(resolved);
    if (backend === 'cpu') {
      const missing = kernels.filter((k) => !k.referenceWire).map((k) => `'${k.name}'`);
      if (missing.length > 0) {
        throw new RingshardError(ErrorCode.INVALID_KERNEL, `the cpu backend runs kernels' TS references, and kernel ${missing.join(', ')} has none`);
      }
    }
    // 'auto': one shard per distinct adapter, each pinned to its adapter by name.
    const pinned = backend === 'webgpu' && resolved.shards === 'auto' && !resolved.adapterName ? await distinctAdapters(resolved) : [];
    const shardCount = resolved.shards === 'auto' ? Math.max(1, pinned.length) : resolved.shards;
    const sends = resolveSends(kernels);
    const sendPayloadWords = Math.max(0, ...sends.flat().map((s) => s.request.words));
    const anySends = sends.some((s) => s.length > 0);
    const shape: BatchShape = {
      kernels: kernels.length,
      maxBatch: resolved.maxBatch,
      // A state on its way into a shard (IMPORT) travels in as many slots as it needs.
      recordWords: requestSlotWords(Math.max(...kernels.map((k) => k.codecs.request.words))),
      resultWords: Math.max(...kernels.map((k) => Math.max(k.codecs.reply.words, k.codecs.state.words))),
      stateStride: Math.max(...kernels.map((k) => k.codecs.state.words)),
      maxSends: anySends ? resolved.maxSendsPerMessage : 0,
      sendWords: SEND_ENTRY_HEADER + sendPayloadWords,
    };
    const layout = batchLayout(shape);
    const wires: KernelWire[] = kernels.map((k, id) => {
      const module = assembleKernelModule(k, id, layout, { maxLoopIterations: resolved.maxLoopIterations, roles: resolved.roles, sends: sends[id]! });
      return {
        id,
        name: k.name,
        state: k.state,
        request: k.request,
        reply: k.reply,
        module: module.code,
        userLineOffset: module.userLineOffset,
        userLineCount: module.userLineCount,
        ...(k.referenceWire ? { reference: k.referenceWire } : {}),
        ...(sends[id]!.length > 0 ? { sends: sends[id]!.map((s) => ({ name: s.name, kernel: s.kernelId })) } : {}),
      };
    });
    const clock = new HybridClock(performance.timeOrigin + performance.now());
    const directory = new ActorDirectory(shardCount, resolved.maxActorsPerShard);
    // Checkpoints and metric tables reserve growable shared memory for maxActorsPerShard
    // actors up front: a size V8 cannot reserve is the option's fault, not a bare RangeError.
    const reserve = <T>(make: () => T): T => {
      try {
        return make();
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        const bytes = resolved.maxActorsPerShard * shape.stateStride * 4;
        throw new RingshardError(
          ErrorCode.INVALID_OPTION,
          `options.maxActorsPerShard (${resolved.maxActorsPerShard}) with states of up to ${shape.stateStride} words needs ${bytes.toLocaleString('en-US')} bytes of shared memory reserved per shard, more than this process can reserve (${error.message}); lower maxActorsPerShard`,
          { cause: error },
        );
      }
    };
    const metrics = reserve(() =>
      resolved.metrics === false
        ? undefined
        : new ClusterMetrics({
            kernels: kernels.map((k) => k.name),
            shards: shardCount,
            maxSlots: resolved.maxActorsPerShard,
            perActor: resolved.metrics.perActor,
            labels: resolved.metrics.labels,
            registry: resolved.metrics.registry,
            backend,
            adapter: adapterInfo ? adapterInfo.device || adapterInfo.description : 'none',
            version: VERSION,
            activeActors: (shard, kernel) => directory.count(shard, kernel),
          }));
    const shards = reserve(() => Array.from(
      { length: shardCount },
      (_, index) =>
        new ShardClient({
          config: {
            index,
            backend,
            kernels: wires,
            batch: shape,
            framesInFlight: resolved.framesInFlight,
            roles: resolved.roles,
            initialSlots: resolved.initialActorsPerShard,
            maxSlots: resolved.maxActorsPerShard,
            epochMs: clock.epochMs,
            generation: 0,
            ...(metrics ? { metrics: metrics.tablesFor(index) } : {}),
            ...(resolved.adapterName ? { adapterName: resolved.adapterName } : pinned.length > 1 ? { adapterName: pinned[index]! } : {}),
            ...(resolved.dawnFlags ? { dawnFlags: resolved.dawnFlags } : {}),
          },
          checkpoint: resolved.checkpointEvery,
          maxDispatchMs: resolved.maxDispatchMs,
          maxRestartsPerMinute: resolved.maxRestartsPerMinute,
          ringCapacity: resolved.ringCapacity,
          replyRingCapacity: resolved.replyRingCapacity,
          recordWords: shape.recordWords,
          replyWords: replySlotWords(shape.resultWords, anySends ? sendPayloadWords : -1),
          policy: resolved.backpressure,
          maxQueued: resolved.maxQueuedPerShard,
          maxK2KQueued: resolved.maxK2KQueuedPerShard,
          clock,
        }),
    ));
    const started = await Promise.allSettled(shards.map((s) => s.start()));
    const failure = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    const diagnostics = started.flatMap((r) => (r.status === 'fulfilled' ? r.value.diagnostics : []));
    if (failure || diagnostics.length > 0) {
      await Promise.allSettled(shards.map((s) => s.stop()));
      if (failure) throw failure.reason;
      // Every shard compiles the same modules: report one shard's diagnostics.
      const first = (started[0] as PromiseFulfilledResult<ShardStarted>).value.diagnostics;
      const shown = first.length > 0 ? first : diagnostics;
      throw new RingshardError(ErrorCode.SHADER_COMPILE, `WGSL did not compile:\n${formatDiagnostics(shown)}`, { cause: shown });
    }
    const cluster = new Cluster(resolved, backend, shards, directory, metrics, sendPayloadWords, clock);
    if (resolved.nats) {
      try {
        cluster.node = await NodeRuntime.connect(resolved.nats, cluster.localNode());
        await cluster.node.join();
      } catch (error) {
        await cluster.shutdown();
        throw error;
      }
    }
    if (resolved.metrics !== false && resolved.metrics.port !== undefined) {
      cluster.metricsServer = await serveMetrics(cluster.registry, {
        port: resolved.metrics.port,
        ...(resolved.metrics.host ? { host: resolved.metrics.host } : {}),
      }).catch(async (error: Error) => {
        await cluster.shutdown();
        throw new RingshardError(ErrorCode.INVALID_OPTION, `options.metrics.port: cannot serve metrics: ${error.message}`, { cause: error });
      });
    }
    return cluster;
  }

  /**
   * A reference to the actor `key` of `kernel` (the kernel object or its name). Creating
   * it is free; the actor is activated on the first message.
   */
  actor<S extends Schema, Q extends Schema, R extends Schema>(kernel: Kernel<S, Q, R> | string, key: string | number, options: ActorOptions = {}): ActorRef<S, Q, R> {
    const k = (typeof kernel === 'string' ? this.kernelsByName.get(kernel) : kernel) as Kernel<S, Q, R> | undefined;
    const id = k ? this.kernelIds.get(k) : undefined;
    if (k === undefined || id === undefined) {
      const name = typeof kernel === 'string' ? kernel : (kernel as Kernel | undefined)?.name;
      throw new RingshardError(
        ErrorCode.UNKNOWN_KERNEL,
        `unknown kernel ${describeValue(name)}: this cluster runs ${[...this.kernelsByName.keys()].map((n) => `'${n}'`).join(', ')}`,
      );
    }
    if ((typeof key !== 'string' && typeof key !== 'number') || key === '') {
      throw new RingshardError(ErrorCode.INVALID_OPTION, `actor key must be a non-empty string or a number, got ${describeValue(key)}`);
    }
    const tenant = options.tenant ?? '';
    const principal = options.principal ?? '';
    const pinned = options.shard;
    if (pinned !== undefined) this.checkShard('options.shard', pinned);
    if (typeof tenant !== 'string') throw new RingshardError(ErrorCode.INVALID_OPTION, `options.tenant must be a string, got ${describeValue(tenant)}`);
    // The identity joins kernel, tenant and key with NUL: a NUL in a tenant would let two
    // tenants name one actor (actorIdentity).
    if (tenant.includes('\u0000')) throw new RingshardError(ErrorCode.INVALID_OPTION, `options.tenant must not contain NUL (\\u0000), got ${describeValue(tenant)}`);
    if (typeof principal !== 'string') throw new RingshardError(ErrorCode.INVALID_OPTION, `options.principal must be a string, got ${describeValue(principal)}`);
    const roles = options.roles ?? [];
    if (!Array.isArray(roles)) throw new RingshardError(ErrorCode.INVALID_OPTION, `options.roles must be an array of role names, got ${describeValue(roles)}`);
    let mask = 0;
    for (const role of roles) {
      const bit = this.roleNames.indexOf(role as string);
      if (bit < 0) {
        throw new RingshardError(
          ErrorCode.INVALID_OPTION,
          `options.roles: unknown role ${describeValue(role)}; this cluster's roles are ${this.roleNames.length > 0 ? this.roleNames.map((r) => `'${r}'`).join(', ') : 'none (Cluster.start({ roles }))'}`,
        );
      }
      mask = (mask | (1 << bit)) >>> 0;
    }
    const tenantId = this.tenants.hold(tenant);
    const principalId = this.principals.hold(principal);
    const ref = new ActorRef(this, k, id, String(key), tenant, tenantId, principal, principalId, pinned, Object.freeze([...roles]), mask);
    if (tenantId !== 0 || principalId !== 0) this.refNames.register(ref, { tenant: tenantId, principal: principalId });
    return ref;
  }

  /** @internal */
  authorize(ref: ActorRef<any, any, any>): Decision {
    // Once per ref (its first use), then the ref remembers a yes.
    return this.authorizer.decide({ principal: ref.principal, roles: ref.roles, tenant: ref.tenant, kernelName: ref.kernel.name, kernelId: ref.kernelId, key: ref.key });
  }

  /** @internal */
  refused(ref: ActorRef<any, any, any>, decision: Exclude<Decision, 'allowed'>): void {
    this.authorizer.refused(ref.kernelId, decision);
  }

  /**
   * Routes a K2K send record (from a shard's reply ring) to its receiver: by actor id
   * through the directory, so it follows the actor wherever it lives. What cannot be
   * delivered is a dead letter, counted by reason.
   */
  private route(words: Uint32Array, o: number): void {
    this.routed++;
    const to = words[o + SendHeader.to]!;
    const entry = this.directory.byActorId(to);
    if (entry === undefined) {
      // On another node (or unknown there too): the node's router finds it by id.
      if (this.node) return this.node.routeK2K(words, o, (reason) => this.dead(reason));
      return this.dead(this.directory.wasIssued(to) ? 'terminated' : 'no-such-actor');
    }
    if (entry.kernelId !== words[o + SendHeader.kernel]) return this.dead('wrong-kernel');
    if (entry.tenantId !== words[o + SendHeader.tenant]) return this.dead('cross-tenant');
    // The policy guards K2K as it guards refs: the sending message's principal and roles
    // against the receiver (a principal refused on a vault cannot reach it through a forwarder).
    if (this.authorizer.active) {
      const decision = this.authorizer.decideDelivery(words[o + SendHeader.principal]!, words[o + SendHeader.roles]!, entry, this.deliveryNames);
      if (decision !== 'allowed') {
        this.authorizer.refused(entry.kernelId, decision);
        return this.dead('forbidden');
      }
    }
    try {
      entry.link.forward(entry, words, o, this.sendPayloadWords, this.deadFor);
    } catch (error) {
      this.deadFor(error);
    }
  }

  /** Names a K2K delivery for the policy (on a cache miss only). */
  private readonly deliveryNames: DeliveryNames = {
    principal: (id) => this.principals.name(id),
    roles: (mask) => this.roleNamesOf(mask),
  };

  private roleNamesOf(mask: number): string[] {
    return this.roleNames.filter((_, bit) => (mask & (1 << bit)) !== 0);
  }

  // A field, not a closure per routed message.
  private readonly deadFor = (error: unknown): void => this.dead(deadLetterReason(error));

  private dead(reason: DeadLetterReason): void {
    this.deadLetters.set(reason, this.deadLetters.get(reason)! + 1);
  }

  /** K2K messages that could not be delivered so far, by reason (ringshard_dead_letters_total). */
  deadLetterCounts(): Readonly<Record<DeadLetterReason, number>> {
    return Object.fromEntries(this.deadLetters) as Record<DeadLetterReason, number>;
  }

  /**
   * Resolves when every message sent so far, and every K2K message they caused (and
   * those caused, transitively), has been handled. Messages sent while it waits may be
   * waited for too: under K2K traffic that never pauses it resolves once it pauses.
   * Rejects when a shard fails for good.
   */
  async drain(): Promise<void> {
    for (;;) {
      const before = this.routed;
      await Promise.all(this.shards.map((s) => s.settle()));
      if (this.routed === before) return;
    }
  }

  // ---- ActorHost: used by ActorRef

  /** What this cluster's node of a multi-node cluster needs of it. */
  private localNode(): LocalNode {
    return {
      shards: this.shards,
      directory: this.directory,
      askTimeoutMs: this.askTimeoutMs,
      kernel: (name) => this.kernelsByName.get(name),
      refFor: (kernel, key, tenant, principal, roles) =>
        this.actor(kernel, key, { tenant, principal, roles: this.roleNamesOf(roles) }),
      principalName: (id) => this.principals.name(id) ?? '',
      principalId: (name) => this.principals.idOf(name),
      tenantName: (id) => this.tenants.name(id) ?? '',
      kernelName: (id) => this.kernelNames[id],
      receiveClock: (hi, lo) => this.clock.receive(hi, lo),
      activated: (entry) => this.metrics?.actorActivated(entry),
      retired: (entry) => this.metrics?.actorRetired(entry),
      log: this.log,
    };
  }

  /** The live nodes (this one included), by name; without options.nats, this process alone as 'local'. */
  members(): MemberInfo[] {
    return this.node ? this.node.members() : [{ node: 'local', shards: this.shards.length, self: true }];
  }

  /** This process's node name ('local' without options.nats). */
  get nodeName(): string {
    return this.node?.self ?? 'local';
  }

  /** @internal */
  activate(ref: ActorRef<any, any, any>): ActorEntry {
    if (this.closing) throw closedError();
    if (this.node) return this.node.activate(ref);
    const existing = this.directory.lookup(ref.identity);
    if (existing) return existing;
    const link = this.shards[ref.pinnedShard ?? this.place(ref)]!;
    const entry = this.directory.add({
      identity: ref.identity,
      key: ref.key,
      kernelName: ref.kernel.name,
      tenant: ref.tenant,
      link,
      kernelId: ref.kernelId,
      tenantId: ref.tenantId,
    });
    // The worker must know the actor's metric row before it handles the actor's records.
    this.metrics?.actorActivated(entry);
    try {
      // INIT goes into the ring ahead of the message that activated the actor.
      void link.activate(entry).catch(() => this.directory.remove(entry));
    } catch (error) {
      this.directory.remove(entry);
      throw error;
    }
    return entry;
  }

  private place(ref: ActorRef<any, any, any>): number {
    try {
      return placeActor(
        this.placement,
        { key: ref.key, kernel: ref.kernel.name, tenant: ref.tenant, identity: ref.identity },
        this.shards.map((s) => this.directory.count(s.index)),
      );
    } catch (error) {
      throw new RingshardError(ErrorCode.INVALID_OPTION, (error as Error).message, { cause: error });
    }
  }

  /** @internal */
  find(ref: ActorRef<any, any, any>): ActorEntry | undefined {
    return this.node ? this.node.find(ref) : this.directory.lookup(ref.identity);
  }

  /** @internal */
  retire(entry: ActorEntry): void {
    if (this.node?.forgetRemote(entry)) return;
    this.directory.retire(entry);
  }

  /** @internal */
  freeSlot(entry: ActorEntry): void {
    if (entry.slot < 0) return; // an actor on another node
    this.metrics?.actorRetired(entry);
    this.directory.freeSlot(entry);
  }

  private checkShard(path: string, shard: unknown): asserts shard is number {
    if (!Number.isInteger(shard) || (shard as number) < 0 || (shard as number) >= this.shards.length) {
      throw new RingshardError(ErrorCode.INVALID_OPTION, `${path} must be a shard index from 0 to ${this.shards.length - 1}, got ${describeValue(shard)}`);
    }
  }

  /**
   * Where the actor lives now; for an actor that is not active, where it would be
   * placed if it activated now (nothing is activated).
   */
  locate(ref: ActorRef<any, any, any>): ActorLocation {
    ref.checkAllowed();
    if (this.node) return this.node.locate(ref);
    const entry = this.directory.lookup(ref.identity);
    if (entry) return { node: 'local', shard: entry.shard };
    return { node: 'local', shard: ref.pinnedShard ?? this.place(ref) };
  }

  /**
   * Moves an active actor to shard `toShard` while messages keep flowing: its state is
   * read back on its shard after every record sent before (EXPORT), written into a new
   * slot on the target shard (IMPORT), and the records sent meanwhile follow it there in
   * send order. Its id, its metric series and every pending ask carry over; nothing is
   * handled twice or lost. Resolves once the actor lives on `toShard`. A move waits for
   * the actor's previous move to finish.
   */
  async migrate(ref: ActorRef<any, any, any>, toShard: number): Promise<void> {
    this.checkShard('toShard', toShard);
    if (this.closing) throw closedError();
    ref.checkAllowed();
    const what = `kernel '${ref.kernel.name}' actor '${ref.key}'${ref.tenant ? ` of tenant '${ref.tenant}'` : ''}`;
    let entry = this.directory.lookup(ref.identity);
    while (entry && entry.link instanceof MovingLink) {
      await entry.link.settled;
      entry = this.directory.lookup(ref.identity);
    }
    if (!entry) {
      throw new RingshardError(ErrorCode.UNKNOWN_ACTOR, `cannot migrate ${what}: it is not active (terminated, or never sent a message)`);
    }
    if (entry.shard === toShard) return;
    const from = entry.link;
    const to = this.shards[toShard]!;
    const moving = new MovingLink(from);
    entry.link = moving;
    let state: unknown;
    try {
      state = await from.exportState(entry, { codec: ref.kernel.codecs.state, what: `migration of ${what}`, timeoutMs: this.askTimeoutMs });
    } catch (error) {
      // The state never left: the actor stays, and what waited goes where it was.
      entry.link = from;
      moving.arrived(from);
      throw error;
    }
    const fromShard = entry.shard;
    this.directory.relocate(entry, toShard);
    this.metrics?.actorMoved(entry, fromShard);
    // IMPORT first, then everything that waited, in order, then the actor is home.
    const imported = to.importState(entry, ref.kernel.codecs.state, state);
    entry.link = to;
    moving.arrived(to);
    await imported;
  }

  /**
   * Replaces shard `index`'s worker and GPU device, e.g. after it misbehaved. With
   * checkpoints on (the default) its actors keep their state: the new worker restores the
   * last checkpoint and replays the records after it, and every ask is answered once.
   * With `checkpointEvery: false` its actors lose their state (they re-activate on their
   * next message), records not yet handled are dropped and their asks reject with
   * ERR_RINGSHARD_WORKER_EXIT. Metrics carry on. A worker that dies on its own, or whose
   * device is lost, is replaced the same way, automatically. Resolves once the new worker runs.
   */
  async restartShard(index: number): Promise<void> {
    this.checkShard('index', index);
    await this.shards[index]!.restart();
  }

  /**
   * Causes a fault on shard `shard`, for tests and drills: 'worker-exit' ends its worker
   * thread abruptly (no clean-up in the worker), 'device-lost' destroys its GPUDevice so
   * dawn.node reports it lost (on the cpu backend, fails the backend the same way).
   * Resolves once the fault has happened, not when recovery ends.
   */
  async injectFault(shard: number, kind: 'worker-exit' | 'device-lost'): Promise<void> {
    this.checkShard('shard', shard);
    if (kind !== 'worker-exit' && kind !== 'device-lost') {
      throw new RingshardError(ErrorCode.INVALID_OPTION, `injectFault: kind must be 'worker-exit' or 'device-lost', got ${describeValue(kind)}`);
    }
    if (this.closing) throw closedError();
    await this.shards[shard]!.injectFault(kind);
  }

  // ---- introspection and lifecycle

  info(): ClusterInfo {
    return {
      backend: this.backend,
      kernels: [...this.kernelsByName.keys()],
      actors: this.directory.size,
      tables: { tenants: this.tenants.size, principals: this.principals.size, policyAnswers: this.authorizer.cached },
      shards: this.shards.map((s) => ({
        index: s.index,
        backend: this.backend,
        ...(s.started?.adapter ? { adapter: s.started.adapter } : {}),
        actors: this.directory.count(s.index),
        ringCapacity: s.requests.capacity,
        ringDepth: s.requests.depth(),
        ringRetained: s.requests.retained(),
        queued: s.queued,
        ...(s.failed ? { failed: s.failed.message } : {}),
        ...(s.started?.tid !== undefined ? { tid: s.started.tid } : {}),
      })),
    };
  }

  /**
   * Stops accepting messages, delivers what is queued, runs every active actor's
   * shutdown hook, waits for all replies, and destroys the devices. Idempotent.
   */
  shutdown(): Promise<void> {
    this.closing ??= this.close();
    return this.closing;
  }

  private async close(): Promise<void> {
    // A node hands its actors over to the others first (their state goes with them).
    await this.node?.leave().catch((error: Error) => this.log(`ringshard: leaving the cluster: ${error.message}`));
    for (const entry of [...this.directory.entries()]) {
      if (entry.link.failed) continue;
      this.directory.retire(entry);
      try {
        void entry.link.retire(entry).catch(() => {});
      } catch {
        // The shard refused (its ring is full under 'reject'): it is stopping anyway.
      }
    }
    await Promise.all(this.shards.map((s) => s.stop()));
    await this.metricsServer?.close();
  }
}
