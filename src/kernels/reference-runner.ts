/**
 * Runs kernels' TypeScript references with the same semantics as the GPU driver: state
 * is kept as words (so f32 rounds exactly as in GPU memory), INIT zeroes the state and
 * runs init, SHUTDOWN runs shutdown and returns the state, SNAPSHOT returns it.
 *
 * What a reference returns, and the state it leaves, must fit the kernel's schemas
 * (u32 an integer from 0 to 2^32 - 1, not wrapped for it; f32 a finite number in f32
 * range; every field there): a value that does not, or a reference that throws, fails
 * the message with Status.REFERENCE_FAILED and leaves the actor's state as it was, and
 * `failure` says why ("kernel 'counter' reference returned reply.total = -5, not a u32").
 *
 * The CPU backend runs it inside shard workers, with the references in a locked-down
 * sandbox (reference-sandbox.ts); tests and the demo run it in-process as the model that
 * GPU results are checked against.
 */
import { ValueMismatch, compileCheckedStore, type CheckedStore, type Codec } from '../layout/codec.ts';
import { MAX_USER_STATUS, NO_ACTOR, Op, Status, TIMER_NOTICE } from '../layout/record.ts';
import { TIMER_ENTRY_WORDS, TimerNotice, TimerRecord, TimerTable, lateMs, readMs, wallMsOf, writeMs } from '../layout/timer-table.ts';
import { SEND_ENTRY_HEADER } from '../layout/batch.ts';
import type { ReferenceContext } from './define-kernel.ts';
import { roleConstant } from './generated-names.ts';
import type { ReferenceSandbox, RunnerCtx } from './reference-sandbox.ts';

type AnyMessage = Record<string, number | number[]>;

/** A sends entry of a reference kernel: its name, the receiving kernel's id and request codec. */
export interface ReferenceSend {
  readonly name: string;
  readonly kernelId: number;
  readonly request: Codec;
}

export interface ReferenceKernel {
  readonly name: string;
  /** state: as the reference sees it (without the timer table, which follows it in the stored state). */
  readonly codecs: { readonly state: Codec; readonly request: Codec; readonly reply: Codec };
  /** Timers an actor may hold (the table after the state's words); 0 without onTimer. */
  readonly timers?: number;
  readonly onTimer?: (state: AnyMessage, timer: number, ctx: ReferenceContext) => void;
  /** handleSecure when the kernel has one (it runs instead), else handle. */
  readonly handle: (state: AnyMessage, msg: AnyMessage, ctx: ReferenceContext) => AnyMessage;
  readonly init?: (state: AnyMessage, ctx: ReferenceContext) => void;
  readonly shutdown?: (state: AnyMessage, ctx: ReferenceContext) => void;
  readonly sends?: readonly ReferenceSend[];
}

const NO_SENDS: readonly ReferenceSend[] = Object.freeze([]);

/** Where a reference's sends go: the same outbox layout the GPU driver writes (src/layout/batch.ts). */
export interface OutboxShape {
  readonly maxSends: number;
  /** Words of an entry: to, kernel, then the largest receiving request. */
  readonly sendWords: number;
}

/**
 * The ctx a reference gets: RingContext's fields, the constants WGSL has (FORBIDDEN,
 * ROLE_<NAME>) and send(), which writes the message's outbox like send_<name> does.
 */
export class RunnerContext {
  actor = 0;
  messageId = 0;
  correlation = 0;
  source = NO_ACTOR;
  tenant = 0;
  principal = 0;
  hlc: [number, number] = [0, 0];
  roles = 0;
  status = 0;
  timerLateMs = 0;
  readonly FORBIDDEN = Status.FORBIDDEN;
  /** @internal the current message's outbox */
  sends: readonly ReferenceSend[] = NO_SENDS;
  /** @internal the actor's timer table (max 0: the kernel has no timers) */
  timers = new TimerTable(new Uint32Array(0), 0, 0);
  /** @internal outbox entries this record may make (sends and timer notices), as WGSL's rs_send_limit */
  limit = 0;
  /** @internal send() may send (messages and onTimer), as WGSL's rs_sends_open */
  sendsOpen = false;
  /** @internal */
  outbox: Uint32Array | undefined;
  /** @internal */
  outboxFloats: Float32Array | undefined;
  /** @internal */
  outboxAt = 0;
  /** @internal outbox entries made so far */
  sent = 0;
  /** @internal */
  kernelName = '';

  constructor(
    roles: readonly string[],
    private readonly shape: OutboxShape,
  ) {
    roles.forEach((role, i) => Object.defineProperty(this, roleConstant(role), { value: (1 << i) >>> 0, enumerable: true }));
  }

