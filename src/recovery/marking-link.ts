/**
 * A link for durability 'checkpoint' (options.persist): nothing is journaled; every
 * message (and K2K message) marks its actor changed, and the periodic snapshot round
 * writes the changed actors' states. A crash loses what came after an actor's last
 * snapshot, never applies a message twice (nothing is replayed).
 */
import type { Codec } from '../layout/codec.ts';
import type { MessageBatch } from '../layout/columns.ts';
import { DelegatingLink } from '../coordinator/delegating-link.ts';
import type { AskSpec, Caller, RecordTarget, ShardLink } from '../coordinator/shard-link.ts';
import type { Journal } from './state-store.ts';

export class MarkingLink extends DelegatingLink {
  constructor(
    inner: ShardLink,
    /** Called on the first message after a snapshot round took the mark: the actor's state will change. */
    private readonly touched: (link: MarkingLink) => void,
    private readonly store: Pick<Journal, 'forget'>,
    /** The actor's store key. */
    private readonly key: string,
  ) {
    super(inner);
  }

  override tell(to: RecordTarget, from: Caller, codec: Codec, msg: unknown): Promise<void> {
    this.mark();
    return this.inner.tell(to, from, codec, msg);
  }

  override tellMany(to: RecordTarget, from: Caller, msgs: MessageBatch): Promise<void> {
    this.mark();
    return this.inner.tellMany(to, from, msgs);
  }

  override ask(to: RecordTarget, from: Caller, codec: Codec, msg: unknown, reply: AskSpec): Promise<unknown> {
    this.mark();
    return this.inner.ask(to, from, codec, msg, reply);
  }

  override askMany(to: RecordTarget, from: Caller, msgs: MessageBatch, reply: AskSpec): Promise<unknown> {
    this.mark();
    return this.inner.askMany(to, from, msgs, reply);
  }

  override forward(to: RecordTarget, send: Uint32Array, offset: number, payloadWords: number, onDead: (error: Error) => void, sendId?: number): void {
    this.mark();
    this.inner.forward(to, send, offset, payloadWords, onDead, sendId);
  }

  /** Set by a message, taken by the snapshot round: one boolean test per message. */
  private marked = false;

  private mark(): void {
    if (this.marked) return;
    this.marked = true;
    this.touched(this);
  }

  /** The snapshot round takes the mark (the next message marks again). */
  unmark(): void {
    this.marked = false;
  }

  override terminate(to: RecordTarget, reply: AskSpec): Promise<unknown> {
    return this.inner.terminate(to, reply).then(async (state) => {
      // A terminated actor starts afresh: nothing of it is to be restored.
      await this.store.forget(this.key);
      return state;
    });
  }
}
