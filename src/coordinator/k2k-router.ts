/**
 * Routes the K2K send records a shard's handlers made (read from its reply ring) to their
 * receivers: by actor id through the directory, so a message follows the actor wherever
 * it lives; an id with no entry here goes to the locator (another node may own it). What
 * cannot be delivered is a dead letter, counted by reason.
 *
 * Checked on the way, in this order: the receiver exists, runs the kernel the sender
 * named, belongs to the sender's tenant, and the delivery policy allows the sending
 * message's principal and roles on it (a principal refused on a vault cannot reach it
 * through a forwarder).
 */
import { diagnostics, type DeadLetterEvent } from '../diagnostics.ts';
import { SEND_HEADER_WORDS, SEND_OP_SHIFT, SendHeader, TIMER_NOTICE } from '../layout/record.ts';
import { TimerNotice, readMs } from '../layout/timer-table.ts';
import type { TimerService } from './timer-service.ts';
import { activity } from './activity.ts';
import type { ActorDirectory, ActorEntry } from './actor-directory.ts';
import { DEAD_LETTER_REASONS, deadLetterReason, type DeadLetterReason } from './dead-letters.ts';

/** The cluster's authorize policy, as K2K deliveries meet it. */
export interface DeliveryPolicy {
  /** False without a policy: every delivery is allowed, nothing is asked. */
  readonly active: boolean;
  /** 'allowed', or why not (counted as the policy's refusal). */
  decide(principalId: number, roles: number, to: ActorEntry): string;
  refused(to: ActorEntry, decision: string): void;
}

export class K2KRouter {
  /** K2K messages routed so far (delivered or dead letters): drain() waits until no more come. */
  routed = 0;
  private readonly deadLetters = new Map<DeadLetterReason, number>(DEAD_LETTER_REASONS.map((r) => [r, 0]));
  // A field, not a closure per routed message.
  private readonly deadFor = (error: unknown): void => {
    const reason = deadLetterReason(error);
    if (this.firing && reason === 'overflow') this.full = true;
    else this.dead(reason);
  };
  private readonly deadBecause = (reason: DeadLetterReason): void => this.dead(reason);

  constructor(
    private readonly directory: ActorDirectory,
    private readonly policy: DeliveryPolicy,
    /** Payload words a forwarded record carries (the largest request of a sends target). */
    private readonly payloadWords: number,
    /** An id with no entry in this process (the locator: another node, or a dead letter). */
    private readonly elsewhere: (words: Uint32Array, o: number, dead: (reason: DeadLetterReason) => void) => void,
  ) {}

  /**
   * Numbers each send per sending actor (persist 'message': see K2KMarks), so that a
   * receiver takes a send a replayed message makes again once. Undefined: not numbered.
   */
  numberSends: ((sourceId: number) => number) | undefined;
  /** The number of the send being routed. */
  private sendId = 0;
  /** Where timer notices go (the cluster's timer service), when some kernel has timers. */
  timers: TimerService | undefined;

  /** Routes the send record at word `o` of `words` (valid only during the call). */
  route(words: Uint32Array, o: number): void {
    if (words[o + SendHeader.kernel] === TIMER_NOTICE) return this.timerNotice(words, o);
    this.routed++;
    const numbers = this.numberSends;
    this.sendId = numbers === undefined ? 0 : numbers(words[o + SendHeader.source]!);
    this.deliver(words, o);
  }

  /**
   * A due timer's TIMER record (the timer service's), delivered as a send is: by id, to
   * wherever its actor is. False when the shard had no room for it (ring and K2K queue
   * full): the timer service sends it again later, so a fire is never a dead letter
   * 'overflow'.
   */
  fire(words: Uint32Array, o: number): boolean {
    this.sendId = 0;
    this.full = false;
    this.firing = true;
    try {
      this.deliver(words, o);
    } finally {
      this.firing = false;
    }
    return !this.full;
  }

  /** A timer's fire is being delivered (a refusal for want of room is not a dead letter then). */
  private firing = false;
  private full = false;

  /** An actor armed a timer: the timer service indexes it (a notice is not a message). */
  private timerNotice(words: Uint32Array, o: number): void {
    const actorId = words[o + SendHeader.source]!;
    const entry = this.directory.byActorId(actorId);
    if (entry === undefined || this.timers === undefined) return;
    const p = o + SEND_HEADER_WORDS;
    this.timers.notice(actorId, words[p + TimerNotice.entry]!, words[o + SendHeader.to]!, readMs(words, p + TimerNotice.dueHi));
  }

  /** The record route() is routing, again, once a locator activated its receiver: numbered once. */
  reroute(words: Uint32Array, o: number): void {
    this.deliver(words, o);
  }

  private deliver(words: Uint32Array, o: number): void {
    const entry = this.directory.byActorId(words[o + SendHeader.to]!);
    if (entry === undefined) {
      // A locator that activates the receiver from a store may be refused (a full shard):
      // a dead letter, as a refused forward is, never a throw into the reply loop.
      try {
        this.elsewhere(words, o, this.deadBecause);
      } catch (error) {
        this.deadFor(error);
      }
      return;
    }
    const op = words[o + SendHeader.kernel]! >>> SEND_OP_SHIFT;
    if (op !== 0) {
      // A timer's fire (the timer service's): ringshard's own record for the actor by its
      // id, on behalf of nobody, so it is the actor's kernel and tenant, and the policy has no say.
      words[o + SendHeader.kernel] = (entry.kernelId | (op << SEND_OP_SHIFT)) >>> 0;
      words[o + SendHeader.tenant] = entry.tenantId;
    } else if (entry.kernelId !== words[o + SendHeader.kernel]) return this.dead('wrong-kernel');
    entry.seen = activity.epoch;
    if (entry.tenantId !== words[o + SendHeader.tenant]) return this.dead('cross-tenant');
    const policy = this.policy;
    if (policy.active && op === 0) {
      const decision = policy.decide(words[o + SendHeader.principal]!, words[o + SendHeader.roles]!, entry);
      if (decision !== 'allowed') {
        policy.refused(entry, decision);
        return this.dead('forbidden');
      }
    }
    try {
      entry.link.forward(entry, words, o, this.payloadWords, this.deadFor, this.sendId);
    } catch (error) {
      this.deadFor(error);
    }
  }

  dead(reason: DeadLetterReason): void {
    this.deadLetters.set(reason, this.deadLetters.get(reason)! + 1);
    if (diagnostics.deadLetter.hasSubscribers) diagnostics.deadLetter.publish({ reason } satisfies DeadLetterEvent);
  }

  /** Dead letters so far, by reason (ringshard_dead_letters_total). */
  get counts(): ReadonlyMap<DeadLetterReason, number> {
    return this.deadLetters;
  }
}