  send(name: string, to: number, msg: AnyMessage): boolean {
    const entry = this.sends.find((s) => s.name === name);
    if (entry === undefined) {
      throw new Error(`kernel '${this.kernelName}' has no sends entry '${name}' (its sends: ${this.sends.map((s) => `'${s.name}'`).join(', ') || 'none'})`);
    }
    if (!Number.isInteger(to) || to < 0 || to > 0xffffffff) throw new Error(`ctx.send('${name}', to, msg): to must be a u32 actor id, got ${String(to)}`);
    if (!this.sendsOpen || this.sent >= this.limit || this.outbox === undefined) return false;
    const at = this.outboxAt + 1 + this.sent * this.shape.sendWords;
    this.outbox[at] = to;
    this.outbox[at + 1] = entry.kernelId;
    entry.request.encode(msg as never, this.outbox, this.outboxFloats!, at + SEND_ENTRY_HEADER);
    this.sent++;
    return true;
  }

  setTimer(id: number, dueMs: number, everyMs: number): boolean {
    for (const [name, v] of [['id', id], ['dueMs', dueMs], ['everyMs', everyMs]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`ctx.setTimer(id, dueMs, everyMs): ${name} must be a u32, got ${String(v)}`);
    }
    this.hasTimers();
    return this.arm(id, wallMsOf(this.hlc[0], this.hlc[1]) + dueMs, everyMs);
  }

  clearTimer(id: number): boolean {
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new Error(`ctx.clearTimer(id): id must be a u32, got ${String(id)}`);
    this.hasTimers();
    return this.timers.clear(id);
  }

  private hasTimers(): void {
    if (this.timers.max === 0) throw new Error(`kernel '${this.kernelName}' has no timers (no onTimer, and no fn on_timer in its WGSL)`);
  }

  /** @internal arms a timer and leaves its notice in the outbox (WGSL rs_timer_arm). */
  arm(id: number, dueMs: number, everyMs: number): boolean {
    if (id === 0xffffffff || this.sent >= this.limit || this.outbox === undefined) return false;
    const k = this.timers.arm(id, dueMs, everyMs);
    if (k < 0) return false;
    this.notice(k);
    return true;
  }

  /** @internal tells the timer service when table entry k is due (WGSL rs_timer_notice). */
  notice(k: number): void {
    const out = this.outbox!;
    const at = this.outboxAt + 1 + this.sent * this.shape.sendWords;
    out[at] = this.timers.idAt(k)!;
    out[at + 1] = TIMER_NOTICE;
    out[at + SEND_ENTRY_HEADER + TimerNotice.entry] = k;
    writeMs(out, at + SEND_ENTRY_HEADER + TimerNotice.dueHi, this.timers.dueAt(k));
    this.sent++;
  }
}

export interface RunResult {
  status: number;
  /** Words written to the output payload. */
  words: number;
}

export class ReferenceRunner {
  private states: Uint32Array;
  private floats: Float32Array;
  /** A state is checked into here first, and copied into `states` only when it fits. */
  private readonly scratch: Uint32Array;
  private readonly scratchFloats: Float32Array;
  /** Per kernel: checked stores of its reply and state (compileCheckedStore). */
  private readonly checked: ReadonlyArray<{ readonly reply: CheckedStore; readonly state: CheckedStore }>;
  /** Why the last run() that returned Status.REFERENCE_FAILED failed. */
  failure = '';
  /** A record's timer table as it was before it ran (restored when the record fails). */
  private readonly timersBefore: Uint32Array;
  /** A fire's timer table once the timer advanced (what a failing onTimer leaves). */
  private readonly timersAdvanced: Uint32Array;

  /** The ctx every run gets: the caller sets its fields before run(). */
  readonly ctx: RunnerCtx;
  /** The outbox side of ctx (send's state); the same object as ctx without a sandbox. */
  private readonly internal: RunnerContext;

