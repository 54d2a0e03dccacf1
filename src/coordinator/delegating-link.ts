/**
 * A ShardLink that passes everything to the link it wraps: the base of links that add
 * one thing to a shard's link (journaling a message, marking an actor changed) and leave
 * the rest as it is.
 */
import type { Codec } from '../layout/codec.ts';
import type { MessageBatch } from '../layout/columns.ts';
import type { AskSpec, Caller, RecordTarget, ShardLink } from './shard-link.ts';

export class DelegatingLink implements ShardLink {
  constructor(protected readonly inner: ShardLink) {}

  get index(): number {
    return this.inner.index;
  }

  get failed(): Error | undefined {
    return this.inner.failed;
  }

  get moving(): Promise<void> | undefined {
    return this.inner.moving;
  }

  tell(to: RecordTarget, from: Caller, codec: Codec, msg: unknown): Promise<void> {
    return this.inner.tell(to, from, codec, msg);
  }

  tellMany(to: RecordTarget, from: Caller, msgs: MessageBatch): Promise<void> {
    return this.inner.tellMany(to, from, msgs);
  }

  ask(to: RecordTarget, from: Caller, codec: Codec, msg: unknown, reply: AskSpec): Promise<unknown> {
    return this.inner.ask(to, from, codec, msg, reply);
  }

  askMany(to: RecordTarget, from: Caller, msgs: MessageBatch, reply: AskSpec): Promise<unknown> {
    return this.inner.askMany(to, from, msgs, reply);
  }

  forward(to: RecordTarget, send: Uint32Array, offset: number, payloadWords: number, onDead: (error: Error) => void, sendId?: number): void {
    this.inner.forward(to, send, offset, payloadWords, onDead, sendId);
  }

  snapshot(to: RecordTarget, reply: AskSpec): Promise<unknown> {
    return this.inner.snapshot(to, reply);
  }

  terminate(to: RecordTarget, reply: AskSpec): Promise<unknown> {
    return this.inner.terminate(to, reply);
  }

  activate(to: RecordTarget): Promise<void> {
    return this.inner.activate(to);
  }

  retire(to: RecordTarget): Promise<void> {
    return this.inner.retire(to);
  }

  exportState(to: RecordTarget, reply: AskSpec): Promise<unknown> {
    return this.inner.exportState(to, reply);
  }

  importState(to: RecordTarget, stateCodec: Codec, state: unknown): Promise<void> {
    return this.inner.importState(to, stateCodec, state);
  }
}
