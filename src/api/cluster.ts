/**
 * Cluster: the public entry point and the composition root. Starts one shard per device
 * (a worker thread with its own GPUDevice and kernel set), wires them to a locator (where
 * actors live: this process, or a node of a NATS cluster) and a K2K router, and shuts it
 * all down. What each part does lives in its own module; this file puts them together.
 */
import { actorFields, diagnostics, migrationEvent, type QuarantineEvent, type RecoveryEvent } from '../diagnostics.ts';
import { ErrorCode, RingshardError, closedError, describeValue } from '../errors.ts';
import type { Kernel } from '../kernels/define-kernel.ts';
import { kernelWires } from '../kernels/kernel-wires.ts';
import type { Schema } from '../layout/schema.ts';
import type { BackendKind } from '../protocol.ts';
import { ActorDirectory } from '../coordinator/actor-directory.ts';
import type { ActorHandle } from '../coordinator/actor-handle.ts';
import type { ActorLocation, ActorLocator, MemberInfo } from '../coordinator/actor-locator.ts';
import { NameTable } from '../coordinator/name-table.ts';
import type { DeadLetterReason } from '../coordinator/dead-letters.ts';
import { HybridClock } from '../coordinator/hlc.ts';
import { K2KRouter } from '../coordinator/k2k-router.ts';
import { LocalLocator } from '../coordinator/local-locator.ts';
import { moveActor } from '../coordinator/migration.ts';
import type { ShardClient } from '../shard/shard-client.ts';
import type { LmdbStore } from '../persist/lmdb-store.ts';
import { METRIC_COUNTS, persistedIds } from '../persist/persistent-locator.ts';
import { checkSchemas } from '../persist/schemas.ts';
import { serveMetrics, type MetricsServer } from '../metrics/exporter.ts';
import { ClusterMetrics } from '../metrics/cluster-metrics.ts';
import { IdleSweeper } from '../coordinator/idle-sweeper.ts';
import { TimerService } from '../coordinator/timer-service.ts';
import { armedTimers } from '../layout/timer-table.ts';
import { Registry } from 'prom-client';
import type { LocalNode } from '../nats/node-runtime.ts';
import { ActorRef, type ActorHost } from './actor-ref.ts';
import { checkActorOptions, checkShardIndex, type ActorOptions } from './actor-options.ts';
import { resolveOptions, type ClusterOptions, type ResolvedOptions } from './options.ts';
import { Authorizer, type Decision, type DeliveryNames } from './authorizer.ts';
import { chooseBackend, distinctAdapters } from './backend-choice.ts';
import { chooseLocator } from './locator-choice.ts';
import { createShards, startShards } from './start-shards.ts';
import { clusterInfo, type ClusterInfo } from './cluster-info.ts';
import { packageVersion } from '../package-version.ts';

export type { ActorOptions } from './actor-options.ts';
export type { ClusterInfo, ShardInfo } from './cluster-info.ts';
export type { ActorLocation, MemberInfo } from '../coordinator/actor-locator.ts';
export { DEAD_LETTER_REASONS, type DeadLetterReason } from '../coordinator/dead-letters.ts';

const VERSION = packageVersion();

/** The embedded store, loaded only when asked for: lmdb's native module stays unloaded otherwise. */
async function openStore(path: string): Promise<LmdbStore> {
  const { LmdbStore } = await import('../persist/lmdb-store.ts');
  return LmdbStore.open(path);
}

/** What start() builds before the Cluster exists. */
interface Parts {
  readonly resolved: ResolvedOptions;
  readonly backend: BackendKind;
  readonly shards: ShardClient[];
  readonly directory: ActorDirectory;
  readonly metrics: ClusterMetrics | undefined;
  readonly sendPayloadWords: number;
  readonly clock: HybridClock;
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
  private readonly kernelIds = new Map<Kernel<any, any, any>, number>();
  private readonly kernelsByName = new Map<string, Kernel<any, any, any>>();
  private readonly directory: ActorDirectory;
  private readonly tenants: NameTable;
  private readonly principals = new NameTable();
  // A ref holds its tenant and principal names; they are let go when it is collected.
  private readonly refNames = new FinalizationRegistry<{ tenant: number; principal: number }>((held) => {
    this.tenants.release(held.tenant);
    this.principals.release(held.principal);
  });
  private closing: Promise<void> | undefined;
  private readonly roleNames: readonly string[];
  private readonly authorizer: Authorizer;
  private readonly local: LocalLocator;
  /** Where actors live: `local`, or the node of a cluster on NATS (set once, in start). */
  private locator: ActorLocator;
  private readonly router: K2KRouter;
  private readonly log: (line: string) => void;
  private readonly clock: HybridClock;
  private readonly kernelNames: readonly string[];