  constructor(
    private readonly kernels: readonly ReferenceKernel[],
    private readonly stateStride: number,
    initialSlots = 64,
    /** State words one IMPORT record carries (a ring slot's payload words). */
    private readonly importWords = 0,
    roles: readonly string[] = [],
    private readonly shape: OutboxShape = { maxSends: 0, sendWords: 0 },
    /** Where the references were compiled (the cpu backend's); ctx is then the sandbox's too. */
    sandbox?: ReferenceSandbox,
  ) {
    this.states = new Uint32Array(initialSlots * stateStride);
    this.floats = new Float32Array(this.states.buffer);
    this.scratch = new Uint32Array(Math.max(1, stateStride));
    this.scratchFloats = new Float32Array(this.scratch.buffer);
    this.checked = kernels.map((k) => ({ reply: compileCheckedStore(k.codecs.reply.layout), state: compileCheckedStore(k.codecs.state.layout) }));
    this.timersBefore = new Uint32Array(Math.max(0, ...kernels.map((k) => (k.timers ?? 0) * TIMER_ENTRY_WORDS)));
    this.timersAdvanced = new Uint32Array(this.timersBefore.length);
    const internal = new RunnerContext(roles, shape);
    this.internal = internal;
    this.ctx = sandbox
      ? sandbox.context(
          roles.map((role, i) => [roleConstant(role), (1 << i) >>> 0] as const),
          Status.FORBIDDEN,
          (name, to, msg) => {
            try {
              return internal.send(name, to, msg as AnyMessage);
            } catch (error) {
              return (error as Error)?.message ?? String(error);
            }
          },
          (clear, id, dueMs, everyMs) => {
            try {
              // The sandbox's ctx carries the clock the worker set; the runner's own mirrors it.
              internal.hlc[0] = this.ctx.hlc[0];
              internal.hlc[1] = this.ctx.hlc[1];
              return clear ? internal.clearTimer(id) : internal.setTimer(id, dueMs, everyMs);
            } catch (error) {
              return (error as Error)?.message ?? String(error);
            }
          },
        )
      : internal;
  }

  /** Checks `value` into the scratch words, then copies them to the state of the slot at `base`. */
  private storeState(store: CheckedStore, value: unknown, base: number, words: number): void {
    const scratch = this.scratch;
    store(value, scratch, this.scratchFloats, 0);
    const states = this.states;
    for (let w = 0; w < words; w++) states[base + w] = scratch[w]!;
  }

  private ensureSlot(slot: number): void {
    const need = (slot + 1) * this.stateStride;
    if (need <= this.states.length) return;
    let size = this.states.length || this.stateStride;
    while (size < need) size *= 2;
    const grown = new Uint32Array(size);
    grown.set(this.states);
    this.states = grown;
    this.floats = new Float32Array(grown.buffer);
  }

