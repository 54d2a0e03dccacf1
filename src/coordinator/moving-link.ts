/**
 * MovingLink: where an actor's records go while it moves between shards. Its old shard
 * has been asked for the state (EXPORT, queued behind every record sent before), and
 * its new shard can take records only after the state (IMPORT). Records sent meanwhile
 * wait here, in send order, and follow the IMPORT record when the actor arrives: so
 * every message is handled exactly once, in send order, on one shard or the other.
 *
 * Messages are checked and copied when they are sent (a caller may reuse its object),
 * so a bad message still fails at once and later changes do not leak into the record.
 */
import type { Codec } from '../layout/codec.ts';
import type { AskSpec, Caller, RecordTarget, ShardLink } from './shard-link.ts';
import { SEND_HEADER_WORDS } from '../layout/record.ts';
import { packedBatch, type MessageBatch } from '../layout/columns.ts';

export class MovingLink implements ShardLink {
  private readonly waiting: Array<(link: ShardLink) => void> = [];
  private target: ShardLink | undefined;
  private arrive: (() => void) | undefined;
  private done: Promise<void> | undefined;

  constructor(private readonly from: ShardLink) {}

  /** Resolves once the move is over (arrived, or gone back). Made when first asked: most moves (idle deactivations) are never waited for. */
  get settled(): Promise<void> {
    if (this.done === undefined) this.done = this.target !== undefined ? Promise.resolve() : new Promise((resolve) => (this.arrive = resolve));
    return this.done;
  }

  get moving(): Promise<void> {
    return this.settled;
  }

  /** Still the old shard, until the actor has arrived. */
  get index(): number {
    return this.from.index;
  }

  get failed(): Error | undefined {
    return this.from.failed;
  }

  /** Whether records wait here (sent while the actor moved). */
  get hasWaiting(): boolean {
    return this.waiting.length > 0;
  }

  /** The actor is on `link` now: what waited is sent there, in order. */
  arrived(link: ShardLink): void {
    this.target = link;
    for (const send of this.waiting.splice(0)) send(link);
    this.arrive?.();
  }

  private later<T>(send: (link: ShardLink) => Promise<T>): Promise<T> {
    // After arrival a stale holder of this link still reaches the actor.
    if (this.target) return send(this.target);
    return new Promise<T>((resolve, reject) => {
      this.waiting.push((link) => {
        try {
          send(link).then(resolve, reject);
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  tell(to: RecordTarget, from: Caller, codec: Codec, msg: unknown): Promise<void> {
    const copy = snapshotOf(codec, msg);
    return this.later((link) => link.tell(to, from, codec, copy));
  }

  tellMany(to: RecordTarget, from: Caller, msgs: MessageBatch): Promise<void> {
    const copy = packedBatch(msgs);
    return this.later((link) => link.tellMany(to, from, copy));
  }

  ask(to: RecordTarget, from: Caller, codec: Codec, msg: unknown, reply: AskSpec): Promise<unknown> {
    const copy = snapshotOf(codec, msg);
    return this.later((link) => link.ask(to, from, codec, copy, reply));
  }

  askMany(to: RecordTarget, from: Caller, msgs: MessageBatch, reply: AskSpec): Promise<unknown> {
    const copy = packedBatch(msgs);
    return this.later((link) => link.askMany(to, from, copy, reply));
  }

  forward(to: RecordTarget, send: Uint32Array, offset: number, payloadWords: number, onDead: (error: Error) => void, sendId?: number): void {
    if (this.target) return this.target.forward(to, send, offset, payloadWords, onDead, sendId);
    // The send record lives in a reply ring slot that is reused: keep a copy.
    const copy = send.slice(offset, offset + SEND_HEADER_WORDS + payloadWords);
    this.waiting.push((link) => {
      try {
        link.forward(to, copy, 0, payloadWords, onDead, sendId);
      } catch (error) {
        onDead(error as Error);
      }
    });
  }

  snapshot(to: RecordTarget, reply: AskSpec): Promise<unknown> {
    return this.later((link) => link.snapshot(to, reply));
  }

  terminate(to: RecordTarget, reply: AskSpec): Promise<unknown> {
    return this.later((link) => link.terminate(to, reply));
  }

  activate(to: RecordTarget): Promise<void> {
    return this.later((link) => link.activate(to));
  }

  retire(to: RecordTarget): Promise<void> {
    return this.later((link) => link.retire(to));
  }

  exportState(to: RecordTarget, reply: AskSpec): Promise<unknown> {
    return this.later((link) => link.exportState(to, reply));
  }

  importState(to: RecordTarget, stateCodec: Codec, state: unknown): Promise<void> {
    return this.later((link) => link.importState(to, stateCodec, state));
  }
}

/** Checks `msg` against the codec (throwing ERR_RINGSHARD_SCHEMA) and returns a copy. */
function snapshotOf(codec: Codec, msg: unknown): unknown {
  const words = new Uint32Array(codec.words);
  const floats = new Float32Array(words.buffer);
  codec.encode(msg as never, words, floats, 0);
  return codec.decode(words, floats, 0);
}
