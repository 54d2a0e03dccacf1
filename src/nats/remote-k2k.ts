/**
 * K2K messages to actors this node does not hold. A send record names its receiver by id
 * only; the id's identity comes from the store's id registry (then cached), and the
 * message goes to the actor's owner through the remote link, like a tell. Messages to one
 * id keep their order, the lookup included.
 */
import { identityParts } from '../coordinator/actor-directory.ts';
import { deadLetterReason, type DeadLetterReason } from '../coordinator/dead-letters.ts';
import type { Caller } from '../coordinator/shard-link.ts';
import { SEND_HEADER_WORDS, SendHeader } from '../layout/record.ts';
import type { IdRegistry } from '../recovery/state-store.ts';
import type { LocalNode } from './local-node.ts';
import type { RemoteLink } from './remote-link.ts';

/** Ids the cache holds before it starts again (they come from the registry again when asked). */
const IDS_LIMIT = 100_000;

export class RemoteK2K {
  constructor(
    private readonly local: LocalNode,
    private readonly ids: IdRegistry,
    private readonly remote: RemoteLink,
  ) {}

  /** Makes `id` known as `identity` here and in the registry (an actor's id may travel before it runs). */
  remember(id: number, identity: string): void {
    if (this.identities.has(id)) return;
    this.identities.set(id, identity);
    void this.ids.registerId(id, identity).catch(() => {});
  }

  private readonly identities = new Map<number, string>();
  /** Per actor id being looked up: the K2K messages that wait for it, in send order. */
  private readonly lookingUp = new Map<number, Array<() => void>>();

  /**
   * A K2K message (a send record in a reply ring) for an actor id this node does not
   * hold: the id's identity (from the ids bucket, then cached), then the actor's owner,
   * like a tell. Messages to one id keep their order, the lookup included.
   */
  route(words: Uint32Array, o: number, dead: (reason: DeadLetterReason) => void): void {
    const to = words[o + SendHeader.to]!;
    const kernel = this.local.kernelName(words[o + SendHeader.kernel]!);
    const tenant = this.local.tenantName(words[o + SendHeader.tenant]!);
    // The reply ring's slot is reused: keep the receiver's request words.
    const at = o + SEND_HEADER_WORDS;
    const payload = words.slice(at, at + (kernel === undefined ? 0 : this.local.kernel(kernel)!.codecs.request.words));
    const from: Caller = { principalId: words[o + SendHeader.principal]!, roles: words[o + SendHeader.roles]!, sourceId: words[o + SendHeader.source]! };
    const hlcHi = words[o + SendHeader.hlcHi]!;
    const hlcLo = words[o + SendHeader.hlcLo]!;
    const send = () => {
      const identity = this.identities.get(to);
      if (identity === undefined) return dead('no-such-actor');
      const parts = identityParts(identity);
      if (parts.kernel !== kernel) return dead('wrong-kernel');
      if (parts.tenant !== tenant) return dead('cross-tenant');
      this.remote.deliver({ identity, kernelName: parts.kernel, tenant: parts.tenant, key: parts.key }, from, payload, hlcHi, hlcLo, (error) =>
        // The owner's authorize refused the carried principal, too many wait already, or the call failed.
        dead(deadLetterReason(error)),
      );
    };
    const waiting = this.lookingUp.get(to);
    if (waiting) return void waiting.push(send);
    if (this.identities.has(to)) return send();
    const queue = [send];
    this.lookingUp.set(to, queue);
    void this.ids
      .identityOf(to)
      .catch(() => undefined)
      .then((identity) => {
        if (identity !== undefined) {
          // Bounded like refs: ids come from the ids bucket again when asked.
          if (this.identities.size > IDS_LIMIT) this.identities.clear();
          this.identities.set(to, identity);
        }
        this.lookingUp.delete(to);
        for (const s of queue) s();
      });
  }
}
