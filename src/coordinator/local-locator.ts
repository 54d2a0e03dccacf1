/**
 * Every actor in this process: the directory says where an active actor is, the
 * placement strategy picks a shard for a new one, and activation sends its INIT ahead of
 * its first message.
 */
import { activationEvent, deactivationEvent, diagnostics } from '../diagnostics.ts';
import { ErrorCode, RingshardError } from '../errors.ts';
import { SendHeader } from '../layout/record.ts';
import { identityParts, newActor, type ActorDirectory, type ActorEntry } from './actor-directory.ts';
import type { Codec } from '../layout/codec.ts';
import { rawCodec } from '../layout/raw-words.ts';
import { MovingLink } from './moving-link.ts';
import { ParkedActors } from './parked-actors.ts';
import type { ActorHandle, ActorSpec } from './actor-handle.ts';
import type { ActorLocation, ActorLocator, LifecycleCounts, MemberInfo, StoreCounters } from './actor-locator.ts';
import type { DeadLetterReason } from './dead-letters.ts';
import { placeActor, type PlacementStrategy } from './placement.ts';
import type { ShardLink } from './shard-link.ts';

/** What deactivating and reactivating actors needs of the cluster. */
export interface LifecycleHost {
  /** A kernel's state codec (its state as raw words comes from it). */
  stateCodec(kernelName: string): Codec | undefined;
  readonly kernelIds: ReadonlyMap<string, number>;
  readonly askTimeoutMs: number;
  /** The largest state of the cluster's kernels, in words (a deactivated actor's record). */
  readonly stateWords: number;
  /** Routes a K2K send record again once its receiver is active (the K2K router). */
  reroute(words: Uint32Array, o: number): void;
}

/** What the cluster's metrics hear of activations. */
export interface ActivationHooks {
  /** An actor was added to a shard (before its INIT is sent: the worker must know its metric row). */
  activated(entry: ActorEntry): void;
  /** An actor's slot was freed. */
  retired(entry: ActorEntry): void;
}

export class LocalLocator implements ActorLocator {
  readonly nodeName = 'local';
  readonly lifecycle: LifecycleCounts = { created: 0, reactivated: 0, idle: 0, kept: 0 };
  /** Deactivated actors (idleAfterMs) and their states. */
  private readonly parked: ParkedActors;

  constructor(
    readonly directory: ActorDirectory,
    readonly shards: readonly ShardLink[],
    private readonly placement: PlacementStrategy,
    protected readonly hooks: ActivationHooks,
    /** Absent: actors are never deactivated. */
    protected readonly life?: LifecycleHost,
  ) {
    this.parked = new ParkedActors(life?.stateWords ?? 0);
  }

  keptId(spec: ActorSpec): number | undefined {
    return this.parked.idOf(spec.identity);
  }

  /** Deactivated actors waiting for their next message. */
  get deactivated(): number {
    return this.parked.size;
  }

  /** What the cluster's metrics hear of activations (a locator built on this one shares them). */
  get activationHooks(): ActivationHooks {
    return this.hooks;
  }

  /** What activating by identity and deactivating need of the cluster (a locator built on this one shares it). */
  get lifecycleHost(): LifecycleHost | undefined {
    return this.life;
  }

  members(): MemberInfo[] {
    return [{ node: 'local', shards: this.shards.length, self: true }];
  }

  activate(spec: ActorSpec): ActorEntry {
    const found = this.directory.lookup(spec.identity);
    if (found) return found;
    const link = this.shards[spec.pinnedShard ?? this.place(spec)]!;
    if (this.parked.size > 0 && this.parked.idOf(spec.identity) !== undefined) return this.reactivateOn(spec, link);
    return this.activateOn(spec, link);
  }

  /** Brings a deactivated actor back on `link`'s shard: its id, its state (IMPORT, no INIT). */
  private reactivateOn(spec: ActorSpec, link: ShardLink): ActorEntry {
    const codec = rawCodec(this.life!.stateCodec(spec.kernel.name)!);
    const { id, state } = this.parked.take(spec.identity, codec.words)!;
    let entry: ActorEntry;
    try {
      entry = this.directory.add(newActor(spec, link), id);
    } catch (error) {
      this.parked.put(spec.identity, id, state);
      throw error;
    }
    this.hooks.activated(entry);
    this.lifecycle.reactivated++;
    if (diagnostics.activation.hasSubscribers) diagnostics.activation.publish(activationEvent(entry, 'reactivated'));
    try {
      void link.importState(entry, codec, state).catch(() => this.directory.remove(entry));
    } catch (error) {
      this.directory.remove(entry);
      this.parked.put(spec.identity, id, state);
      throw error;
    }
    return entry;
  }

