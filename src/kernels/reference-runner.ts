/**
 * Runs kernels' TypeScript references with the same semantics as the GPU driver: state
 * is kept as words (so u32 wraps and f32 rounds exactly as in GPU memory), INIT zeroes the
 * state and runs init, SHUTDOWN runs shutdown and returns the state, SNAPSHOT returns it.
 *
 * The CPU backend runs it inside shard workers; tests and the demo run it in-process as
 * the model that GPU results are checked against.
 */
import type { Codec } from '../layout/codec.ts';
import { MAX_USER_STATUS, NO_ACTOR, Op, Status } from '../layout/record.ts';
import { SEND_ENTRY_HEADER } from '../layout/batch.ts';
import type { ReferenceContext } from './define-kernel.ts';
import { roleConstant } from './generated-names.ts';

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

/** Status a CPU shard reports when a reference throws (the GPU has no such case). */
export const REFERENCE_THREW = Status.REJECTED - 1;

export interface RunResult {
  status: number;
  /** Words written to the output payload. */
  words: number;
}

export class ReferenceRunner {
  private states: Uint32Array;
  private floats: Float32Array;
  /** Called with the first exception each kernel's reference throws. */
  onThrow: (kernel: string, error: unknown) => void = () => {};
  private readonly reported = new Set<string>();

  /** The ctx every run gets: the caller sets its fields before run(). */
  readonly ctx: RunnerContext;

  constructor(
    private readonly kernels: readonly ReferenceKernel[],
    private readonly stateStride: number,
    initialSlots = 64,
    /** State words one IMPORT record carries (a ring slot's payload words). */
    private readonly importWords = 0,
    roles: readonly string[] = [],
    outbox: OutboxShape = { maxSends: 0, sendWords: 0 },
  ) {
    this.states = new Uint32Array(initialSlots * stateStride);
    this.floats = new Float32Array(this.states.buffer);
    this.ctx = new RunnerContext(roles, outbox);
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
    const kernel = this.kernels[kernelId];
    if (outbox !== undefined) outbox[outboxOffset] = 0;
    if (!kernel) return { status: Status.REJECTED, words: 0 };
    this.ensureSlot(slot);
    const { state: stateCodec } = kernel.codecs;
    const base = slot * this.stateStride;
    ctx.kernelName = kernel.name;
    ctx.sends = kernel.sends ?? NO_SENDS;
    ctx.outbox = outbox;
    ctx.outboxFloats = outboxFloats;
    ctx.outboxAt = outboxOffset;
    // Only messages send: in hooks send() returns false, as send_<name> does in WGSL.
    ctx.sent = op === Op.MESSAGE ? 0 : Number.MAX_SAFE_INTEGER;
    try {
      switch (op) {
        case Op.MESSAGE: {
          const state = stateCodec.decode(this.states, this.floats, base);
          const msg = kernel.codecs.request.decode(input, inputFloats, inputOffset);
          ctx.status = 0;
          const reply = kernel.handle(state, msg, ctx as unknown as ReferenceContext);
          const raw = ctx.status >>> 0;
          const status = raw === Status.FORBIDDEN ? raw : Math.min(raw, MAX_USER_STATUS);
          // A refused message leaves the state as it was, as the GPU driver does.
          if (status !== Status.FORBIDDEN) stateCodec.store(state, this.states, this.floats, base);
          kernel.codecs.reply.store(reply, output, outputFloats, outputOffset);
          if (outbox !== undefined && status === Status.OK) outbox[outboxOffset] = ctx.sent;
          return { status, words: kernel.codecs.reply.words };
        }
        case Op.INIT: {
          this.states.fill(0, base, base + this.stateStride);
          if (kernel.init) {
            const state = stateCodec.decode(this.states, this.floats, base);
            kernel.init(state, ctx as unknown as ReferenceContext);
            stateCodec.store(state, this.states, this.floats, base);
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
          const state = stateCodec.decode(this.states, this.floats, base);
          if (op === Op.SHUTDOWN && kernel.shutdown) {
            kernel.shutdown(state, ctx as unknown as ReferenceContext);
            stateCodec.store(state, this.states, this.floats, base);
          }
          stateCodec.store(state, output, outputFloats, outputOffset);
          return { status: Status.OK, words: stateCodec.words };
        }
        default:
          return { status: Status.REJECTED, words: 0 };
      }
    } catch (error) {
      if (!this.reported.has(kernel.name)) {
        this.reported.add(kernel.name);
        this.onThrow(kernel.name, error);
      }
      return { status: REFERENCE_THREW, words: 0 };
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
