/**
 * ActorRef: a handle on one virtual actor (kernel, tenant, key). Creating one costs
 * nothing; the actor is placed and activated on first use, and re-activated after
 * terminate() if used again.
 */
import { activity } from '../coordinator/activity.ts';
import { ErrorCode, RingshardError, abortError, describeValue } from '../errors.ts';
import type { Kernel } from '../kernels/define-kernel.ts';
import type { MessageOf, Schema } from '../layout/schema.ts';
import { isColumns, objectBatch, type ColumnCodec, type ColumnsOf, type MessageBatch } from '../layout/columns.ts';
import { actorIdentity } from '../coordinator/actor-directory.ts';
import { linkOf, type ActorHandle } from '../coordinator/actor-handle.ts';
import type { AskSpec, Caller, ReplySink } from '../coordinator/shard-link.ts';
import type { Codec } from '../layout/codec.ts';
import type { Decision } from './authorizer.ts';
import { NO_ACTOR, Op, SEND_HEADER_WORDS } from '../layout/record.ts';
import { TIMERS_FIELD, TIMER_RECORD_WORDS, TimerTable, writeTimerSend } from '../layout/timer-table.ts';
import { isTimerId } from '../kernels/define-kernel.ts';
import type { ShardLink } from '../coordinator/shard-link.ts';
import { rawCodec } from '../layout/raw-words.ts';
import { CallOp } from '../coordinator/actor-call.ts';

/** ref.setTimer's timing: first due `dueMs` from now, then every `everyMs` (absent or 0: once). */
export interface TimerOptions {
  readonly dueMs: number;
  readonly everyMs?: number;
}

export interface AskOptions {
  /** Fail with ERR_RINGSHARD_TIMEOUT after this many ms. @default the cluster's askTimeoutMs */
  readonly timeoutMs?: number;
  /**
   * Rejects the call with an AbortError (its `cause`: the signal's reason) when the signal
   * aborts. An already aborted signal sends nothing. A message already sent is still
   * handled (the actor's state may change); its reply is dropped when it comes.
   */
  readonly signal?: AbortSignal;
}

/**
 * An ask's spec, as literals: an object spread costs ~10 ns even when empty, and
 * ~850 ns when it copies an object, on Node 20 (measured 2026-12-06).
 */
function askSpec(codec: Codec, what: string, timeoutMs: number, sink: ReplySink | undefined, signal: AbortSignal | undefined): AskSpec {
  if (sink === undefined) return signal === undefined ? { codec, what, timeoutMs } : { codec, what, timeoutMs, signal };
  return signal === undefined ? { codec, what, timeoutMs, sink } : { codec, what, timeoutMs, sink, signal };
}

/** `signal` checked: an AbortSignal or nothing (ERR_RINGSHARD_INVALID_OPTION). */
function signalOf(options: AskOptions | undefined): AbortSignal | undefined {
  const signal = options?.signal;
  if (signal === undefined || signal instanceof AbortSignal) return signal;
  throw new RingshardError(ErrorCode.INVALID_OPTION, `options.signal must be an AbortSignal, got ${describeValue(signal)}`);
}

