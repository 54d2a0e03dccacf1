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
import { MAX_USER_STATUS, NO_ACTOR, Op, Status } from '../layout/record.ts';
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
  readonly codecs: { readonly state: Codec; readonly request: Codec; readonly reply: Codec };
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
  readonly FORBIDDEN = Status.FORBIDDEN;
  /** @internal the current message's outbox */
  sends: readonly ReferenceSend[] = NO_SENDS;
  /** @internal */
  outbox: Uint32Array | undefined;
  /** @internal */
  outboxFloats: Float32Array | undefined;
  /** @internal */
  outboxAt = 0;
  /** @internal sends made so far; maxSends in hooks, so that send() refuses there */
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
    const { maxSends, sendWords } = this.shape;
    if (this.sent >= maxSends || this.outbox === undefined) return false;
    const at = this.outboxAt + 1 + this.sent * sendWords;
    this.outbox[at] = to;
    this.outbox[at + 1] = entry.kernelId;
    entry.request.encode(msg as never, this.outbox, this.outboxFloats!, at + SEND_ENTRY_HEADER);
    this.sent++;
    return true;
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
    outbox: OutboxShape = { maxSends: 0, sendWords: 0 },
    /** Where the references were compiled (the cpu backend's); ctx is then the sandbox's too. */
    sandbox?: ReferenceSandbox,
  ) {
    this.states = new Uint32Array(initialSlots * stateStride);
    this.floats = new Float32Array(this.states.buffer);
    this.scratch = new Uint32Array(Math.max(1, stateStride));
    this.scratchFloats = new Float32Array(this.scratch.buffer);
    this.checked = kernels.map((k) => ({ reply: compileCheckedStore(k.codecs.reply.layout), state: compileCheckedStore(k.codecs.state.layout) }));
    const internal = new RunnerContext(roles, outbox);
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
    // Only messages send: in hooks send() returns false, as send_<name> does in WGSL.
    internal.sent = op === Op.MESSAGE ? 0 : Number.MAX_SAFE_INTEGER;
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
          if (outbox !== undefined && status === Status.OK) outbox[outboxOffset] = internal.sent;
          return { status, words: kernel.codecs.reply.words };
        }
        case Op.INIT: {
          this.states.fill(0, base, base + this.stateStride);
          const init = kernel.init;
          if (init) {
            stage = 'init';
            const state = stateCodec.decode(this.states, this.floats, base);
            init(state, ctx as unknown as ReferenceContext);
            stage = 'init state';
            this.storeState(checked.state, state, base, stateCodec.words);
          }
          return { status: Status.OK, words: 0 };
        }
        case Op.IMPORT: {
          // A part of the arriving state: raw words from offset `principal` on.
          const at = ctx.principal;
          for (let w = 0; w < this.importWords && at + w < stateCodec.words; w++) this.states[base + at + w] = input[inputOffset + w]!;
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
          for (let w = 0; w < stateCodec.words; w++) output[outputOffset + w] = states[base + w]!;
          return { status: Status.OK, words: stateCodec.words };
        }
        default:
          return { status: Status.REJECTED, words: 0 };
      }
    } catch (error) {
      this.failure = failureText(kernel.name, stage, error);
      return { status: Status.REFERENCE_FAILED, words: 0 };
    }
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
