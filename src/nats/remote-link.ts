/**
 * RemoteLink: the ShardLink of actors another node owns. A call (tell, ask, many of
 * either, snapshot, terminate) is sent to the node that owns the actor in this node's
 * view of the members, batched with the other calls to that node in the same turn of
 * the event loop into one NATS message, and stays here until that node answers.
 *
 * Order per actor: calls to one actor travel in order on one connection and the owner
 * runs them in order. When the owner answers "not mine" (the members changed), it
 * refuses every later call of the same route epoch too, and this link sends all the
 * actor's unanswered calls again, in their order, with a new epoch, to the owner in its
 * updated view. The same happens when the owner dies: with `durable`, calls it had taken
 * are in the journal, and the new owner answers them from its replay instead of running
 * them twice.
 *
 * Frames to other nodes are signed (wire.ts signCallFrame) with this incarnation's key,
 * for the destination's subject and incarnation, with a sequence number that rises with
 * every frame this incarnation sends.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { ErrorCode, RingshardError } from '../errors.ts';
import type { Codec } from '../layout/codec.ts';
import { packWords, type MessageBatch } from '../layout/columns.ts';
import { SYSTEM_CALLER, type AskSpec, type Caller, type MessageLink } from '../coordinator/shard-link.ts';
import type { RemoteTarget } from '../coordinator/actor-handle.ts';

export type { RemoteTarget } from '../coordinator/actor-handle.ts';
import { CallOp, ReplyStatus, decodeReplies, encodeCalls, signCallFrame, type Call, type Reply } from './wire.ts';
import { decodeMany, encodeOne } from '../layout/raw-words.ts';

/** What a RemoteLink needs from its node. */
export interface RemoteRouting {
  readonly self: string;
  readonly incarnation: string;
  readonly subjectPrefix: string;
  /** The node that owns the actor in this node's view now. */
  ownerNode(identity: string): string | undefined;
  principalName(id: number): string;
  /** Runs a call on this node (the actor's owner is this node now); resolves with the reply words. */
  runLocally(call: Call, callId: string): Promise<Uint32Array>;
  /** The incarnation of a live node, as this node knows it (a frame names its destination's). */
  incarnationOf(node: string): string | undefined;
  /** Signs a frame with this incarnation's key; undefined: frames go unsigned (the bench's comparison only). */
  readonly sign: ((data: Uint8Array) => Uint8Array) | undefined;
}

