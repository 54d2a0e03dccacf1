/**
 * Which actors exist and where: identity (kernel, tenant, key) -> shard and state slot.
 * Actors are virtual: the first message activates one (a slot is allocated and an INIT
 * record sent ahead of the message); terminate frees the slot once the shard has run the
 * shutdown hook, and a later message activates the actor afresh.
 */
import { ErrorCode, RingshardError } from '../errors.ts';
import { NO_ACTOR, actorId } from '../layout/record.ts';
import type { RecordTarget, ShardClient } from './shard-client.ts';

export interface ActorEntry extends RecordTarget {
  readonly identity: string;
  readonly key: string;
  readonly kernelName: string;
  readonly tenant: string;
  readonly shard: ShardClient;
  readonly slot: number;
  /** The shard's slot generation when the slot was taken (see resetShard). */
  readonly generation: number;
  /** False once terminate() was called: the next message activates a new actor. */
  active: boolean;
}

export class ActorDirectory {
  private readonly byIdentity = new Map<string, ActorEntry>();
  private readonly freeSlots: number[][];
  private readonly nextSlot: number[];
  /** Bumped when a shard's slots are reset, so stale frees are ignored. */
  private readonly generation: number[];
  private readonly perShardKernel: Map<string, number>;

  constructor(
    shards: number,
    private readonly maxSlots: number,
  ) {
    this.freeSlots = Array.from({ length: shards }, () => []);
    this.nextSlot = new Array(shards).fill(0);
    this.generation = new Array(shards).fill(0);
    this.perShardKernel = new Map();
  }

  get size(): number {
    return this.byIdentity.size;
  }

  lookup(identity: string): ActorEntry | undefined {
    return this.byIdentity.get(identity);
  }

  /** Allocates a slot on `shard` and records the actor as active. */
  add(fields: Omit<ActorEntry, 'slot' | 'actorId' | 'active' | 'sourceId' | 'generation'>): ActorEntry {
    const s = fields.shard.index;
    const slot = this.freeSlots[s]!.pop() ?? this.nextSlot[s]!;
    if (slot >= this.maxSlots) {
      throw new RingshardError(
        ErrorCode.TOO_LARGE,
        `shard ${s} already holds its maximum of ${this.maxSlots} actors (options.maxActorsPerShard); terminate some or add shards`,
      );
    }
    if (slot === this.nextSlot[s]) this.nextSlot[s]!++;
    // A literal with every field in a fixed order (not a spread): all entries share one
    // hidden class, which keeps the send path's property reads monomorphic.
    const entry: ActorEntry = {
      identity: fields.identity,
      key: fields.key,
      kernelName: fields.kernelName,
      tenant: fields.tenant,
      shard: fields.shard,
      kernelId: fields.kernelId,
      tenantId: fields.tenantId,
      principalId: fields.principalId,
      sourceId: NO_ACTOR,
      slot,
      generation: this.generation[s]!,
      actorId: actorId(s, slot),
      active: true,
    };
    this.byIdentity.set(fields.identity, entry);
    this.bump(s, fields.kernelName, 1);
    return entry;
  }

  /** Forgets the actor at once (new messages activate a new one); its slot stays taken. */
  retire(entry: ActorEntry): void {
    if (!entry.active) return;
    entry.active = false;
    if (this.byIdentity.get(entry.identity) === entry) this.byIdentity.delete(entry.identity);
    this.bump(entry.shard.index, entry.kernelName, -1);
  }

  /** Frees a retired actor's slot, once the shard has finished with it. */
  freeSlot(entry: ActorEntry): void {
    // After a shard restart the slot may already be free (the allocator was reset).
    if (entry.generation !== this.generation[entry.shard.index]) return;
    this.freeSlots[entry.shard.index]!.push(entry.slot);
  }

  /** Undoes add() for an actor whose activation could not be sent. */
  remove(entry: ActorEntry): void {
    this.retire(entry);
    this.freeSlot(entry);
  }

  /**
   * Forgets every actor on `shard` and frees all its slots: its worker was replaced and
   * knows none of them. Returns the actors that were active.
   */
  resetShard(shard: number): ActorEntry[] {
    const gone = [...this.byIdentity.values()].filter((e) => e.shard.index === shard);
    for (const entry of gone) this.retire(entry);
    this.freeSlots[shard] = [];
    this.nextSlot[shard] = 0;
    this.generation[shard]!++;
    return gone;
  }

  private bump(shard: number, kernel: string, by: number): void {
    const key = `${shard}\u0000${kernel}`;
    this.perShardKernel.set(key, (this.perShardKernel.get(key) ?? 0) + by);
  }

  /** Active actors of `kernel` on `shard`. */
  count(shard: number, kernel?: string): number {
    if (kernel !== undefined) return this.perShardKernel.get(`${shard}\u0000${kernel}`) ?? 0;
    let n = 0;
    for (const [key, value] of this.perShardKernel) if (key.startsWith(`${shard}\u0000`)) n += value;
    return n;
  }

  *entries(): IterableIterator<ActorEntry> {
    yield* this.byIdentity.values();
  }
}

/** Small dense ids for tenant and principal names; '' is 0. */
export class Interner {
  private readonly ids = new Map<string, number>([['', 0]]);
  private readonly names: string[] = [''];

  id(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(name, id);
      this.names.push(name);
    }
    return id;
  }

  name(id: number): string | undefined {
    return this.names[id];
  }
}
