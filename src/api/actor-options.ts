/**
 * cluster.actor()'s options, checked: every bad value is ERR_RINGSHARD_INVALID_OPTION
 * naming the option, before any name is held or any ref made.
 */
import { ErrorCode, RingshardError, describeValue } from '../errors.ts';

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

export interface CheckedActorOptions {
  readonly key: string;
  readonly tenant: string;
  readonly principal: string;
  readonly roles: readonly string[];
  /** The roles as the cluster's role bits (bit i is roleNames[i]). */
  readonly rolesMask: number;
  readonly shard: number | undefined;
}

/** Checks a key and ActorOptions against the cluster's roles and shard count. */
export function checkActorOptions(key: unknown, options: ActorOptions, roleNames: readonly string[], shards: number): CheckedActorOptions {
  if ((typeof key !== 'string' && typeof key !== 'number') || key === '') {
    throw new RingshardError(ErrorCode.INVALID_OPTION, `actor key must be a non-empty string or a number, got ${describeValue(key)}`);
  }
  const tenant = options.tenant ?? '';
  const principal = options.principal ?? '';
  const shard = options.shard;
  if (shard !== undefined) checkShardIndex('options.shard', shard, shards);
  if (typeof tenant !== 'string') throw new RingshardError(ErrorCode.INVALID_OPTION, `options.tenant must be a string, got ${describeValue(tenant)}`);
  // The identity joins kernel, tenant and key with NUL: a NUL in a tenant would let two
  // tenants name one actor (actorIdentity).
  if (tenant.includes('\u0000')) throw new RingshardError(ErrorCode.INVALID_OPTION, `options.tenant must not contain NUL (\\u0000), got ${describeValue(tenant)}`);
  if (typeof principal !== 'string') throw new RingshardError(ErrorCode.INVALID_OPTION, `options.principal must be a string, got ${describeValue(principal)}`);
  const roles = options.roles ?? [];
  if (!Array.isArray(roles)) throw new RingshardError(ErrorCode.INVALID_OPTION, `options.roles must be an array of role names, got ${describeValue(roles)}`);
  let rolesMask = 0;
  for (const role of roles) {
    const bit = roleNames.indexOf(role as string);
    if (bit < 0) {
      throw new RingshardError(
        ErrorCode.INVALID_OPTION,
        `options.roles: unknown role ${describeValue(role)}; this cluster's roles are ${roleNames.length > 0 ? roleNames.map((r) => `'${r}'`).join(', ') : 'none (Cluster.start({ roles }))'}`,
      );
    }
    rolesMask = (rolesMask | (1 << bit)) >>> 0;
  }
  return { key: String(key), tenant, principal, roles: Object.freeze([...roles]), rolesMask, shard };
}

/** Throws unless `shard` is an index of one of `shards` shards (`path` names the option). */
export function checkShardIndex(path: string, shard: unknown, shards: number): asserts shard is number {
  if (!Number.isInteger(shard) || (shard as number) < 0 || (shard as number) >= shards) {
    throw new RingshardError(ErrorCode.INVALID_OPTION, `${path} must be a shard index from 0 to ${shards - 1}, got ${describeValue(shard)}`);
  }
}