  private constructor(parts: Parts) {
    const { resolved: options, shards, directory, metrics } = parts;
    this.clock = parts.clock;
    this.kernelNames = options.kernels.map((k) => k.name);
    this.backend = parts.backend;
    this.askTimeoutMs = options.askTimeoutMs;
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
    this.log = options.log;
    const kernelIds = new Map(options.kernels.map((k, i) => [k.name, i]));
    this.local = this.locator = new LocalLocator(
      directory,
      shards,
      options.placement,
      {
        activated: (entry) => this.metrics?.actorActivated(entry),
        retired: (entry) => this.metrics?.actorRetired(entry),
      },
      {
        stateCodec: (name) => this.kernelsByName.get(name)?.codecs.state,
        kernelIds,
        askTimeoutMs: options.askTimeoutMs,
        stateWords: Math.max(0, ...options.kernels.map((k) => k.codecs.state.words)),
        reroute: (words, o) => this.router.reroute(words, o),
      },
    );
    const authorizer = this.authorizer;
    const names: DeliveryNames = { principal: (id) => this.principals.name(id), roles: (mask) => this.roleNamesOf(mask) };
    this.router = new K2KRouter(
      directory,
      {
        get active() {
          return authorizer.active;
        },
        decide: (principalId, roles, to) => authorizer.decideDelivery(principalId, roles, to, names),
        refused: (to, decision) => authorizer.refused(to.kernelId, decision as Exclude<Decision, 'allowed'>),
      },
      parts.sendPayloadWords,
      (words, o, dead) => this.locator.routeElsewhere(words, o, dead),
    );
    // Timers (kernels with on_timer): an index of due times, whose fires go through the router.
    if (options.kernels.some((k) => k.timers > 0)) {
      this.timers = new TimerService((words, o) => this.router.fire(words, o), parts.sendPayloadWords);
      this.router.timers = this.timers;
    }
    metrics?.attachCounters({
      lifecycle: () => this.locator.lifecycle,
      deactivated: () => this.locator.deactivated,
      timersArmed: () => this.timers?.size,
      deadLetters: () => this.router.counts,
      policyRefusals: () => this.authorizer.refusals,
      node: () => this.locator.counters(),
      store: () => this.locator.storeCounters(),
    });
    for (const shard of shards) {
      shard.listen({
        onSend: (words, offset) => this.router.route(words, offset),
        onFailure: (error) => options.log(`ringshard: ${error.message}`),
        onLog: (line) => options.log(line),
        onRestart: (reason) => {
          options.log(`ringshard: restarting shard ${shard.index}: ${reason.message}`);
          this.directory.resetShard(shard.index);
          this.metrics?.shardRestarted(shard.index);
        },
        onRecover: (cause, reason) => {
          options.log(`ringshard: recovering shard ${shard.index} from its checkpoint (${cause}): ${reason.message}`);
          if (diagnostics.recovery.hasSubscribers) diagnostics.recovery.publish({ shard: shard.index, cause, reason: reason.message } satisfies RecoveryEvent);
        },
        onQuarantine: (actorId) => {
          const entry = this.directory.byActorId(actorId);
          if (diagnostics.quarantine.hasSubscribers) diagnostics.quarantine.publish((entry ? { shard: shard.index, actorId, actor: actorFields(entry) } : { shard: shard.index, actorId }) satisfies QuarantineEvent);
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
    const { shape, wires, sendPayloadWords, anySends } = kernelWires(kernels, resolved);
    const clock = new HybridClock(performance.timeOrigin + performance.now());
    // options.persist: the store first (a second process fails here, before any worker
    // starts); the directory resumes its ids (the same permutation, past every id given).
    const store = resolved.persist ? await openStore(resolved.persist.path) : undefined;
    let persisted: Awaited<ReturnType<typeof persistedIds>> | undefined;
    if (store) {
      try {
        await checkSchemas(store, kernels);
        persisted = await persistedIds(store);
      } catch (error) {
        await store.close();
        throw error;
      }
    }
    const directory = new ActorDirectory(shardCount, resolved.maxActorsPerShard, persisted?.ids, persisted?.firstOrdinal);
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
            timers: kernels.map((k) => k.timers > 0),
            shards: shardCount,
            maxSlots: resolved.maxActorsPerShard,
            perActor: resolved.metrics.perActor,
            labels: resolved.metrics.labels,
            registry: resolved.metrics.registry,
            backend,
            adapter: adapterInfo ? adapterInfo.device || adapterInfo.description : 'none',
            version: VERSION,
            activeActors: (shard, kernel) => directory.count(shard, kernel),
          }),
    );
    // options.persist: counters go on from what the process before had counted.
    if (store && metrics) metrics.carryOver(store.getMeta<Array<[string, number]>>(METRIC_COUNTS) ?? []);
    let shards: ShardClient[];
    try {
      shards = reserve(() =>
        createShards(resolved, { count: shardCount, backend, shape, wires, sendPayloadWords: anySends ? sendPayloadWords : -1, pinned, metrics, clock }),
      );
      await startShards(shards);
    } catch (error) {
      await store?.close();
      throw error;
    }
    const cluster = new Cluster({ resolved, backend, shards, directory, metrics, sendPayloadWords, clock });
    try {
      await chooseLocator(
        { resolved, local: cluster.local, node: () => cluster.localNode(), store, countsNow: metrics && (() => metrics.countsNow()) },
        (locator) => {
          cluster.locator = locator;
          cluster.router.numberSends = locator.sendNumbers;
          const deactivate = locator.deactivate?.bind(locator);
          if (deactivate && resolved.idleAfterMs.some((ms) => ms > 0)) cluster.idle = new IdleSweeper(directory, resolved.idleAfterMs, deactivate);
        },
      );
    } catch (error) {
      await cluster.shutdown();
      throw error;
    }
    // Stored actors' timers wait in the index from the start (the actors stay on disk until one fires).
    if (store && cluster.timers) {
      for (const { actorId, timers } of store.armedTimers()) cluster.timers.noticeAll(actorId, timers);
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
    const o = checkActorOptions(key, options, this.roleNames, this.shards.length);
    const tenantId = this.tenants.hold(o.tenant);
    const principalId = this.principals.hold(o.principal);
    const ref = new ActorRef(this, k, id, o.key, o.tenant, tenantId, o.principal, principalId, o.shard, o.roles, o.rolesMask);
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

  private roleNamesOf(mask: number): string[] {
    return this.roleNames.filter((_, bit) => (mask & (1 << bit)) !== 0);
  }

  /** K2K messages that could not be delivered so far, by reason (ringshard_dead_letters_total). */
  deadLetterCounts(): Readonly<Record<DeadLetterReason, number>> {
    return Object.fromEntries(this.router.counts) as Record<DeadLetterReason, number>;
  }

  /**
   * Resolves when every message sent so far, and every K2K message they caused (and
   * those caused, transitively), has been handled. Messages sent while it waits may be
   * waited for too: under K2K traffic that never pauses it resolves once it pauses.
   * Rejects when a shard fails for good.
   */
  async drain(): Promise<void> {
    for (;;) {
      const before = this.router.routed;
      await Promise.all(this.shards.map((s) => s.settle()));
      if (this.router.routed === before) return;
    }
  }

  /** What this cluster's node of a multi-node cluster needs of it. */
  private localNode(): LocalNode {
    return {
      shards: this.shards,
      directory: this.directory,
      askTimeoutMs: this.askTimeoutMs,
      kernel: (name) => this.kernelsByName.get(name),
      refFor: (kernel, key, tenant, principal, roles) => this.actor(kernel, key, { tenant, principal, roles: this.roleNamesOf(roles) }),
      principalName: (id) => this.principals.name(id) ?? '',
      principalId: (name) => this.principals.idOf(name),
      tenantName: (id) => this.tenants.name(id) ?? '',
      kernelName: (id) => this.kernelNames[id],
      receiveClock: (hi, lo) => this.clock.receive(hi, lo),
      restoredState: (entry, kernel, state) => this.indexTimers(entry.actorId, kernel, state),
      activated: (entry) => this.metrics?.actorActivated(entry),
      retired: (entry) => this.metrics?.actorRetired(entry),
      log: this.log,
    };
  }

  /** The live nodes (this one included), by name; without options.nats, this process alone as 'local'. */
  members(): MemberInfo[] {
    return this.locator.members();
  }

  /** This process's node name ('local' without options.nats). */
  get nodeName(): string {
    return this.locator.nodeName;
  }

  // ---- ActorHost: used by ActorRef

  /** @internal */
  activate(ref: ActorRef<any, any, any>): ActorHandle {
    if (this.closing) throw closedError();
    return this.locator.activate(ref);
  }

  /** @internal */
  find(ref: ActorRef<any, any, any>): ActorHandle | undefined {
    return this.locator.find(ref);
  }

  /** @internal */
  keptId(ref: ActorRef<any, any, any>): number | undefined {
    return this.locator.keptId?.(ref);
  }

  /** @internal */
  retire(handle: ActorHandle): void {
    this.timers?.forget(handle.actorId);
    this.locator.retire(handle);
  }

  /** @internal */
  freeSlot(handle: ActorHandle): void {
    this.locator.freeSlot(handle);
  }

  /**
   * Where the actor lives now; for an actor that is not active, where it would be
   * placed if it activated now (nothing is activated).
   */
  locate(ref: ActorRef<any, any, any>): ActorLocation {
    ref.checkAllowed();
    return this.locator.locate(ref);
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
    checkShardIndex('toShard', toShard, this.shards.length);
    if (this.closing) throw closedError();
    ref.checkAllowed();
    const what = `kernel '${ref.kernel.name}' actor '${ref.key}'${ref.tenant ? ` of tenant '${ref.tenant}'` : ''}`;
    let entry = this.directory.lookup(ref.identity);
    for (;;) {
      // A kept actor (deactivated, or in the store; or just now, while this waited) is brought back to be moved.
      if (!entry && this.locator.keptId?.(ref) !== undefined) {
        this.activate(ref);
        entry = this.directory.lookup(ref.identity);
      }
      const moving = entry?.link.moving;
      if (moving === undefined) break;
      await moving;
      entry = this.directory.lookup(ref.identity);
    }
    if (!entry) {
      throw new RingshardError(ErrorCode.UNKNOWN_ACTOR, `cannot migrate ${what}: it is not active (terminated, or never sent a message)`);
    }
    if (entry.shard === toShard) return;
    await moveActor(
      this.directory,
      { entry, to: this.shards[toShard]!, link: this.locator.linkOn(entry, this.shards[toShard]!), stateCodec: ref.kernel.codecs.state, what: `migration of ${what}`, timeoutMs: this.askTimeoutMs },
      (moved, fromShard) => {
        this.metrics?.actorMoved(moved, fromShard);
        if (diagnostics.migration.hasSubscribers) diagnostics.migration.publish(migrationEvent(moved, fromShard));
      },
    );
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
    checkShardIndex('index', index, this.shards.length);
    await this.shards[index]!.restart();
  }

  /**
   * Causes a fault on shard `shard`, for tests and drills: 'worker-exit' ends its worker
   * thread abruptly (no clean-up in the worker), 'device-lost' destroys its GPUDevice so
   * dawn.node reports it lost (on the cpu backend, fails the backend the same way).
   * Resolves once the fault has happened, not when recovery ends.
   */
  async injectFault(shard: number, kind: 'worker-exit' | 'device-lost'): Promise<void> {
    checkShardIndex('shard', shard, this.shards.length);
    if (kind !== 'worker-exit' && kind !== 'device-lost') {
      throw new RingshardError(ErrorCode.INVALID_OPTION, `injectFault: kind must be 'worker-exit' or 'device-lost', got ${describeValue(kind)}`);
    }
    if (this.closing) throw closedError();
    await this.shards[shard]!.injectFault(kind);
  }

  // ---- introspection and lifecycle

  info(): ClusterInfo {
    return clusterInfo(this.backend, [...this.kernelsByName.keys()], this.shards, this.directory, {
      tenants: this.tenants.size,
      principals: this.principals.size,
      policyAnswers: this.authorizer.cached,
    }, this.locator.deactivated ?? 0, { armed: this.timers?.size ?? 0, fired: this.timers?.fired ?? 0 });
  }

  /**
   * Stops accepting messages, delivers what is queued, runs every active actor's
   * shutdown hook, waits for all replies, and destroys the devices. Idempotent.
   */
  shutdown(): Promise<void> {
    this.closing ??= this.close();
    return this.closing;
  }

  /** Idle deactivation (options.idleAfterMs), when some kernel has it. */
  private idle: IdleSweeper | undefined;

  /** Indexes the armed timers of a state that came from a store (a takeover on a node, a restore). */
  private indexTimers(actorId: number, kernel: Kernel<any, any, any>, state: Uint32Array): void {
    if (!this.timers || kernel.timers === 0) return;
    this.timers.noticeAll(actorId, armedTimers(state, kernel.codecs.userState.words, kernel.timers));
  }
  /** The timer service, when some kernel has timers (fn on_timer). */
  private readonly timers: TimerService | undefined;

  /**
   * Runs one idle sweep now (what the timer does every half idleAfterMs): actors idle
   * for their kernel's idleAfterMs are deactivated. Resolves when they are. For tests and
   * load scripts that want deactivation at a known moment.
   */
  sweepIdle(): Promise<void> {
    return this.idle?.sweep() ?? Promise.resolve();
  }

  private async close(): Promise<void> {
    this.timers?.close();
    await this.idle?.stop();
    // A node hands its actors over to the others first (their state goes with them).
    await this.locator.leave().catch((error: Error) => this.log(`ringshard: leaving the cluster: ${error.message}`));
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
    await this.locator.close();
    await this.metricsServer?.close();
  }
}