/** Where an incarnation's replies come: `<cluster>.reply.<incarnation, '#' as '_'>`. */
export function replySubject(prefix: string, incarnation: string): string {
  return `${prefix}.reply.${incarnation.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** Where a node takes calls: `<cluster>.rpc.<node>`. */
export function rpcSubject(prefix: string, node: string): string {
  return `${prefix}.rpc.${node}`;
}

interface Outstanding {
  call: Call;
  identity: string;
  dest: string | undefined;
  finish: (payload: Uint32Array) => void;
  fail: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

interface Route {
  epoch: number;
  /** Unanswered call ids, in send order. */
  readonly calls: Set<number>;
  /** Waiting to be sent again (after a refusal): new calls wait behind. */
  blocked: boolean;
}

const RETRY_MS = 20;
/**
 * K2K messages to other nodes that may wait for their answers at once: past it one is a
 * dead letter 'overflow', so a kernel that amplifies its sends across nodes cannot grow
 * this node's memory without bound (the local rings have maxK2KQueuedPerShard).
 */
export const MAX_REMOTE_K2K = 65_536;

/** The messaging link to actors other nodes own: calls go as signed frames to the owner. */
export class RemoteLink implements MessageLink<RemoteTarget> {
  readonly failed: Error | undefined = undefined;
  private nextId = 1;
  private readonly outstanding = new Map<number, Outstanding>();
  private readonly routes = new Map<string, Route>();
  private readonly outbox = new Map<string, Call[]>();
  private flushScheduled = false;
  /** The sequence number of the last frame sent (rises with every frame, to any node). */
  private frameSeq = 0;
  private readonly inbox: string;
  private readonly sub: Subscription;
  private closed: Error | undefined;
  /** K2K deliveries not answered yet. */
  private k2kInFlight = 0;
  /** Answers to calls sent to other nodes, by result (ringshard_node_calls_total{direction="sent"}). */
  readonly results = new Map<string, number>([['ok', 0], ['refused', 0], ['error', 0], ['timeout', 0]]);

  constructor(
    private readonly nc: NatsConnection,
    private readonly routing: RemoteRouting,
    /** How long a tell (or K2K message) may wait for its owner's answer. */
    private readonly timeoutMs: number,
    /** K2K messages to other nodes waiting for answers at once. @default MAX_REMOTE_K2K */
    private readonly maxK2K = MAX_REMOTE_K2K,
  ) {
    this.inbox = replySubject(routing.subjectPrefix, routing.incarnation);
    this.sub = nc.subscribe(this.inbox, {
      callback: (_e, m) => {
        try {
          this.answered(decodeReplies(m.data));
        } catch {
          // A frame that is not ours: nothing waits for it.
        }
      },
    });
  }

  /** Unanswered calls (for shutdown and tests). */
  get pending(): number {
    return this.outstanding.size;
  }

  private send(
    e: RemoteTarget,
    from: Caller,
    op: CallOp,
    count: number,
    words: number,
    payload: Uint32Array,
    timeoutMs: number,
    finish: (payload: Uint32Array) => void,
    fail: (error: Error) => void,
    hlcHi = 0,
    hlcLo = 0,
  ): void {
    if (this.closed) throw this.closed;
    const id = this.nextId++;
    if (this.nextId >= 0xffffffff) this.nextId = 1;
    let route = this.routes.get(e.identity);
    if (!route) this.routes.set(e.identity, (route = { epoch: 1, calls: new Set(), blocked: false }));
    const call: Call = {
      id,
      epoch: route.epoch,
      op,
      kernel: e.kernelName,
      tenant: e.tenant,
      key: e.key,
      principal: this.routing.principalName(from.principalId),
      roles: from.roles,
      source: from.sourceId,
      hlcHi,
      hlcLo,
      count,
      words,
      payload,
    };
    const o: Outstanding = { call, identity: e.identity, dest: undefined, finish, fail, timer: undefined };
    if (Number.isFinite(timeoutMs)) {
      o.timer = setTimeout(() => this.timedOut(o, new RingshardError(ErrorCode.TIMEOUT, `a call to actor '${e.key}' of kernel '${e.kernelName}' on another node got no answer in ${timeoutMs} ms`)), timeoutMs);
    }
    this.outstanding.set(id, o);
    route.calls.add(id);
    if (!route.blocked) this.dispatch(o);
  }

  /** To the owner now: another node (batched), or this one. */
  private dispatch(o: Outstanding): void {
    const owner = this.routing.ownerNode(o.identity);
    if (owner === undefined) {
      o.dest = undefined;
      this.retryLater(o.identity); // no live member at all yet: wait for one
      return;
    }
    o.dest = owner;
    if (owner === this.routing.self) {
      const callId = `${this.routing.incarnation}/${o.call.id}`;
      this.routing.runLocally(o.call, callId).then(
        (payload) => this.settle(o, payload),
        (error: Error) => this.settle(o, undefined, error),
      );
      return;
    }
    let calls = this.outbox.get(owner);
    if (!calls) this.outbox.set(owner, (calls = []));
    calls.push(o.call);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const sign = this.routing.sign;
    for (const [node, calls] of this.outbox) {
      const subject = rpcSubject(this.routing.subjectPrefix, node);
      // A node this one no longer hears has no incarnation here: the frame names none, and is refused (and sent again).
      const body = encodeCalls(this.routing.incarnation, calls, { to: this.routing.incarnationOf(node) ?? '' });
      this.nc.publish(subject, sign ? signCallFrame(body, subject, ++this.frameSeq, sign) : body, { reply: this.inbox });
    }
    this.outbox.clear();
  }

  private count(result: string): void {
    this.results.set(result, this.results.get(result)! + 1);
  }

  private timedOut(o: Outstanding, error: Error): void {
    if (this.outstanding.get(o.call.id) !== o) return;
    this.count('timeout');
    this.settle(o, undefined, error);
  }

  private answered(replies: Reply[]): void {
    for (const r of replies) {
      const o = this.outstanding.get(r.id);
      if (!o) continue; // answered already, or timed out
      if (r.status === ReplyStatus.OK) {
        this.count('ok');
        this.settle(o, r.payload);
      } else if (r.status === ReplyStatus.ERROR) {
        this.count('error');
        this.settle(o, undefined, new RingshardError((r.error?.code as ErrorCode) ?? ErrorCode.REMOTE, r.error?.message ?? 'the remote call failed'));
      } else {
        this.count('refused');
        if (o.call.epoch === this.routes.get(o.identity)?.epoch) this.retryLater(o.identity);
      }
    }
  }

  private settle(o: Outstanding, payload: Uint32Array | undefined, error?: Error): void {
    if (this.outstanding.get(o.call.id) !== o) return;
    this.outstanding.delete(o.call.id);
    if (o.timer) clearTimeout(o.timer);
    const route = this.routes.get(o.identity);
    if (route) {
      route.calls.delete(o.call.id);
      if (route.calls.size === 0 && !route.blocked) this.routes.delete(o.identity);
    }
    if (error) o.fail(error);
    else o.finish(payload!);
  }

  /** Refused or orphaned: a new epoch, and every unanswered call again, in order, soon. */
  private retryLater(identity: string): void {
    const route = this.routes.get(identity);
    if (!route || route.blocked) return;
    route.epoch++;
    route.blocked = true;
    setTimeout(() => this.resend(identity), RETRY_MS).unref();
  }

  private resend(identity: string): void {
    const route = this.routes.get(identity);
    if (!route) return;
    route.blocked = false;
    for (const id of route.calls) {
      const o = this.outstanding.get(id)!;
      o.call = { ...o.call, epoch: route.epoch };
      this.dispatch(o);
      if (route.blocked) return; // no owner yet: all of it waits again
    }
    if (route.calls.size === 0) this.routes.delete(identity);
  }

  /** The members changed: calls waiting on a node that is gone go to the new owners. */
  membersChanged(isLive: (node: string) => boolean): void {
    const orphaned = new Set<string>();
    for (const o of this.outstanding.values()) if (o.dest !== undefined && o.dest !== this.routing.self && !isLive(o.dest)) orphaned.add(o.identity);
    for (const identity of orphaned) this.retryLater(identity);
  }

  close(error: Error): void {
    this.closed = error;
    this.sub.unsubscribe();
    for (const o of [...this.outstanding.values()]) this.settle(o, undefined, error);
  }

  // ---- ShardLink

  tell(to: RemoteTarget, from: Caller, codec: Codec, msg: unknown): Promise<void> {
    const payload = encodeOne(codec, msg);
    return new Promise((resolve, reject) => this.send(to, from, CallOp.TELL, 1, codec.words, payload, this.timeoutMs, () => resolve(), reject));
  }

  tellMany(to: RemoteTarget, from: Caller, msgs: MessageBatch): Promise<void> {
    const payload = packWords(msgs);
    return new Promise((resolve, reject) => this.send(to, from, CallOp.TELL, msgs.count, msgs.words, payload, this.timeoutMs, () => resolve(), reject));
  }

  ask(to: RemoteTarget, from: Caller, codec: Codec, msg: unknown, reply: AskSpec): Promise<unknown> {
    const payload = encodeOne(codec, msg);
    return new Promise((resolve, reject) =>
      this.send(to, from, CallOp.ASK, 1, codec.words, payload, reply.timeoutMs, (w) => resolve(reply.codec.decode(w, new Float32Array(w.buffer, w.byteOffset, w.length), 0)), reject),
    );
  }

  askMany(to: RemoteTarget, from: Caller, msgs: MessageBatch, reply: AskSpec): Promise<unknown> {
    const payload = packWords(msgs);
    return new Promise((resolve, reject) =>
      this.send(to, from, CallOp.ASK, msgs.count, msgs.words, payload, reply.timeoutMs, (w) => resolve(decodeMany(reply.codec, w, msgs.count, reply.sink)), reject),
    );
  }

  snapshot(to: RemoteTarget, reply: AskSpec): Promise<unknown> {
    return new Promise((resolve, reject) =>
      this.send(to, reply.caller ?? SYSTEM_CALLER, CallOp.SNAPSHOT, 0, 0, new Uint32Array(0), reply.timeoutMs, (w) => resolve(reply.codec.decode(w, new Float32Array(w.buffer, w.byteOffset, w.length), 0)), reject),
    );
  }

  /**
   * ref.setTimer / clearTimer of an actor on another node (CallOp.SET_TIMER or
   * CLEAR_TIMER, payload [id, dueMs, everyMs]): the owner runs them on its actor and
   * answers [1] (set) or [1 if it was armed] (clear).
   */
  timerCall(to: RemoteTarget, from: Caller, op: CallOp, payload: Uint32Array, timeoutMs: number): Promise<Uint32Array> {
    return new Promise((resolve, reject) => this.send(to, from, op, 1, payload.length, payload, timeoutMs, resolve, reject));
  }

  terminate(to: RemoteTarget, reply: AskSpec): Promise<unknown> {
    return new Promise((resolve, reject) =>
      this.send(
        to,
        reply.caller ?? SYSTEM_CALLER,
        CallOp.TERMINATE,
        0,
        0,
        new Uint32Array(0),
        reply.timeoutMs,
        (w) => {
          reply.onDone?.();
          resolve(w.length === 0 ? undefined : reply.codec.decode(w, new Float32Array(w.buffer, w.byteOffset, w.length), 0));
        },
        reject,
      ),
    );
  }

  /**
   * A K2K message for an actor on another node (or on this one, if it moved here): sent
   * like a tell, in order behind the earlier ones to the same actor; `onDead` if it
   * cannot be delivered.
   */
  deliver(to: RemoteTarget, from: Caller, payload: Uint32Array, hlcHi: number, hlcLo: number, onDead: (error: Error) => void): void {
    if (this.k2kInFlight >= this.maxK2K) {
      onDead(new RingshardError(ErrorCode.RING_FULL, `a K2K message to another node was dropped: ${this.k2kInFlight} wait for their answers already`));
      return;
    }
    try {
      this.k2kInFlight++;
      this.send(
        to,
        from,
        CallOp.TELL,
        1,
        payload.length,
        payload,
        this.timeoutMs,
        () => this.k2kInFlight--,
        (error) => {
          this.k2kInFlight--;
          onDead(error);
        },
        hlcHi,
        hlcLo,
      );
    } catch (error) {
      this.k2kInFlight--;
      onDead(error as Error);
    }
  }
}