  /**
   * Runs one record for actor `slot` of kernel `kernelId`, with `this.ctx` as its ctx.
   * The request payload is read from `input` at word `inputOffset`; the reply (or state,
   * for SNAPSHOT and SHUTDOWN) is written to `output` at word `outputOffset`; a message's
   * sends go to `outbox` at word `outboxOffset` (count first, as the GPU driver writes it).
   */
  run(
    kernelId: number,
    op: number,
    slot: number,
    input: Uint32Array,
    inputFloats: Float32Array,
    inputOffset: number,
    output: Uint32Array,
    outputFloats: Float32Array,
    outputOffset: number,
    outbox?: Uint32Array,
    outboxFloats?: Float32Array,
    outboxOffset = 0,
  ): RunResult {
    const ctx = this.ctx;
    const internal = this.internal;
    const kernel = this.kernels[kernelId];
    if (outbox !== undefined) outbox[outboxOffset] = 0;
    if (!kernel) return { status: Status.REJECTED, words: 0 };
    this.ensureSlot(slot);
    const { state: stateCodec } = kernel.codecs;
    const checked = this.checked[kernelId]!;
    const base = slot * this.stateStride;
    internal.kernelName = kernel.name;
    internal.sends = kernel.sends ?? NO_SENDS;
    internal.outbox = outbox;
    internal.outboxFloats = outboxFloats;
    internal.outboxAt = outboxOffset;
    internal.sent = 0;
    // Messages send and arm timers; init and SET_TIMER arm timers (as WGSL's rs_send_limit).
    internal.limit = op === Op.MESSAGE || op === Op.INIT || op === Op.SET_TIMER ? this.shape.maxSends : 0;
    internal.sendsOpen = op === Op.MESSAGE;
    ctx.timerLateMs = 0;
    if (op === Op.INIT) this.states.fill(0, base, base + this.stateStride);
    // The timer table follows the state's words; what it held before the record is kept,
    // for a record that fails arms and clears nothing.
    const timerWords = (kernel.timers ?? 0) * TIMER_ENTRY_WORDS;
    const timersAt = base + stateCodec.words;
    const storedWords = stateCodec.words + timerWords;
    internal.timers.moveTo(this.states, timersAt, kernel.timers ?? 0);
    const before = this.timersBefore;
    for (let w = 0; w < timerWords; w++) before[w] = this.states[timersAt + w]!;
    if (op === Op.TIMER) return this.fire(kernel, checked, input, inputOffset, base, timersAt, timerWords, outbox, outboxOffset);
    // What runs now, for the failure's text: 'handle', 'init', 'shutdown', then what is checked.
    let stage = 'handle';
    try {
      switch (op) {
        case Op.MESSAGE: {
          const state = stateCodec.decode(this.states, this.floats, base);
          const msg = kernel.codecs.request.decode(input, inputFloats, inputOffset);
          ctx.status = 0;
          // Called through a local: `this` in the reference is undefined, not the kernel.
          const handle = kernel.handle;
          const reply = handle(state, msg, ctx as unknown as ReferenceContext);
          const raw = ctx.status >>> 0;
          const status = raw === Status.FORBIDDEN ? raw : Math.min(raw, MAX_USER_STATUS);
          stage = 'reply';
          checked.reply(reply, output, outputFloats, outputOffset);
          // A refused message leaves the state as it was, as the GPU driver does.
          stage = 'state';
          if (status !== Status.FORBIDDEN) this.storeState(checked.state, state, base, stateCodec.words);
          if (status !== Status.OK) this.undoTimers(timersAt, timerWords);
          if (outbox !== undefined) outbox[outboxOffset] = internal.sent;
          return { status, words: kernel.codecs.reply.words };
        }
        case Op.INIT: {
          const init = kernel.init;
          if (init) {
            stage = 'init';
            const state = stateCodec.decode(this.states, this.floats, base);
            init(state, ctx as unknown as ReferenceContext);
            stage = 'init state';
            this.storeState(checked.state, state, base, stateCodec.words);
          }
          if (outbox !== undefined) outbox[outboxOffset] = internal.sent;
          return { status: Status.OK, words: 0 };
        }
        case Op.IMPORT: {
          // A part of the arriving state (timer table included): raw words from offset `principal` on.
          const at = ctx.principal;
          for (let w = 0; w < this.importWords && at + w < storedWords; w++) this.states[base + at + w] = input[inputOffset + w]!;
          return { status: Status.OK, words: 0 };
        }
        case Op.SHUTDOWN:
        case Op.EXPORT:
        case Op.SNAPSHOT: {
          const shutdown = kernel.shutdown;
          if (op === Op.SHUTDOWN && shutdown) {
            stage = 'shutdown';
            const state = stateCodec.decode(this.states, this.floats, base);
            shutdown(state, ctx as unknown as ReferenceContext);
            stage = 'shutdown state';
            this.storeState(checked.state, state, base, stateCodec.words);
          }
          // The state's words as they are: nothing of the reference runs here.
          const states = this.states;
          for (let w = 0; w < storedWords; w++) output[outputOffset + w] = states[base + w]!;
          return { status: Status.OK, words: storedWords };
        }
        case Op.SET_TIMER: {
          if (timerWords === 0) return { status: Status.REJECTED, words: 0 };
          const armed = internal.arm(input[inputOffset + TimerRecord.id]!, wallMsOf(ctx.hlc[0], ctx.hlc[1]) + input[inputOffset + TimerRecord.dueMs]!, input[inputOffset + TimerRecord.everyMs]!);
          if (outbox !== undefined) outbox[outboxOffset] = internal.sent;
          return { status: armed ? Status.OK : Status.TIMER_NOT_DUE, words: 0 };
        }
        case Op.CLEAR_TIMER: {
          if (timerWords === 0) return { status: Status.REJECTED, words: 0 };
          internal.timers.clear(input[inputOffset + TimerRecord.id]!);
          return { status: Status.OK, words: 0 };
        }
        default:
          return { status: Status.REJECTED, words: 0 };
      }
    } catch (error) {
      if (op === Op.INIT) this.states.fill(0, base, base + this.stateStride);
      else this.undoTimers(timersAt, timerWords);
      this.failure = failureText(kernel.name, stage, error);
      return { status: Status.REFERENCE_FAILED, words: 0 };
    }
  }

  /**
   * A record that failed arms and clears nothing: its timer table as it was, its outbox
   * empty. (A method, not a closure made per record: tsx names every closure it makes,
   * a defineProperty each, which cost the cpu backend three quarters of its tells.)
   */
  private undoTimers(timersAt: number, timerWords: number): void {
    const before = this.timersBefore;
    for (let w = 0; w < timerWords; w++) this.states[timersAt + w] = before[w]!;
    this.internal.sent = 0;
  }

