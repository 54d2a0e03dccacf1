/**
 * Which actors exist, who they are and where they live. Identity (kernel, tenant, key)
 * maps to an entry with a cluster-wide id that never changes while the actor lives (it
 * is what ctx.actor and metrics use) and a location (shard link and state slot) that
 * changes when the actor moves. Actors are virtual: the first message activates one (a
 * slot is allocated and an INIT record sent ahead of the message); terminate frees the
 * slot once the shard has run the shutdown hook, and a later message activates the
 * actor afresh, with a new id.
 */
import { ErrorCode, RingshardError } from '../errors.ts';
import { NO_ACTOR, actorLocation } from '../layout/record.ts';
import { ActorIds } from './actor-ids.ts';
import { NameTable } from './name-table.ts';
import { activity } from './activity.ts';
import type { ShardLink } from './shard-link.ts';
import type { ActorEntry, ActorSpec } from './actor-handle.ts';

export type { ActorEntry } from './actor-handle.ts';

/**
 * An actor's identity string: kernel, tenant and key, joined by NUL (the directory's key,
 * what placement hashes). Unambiguous because kernel names (defineKernel) and tenants
 * (cluster.actor) can hold no NUL: the first two NULs are the separators, and a key may
 * hold NULs of its own. (Regression: tenant 'a' with key 'b\0c' was tenant 'a\0b' with key 'c'.)
 */
export function actorIdentity(kernel: string, tenant: string, key: string): string {
  return `${kernel}\u0000${tenant}\u0000${key}`;
}

/** The parts of an actorIdentity() string (the key may hold NULs of its own). */
export function identityParts(identity: string): { kernel: string; tenant: string; key: string } {
  const a = identity.indexOf('\u0000');
  const b = identity.indexOf('\u0000', a + 1);
  return { kernel: identity.slice(0, a), tenant: identity.slice(a + 1, b), key: identity.slice(b + 1) };
}

/** What the directory needs to add an actor. */
export interface NewActor {
  readonly identity: string;
  readonly key: string;
  readonly kernelName: string;
  readonly tenant: string;
  readonly link: ShardLink;
  readonly kernelId: number;
  readonly tenantId: number;
}

/** The new actor `spec` names, on `link`. */
export function newActor(spec: ActorSpec, link: ShardLink): NewActor {
  return { identity: spec.identity, key: spec.key, kernelName: spec.kernel.name, tenant: spec.tenant, link, kernelId: spec.kernelId, tenantId: spec.tenantId };
}

export class ActorDirectory {
  private readonly byIdentity = new Map<string, ActorEntry>();
  private readonly byId = new Map<number, ActorEntry>();
  private readonly freeSlots: number[][];
  private readonly nextSlot: number[];
  /** Bumped when a shard's slots are reset, so stale frees are ignored. */
  private readonly generation: number[];
  private readonly perShardKernel: Map<string, number>;
  /** Actors given an id so far (the next is the permutation of nextOrdinal). */
  private nextOrdinal: number;
  /** Ids wrapped around once: from then on every id was issued at some time. */
  private wrapped = false;
  private readonly ids: ActorIds;
  /** Tenant names: an active actor holds its tenant's id (records and slots carry ids). */
  readonly tenants = new NameTable();

  constructor(
    shards: number,
    private readonly maxSlots: number,
    ids?: ActorIds,
    /** Where the id sequence resumes (a persisted cluster's, so no id is given twice). */
    firstOrdinal = 1,
  ) {
    this.ids = ids ?? new ActorIds();
    this.nextOrdinal = firstOrdinal;
    this.freeSlots = Array.from({ length: shards }, () => []);
    this.nextSlot = new Array(shards).fill(0);
    this.generation = new Array(shards).fill(0);
    this.perShardKernel = new Map();
  }

  /** The ordinal the next new id is made from (to resume the sequence after a restart). */
  get ordinal(): number {
    return this.nextOrdinal;
  }

  get size(): number {
    return this.byIdentity.size;
  }

  lookup(identity: string): ActorEntry | undefined {
    return this.byIdentity.get(identity);
  }

  /** The active actor with this id (the address K2K messages and ctx.source carry). */
  byActorId(id: number): ActorEntry | undefined {
    return this.byId.get(id);
  }

