/**
 * The authorize policy, asked at a ref's first use and at every K2K delivery: once per
 * (principal, roles, tenant, kernel, key), its answer cached (the most recent
 * `cacheSize` answers: a tuple that fell out is asked again). Anything but `true`
 * denies; a policy that throws denies too, and both are logged. Refusals are counted per
 * kernel and reason (ringshard_policy_refusals_total).
 */
import { describeValue } from '../errors.ts';
import type { AuthorizeRequest } from './options.ts';

/** What the policy said about a ref: its messages may go, or why not. */
export type Decision = 'allowed' | 'denied' | 'policy-error';

/** Who asks: a ref's identity and caller, as the policy is told them. */
export interface AuthorizeSubject {
  readonly principal: string;
  readonly roles: readonly string[];
  readonly tenant: string;
  readonly kernelName: string;
  readonly kernelId: number;
  readonly key: string;
}

/** Answers kept (each way): bounds the caches whatever the number of principals and keys. */
export const DECISIONS_KEPT = 16_384;

/** A Map that keeps its `capacity` most recently used entries. */
class RecentMap<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly capacity: number) {}
  get size(): number {
    return this.map.size;
  }
  get(key: string): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as string);
  }
}

/** The receiver of a K2K message, as the policy names it (an ActorEntry is one). */
export interface DeliveryTarget {
  readonly identity: string;
  readonly tenant: string;
  readonly kernelName: string;
  readonly kernelId: number;
  readonly key: string;
}

/** Names for the ids a K2K record carries. */
export interface DeliveryNames {
  principal(id: number): string | undefined;
  roles(mask: number): readonly string[];
}

export class Authorizer {
  private readonly decisions: RecentMap<Decision>;
  /** K2K deliveries: by (principal id, role bits, receiver's identity), so a delivery needs no names. */
  private readonly deliveries: RecentMap<Decision>;
  /** Per kernel: messages refused, by reason. */
  readonly refusals: Map<'denied' | 'policy-error', number>[];

  constructor(
    private readonly policy: ((request: AuthorizeRequest) => boolean) | undefined,
    private readonly log: (line: string) => void,
    kernels: number,
    cacheSize = DECISIONS_KEPT,
  ) {
    this.decisions = new RecentMap(cacheSize);
    this.deliveries = new RecentMap(cacheSize);
    this.refusals = Array.from({ length: kernels }, () => new Map([['denied', 0], ['policy-error', 0]]));
  }

  decide(who: AuthorizeSubject): Decision {
    const policy = this.policy;
    if (policy === undefined) return 'allowed';
    const roles = [...who.roles].sort();
    const tuple = JSON.stringify([who.principal, roles, who.tenant, who.kernelName, who.key]);
    let decision = this.decisions.get(tuple);
    if (decision !== undefined) return decision;
    const named = `principal '${who.principal}' (roles ${JSON.stringify(roles)}) on kernel '${who.kernelName}' actor '${who.key}' of tenant '${who.tenant}'`;
    try {
      const answer = policy(Object.freeze({ principal: who.principal, roles: Object.freeze(roles), tenant: who.tenant, kernel: who.kernelName, key: who.key }));
      decision = answer === true ? 'allowed' : 'denied';
      if (answer !== true && answer !== false) {
        this.log(`ringshard: the authorize policy returned ${describeValue(answer)} for ${named}, not a boolean; denied (it must answer synchronously with true or false)`);
      }
    } catch (error) {
      decision = 'policy-error';
      this.log(`ringshard: the authorize policy threw for ${named}; denied: ${(error as Error)?.message ?? String(error)}`);
    }
    this.decisions.set(tuple, decision);
    return decision;
  }

  /** True when there is a policy to ask (without one, everything is allowed). */
  get active(): boolean {
    return this.policy !== undefined;
  }

  /** Answers cached now (both caches): at most twice the cache size. */
  get cached(): number {
    return this.decisions.size + this.deliveries.size;
  }

  /**
   * The policy's answer for a K2K message carrying `principalId` and `roles` (the sending
   * message's) to the actor `to`; `names` turns the ids into names on a cache miss (an
   * undefined principal, one no longer known, denies).
   */
  decideDelivery(principalId: number, roles: number, to: DeliveryTarget, names: DeliveryNames): Decision {
    const key = `${principalId}:${roles}:${to.identity}`;
    let decision = this.deliveries.get(key);
    if (decision !== undefined) return decision;
    const principal = names.principal(principalId);
    decision =
      principal === undefined
        ? 'denied'
        : this.decide({ principal, roles: names.roles(roles), tenant: to.tenant, kernelName: to.kernelName, kernelId: to.kernelId, key: to.key });
    this.deliveries.set(key, decision);
    return decision;
  }

  /** Counts one message refused for `decision` (not 'allowed'). */
  refused(kernelId: number, decision: Exclude<Decision, 'allowed'>): void {
    const byReason = this.refusals[kernelId]!;
    byReason.set(decision, byReason.get(decision)! + 1);
  }
}
