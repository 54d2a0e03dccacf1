/**
 * The CPU backend: runs each kernel's TypeScript reference in the shard worker, behind
 * the same rings, grouping and reply path as the GPU. Used where no adapter exists, and
 * as the model GPU results are compared with.
 *
 * The references run in a locked-down vm context (src/kernels/reference-sandbox.ts).
 * A message whose reference fails (throws, or returns what does not fit the schema)
 * gets Status.REFERENCE_FAILED; for an ask, why goes to the coordinator through the
 * shard's reference-error table (src/kernels/reference-errors.ts), and the first failure
 * of each kernel is logged through the cluster's logger (never printed here).
 */
import { compileCodec, type Codec } from '../../layout/codec.ts';
import { SEGMENT_WORDS, type BatchLayout } from '../../layout/batch.ts';
import { KERNEL_ID_SHIFT, OP_MASK, REQUEST_HEADER_WORDS, RequestHeader, Status } from '../../layout/record.ts';
import type { Schema } from '../../layout/schema.ts';
import { ReferenceRunner, type ReferenceKernel } from '../../kernels/reference-runner.ts';
import { ReferenceErrors } from '../../kernels/reference-errors.ts';
import { ReferenceSandbox } from '../../kernels/reference-sandbox.ts';
import type { KernelWire } from '../../protocol.ts';
import type { GroupedBatch } from '../runtime/batch-grouper.ts';
import type { BatchResults, Frame, KernelBackend, StateCapture } from '../kernel-backend.ts';

/** What a failed cpu backend reports: worded as a lost GPU, so the shard recovers the same way. */
export const CPU_DEVICE_LOST = 'GPU device lost: the cpu backend was failed on purpose';

export interface CpuKernelSetOptions {
  /** The cluster's role names (ROLE_<NAME> in a reference's ctx). */
  readonly roles?: readonly string[];
  /** The shard's reference-error table (ShardConfig.referenceErrors). */
  readonly referenceErrors?: SharedArrayBuffer;
  /** Where lines for the cluster's logger go (the coordinator logs them, or not). */
  readonly log?: (line: string) => void;
  /** The shard's index, for log lines. */
  readonly shard?: number;
}

export class CpuKernelSet implements KernelBackend {
  private readonly runner: ReferenceRunner;
  private readonly frame: Frame;
  private readonly recordFloats: Float32Array;
  private readonly statuses: Uint32Array;
  private readonly payloads: Uint32Array;
  private readonly payloadFloats: Float32Array;
  private readonly outbox: Uint32Array;
  private readonly outboxFloats: Float32Array;
  private maxSlot = -1;
  private released: Promise<void> = Promise.resolve();
  private lost = false;
  private readonly errors: ReferenceErrors | undefined;
  private readonly log: (line: string) => void;
  /** Kernels whose reference failed in this worker already (only the first is logged). */
  private readonly logged = new Set<number>();
  private readonly shard: number;

  constructor(
    kernels: readonly KernelWire[],
    private readonly layout: BatchLayout,
    options: CpuKernelSetOptions = {},
  ) {
    this.errors = options.referenceErrors ? new ReferenceErrors(options.referenceErrors) : undefined;
    this.log = options.log ?? (() => {});
    this.shard = options.shard ?? 0;
    const sandbox = new ReferenceSandbox();
    // Decoders compiled in the sandbox: a reference's state and message are the sandbox's objects.
    const codec = (schema: Schema, what: string): Codec => {
      const c = compileCodec(schema, what);
      return { ...c, decode: sandbox.decoder(c.layout) };
    };
    const requests = kernels.map((k) => compileCodec(k.request, `kernel '${k.name}' request`));
    const references: ReferenceKernel[] = kernels.map((k) => {
      if (!k.reference) throw new Error(`kernel '${k.name}' has no reference; the cpu backend needs one`);
      const what = `kernel '${k.name}'`;
      const file = (fn: string) => `kernel '${k.name}' reference.${fn}`;
      return {
        sends: (k.sends ?? []).map((s) => ({ name: s.name, kernelId: s.kernel, request: requests[s.kernel]! })),
        name: k.name,
        codecs: {
          state: codec(k.state, `${what} state`),
          request: codec(k.request, `${what} request`),
          reply: compileCodec(k.reply, `${what} reply`),
        },
        timers: k.timers,
        handle: sandbox.compile(k.reference.handle, file('handle')),
        ...(k.reference.onTimer ? { onTimer: sandbox.compile(k.reference.onTimer, file('onTimer')) } : {}),
        ...(k.reference.init ? { init: sandbox.compile(k.reference.init, file('init')) } : {}),
        ...(k.reference.shutdown ? { shutdown: sandbox.compile(k.reference.shutdown, file('shutdown')) } : {}),
      };
    });
    this.runner = new ReferenceRunner(references, layout.stateStride, 64, layout.recordWords - REQUEST_HEADER_WORDS, options.roles ?? [], layout, sandbox);
    const records = new Uint32Array(layout.recordsWords);
    this.recordFloats = new Float32Array(records.buffer);
    this.frame = { records, index: new Uint32Array(layout.indexWords) };
    this.statuses = new Uint32Array(layout.maxBatch);
    this.payloads = new Uint32Array(layout.maxBatch * layout.resultWords);
    this.payloadFloats = new Float32Array(this.payloads.buffer);
    this.outbox = new Uint32Array(layout.maxBatch * layout.outboxWords);
    this.outboxFloats = new Float32Array(this.outbox.buffer);
  }

