/**
 * ActorRef: a handle on one virtual actor (kernel, tenant, key). Creating one costs
 * nothing; the actor is placed and activated on first use, and re-activated after
 * terminate() if used again.
 */
import { ErrorCode, RingshardError, describeValue } from '../errors.ts';
import type { Kernel } from '../kernels/define-kernel.ts';
import type { MessageOf, Schema } from '../layout/schema.ts';
import { Op } from '../layout/record.ts';
import type { ActorEntry } from '../coordinator/actor-directory.ts';
import type { PendingAsk } from '../coordinator/pending-replies.ts';

export interface AskOptions {
  /** Fail with ERR_RINGSHARD_TIMEOUT after this many ms. @default the cluster's askTimeoutMs */
  readonly timeoutMs?: number;
}

/** What an ActorRef needs from its cluster. */
export interface ActorHost {
  readonly askTimeoutMs: number;
  /** The active entry for the identity, activating the actor if needed. */
  activate(ref: ActorRef<any, any, any>): ActorEntry;
  /** The active entry, or undefined when the actor is not active. */
  find(ref: ActorRef<any, any, any>): ActorEntry | undefined;
  retire(entry: ActorEntry): void;
  freeSlot(entry: ActorEntry): void;
}

export class ActorRef<S extends Schema, Q extends Schema, R extends Schema> {
  /** Who the actor is: kernel name, tenant and key joined (unique in the cluster). */
  readonly identity: string;
  /** How errors name this actor; made once, since every ask carries it. */
  private readonly what: string;
  private entry: ActorEntry | undefined;

  constructor(
    private readonly host: ActorHost,
    readonly kernel: Kernel<S, Q, R>,
    readonly kernelId: number,
    readonly key: string,
    readonly tenant: string,
    readonly tenantId: number,
    readonly principal: string,
    readonly principalId: number,
  ) {
    this.identity = `${kernel.name}\u0000${tenant}\u0000${key}`;
    this.what = `kernel '${kernel.name}' actor '${key}'${tenant ? ` of tenant '${tenant}'` : ''}`;
  }

  private target(): ActorEntry {
    const e = this.entry;
    if (e !== undefined && e.active) return e;
    return (this.entry = this.host.activate(this));
  }

  /** The actor's id (shard << 24 | slot) while it is active, else undefined. */
  get actorId(): number | undefined {
    return this.host.find(this)?.actorId;
  }

  /** The shard the actor is placed on. */
  get shard(): number {
    return this.target().shard.index;
  }

  /**
   * Sends a message without waiting for a reply. Resolves once the message is in the
   * shard's ring (at once unless the ring is full: that is the backpressure). Rejects
   * with ERR_RINGSHARD_SCHEMA when `msg` does not fit the request schema.
   */
  tell(msg: MessageOf<Q>): Promise<void> {
    try {
      const e = this.target();
      return e.shard.send(e, Op.MESSAGE, this.kernel.codecs.request, msg, 0);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Sends many messages without replies; all are checked before any is sent. */
  tellMany(msgs: readonly MessageOf<Q>[]): Promise<void> {
    try {
      if (!Array.isArray(msgs)) throw new RingshardError(ErrorCode.SCHEMA, `${this.what}: tellMany expects an array, got ${describeValue(msgs)}`);
      if (msgs.length === 0) return Promise.resolve();
      const e = this.target();
      return e.shard.sendMany(e, Op.MESSAGE, this.kernel.codecs.request, msgs, 0);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Sends a message and resolves with the handler's reply. */
  ask(msg: MessageOf<Q>, options?: AskOptions): Promise<MessageOf<R>> {
    return this.request(Op.MESSAGE, msg, `ask to ${this.what}`, options) as Promise<MessageOf<R>>;
  }

  /**
   * Sends many messages (handled in order) and resolves with their replies, in order,
   * as one promise. If some fail, it rejects with an error whose `failures` lists
   * `{ index, status }` and whose `replies` holds the replies that did come.
   */
  askMany(msgs: readonly MessageOf<Q>[], options?: AskOptions): Promise<MessageOf<R>[]> {
    try {
      if (!Array.isArray(msgs)) throw new RingshardError(ErrorCode.SCHEMA, `${this.what}: askMany expects an array, got ${describeValue(msgs)}`);
      const timeoutMs = this.timeout(options);
      if (msgs.length === 0) return Promise.resolve([]);
      const e = this.target();
      const shard = e.shard;
      const base = shard.allocateCorrelations(msgs.length);
      const sent = shard.sendMany(e, Op.MESSAGE, this.kernel.codecs.request, msgs, base);
      return this.expect(e, base, msgs.length, true, this.kernel.codecs.reply, `askMany to ${this.what}`, sent, timeoutMs) as Promise<MessageOf<R>[]>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Resolves with the actor's current state, read back from the GPU in message order. */
  snapshot(options?: AskOptions): Promise<MessageOf<S>> {
    return this.request(Op.SNAPSHOT, undefined, `snapshot of ${this.what}`, options) as Promise<MessageOf<S>>;
  }

  /**
   * Runs the actor's shutdown hook after the messages sent before, frees its state slot
   * and resolves with its final state (undefined if it was not active). A later message
   * activates it afresh, with zeroed state.
   */
  terminate(options?: AskOptions): Promise<MessageOf<S> | undefined> {
    try {
      const timeoutMs = this.timeout(options);
      const e = this.host.find(this);
      if (!e) return Promise.resolve(undefined);
      this.host.retire(e);
      this.entry = undefined;
      const shard = e.shard;
      const base = shard.allocateCorrelations(1);
      const sent = shard.send(e, Op.SHUTDOWN, undefined, undefined, base);
      return this.expect(e, base, 1, false, this.kernel.codecs.state, `terminate of ${this.what}`, sent, timeoutMs, () =>
        this.host.freeSlot(e),
      ) as Promise<MessageOf<S>>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private timeout(options: AskOptions | undefined): number {
    const timeoutMs = options?.timeoutMs ?? this.host.askTimeoutMs;
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) {
      throw new RingshardError(ErrorCode.INVALID_OPTION, `options.timeoutMs must be a number > 0, got ${describeValue(timeoutMs)}`);
    }
    return timeoutMs;
  }

  private request(op: Op, msg: unknown, what: string, options: AskOptions | undefined): Promise<unknown> {
    try {
      const timeoutMs = this.timeout(options);
      const e = this.target();
      const shard = e.shard;
      const base = shard.allocateCorrelations(1);
      const codec = op === Op.MESSAGE ? this.kernel.codecs.request : undefined;
      const sent = shard.send(e, op, codec, msg, base);
      const replyCodec = op === Op.MESSAGE ? this.kernel.codecs.reply : this.kernel.codecs.state;
      return this.expect(e, base, 1, false, replyCodec, what, sent, timeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private expect(
    e: ActorEntry,
    base: number,
    count: number,
    many: boolean,
    codec: PendingAsk['codec'],
    what: string,
    sent: Promise<void>,
    timeoutMs: number,
    onDone?: () => void,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const entry: PendingAsk = {
        base,
        count,
        received: 0,
        codec,
        many,
        values: many ? new Array(count) : undefined,
        value: undefined,
        failures: undefined,
        deadline: performance.now() + timeoutMs,
        timeoutMs,
        settled: false,
        what,
        resolve,
        reject,
        onDone,
      };
      e.shard.expect(entry);
      // A record that waited for ring space and then could not be sent fails its ask.
      sent.catch((error: Error) => e.shard.pending.settle(entry, error));
    });
  }
}
