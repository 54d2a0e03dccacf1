/**
 * The authorize policy at admission: asked once per (principal, roles, tenant, kernel,
 * key), its answer cached for the cluster's life. Anything but `true` denies; a policy
 * that throws denies too, and both are logged. Refusals are counted per kernel and
 * reason (ringshard_policy_refusals_total).
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

export class Authorizer {
  private readonly decisions = new Map<string, Decision>();
  /** Per kernel: messages refused, by reason. */
  readonly refusals: Map<'denied' | 'policy-error', number>[];

  constructor(
    private readonly policy: ((request: AuthorizeRequest) => boolean) | undefined,
    private readonly log: (line: string) => void,
    kernels: number,
  ) {
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

  /** Counts one message refused for `decision` (not 'allowed'). */
  refused(kernelId: number, decision: Exclude<Decision, 'allowed'>): void {
    const byReason = this.refusals[kernelId]!;
    byReason.set(decision, byReason.get(decision)! + 1);
  }
}