  get stateBytes(): number {
    return (this.maxSlot + 1) * this.layout.stateStride * 4;
  }

  get slots(): number {
    return this.maxSlot + 1;
  }

  // One frame, and one set of results: the next batch waits until the runtime has
  // written the previous batch's replies.
  async acquireFrame(): Promise<Frame> {
    await this.released;
    return this.frame;
  }

  submit(frame: Frame, batch: GroupedBatch, capture?: StateCapture): Promise<BatchResults> {
    if (this.lost) return Promise.reject(new Error(CPU_DEVICE_LOST));
    const { records } = frame;
    const baseId = frame.index[this.layout.baseIdWord]!;
    if (batch.maxSlot > this.maxSlot) this.maxSlot = batch.maxSlot;
    // Records go as the GPU driver takes them: segment by segment (an actor's state slot
    // is in the batch index, not in the record), arrival order inside each.
    const L = this.layout;
    const index = frame.index;
    for (let seg = 0; seg < batch.segments; seg++) {
      const w = L.segmentsWord + seg * SEGMENT_WORDS;
      const slot = index[w]!;
      const first = index[w + 1]!;
      const end = first + index[w + 2]!;
      for (let j = first; j < end; j++) this.runOne(records, index[L.orderWord + j]!, slot, baseId);
    }
    if (capture) this.runner.readStates(capture.slots, capture.count, capture.into);
    let release!: () => void;
    this.released = new Promise<void>((resolve) => (release = resolve));
    return Promise.resolve({
      statuses: this.statuses,
      payloads: this.payloads,
      payloadFloats: this.payloadFloats,
      outbox: this.outbox,
      release,
    });
  }

  private runOne(records: Uint32Array, i: number, slot: number, baseId: number): void {
    const rw = this.layout.recordWords;
    const resultWords = this.layout.resultWords;
    const ctx = this.runner.ctx;
    {
      const o = i * rw;
      const ko = records[o + RequestHeader.kernelOp]!;
      ctx.actor = records[o + RequestHeader.target]!; // the actor's id: the grouper put it there
      ctx.messageId = (baseId + i) >>> 0;
      ctx.correlation = records[o + RequestHeader.correlation]!;
      ctx.source = records[o + RequestHeader.source]!;
      ctx.tenant = records[o + RequestHeader.tenant]!;
      ctx.principal = records[o + RequestHeader.principal]!;
      ctx.roles = records[o + RequestHeader.roles]!;
      ctx.hlc[0] = records[o + RequestHeader.hlcHi]!;
      ctx.hlc[1] = records[o + RequestHeader.hlcLo]!;
      ctx.status = 0;
      const outboxWords = this.layout.outboxWords;
      const { status } = this.runner.run(
        ko >>> KERNEL_ID_SHIFT, ko & OP_MASK, slot,
        records, this.recordFloats, o + REQUEST_HEADER_WORDS,
        this.payloads, this.payloadFloats, i * resultWords,
        outboxWords > 0 ? this.outbox : undefined, this.outboxFloats, i * outboxWords,
      );
      this.statuses[i] = status;
      if (status === Status.REFERENCE_FAILED) this.referenceFailed(ko >>> KERNEL_ID_SHIFT, ctx.correlation);
    }
  }

  /** Keeps why for the ask (if it is one), and logs the first failure of each kernel. */
  private referenceFailed(kernel: number, correlation: number): void {
    const why = this.runner.failure;
    if (correlation !== 0) this.errors?.record(correlation, why);
    if (this.logged.has(kernel)) return;
    this.logged.add(kernel);
    this.log(`ringshard: shard ${this.shard}: ${why} (the message failed with ERR_RINGSHARD_HANDLER; later failures of this kernel are not logged)`);
  }

  captureStates(slots: Uint32Array, count: number, into: Uint32Array): Promise<void> {
    if (this.lost) return Promise.reject(new Error(CPU_DEVICE_LOST));
    // Batches run synchronously at submit, so the states are already those after the last one.
    this.runner.readStates(slots, count, into);
    return Promise.resolve();
  }

  restoreStates(states: Uint32Array, slots: number): void {
    this.runner.restoreStates(states, slots);
    if (slots - 1 > this.maxSlot) this.maxSlot = slots - 1;
  }

  lose(): void {
    this.lost = true;
  }

  settled(): Promise<void> {
    return Promise.resolve();
  }

  destroy(): void {}
}
