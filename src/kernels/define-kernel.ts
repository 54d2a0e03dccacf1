/**
 * defineKernel: validates a kernel definition once, at the public edge, and compiles its
 * schemas into codecs. Everything downstream (WGSL assembly, workers, CPU backend) can
 * trust a Kernel.
 */
import { ErrorCode, RingshardError, describeValue } from '../errors.ts';
import { compileCodec, type Codec } from '../layout/codec.ts';
import { ColumnCodec } from '../layout/columns.ts';
import type { MessageOf, Schema } from '../layout/schema.ts';
import type { ReferenceWire } from '../protocol.ts';
import { checkKernelWgsl } from './wgsl-sandbox.ts';
import { serializeFunction } from './serialize-function.ts';
import { DEFAULT_MAX_TIMERS, MAX_TIMERS, NO_TIMER, storedStateSchema } from '../layout/timer-table.ts';

/**
 * What the TS reference receives as `ctx`: the same fields as WGSL's RingContext (and
 * SecureRingContext's roles), plus what WGSL has as generated constants and functions.
 * References travel to workers as source text, so the constants are on ctx.
 */
export interface ReferenceContext {
  readonly actor: number;
  readonly messageId: number;
  readonly correlation: number;
  readonly source: number;
  readonly tenant: number;
  readonly principal: number;
  readonly hlc: readonly [number, number];
  /** The principal's role bits (cluster roles: bit i is roles[i]); see ROLE_<NAME>. */
  readonly roles: number;
  /** Set to a non-zero code to fail the message, as WGSL handlers set ctx.status. */
  status: number;
  /** The status that refuses a message (WGSL STATUS_FORBIDDEN): state changes and sends are discarded. */
  readonly FORBIDDEN: number;
  /**
   * WGSL's send_<name>(ctx, to, msg): sends `msg` to actor `to` through the kernel's
   * `sends` entry `name`. False (nothing sent) when the message's outbox is full.
   */
  send(name: string, to: number, msg: Record<string, number | number[]>): boolean;
  /**
   * WGSL's set_timer(ctx, id, due_ms, every_ms): arms (or re-arms) timer `id` to fire in
   * `dueMs` ms from this message's time, then every `everyMs` ms (0: once). False when
   * the actor holds maxTimers timers already, or the outbox is full.
   */
  setTimer(id: number, dueMs: number, everyMs: number): boolean;
  /** WGSL's clear_timer(ctx, id): false when no timer `id` was armed. */
  clearTimer(id: number): boolean;
  /** In onTimer: how late the timer fires, in ms (WGSL ctx.timer_late_ms); 0 elsewhere. */
  readonly timerLateMs: number;
  /** The cluster's role bits by constant name: ROLE_TELLER, ... (as WGSL has them). */
  readonly [role: `ROLE_${string}`]: number;
}

export type ReferenceHandle<S extends Schema, Q extends Schema, R extends Schema> = (
  state: MessageOf<S>,
  msg: MessageOf<Q>,
  ctx: ReferenceContext,
) => MessageOf<R>;
export type ReferenceHook<S extends Schema> = (state: MessageOf<S>, ctx: ReferenceContext) => void;
/** The twin of WGSL on_timer: `timer` is the id of the timer that came due. */
export type ReferenceTimer<S extends Schema> = (state: MessageOf<S>, timer: number, ctx: ReferenceContext) => void;

export interface ReferenceSpec<S extends Schema, Q extends Schema, R extends Schema> {
  /** Required unless handleSecure is given (as in WGSL, handle_secure runs instead of handle). */
  readonly handle?: ReferenceHandle<S, Q, R>;
  /** The twin of WGSL handle_secure: ctx.roles set, ctx.status = ctx.FORBIDDEN refuses. */
  readonly handleSecure?: ReferenceHandle<S, Q, R>;
  readonly init?: ReferenceHook<S>;
  readonly shutdown?: ReferenceHook<S>;
  /** Required when the WGSL has fn on_timer. */
  readonly onTimer?: ReferenceTimer<S>;
}

