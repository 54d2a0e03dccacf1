/**
 * Every actor in this process: the directory says where an active actor is, the
 * placement strategy picks a shard for a new one, and activation sends its INIT ahead of
 * its first message.
 */
import { ErrorCode, RingshardError } from '../errors.ts';
import { SendHeader } from '../layout/record.ts';
import { newActor, type ActorDirectory, type ActorEntry } from './actor-directory.ts';
import type { ActorHandle, ActorSpec } from './actor-handle.ts';
import type { ActorLocation, ActorLocator, MemberInfo, StoreCounters } from './actor-locator.ts';
import type { DeadLetterReason } from './dead-letters.ts';
import { placeActor, type PlacementStrategy } from './placement.ts';
import type { ShardLink } from './shard-link.ts';

/** What the cluster's metrics hear of activations. */
export interface ActivationHooks {
  /** An actor was added to a shard (before its INIT is sent: the worker must know its metric row). */
  activated(entry: ActorEntry): void;
  /** An actor's slot was freed. */
  retired(entry: ActorEntry): void;
}

export class LocalLocator implements ActorLocator {
  readonly nodeName = 'local';

  constructor(
    readonly directory: ActorDirectory,
    readonly shards: readonly ShardLink[],
    private readonly placement: PlacementStrategy,
    protected readonly hooks: ActivationHooks,
  ) {}

  /** What the cluster's metrics hear of activations (a locator built on this one shares them). */
  get activationHooks(): ActivationHooks {
    return this.hooks;
  }

  members(): MemberInfo[] {
    return [{ node: 'local', shards: this.shards.length, self: true }];
  }

  activate(spec: ActorSpec): ActorEntry {
    return this.directory.lookup(spec.identity) ?? this.activateOn(spec, this.shards[spec.pinnedShard ?? this.place(spec)]!);
  }

  /** Adds the actor on `link`'s shard and sends its INIT (ahead of the message that activated it). */
  private activateOn(spec: ActorSpec, link: ShardLink): ActorEntry {
    const entry = this.directory.add(newActor(spec, link));
    this.hooks.activated(entry);
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
    dead(this.directory.wasIssued(words[o + SendHeader.to]!) ? 'terminated' : 'no-such-actor');
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