/** `call`, rejected with an AbortError when `signal` aborts first; the listener goes when the call settles. */
function abortable<T>(call: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    call.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** What an ActorRef needs from its cluster. */
export interface ActorHost {
  readonly askTimeoutMs: number;
  /** The active actor's handle, activating the actor if needed. */
  activate(ref: ActorRef<any, any, any>): ActorHandle;
  /** The active actor's handle, or undefined when the actor is not active. */
  find(ref: ActorRef<any, any, any>): ActorHandle | undefined;
  /** The id of an actor that is not active but kept (deactivated, or in the store): it lives on. */
  keptId(ref: ActorRef<any, any, any>): number | undefined;
  retire(handle: ActorHandle): void;
  freeSlot(handle: ActorHandle): void;
  /** The cluster's authorize policy's answer for the ref (asked once per tuple, cached); 'allowed' without a policy. */
  authorize(ref: ActorRef<any, any, any>): Decision;
  /** Counts a message the policy refused (ringshard_policy_refusals_total). */
  refused(ref: ActorRef<any, any, any>, decision: Exclude<Decision, 'allowed'>): void;
}

/**
 * A handle on one virtual actor. It knows who the actor is (kernel, tenant, key) and
 * reaches it through its handle's link, whichever shard (or node) that is:
 * all record bookkeeping (correlations, pending replies) belongs to the link.
 */
export class ActorRef<S extends Schema, Q extends Schema, R extends Schema> {
  /** Who the actor is: kernel name, tenant and key joined (unique in the cluster). */
  readonly identity: string;
  /** How errors name this actor and its requests; made once, since every ask carries one. */
  private readonly what: string;
  private readonly askWhat: string;
  private readonly askManyWhat: string;
  private entry: ActorHandle | undefined;
  /** Who this ref's messages are from: its principal and role bits (ctx.principal, ctx.roles). */
  readonly caller: Caller;
  /** The policy said yes once: from then on no check (the answer is cached for the tuple anyway). */
  private allowed = false;

  constructor(
    private readonly host: ActorHost,
    readonly kernel: Kernel<S, Q, R>,
    readonly kernelId: number,
    readonly key: string,
    readonly tenant: string,
    readonly tenantId: number,
    readonly principal: string,
    readonly principalId: number,
    /** The shard this actor is pinned to (cluster.actor's options.shard), if any. */
    readonly pinnedShard: number | undefined,
    /** The principal's role names, and their bits (cluster roles: bit i is roles[i]). */
    readonly roles: readonly string[] = [],
    rolesMask = 0,
  ) {
    // Records carry the caller's tenant, and the shard checks it against the slot's.
    this.caller = { principalId, roles: rolesMask, sourceId: NO_ACTOR, tenantId };
    this.identity = actorIdentity(kernel.name, tenant, key);
    this.what = `kernel '${kernel.name}' actor '${key}'${tenant ? ` of tenant '${tenant}'` : ''}`;
    this.askWhat = `ask to ${this.what}`;
    this.askManyWhat = `askMany to ${this.what}`;
  }

  private target(): ActorHandle {
    if (!this.allowed) this.authorize();
    let e = this.entry;
    if (e === undefined || !e.active) e = this.entry = this.host.activate(this);
    e.seen = activity.epoch;
    return e;
  }

  /** @internal Throws ERR_RINGSHARD_FORBIDDEN unless the policy allows this ref (migrate, locate). */
  checkAllowed(): void {
    if (!this.allowed) this.authorize();
  }

  /** @internal The entry a call from another node goes through (authorized, activated). */
  entryForCall(): ActorHandle {
    return this.target();
  }

  /** Throws ERR_RINGSHARD_FORBIDDEN when the cluster's authorize policy refuses this ref: nothing is sent. */
  private authorize(): void {
    const decision = this.host.authorize(this);
    if (decision === 'allowed') {
      this.allowed = true;
      return;
    }
    this.host.refused(this, decision);
    const who = this.principal ? `principal '${this.principal}'` : 'the anonymous principal';
    throw new RingshardError(
      ErrorCode.FORBIDDEN,
      `${this.what}: the cluster's authorize policy refused ${who}${this.roles.length > 0 ? ` with roles ${this.roles.map((r) => `'${r}'`).join(', ')}` : ''}; nothing was sent`,
    );
  }

  /**
   * The actor's cluster-wide id (a u32): what its handler sees in ctx.actor, what other
   * actors address it by. It stays the same while the actor lives, wherever it moves;
   * after terminate() the next activation gets a new one. Reading it activates the actor.
   */
  get id(): number {
    return this.target().actorId;
  }

  /**
   * The actor's id while it is active, else undefined (reading it activates nothing).
   * Throws ERR_RINGSHARD_FORBIDDEN when the policy refuses this ref, as `id` does.
   */
  get actorId(): number | undefined {
    if (!this.allowed) this.authorize();
    return this.host.find(this)?.actorId ?? this.host.keptId(this);
  }

  /** The shard the actor lives on (activating it if needed); see also cluster.locate(). */
  get shard(): number {
    return this.target().shard;
  }

  /**
   * Sends a message without waiting for a reply. Resolves once the message is in the
   * shard's ring (at once unless the ring is full: that is the backpressure). Rejects
   * with ERR_RINGSHARD_SCHEMA when `msg` does not fit the request schema.
   */
  tell(msg: MessageOf<Q>): Promise<void> {
    try {
      const e = this.target();
      return linkOf(e).tell(e, this.caller, this.kernel.codecs.request, msg);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sends many messages without replies; all are checked before any is sent. They may be
   * an array of messages or typed columns (one typed array per request field, message i's
   * values at index i, or i * length for an array field): the path without an object per message.
   */
  tellMany(msgs: readonly MessageOf<Q>[] | ColumnsOf<Q>): Promise<void> {
    try {
      const batch = this.batchOf(msgs, 'tellMany');
      if (batch.count === 0) return Promise.resolve();
      const e = this.target();
      return linkOf(e).tellMany(e, this.caller, batch);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private batchOf(msgs: unknown, method: string): MessageBatch {
    if (Array.isArray(msgs)) return objectBatch(this.kernel.codecs.request, msgs);
    if (isColumns(msgs)) return this.kernel.columns.request.batch(msgs);
    throw new RingshardError(ErrorCode.SCHEMA, `${this.what}: ${method} expects an array of messages or columns (an object of typed arrays), got ${describeValue(msgs)}`);
  }

  /** Sends a message and resolves with the handler's reply. */
  ask(msg: MessageOf<Q>, options?: AskOptions): Promise<MessageOf<R>> {
    try {
      const timeoutMs = this.timeout(options);
      const signal = signalOf(options);
      if (signal?.aborted) return Promise.reject(abortError(signal));
      const e = this.target();
      const replied = linkOf(e).ask(e, this.caller, this.kernel.codecs.request, msg, askSpec(this.kernel.codecs.reply, this.askWhat, timeoutMs, undefined, signal)) as Promise<MessageOf<R>>;
      return signal ? abortable(replied, signal) : replied;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sends many messages (handled in order) and resolves with their replies, in order,
   * as one promise. If some fail, it rejects with an error whose `failures` lists
   * `{ index, status }` and whose `replies` holds the replies that did come.
   */
  askMany(msgs: readonly MessageOf<Q>[], options?: AskOptions): Promise<MessageOf<R>[]>;
  /** With columns: resolves with the replies as columns (one typed array per reply field). */
  askMany(msgs: ColumnsOf<Q>, options?: AskOptions): Promise<ColumnsOf<R>>;
  askMany(msgs: readonly MessageOf<Q>[] | ColumnsOf<Q>, options?: AskOptions): Promise<MessageOf<R>[] | ColumnsOf<R>> {
    try {
      const batch = this.batchOf(msgs, 'askMany');
      const timeoutMs = this.timeout(options);
      const signal = signalOf(options);
      if (signal?.aborted) return Promise.reject(abortError(signal));
      const columns = !Array.isArray(msgs);
      const replies = this.kernel.columns.reply;
      const sink = columns ? columnSink(replies, batch.count) : undefined;
      if (batch.count === 0) return Promise.resolve(sink ? (sink.result() as ColumnsOf<R>) : []);
      const e = this.target();
      const replied = linkOf(e).askMany(e, this.caller, batch, askSpec(this.kernel.codecs.reply, this.askManyWhat, timeoutMs, sink, signal)) as Promise<MessageOf<R>[] | ColumnsOf<R>>;
      return signal ? abortable(replied, signal) : replied;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Resolves with the actor's current state, read back from the GPU in message order. */
  snapshot(options?: AskOptions): Promise<MessageOf<S>> {
    try {
      const timeoutMs = this.timeout(options);
      const e = this.target();
      const state = linkOf(e).snapshot(e, { codec: this.kernel.codecs.state, what: `snapshot of ${this.what}`, timeoutMs, caller: this.caller }) as Promise<MessageOf<S>>;
      return this.kernel.timers > 0 ? state.then(withoutTimers) : state;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Runs the actor's shutdown hook after the messages sent before, frees its state slot
   * and resolves with its final state (undefined if it was not active). A later message
   * activates it afresh, with zeroed state.
   */
  terminate(options?: AskOptions): Promise<MessageOf<S> | undefined> {
    try {
      const timeoutMs = this.timeout(options);
      if (!this.allowed) this.authorize();
      // A kept actor (deactivated, or stored) is brought back first: its shutdown hook runs with its state.
      const e = this.host.find(this) ?? (this.host.keptId(this) !== undefined ? this.host.activate(this) : undefined);
      if (!e) return Promise.resolve(undefined);
      this.host.retire(e);
      this.entry = undefined;
      const state = linkOf(e).terminate(e, {
        codec: this.kernel.codecs.state,
        what: `terminate of ${this.what}`,
        timeoutMs,
        caller: this.caller,
        onDone: () => this.host.freeSlot(e),
      }) as Promise<MessageOf<S>>;
      return this.kernel.timers > 0 ? state.then(withoutTimers) : state;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Arms timer `id` (a u32 below 0xffffffff) of the actor: due `dueMs` from now, then
   * every `everyMs` (absent or 0: once); re-arms it if it is armed. Resolves once it is
   * armed, in the actor's message order (what is sent after sees it). Rejects with
   * ERR_RINGSHARD_TIMER when the kernel has no on_timer, a value is out of range, or the
   * actor holds maxTimers other timers.
   */
  setTimer(id: number, timing: TimerOptions, options?: AskOptions): Promise<void> {
    try {
      const timers = this.timerTable(id);
      const dueMs = timing?.dueMs;
      const everyMs = timing?.everyMs ?? 0;
      for (const [name, v] of [['dueMs', dueMs], ['everyMs', everyMs]] as const) {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
          throw new RingshardError(ErrorCode.TIMER, `setTimer(${id}) on ${this.what}: ${name} must be an integer of milliseconds from 0 to 2^32 - 1 (from now; a time in the past is not a timer), got ${describeValue(v)}`);
        }
      }
      const timeoutMs = this.timeout(options);
      const e = this.target();
      const remote = linkOf(e) as Partial<TimerCalls>;
      if (typeof remote.timerCall === 'function') {
        // On another node: its owner runs this call on its actor.
        return remote.timerCall(e as never, this.caller, CallOp.SET_TIMER, Uint32Array.of(id, dueMs!, everyMs), timeoutMs).then(() => undefined);
      }
      const sent = this.timerRecord(e, Op.SET_TIMER, id, dueMs!, everyMs);
      const after = this.tableAfter(e, timeoutMs);
      return Promise.all([after, sent]).then(([state]) => {
        timers.moveTo(state, this.kernel.codecs.userState.words);
        if (timers.entryOf(id) < 0) {
          throw new RingshardError(ErrorCode.TIMER, `setTimer(${id}) on ${this.what}: the actor holds ${this.kernel.timers} timers already (the kernel's maxTimers); nothing was armed`);
        }
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Clears timer `id` of the actor, in its message order; resolves with whether it was
   * armed. A timer that fires once and has fired is not armed.
   */
  clearTimer(id: number, options?: AskOptions): Promise<boolean> {
    try {
      const timers = this.timerTable(id);
      const timeoutMs = this.timeout(options);
      const e = this.target();
      const remote = linkOf(e) as Partial<TimerCalls>;
      if (typeof remote.timerCall === 'function') {
        return remote.timerCall(e as never, this.caller, CallOp.CLEAR_TIMER, Uint32Array.of(id, 0, 0), timeoutMs).then((w) => w[0] === 1);
      }
      // The table just before the clear: nothing of the actor's comes between the two records.
      const before = this.tableAfter(e, timeoutMs);
      const cleared = this.timerRecord(e, Op.CLEAR_TIMER, id, 0, 0);
      // Once the clear is in the actor's order (and, with persist, on disk): a snapshot after it.
      const after = this.tableAfter(e, timeoutMs);
      return Promise.all([before, cleared, after]).then(([state]) => {
        timers.moveTo(state, this.kernel.codecs.userState.words);
        return timers.entryOf(id) >= 0;
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private timerTable(id: number): TimerTable {
    if (this.kernel.timers === 0) {
      throw new RingshardError(ErrorCode.TIMER, `${this.what}: kernel '${this.kernel.name}' has no timers (its WGSL defines no fn on_timer)`);
    }
    if (!isTimerId(id)) throw new RingshardError(ErrorCode.TIMER, `${this.what}: a timer id must be an integer from 0 to 2^32 - 2, got ${describeValue(id)}`);
    return new TimerTable(new Uint32Array(0), 0, this.kernel.timers);
  }

  /** A SET_TIMER or CLEAR_TIMER record for the actor, through its link as the timer service's fires go. */
  private timerRecord(e: ActorHandle, op: Op, id: number, dueMs: number, everyMs: number): Promise<void> {
    const link = linkOf(e) as Partial<ShardLink>;
    if (typeof link.forward !== 'function') throw new RingshardError(ErrorCode.TIMER, `${this.what}: its link takes no timer records`);
    const words = new Uint32Array(SEND_HEADER_WORDS + TIMER_RECORD_WORDS);
    writeTimerSend(words, e.actorId, this.kernelId, op, this.tenantId, [id, dueMs, everyMs]);
    return new Promise<void>((resolve, reject) => {
      let dead = false;
      link.forward!(e as never, words, 0, TIMER_RECORD_WORDS, (error) => {
        dead = true;
        reject(error);
      });
      if (!dead) resolve();
    });
  }

  /** The actor's stored state (timer table included) as words, after the records sent before. */
  private tableAfter(e: ActorHandle, timeoutMs: number): Promise<Uint32Array> {
    return linkOf(e).snapshot(e, { codec: rawCodec(this.kernel.codecs.state), what: `timer call on ${this.what}`, timeoutMs, caller: this.caller }) as Promise<Uint32Array>;
  }

  private timeout(options: AskOptions | undefined): number {
    const timeoutMs = options?.timeoutMs ?? this.host.askTimeoutMs;
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) {
      throw new RingshardError(ErrorCode.INVALID_OPTION, `options.timeoutMs must be a number > 0, got ${describeValue(timeoutMs)}`);
    }
    return timeoutMs;
  }
}

/** A link to an actor on another node: its owner runs timer calls (src/nats/remote-link.ts). */
interface TimerCalls {
  timerCall(to: unknown, from: Caller, op: CallOp, payload: Uint32Array, timeoutMs: number): Promise<Uint32Array>;
}

/** A state as users see it: the timer table is ringshard's. */
function withoutTimers<T>(state: T): T {
  if (state !== undefined && state !== null) delete (state as Record<string, unknown>)[TIMERS_FIELD];
  return state;
}

/** Replies written into typed columns as they come. */
function columnSink(codec: ColumnCodec, n: number): ReplySink {
  const cols = codec.allocate(n);
  return { put: codec.putInto(cols), result: () => cols };
}
