/**
 * Runs kernels' TypeScript references with the same semantics as the GPU driver: state
 * is kept as words (so u32 wraps and f32 rounds exactly as in GPU memory), INIT zeroes the
 * state and runs init, SHUTDOWN runs shutdown and returns the state, SNAPSHOT returns it.
 *
 * The CPU backend runs it inside shard workers; tests and the demo run it in-process as
 * the model that GPU results are checked against.
 */
import type { Codec } from '../layout/codec.ts';
import { MAX_USER_STATUS, Op, Status } from '../layout/record.ts';
import type { ReferenceContext } from './define-kernel.ts';

type AnyMessage = Record<string, number | number[]>;

export interface ReferenceKernel {
  readonly name: string;
  readonly codecs: { readonly state: Codec; readonly request: Codec; readonly reply: Codec };
  readonly handle: (state: AnyMessage, msg: AnyMessage, ctx: ReferenceContext) => AnyMessage;
  readonly init?: (state: AnyMessage, ctx: ReferenceContext) => void;
  readonly shutdown?: (state: AnyMessage, ctx: ReferenceContext) => void;
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

  constructor(
    private readonly kernels: readonly ReferenceKernel[],
    private readonly stateStride: number,
    initialSlots = 64,
    /** State words one IMPORT record carries (a ring slot's payload words). */
    private readonly importWords = 0,
  ) {
    this.states = new Uint32Array(initialSlots * stateStride);
    this.floats = new Float32Array(this.states.buffer);
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
   * Runs one record for actor `slot` of kernel `kernelId`. The request payload is read
   * from `input` at word `inputOffset`; the reply (or state, for SNAPSHOT and SHUTDOWN) is
   * written to `output` at word `outputOffset`.
   */
  run(
    kernelId: number,
    op: number,
    slot: number,
    ctx: ReferenceContext,
    input: Uint32Array,
    inputFloats: Float32Array,
    inputOffset: number,
    output: Uint32Array,
    outputFloats: Float32Array,
    outputOffset: number,
  ): RunResult {
    const kernel = this.kernels[kernelId];
    if (!kernel) return { status: Status.REJECTED, words: 0 };
    this.ensureSlot(slot);
    const { state: stateCodec } = kernel.codecs;
    const base = slot * this.stateStride;
    try {
      switch (op) {
        case Op.MESSAGE: {
          const state = stateCodec.decode(this.states, this.floats, base);
          const msg = kernel.codecs.request.decode(input, inputFloats, inputOffset);
          ctx.status = 0;
          const reply = kernel.handle(state, msg, ctx);
          stateCodec.store(state, this.states, this.floats, base);
          kernel.codecs.reply.store(reply, output, outputFloats, outputOffset);
          return { status: Math.min(ctx.status >>> 0, MAX_USER_STATUS), words: kernel.codecs.reply.words };
        }
        case Op.INIT: {
          this.states.fill(0, base, base + this.stateStride);
          if (kernel.init) {
            const state = stateCodec.decode(this.states, this.floats, base);
            kernel.init(state, ctx);
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
            kernel.shutdown(state, ctx);
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