  /**
   * A TIMER record (the rules of WGSL's rs_fire): onTimer runs if the table still holds
   * the timer for this due time; the fire is used up (the timer advanced, its notice
   * left) even when onTimer fails.
   */
  private fire(
    kernel: ReferenceKernel,
    checked: { readonly state: CheckedStore },
    input: Uint32Array,
    inputOffset: number,
    base: number,
    timersAt: number,
    timerWords: number,
    outbox: Uint32Array | undefined,
    outboxOffset: number,
  ): RunResult {
    const ctx = this.ctx;
    const internal = this.internal;
    const onTimer = kernel.onTimer;
    if (timerWords === 0 || onTimer === undefined) return { status: Status.REJECTED, words: 0 };
    const id = input[inputOffset + TimerRecord.id]!;
    const dueMs = readMs(input, inputOffset + TimerRecord.dueHi);
    const nowMs = wallMsOf(ctx.hlc[0], ctx.hlc[1]);
    const k = internal.timers.fire(id, dueMs, nowMs);
    if (k < 0) return { status: Status.TIMER_NOT_DUE, words: 0 };
    ctx.timerLateMs = lateMs(dueMs, nowMs);
    // The table as the fire left it (a failing onTimer leaves it so); kept in a scratch, not a copy per fire.
    const advanced = this.timersAdvanced;
    for (let w = 0; w < timerWords; w++) advanced[w] = this.states[timersAt + w]!;
    // One outbox entry stays free for the advanced timer's notice.
    internal.limit = this.shape.maxSends - 1;
    internal.sendsOpen = true;
    const stateCodec = kernel.codecs.state;
    let status: number;
    let stage = 'onTimer';
    try {
      const state = stateCodec.decode(this.states, this.floats, base);
      ctx.status = 0;
      onTimer(state, id, ctx as unknown as ReferenceContext);
      const raw = ctx.status >>> 0;
      status = raw === Status.FORBIDDEN ? raw : Math.min(raw, MAX_USER_STATUS);
      stage = 'onTimer state';
      if (status !== Status.FORBIDDEN) this.storeState(checked.state, state, base, stateCodec.words);
    } catch (error) {
      this.failure = failureText(kernel.name, stage, error);
      status = Status.REFERENCE_FAILED;
    }
    if (status !== Status.OK) {
      for (let w = 0; w < timerWords; w++) this.states[timersAt + w] = advanced[w]!;
      internal.sent = 0;
    }
    if (outbox !== undefined) {
      if (internal.timers.idAt(k) !== undefined) internal.notice(k);
      outbox[outboxOffset] = internal.sent;
    }
    return { status, words: 0 };
  }

  /** Copies the states of `count` slots (in list order, stateStride words each) into `into`. */
  readStates(slots: Uint32Array, count: number, into: Uint32Array): void {
    const stride = this.stateStride;
    for (let i = 0; i < count; i++) {
      const from = slots[i]! * stride;
      if (from + stride <= this.states.length) into.set(this.states.subarray(from, from + stride), i * stride);
      else into.fill(0, i * stride, (i + 1) * stride);
    }
  }

  /** Sets slots [0, slots) from a checkpoint's states. */
  restoreStates(states: Uint32Array, slots: number): void {
    if (slots === 0) return;
    this.ensureSlot(slots - 1);
    this.states.set(states.subarray(0, slots * this.stateStride));
  }

  /** The state of `slot` decoded (for tests). */
  peek(kernelId: number, slot: number): AnyMessage {
    this.ensureSlot(slot);
    return this.kernels[kernelId]!.codecs.state.decode(this.states, this.floats, slot * this.stateStride);
  }
}

/**
 * "kernel 'k' reference threw: <message>", "kernel 'k' reference returned reply.n = -5,
 * not a u32", "kernel 'k' reference init left state.n = ...".
 */
function failureText(kernel: string, stage: string, error: unknown): string {
  const who = `kernel '${kernel}' reference`;
  if (error instanceof ValueMismatch) {
    const [hook, what] = stage.includes(' ') ? stage.split(' ') : ['', stage];
    const path = `${what}${error.field === '' ? '' : `.${error.field}`}`;
    return `${who}${hook ? ` ${hook}` : ''} ${what === 'reply' ? 'returned' : 'left'} ${path} ${error.problem}`;
  }
  return `${who}${stage === 'handle' ? '' : ` ${stage}`} threw: ${messageOf(error)}`;
}

/** A thrown value's message, read with care: it may come from the sandbox, or not be an Error. */
function messageOf(error: unknown): string {
  try {
    if (error !== null && typeof error === 'object') {
      const { name, message } = error as { name?: unknown; message?: unknown };
      if (typeof message === 'string') return typeof name === 'string' && name !== 'Error' && name !== '' ? `${name}: ${message}` : message;
    }
    return typeof error === 'symbol' ? error.toString() : `${String(error)} (thrown, not an Error)`;
  } catch {
    return 'a value that cannot be shown (thrown, not an Error)';
  }
}