  /** True when `id` was given to some actor (now active or not): a K2K dead letter's reason. */
  wasIssued(id: number): boolean {
    if (id === 0 || id === NO_ACTOR) return false;
    return this.wrapped || this.ids.ordinalOf(id) < this.nextOrdinal;
  }

  private takeSlot(shard: number): number {
    const slot = this.freeSlots[shard]!.pop() ?? this.nextSlot[shard]!;
    if (slot >= this.maxSlots) {
      throw new RingshardError(
        ErrorCode.TOO_LARGE,
        `shard ${shard} already holds its maximum of ${this.maxSlots} actors (options.maxActorsPerShard); terminate some or add shards`,
      );
    }
    if (slot === this.nextSlot[shard]) this.nextSlot[shard]!++;
    return slot;
  }

  // The n-th actor's id is a keyed permutation of n (actor-ids.ts); n wraps before
  // NO_ACTOR, skipping ids still in use.
  private takeId(): number {
    for (;;) {
      const n = this.nextOrdinal;
      this.nextOrdinal = n >= NO_ACTOR - 1 ? 1 : n + 1;
      if (this.nextOrdinal === 1) this.wrapped = true;
      const id = this.ids.idFor(n);
      if (!this.byId.has(id)) return id;
    }
  }

  /**
   * Gives the actor an id (or takes `id`, the one a multi-node cluster derives from its
   * identity), allocates a slot on its link's shard, records it as active.
   */
  add(fields: NewActor, id?: number): ActorEntry {
    if (id !== undefined && this.byId.has(id)) {
      const other = this.byId.get(id)!;
      throw new RingshardError(ErrorCode.INVALID_OPTION, `actor '${fields.key}' of kernel '${fields.kernelName}' hashes to the id ${id} of active actor '${other.key}' of kernel '${other.kernelName}' (1 in 2^32 per pair); use another key`);
    }
    const shard = fields.link.index;
    const slot = this.takeSlot(shard);
    // A literal with every field in a fixed order (not a spread): all entries share one
    // hidden class, which keeps the send path's property reads monomorphic.
    const entry: ActorEntry = {
      identity: fields.identity,
      key: fields.key,
      kernelName: fields.kernelName,
      tenant: fields.tenant,
      link: fields.link,
      kernelId: fields.kernelId,
      tenantId: fields.tenantId,
      actorId: id ?? this.takeId(),
      shard,
      slot,
      location: actorLocation(shard, slot),
      generation: this.generation[shard]!,
      active: true,
      seen: activity.epoch,
      remote: false,
    };
    this.byIdentity.set(fields.identity, entry);
    this.byId.set(entry.actorId, entry);
    this.tenants.holdId(entry.tenantId);
    this.bump(shard, fields.kernelName, 1);
    return entry;
  }

  /**
   * Moves an active actor's placement to `shard` (a new slot there) and frees its old
   * slot, which its old shard has let go of (EXPORT). Its id does not change.
   */
  relocate(entry: ActorEntry, shard: number): void {
    const slot = this.takeSlot(shard);
    this.release(entry.shard, entry.slot, entry.generation);
    // A terminate sent during the move retired it already (and was counted then).
    if (entry.active) this.bump(entry.shard, entry.kernelName, -1);
    entry.shard = shard;
    entry.slot = slot;
    entry.location = actorLocation(shard, slot);
    entry.generation = this.generation[shard]!;
    if (entry.active) this.bump(shard, entry.kernelName, 1);
  }

  /** Forgets the actor at once (new messages activate a new one); its slot stays taken. */
  retire(entry: ActorEntry): void {
    if (!entry.active) return;
    entry.active = false;
    if (this.byIdentity.get(entry.identity) === entry) this.byIdentity.delete(entry.identity);
    if (this.byId.get(entry.actorId) === entry) this.byId.delete(entry.actorId);
    this.tenants.release(entry.tenantId);
    this.bump(entry.shard, entry.kernelName, -1);
  }

  /** Frees a retired actor's slot, once the shard has finished with it. */
  freeSlot(entry: ActorEntry): void {
    this.release(entry.shard, entry.slot, entry.generation);
  }

  private release(shard: number, slot: number, generation: number): void {
    // After a shard restart the slot may already be free (the allocator was reset).
    if (generation !== this.generation[shard]) return;
    this.freeSlots[shard]!.push(slot);
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
    const gone = [...this.byIdentity.values()].filter((e) => e.shard === shard);
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