  /**
   * Deactivates an idle actor: its state exported after every record sent before, kept
   * here, its slot and directory entry freed. A record sent to it meanwhile (or a
   * terminate) keeps it: its state goes back into a fresh slot and what waited follows.
   */
  async deactivate(entry: ActorEntry): Promise<void> {
    const life = this.life;
    const stateCodec = life?.stateCodec(entry.kernelName);
    const current = entry.link;
    if (!life || !stateCodec || current.moving !== undefined || current.failed) return;
    const codec = rawCodec(stateCodec);
    const moving = new MovingLink(current);
    entry.link = moving;
    let state: Uint32Array;
    try {
      state = (await current.exportState(entry, { codec, what: `deactivation of kernel '${entry.kernelName}' actor '${entry.key}'`, timeoutMs: life.askTimeoutMs })) as Uint32Array;
    } catch {
      entry.link = current;
      moving.arrived(current);
      return;
    }
    if (moving.hasWaiting || !entry.active) return this.keep(entry, current, moving, codec, state);
    this.directory.remove(entry);
    this.hooks.retired(entry);
    this.parked.put(entry.identity, entry.actorId, state);
    this.lifecycle.idle++;
    if (diagnostics.deactivation.hasSubscribers) diagnostics.deactivation.publish(deactivationEvent(entry));
    // Nothing waits; a holder of the old entry sees it inactive and reactivates the actor.
    moving.arrived(current);
  }

  /** A deactivation given up: the state back into a fresh slot of the shard, then what waited. */
  protected async keep(entry: ActorEntry, link: ShardLink, moving: MovingLink, codec: Codec, state: Uint32Array): Promise<void> {
    this.lifecycle.kept++;
    this.directory.relocate(entry, entry.shard);
    const imported = link.importState(entry, codec, state);
    entry.link = link;
    moving.arrived(link);
    await imported.catch(() => {});
  }

  /** Adds the actor on `link`'s shard and sends its INIT (ahead of the message that activated it). */
  private activateOn(spec: ActorSpec, link: ShardLink): ActorEntry {
    const entry = this.directory.add(newActor(spec, link));
    this.hooks.activated(entry);
    this.lifecycle.created++;
    if (diagnostics.activation.hasSubscribers) diagnostics.activation.publish(activationEvent(entry, 'new'));
    try {
      void link.activate(entry).catch(() => this.directory.remove(entry));
    } catch (error) {
      this.directory.remove(entry);
      throw error;
    }
    return entry;
  }

  find(spec: ActorSpec): ActorEntry | undefined {
    return this.directory.lookup(spec.identity);
  }

  locate(spec: ActorSpec): ActorLocation {
    const entry = this.directory.lookup(spec.identity);
    return { node: 'local', shard: entry ? entry.shard : (spec.pinnedShard ?? this.place(spec)) };
  }

  retire(handle: ActorHandle): void {
    if (!handle.remote) this.directory.retire(handle);
  }

  freeSlot(handle: ActorHandle): void {
    if (handle.remote) return;
    this.hooks.retired(handle);
    this.directory.freeSlot(handle);
  }

  routeElsewhere(words: Uint32Array, o: number, dead: (reason: DeadLetterReason) => void): void {
    const id = words[o + SendHeader.to]!;
    const identity = this.parked.identityOf(id);
    if (identity !== undefined && this.life && this.activateByIdentity(identity)) return this.life.reroute(words, o);
    dead(this.directory.wasIssued(id) ? 'terminated' : 'no-such-actor');
  }

  /** Activates the actor `identity` names (a K2K message to its id found it kept, or the store's journal names it); false: its kernel is not run here. */
  protected activateByIdentity(identity: string): boolean {
    const parts = identityParts(identity);
    const kernelId = this.life?.kernelIds.get(parts.kernel);
    if (kernelId === undefined) return false;
    const tenantId = this.directory.tenants.hold(parts.tenant);
    try {
      this.activate({ identity, key: parts.key, kernel: { name: parts.kernel }, kernelId, tenant: parts.tenant, tenantId, pinnedShard: undefined });
    } finally {
      this.directory.tenants.release(tenantId);
    }
    return true;
  }

  linkOn(_entry: ActorEntry, shard: ShardLink): ShardLink {
    return shard;
  }

  leave(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  storeCounters(): StoreCounters | undefined {
    return undefined;
  }

  counters(): undefined {
    return undefined;
  }

  /** The shard the placement strategy picks for a new actor. */
  place(spec: ActorSpec): number {
    try {
      return placeActor(
        this.placement,
        { key: spec.key, kernel: spec.kernel.name, tenant: spec.tenant, identity: spec.identity },
        this.shards.map((s) => this.directory.count(s.index)),
      );
    } catch (error) {
      throw new RingshardError(ErrorCode.INVALID_OPTION, (error as Error).message, { cause: error });
    }
  }
}