export interface KernelSpec<S extends Schema, Q extends Schema, R extends Schema> {
  /** Unique within a cluster; letters, digits, `_`, `-`, `.`. */
  readonly name: string;
  /** Per-actor state, zeroed on activation; lives in GPU memory between messages. */
  readonly state: S;
  readonly request: Q;
  readonly reply: R;
  /**
   * WGSL defining `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>,
   * msg: Request) -> Reply`, plus any helpers. It may also define `init` and `shutdown`.
   */
  readonly wgsl: string;
  /** WGSL `fn init(ctx: ptr<function, RingContext>, state: ptr<function, State>)`, run once on activation. */
  readonly init?: string;
  /** WGSL `fn shutdown(ctx: ptr<function, RingContext>, state: ptr<function, State>)`, run on terminate. */
  readonly shutdown?: string;
  /**
   * Kernels this one's handler may send to (K2K): `{ name: kernel or kernel name }`. Each
   * entry gives the WGSL `fn send_<name>(ctx, to: u32, msg: <Name>Request) -> bool`, where
   * <Name>Request holds the receiving kernel's request fields in order. A kernel names
   * itself by its name (a string), to talk to its own kind.
   */
  readonly sends?: Readonly<Record<string, Kernel<any, any, any> | string>>;
  /**
   * The TypeScript twin of the handler (and hooks): runs the CPU backend and the
   * differential tests. It is sent to shard workers as source text, so it must be
   * self-contained: use only its arguments and globals such as Math, no captured variables.
   */
  readonly reference?: ReferenceHandle<S, Q, R> | ReferenceSpec<S, Q, R>;
  /**
   * options.persist: turns a state stored under an earlier state schema into one of this
   * schema (called in the coordinator, once per stored actor, as it is restored). Without
   * it, a cluster whose store holds another state schema for this kernel does not start
   * (ERR_RINGSHARD_SCHEMA). `from` is the schema the old state was stored in.
   */
  readonly migrate?: (oldState: Record<string, number | number[]>, from: Schema) => MessageOf<S>;
  /** Deactivates this kernel's actors after this long without a message (see ClusterOptions.idleAfterMs); 0: never. */
  readonly idleAfterMs?: number;
  /**
   * With `fn on_timer(ctx, state, timer: u32)`: how many timers an actor may hold at once
   * (1 to 64; default 4). Each takes 16 bytes of the actor's state.
   */
  readonly maxTimers?: number;
}

export interface Kernel<S extends Schema = Schema, Q extends Schema = Schema, R extends Schema = Schema> {
  readonly name: string;
  readonly state: S;
  readonly request: Q;
  readonly reply: R;
  /** The user's WGSL: `wgsl`, then `init` and `shutdown` when given separately. */
  readonly code: string;
  readonly hasInit: boolean;
  readonly hasShutdown: boolean;
  /** The WGSL defines handle_secure (it runs instead of handle). */
  readonly secure: boolean;
  /** The WGSL defines on_timer: timers an actor may hold at once (its state ends with the timer table); 0 without on_timer. */
  readonly timers: number;
  /** The schema of the state as an actor keeps it: `state`, then (with timers) the timer table. */
  readonly storedState: Schema;
  /** The kernel's sends entries, in declaration order (resolved to kernels at Cluster.start). */
  readonly sends: readonly SendEntry[];
  readonly codecs: {
    /** The state as an actor keeps it: the schema's fields, then (with timers) the timer table `rs_timers`. */
    readonly state: Codec<MessageOf<S>>;
    /** The state as handlers see it: the schema's fields only (the same codec without timers). */
    readonly userState: Codec<MessageOf<S>>;
    readonly request: Codec<MessageOf<Q>>;
    readonly reply: Codec<MessageOf<R>>;
  };
  /** Requests and replies as typed columns (tellMany / askMany with columns). */
  readonly columns: { readonly request: ColumnCodec; readonly reply: ColumnCodec };
  /** The reference as functions (for use in this process) and as source (for workers). */
  readonly reference?: ReferenceSpec<S, Q, R>;
  readonly referenceWire?: ReferenceWire;
  /** See KernelSpec.migrate. */
  readonly migrate?: (oldState: Record<string, number | number[]>, from: Schema) => MessageOf<S>;
  /** See KernelSpec.idleAfterMs. */
  readonly idleAfterMs?: number;
}

export interface SendEntry {
  /** The entry's name: send_<name> in WGSL, ctx.send('<name>', ...) in the reference. */
  readonly name: string;
  /** The receiving kernel, or its name (resolved by the cluster). */
  readonly to: Kernel<any, any, any> | string;
}

const NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const SEND_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

export function defineKernel<S extends Schema, Q extends Schema, R extends Schema>(spec: KernelSpec<S, Q, R>): Kernel<S, Q, R> {
  if (spec === null || typeof spec !== 'object') {
    throw invalid(`defineKernel() expects an object, got ${describeValue(spec)}`);
  }
  const { name } = spec;
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw invalid(`kernel name must match ${NAME} (letters, digits, '_', '-', '.'), got ${describeValue(name)}`);
  }
  const what = `kernel '${name}'`;
  const userState = compileCodec(spec.state, `${what} state`);
  const request = compileCodec(spec.request, `${what} request`);
  const reply = compileCodec(spec.reply, `${what} reply`);
  for (const [key, value] of [['wgsl', spec.wgsl], ['init', spec.init], ['shutdown', spec.shutdown]] as const) {
    if (value !== undefined && typeof value !== 'string') {
      throw invalid(`${what}: ${key} must be WGSL source text (a string), got ${describeValue(value)}`);
    }
  }
  if (typeof spec.wgsl !== 'string') throw invalid(`${what}: wgsl is required (the WGSL source of fn handle)`);
  const code = [spec.wgsl, spec.init ?? '', spec.shutdown ?? ''].filter((s) => s.length > 0).join('\n');
  const found = checkKernelWgsl(code, what);
  if (spec.init !== undefined && !found.init) throw invalid(`${what}: init is given but defines no 'fn init(...)'`);
  if (spec.shutdown !== undefined && !found.shutdown) throw invalid(`${what}: shutdown is given but defines no 'fn shutdown(...)'`);
  if (found.armsTimers && !found.onTimer) {
    throw invalid(`${what}: the WGSL calls set_timer or clear_timer but defines no 'fn on_timer(ctx: ptr<function, RingContext>, state: ptr<function, State>, timer: u32)' to handle them`);
  }
  if (spec.maxTimers !== undefined && !found.onTimer) throw invalid(`${what}: maxTimers is given but the WGSL defines no 'fn on_timer(...)'`);
  const timers = found.onTimer ? maxTimersOf(spec.maxTimers ?? DEFAULT_MAX_TIMERS, what) : 0;
  const codecs = {
    state: timers > 0 ? (compileCodec(storedStateSchema(spec.state, timers), `${what} state`, true) as Codec<MessageOf<S>>) : userState,
    userState,
    request,
    reply,
  };

  const sends: SendEntry[] = [];
  if (spec.sends !== undefined) {
    if (spec.sends === null || typeof spec.sends !== 'object' || Array.isArray(spec.sends)) {
      throw invalid(`${what}: sends must be an object { name: kernel or kernel name }, got ${describeValue(spec.sends)}`);
    }
    for (const [sendName, to] of Object.entries(spec.sends)) {
      if (!SEND_NAME.test(sendName) || /^(rs_|RS_)/.test(sendName)) {
        throw invalid(`${what}: sends entry ${JSON.stringify(sendName)} is not a usable name: it must match ${SEND_NAME} (it becomes fn send_${sendName})`);
      }
      const ok = typeof to === 'string' ? NAME.test(to) : to !== null && typeof to === 'object' && typeof (to as Kernel).name === 'string' && (to as Kernel).codecs !== undefined;
      if (!ok) throw invalid(`${what}: sends.${sendName} must be a kernel (from defineKernel) or a kernel name, got ${describeValue(to)}`);
      sends.push({ name: sendName, to });
    }
  }

  if (spec.migrate !== undefined && typeof spec.migrate !== 'function') {
    throw invalid(`${what}: migrate must be a function (oldState, fromSchema) => state, got ${describeValue(spec.migrate)}`);
  }
  let reference: ReferenceSpec<S, Q, R> | undefined;
  let referenceWire: ReferenceWire | undefined;
  if (spec.reference !== undefined) {
    reference = typeof spec.reference === 'function' ? { handle: spec.reference } : spec.reference;
    if (reference === null || typeof reference !== 'object' || (typeof reference.handle !== 'function' && typeof reference.handleSecure !== 'function')) {
      throw invalid(`${what}: reference must be a function (state, msg, ctx) => reply or { handle, handleSecure?, init?, shutdown? }`);
    }
    if (found.handleSecure && typeof reference.handleSecure !== 'function') {
      throw invalid(`${what}: the WGSL has fn handle_secure, so the reference needs handleSecure too`);
    }
    if (!found.handle && !found.handleSecure) throw invalid(`${what}: no handler`);
    if (found.handle && !found.handleSecure && typeof reference.handle !== 'function') {
      throw invalid(`${what}: the WGSL has fn handle, so the reference needs handle`);
    }
    // As in WGSL, the secure twin runs instead of handle when there is one.
    const runs = found.handleSecure ? reference.handleSecure! : reference.handle!;
    referenceWire = {
      handle: serializeFunction(runs, `${what} reference.${found.handleSecure ? 'handleSecure' : 'handle'}`),
      ...(reference.init ? { init: serializeFunction(reference.init, `${what} reference.init`) } : {}),
      ...(reference.shutdown ? { shutdown: serializeFunction(reference.shutdown, `${what} reference.shutdown`) } : {}),
      ...(reference.onTimer ? { onTimer: serializeFunction(reference.onTimer, `${what} reference.onTimer`) } : {}),
    };
    if (found.onTimer && typeof reference.onTimer !== 'function') throw invalid(`${what}: the WGSL has fn on_timer, so the reference needs onTimer(state, timer, ctx) too`);
    if (found.init && !reference.init) throw invalid(`${what}: the WGSL has fn init, so the reference needs init too`);
    if (found.shutdown && !reference.shutdown) throw invalid(`${what}: the WGSL has fn shutdown, so the reference needs shutdown too`);
  }
  return Object.freeze({
    name,
    state: spec.state,
    request: spec.request,
    reply: spec.reply,
    code,
    hasInit: found.init,
    hasShutdown: found.shutdown,
    secure: found.handleSecure,
    timers,
    storedState: timers > 0 ? storedStateSchema(spec.state, timers) : spec.state,
    sends: Object.freeze(sends),
    codecs,
    columns: {
      request: new ColumnCodec(codecs.request.layout, `${what} request`),
      reply: new ColumnCodec(codecs.reply.layout, `${what} reply`),
    },
    ...(reference ? { reference, referenceWire } : {}),
    ...(spec.migrate !== undefined ? { migrate: spec.migrate } : {}),
    ...(spec.idleAfterMs !== undefined ? { idleAfterMs: idleAfterOf(spec.idleAfterMs, what) } : {}),
  });
}

function maxTimersOf(n: unknown, what: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_TIMERS) throw invalid(`${what}: maxTimers must be an integer from 1 to ${MAX_TIMERS}, got ${String(n)}`);
  return n;
}

/** A timer id as ref.setTimer and clearTimer take it: a u32 other than NO_TIMER. */
export function isTimerId(id: unknown): id is number {
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 && id < NO_TIMER;
}

function idleAfterOf(ms: unknown, what: string): number {
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0 || ms > 2 ** 31 - 1) throw invalid(`${what}: idleAfterMs must be an integer of milliseconds from 0 (never) to 2^31 - 1, got ${String(ms)}`);
  return ms;
}

function invalid(message: string): RingshardError {
  return new RingshardError(ErrorCode.INVALID_KERNEL, message);
}
