/**
 * The persistent kernel set of one shard on one GPUDevice: a pipeline per kernel, the
 * batch buffers, the actor-state buffer and a few frames (mapped staging + readback)
 * so that while one batch runs on the GPU the next is being gathered.
 *
 * Everything is built once. Per batch: the runtime fills a frame's mapped staging
 * buffer, submit() copies it into the batch buffers, dispatches each kernel over its
 * range of actor segments, and copies statuses (and payloads, when some record wants a
 * reply) into the frame's MAP_READ buffer. Actor state never leaves the GPU per batch.
 */
import { splitWgslLines } from '../../kernels/wgsl-tokens.ts';
import type { BatchLayout } from '../../layout/batch.ts';
import { readFileSync } from 'node:fs';
import { WORKGROUP_SIZE } from '../../layout/batch.ts';
import type { CompileDiagnostic, KernelWire } from '../../protocol.ts';
import type { GroupedBatch } from '../runtime/batch-grouper.ts';
import type { BatchResults, Frame, KernelBackend, StateCapture } from '../kernel-backend.ts';

const WORD = 4;
const EMPTY = new Uint32Array(0);
const GATHER = readFileSync(new URL('../../../shaders/gather-states.wgsl', import.meta.url), 'utf8');

/** The checkpoint gather's buffers, grown to the largest capture so far. */
interface Gather {
  readonly pipeline: GPUComputePipeline;
  list: GPUBuffer | undefined;
  packed: GPUBuffer | undefined;
  capacity: number;
  /** Made again when the state buffer or the gather buffers change. */
  bindGroup: GPUBindGroup | undefined;
  boundStates: GPUBuffer | undefined;
  /** Reused list upload (slot count, then the slots). */
  list32: Uint32Array;
}

interface GpuFrame extends Frame {
  readonly staging: GPUBuffer;
  readonly readback: GPUBuffer;
  /** Resolves when the staging buffer is mapped again. */
  ready: Promise<void>;
  /** Resolves when the runtime has released the frame's last results (readback unmapped). */
  released: Promise<void>;
}

export class GpuKernelSet implements KernelBackend {
  private readonly pipelines: GPUComputePipeline[];
  private readonly bindLayout: GPUBindGroupLayout;
  private readonly records: GPUBuffer;
  private readonly index: GPUBuffer;
  private readonly results: GPUBuffer;
  private states: GPUBuffer;
  private bindGroup: GPUBindGroup;
  private readonly frames: GpuFrame[];
  private nextFrame = 0;
  private stateSlots: number;
  private readonly gather: Gather;
  private lostOnPurpose = false;
  /** Per kernel: it has sends entries or timers (a batch with its segments reads the outbox back). */
  private readonly sends: boolean[];
  /** mapAsync calls not settled yet, and who waits for there to be none. */
  private mapsPending = 0;
  private onNoMaps: Array<() => void> = [];

  private constructor(
    private readonly device: GPUDevice,
    private readonly layout: BatchLayout,
    pipelines: GPUComputePipeline[],
    bindLayout: GPUBindGroupLayout,
    initialSlots: number,
    private readonly maxSlots: number,
    framesInFlight: number,
    gatherPipeline: GPUComputePipeline,
    kernels: readonly KernelWire[],
  ) {
    this.pipelines = pipelines;
    this.sends = kernels.map((k) => ((k.sends?.length ?? 0) > 0 || (k.timers ?? 0) > 0) && layout.outboxWords > 0);
    this.gather = { pipeline: gatherPipeline, list: undefined, packed: undefined, capacity: 0, bindGroup: undefined, boundStates: undefined, list32: new Uint32Array(0) };
    this.bindLayout = bindLayout;
    const storage = GPUBufferUsage.STORAGE;
    this.records = device.createBuffer({ label: 'rs_records', size: layout.recordsWords * WORD, usage: storage | GPUBufferUsage.COPY_DST });
    this.index = device.createBuffer({ label: 'rs_index', size: layout.indexWords * WORD, usage: storage | GPUBufferUsage.COPY_DST });
    this.results = device.createBuffer({ label: 'rs_results', size: layout.resultsWords * WORD, usage: storage | GPUBufferUsage.COPY_SRC });
    this.stateSlots = initialSlots;
    this.states = this.createStates(initialSlots);
    this.bindGroup = this.createBindGroup();
    this.frames = Array.from({ length: framesInFlight }, (_, i) => this.createFrame(i));
  }

  /**
   * Compiles every kernel's module and pipeline. Returns the diagnostics instead of a
   * kernel set when any kernel fails, so the coordinator can report them all at once.
   */
  static async create(
    device: GPUDevice,
    kernels: readonly KernelWire[],
    layout: BatchLayout,
    initialSlots: number,
    maxSlots: number,
    framesInFlight: number,
  ): Promise<GpuKernelSet | CompileDiagnostic[]> {
    const storage = (type: GPUBufferBindingType): GPUBindGroupLayoutEntry['buffer'] => ({ type });
    const bindLayout = device.createBindGroupLayout({
      label: 'ringshard batch',
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: storage('read-only-storage') },
        { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: storage('read-only-storage') },
        { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: storage('storage') },
        { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: storage('storage') },
      ],
    });
    const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [bindLayout] });
    const diagnostics: CompileDiagnostic[] = [];
    const pipelines: GPUComputePipeline[] = [];
    for (const kernel of kernels) {
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ label: `ringshard kernel ${kernel.name}`, code: kernel.module });
      const info = await module.getCompilationInfo();
      const messages = info.messages.filter((m) => m.type === 'error');
      if (messages.length > 0) {
        await device.popErrorScope();
        for (const m of messages) diagnostics.push(mapDiagnostic(kernel, m));
        continue;
      }
      const pipeline = await device
        .createComputePipelineAsync({ label: `ringshard ${kernel.name}`, layout: pipelineLayout, compute: { module, entryPoint: 'rs_main' } })
        .catch((error: Error) => error);
      const scoped = await device.popErrorScope();
      if (pipeline instanceof Error || scoped) {
        const message = pipeline instanceof Error ? pipeline.message : scoped!.message;
        diagnostics.push({ kernel: kernel.name, type: 'error', message: `pipeline creation failed: ${message}`, line: 0, column: 0 });
        continue;
      }
      pipelines.push(pipeline);
    }
    if (diagnostics.length > 0) return diagnostics;
    const gatherCode = GATHER.replace('{{STATE_STRIDE}}', String(layout.stateStride)).replace('{{WORKGROUP_SIZE}}', String(WORKGROUP_SIZE));
    const gather = await device.createComputePipelineAsync({
      label: 'ringshard checkpoint gather',
      layout: 'auto',
      compute: { module: device.createShaderModule({ label: 'ringshard gather-states', code: gatherCode }), entryPoint: 'rs_gather' },
    });
    return new GpuKernelSet(device, layout, pipelines, bindLayout, initialSlots, maxSlots, framesInFlight, gather, kernels);
  }

  private createStates(slots: number): GPUBuffer {
    return this.device.createBuffer({
      label: 'rs_states',
      size: Math.max(1, slots) * this.layout.stateStride * WORD,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
  }

  private createBindGroup(): GPUBindGroup {
    return this.device.createBindGroup({
      layout: this.bindLayout,
      entries: [
        { binding: 0, resource: { buffer: this.records } },
        { binding: 1, resource: { buffer: this.index } },
        { binding: 2, resource: { buffer: this.results } },
        { binding: 3, resource: { buffer: this.states } },
      ],
    });
  }

  private createFrame(i: number): GpuFrame {
    const L = this.layout;
    const staging = this.device.createBuffer({
      label: `rs_staging_${i}`,
      size: (L.recordsWords + L.indexWords) * WORD,
      usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC,
      mappedAtCreation: true,
    });
    const readback = this.device.createBuffer({
      label: `rs_readback_${i}`,
      // Results, then room for a checkpoint's states read back with the batch.
      size: (L.resultsWords + L.maxBatch * L.stateStride) * WORD,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const frame: GpuFrame = {
      staging,
      readback,
      records: new Uint32Array(0),
      index: new Uint32Array(0),
      ready: Promise.resolve(),
      released: Promise.resolve(),
    };
    this.viewStaging(frame);
    return frame;
  }

  // Views over a mapped range die at unmap, so they are made again after every map.
  private viewStaging(frame: GpuFrame): void {
    const L = this.layout;
    const range = frame.staging.getMappedRange();
    frame.records = new Uint32Array(range, 0, L.recordsWords);
    frame.index = new Uint32Array(range, L.recordsWords * WORD, L.indexWords);
  }

  get stateBytes(): number {
    return this.states.size;
  }

  get slots(): number {
    return this.stateSlots;
  }

  async acquireFrame(): Promise<Frame> {
    const frame = this.frames[this.nextFrame]!;
    this.nextFrame = (this.nextFrame + 1) % this.frames.length;
    await frame.ready;
    await frame.released;
    return frame;
  }

  submit(f: Frame, batch: GroupedBatch, capture?: StateCapture): Promise<BatchResults> {
    const frame = f as GpuFrame;
    const L = this.layout;
    const n = batch.count;
    const { device } = this;
    frame.staging.unmap();
    const encoder = device.createCommandEncoder({ label: 'ringshard batch' });
    let retired: GPUBuffer | undefined;
    if (batch.maxSlot >= this.stateSlots) retired = this.growStates(encoder, batch.maxSlot);
    const recordsBytes = L.recordsWords * WORD;
    encoder.copyBufferToBuffer(frame.staging, 0, this.records, 0, n * L.recordWords * WORD);
    // The index: header and ranges and used segments, then the used part of `order`.
    encoder.copyBufferToBuffer(frame.staging, recordsBytes, this.index, 0, (L.segmentsWord + batch.segments * 3) * WORD);
    encoder.copyBufferToBuffer(frame.staging, recordsBytes + L.orderWord * WORD, this.index, L.orderWord * WORD, Math.max(1, n) * WORD);
    if (batch.segments > 0) {
      const pass = encoder.beginComputePass({ label: 'ringshard handlers' });
      pass.setBindGroup(0, this.bindGroup);
      for (let k = 0; k < this.pipelines.length; k++) {
        const segments = batch.kernelSegments[k]!;
        if (segments === 0) continue;
        pass.setPipeline(this.pipelines[k]!);
        pass.dispatchWorkgroups(Math.ceil(segments / WORKGROUP_SIZE));
      }
      pass.end();
    }
    encoder.copyBufferToBuffer(this.results, 0, frame.readback, 0, n * WORD);
    const payloadBytes = batch.needsPayloads ? n * L.resultWords * WORD : 0;
    const payloadOffset = L.resultPayloadsWord * WORD;
    if (payloadBytes > 0) encoder.copyBufferToBuffer(this.results, payloadOffset, frame.readback, payloadOffset, payloadBytes);
    let sending = false;
    for (let k = 0; k < this.sends.length; k++) if (this.sends[k] && batch.kernelSegments[k]! > 0) sending = true;
    const outboxOffset = L.outboxWord * WORD;
    const outboxBytes = sending ? n * L.outboxWords * WORD : 0;
    if (outboxBytes > 0) encoder.copyBufferToBuffer(this.results, outboxOffset, frame.readback, outboxOffset, outboxBytes);
    const captureOffset = L.resultsWords * WORD;
    const captureBytes = capture ? capture.count * L.stateStride * WORD : 0;
    if (capture && captureBytes > 0) {
      this.encodeGather(encoder, capture.slots, capture.count);
      encoder.copyBufferToBuffer(this.gather.packed!, 0, frame.readback, captureOffset, captureBytes);
    }
    device.queue.submit([encoder.finish()]);
    retired?.destroy();

    frame.ready = this.track(frame.staging.mapAsync(GPUMapMode.WRITE)).then(() => this.viewStaging(frame));
    // Awaited by the next acquireFrame, if any: an abandoned shard must not crash on it.
    frame.ready.catch(() => {});
    let release!: () => void;
    frame.released = new Promise<void>((resolve) => (release = resolve));
    const resultsSize = outboxBytes > 0 ? outboxOffset + outboxBytes : payloadBytes > 0 ? payloadOffset + payloadBytes : alignUp(n * WORD, 8);
    const mapSize = Math.min(captureBytes > 0 ? captureOffset + captureBytes : resultsSize, frame.readback.size);
    return this.track(frame.readback.mapAsync(GPUMapMode.READ, 0, mapSize)).then(() => {
      const range = frame.readback.getMappedRange(0, mapSize);
      if (capture && captureBytes > 0) capture.into.set(new Uint32Array(range, captureOffset, capture.count * L.stateStride));
      const statuses = new Uint32Array(range, 0, n);
      const payloads = payloadBytes > 0 ? new Uint32Array(range, payloadOffset, n * L.resultWords) : new Uint32Array(0);
      const outbox = outboxBytes > 0 ? new Uint32Array(range, outboxOffset, n * L.outboxWords) : EMPTY;
      return {
        statuses,
        payloads,
        outbox,
        payloadFloats: new Float32Array(payloads.buffer, payloads.byteOffset, payloads.length),
        release: () => {
          frame.readback.unmap();
          release();
        },
      };
    });
  }

  // The state buffer doubles until it holds `slot`; the copy runs on the queue in order,
  // so batches already submitted finish against the old buffer first.
  private growStates(encoder: GPUCommandEncoder, slot: number): GPUBuffer {
    let slots = this.stateSlots;
    while (slots <= slot) slots *= 2;
    slots = Math.min(slots, this.maxSlots);
    const old = this.states;
    this.states = this.createStates(slots);
    encoder.copyBufferToBuffer(old, 0, this.states, 0, old.size);
    this.stateSlots = slots;
    this.bindGroup = this.createBindGroup();
    return old;
  }

  /** Uploads the slot list and encodes the gather of their states into gather.packed. */
  private encodeGather(encoder: GPUCommandEncoder, slots: Uint32Array, count: number): void {
    const g = this.gather;
    const stride = this.layout.stateStride;
    if (count > g.capacity) {
      for (const b of [g.list, g.packed]) b?.destroy();
      const capacity = Math.max(count, g.capacity * 2, this.layout.maxBatch);
      g.list = this.device.createBuffer({ label: 'rs_gather_list', size: (capacity + 1) * WORD, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      g.packed = this.device.createBuffer({ label: 'rs_gather_packed', size: capacity * stride * WORD, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
      g.capacity = capacity;
      g.list32 = new Uint32Array(capacity + 1);
      g.bindGroup = undefined;
    }
    if (g.bindGroup === undefined || g.boundStates !== this.states) {
      g.bindGroup = this.device.createBindGroup({
        layout: g.pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: g.list! } },
          { binding: 1, resource: { buffer: this.states } },
          { binding: 2, resource: { buffer: g.packed! } },
        ],
      });
      g.boundStates = this.states;
    }
    const list = g.list32;
    list[0] = count;
    list.set(slots.subarray(0, count), 1);
    // A queue write lands before the command buffer submitted after it.
    this.device.queue.writeBuffer(g.list!, 0, list, 0, count + 1);
    const pass = encoder.beginComputePass({ label: 'ringshard gather' });
    pass.setPipeline(g.pipeline);
    pass.setBindGroup(0, g.bindGroup);
    pass.dispatchWorkgroups(Math.ceil(count / WORKGROUP_SIZE));
    pass.end();
  }

  /**
   * A checkpoint's capture on its own (the shard is idle, or too many slots to ride on a
   * batch). Submitted at once, so it sees exactly the batches submitted before it; its
   * readback buffer is its own, since several captures may be in flight.
   */
  async captureStates(slots: Uint32Array, count: number, into: Uint32Array): Promise<void> {
    const encoder = this.device.createCommandEncoder({ label: 'ringshard checkpoint' });
    this.encodeGather(encoder, slots, count);
    const bytes = count * this.layout.stateStride * WORD;
    const readback = this.device.createBuffer({ label: 'rs_checkpoint_readback', size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.copyBufferToBuffer(this.gather.packed!, 0, readback, 0, bytes);
    this.device.queue.submit([encoder.finish()]);
    try {
      await this.track(readback.mapAsync(GPUMapMode.READ, 0, bytes));
      into.set(new Uint32Array(readback.getMappedRange(0, bytes)));
    } finally {
      readback.destroy();
    }
  }

  // dawn.node aborts the whole process (GPUBuffer.cpp:74, "Promise not resolved or
  // rejected: mapAsync()") when a thread ends with a mapAsync pending, so the shard counts
  // them and ends its thread only when none is (settled()).
  private track(p: Promise<undefined>): Promise<undefined> {
    this.mapsPending++;
    const done = () => {
      if (--this.mapsPending === 0) for (const wake of this.onNoMaps.splice(0)) wake();
    };
    p.then(done, done);
    return p;
  }

  settled(): Promise<void> {
    if (this.mapsPending === 0) return Promise.resolve();
    return new Promise((resolve) => this.onNoMaps.push(resolve));
  }

  restoreStates(states: Uint32Array, slots: number): void {
    if (slots === 0) return;
    if (slots > this.stateSlots) {
      let size = this.stateSlots;
      while (size < slots) size *= 2;
      this.states.destroy();
      this.stateSlots = Math.min(size, this.maxSlots);
      this.states = this.createStates(this.stateSlots);
      this.bindGroup = this.createBindGroup();
    }
    // A copy: dawn.node's writeBuffer read past a view over a growable SharedArrayBuffer
    // (segfault in memcpy, seen under load), and this runs once per recovery.
    this.device.queue.writeBuffer(this.states, 0, states.slice(0, slots * this.layout.stateStride));
  }

  /** Destroys the device: dawn.node then reports it lost, as if the GPU had gone. */
  lose(): void {
    this.lostOnPurpose = true;
    this.device.destroy();
  }

  /** True once lose() was called (the device reports 'destroyed' then, not a real loss). */
  get lostDeliberately(): boolean {
    return this.lostOnPurpose;
  }

  destroy(): void {
    for (const b of [this.gather.list, this.gather.packed]) b?.destroy();
    for (const frame of this.frames) {
      frame.staging.destroy();
      frame.readback.destroy();
    }
    for (const b of [this.records, this.index, this.results, this.states]) b.destroy();
  }
}

function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

function mapDiagnostic(kernel: KernelWire, m: GPUCompilationMessage): CompileDiagnostic {
  const userLine = m.lineNum - kernel.userLineOffset + 1;
  const inUser = m.lineNum > 0 && userLine >= 1 && userLine <= kernel.userLineCount;
  const source = inUser ? splitWgslLines(kernel.module)[m.lineNum - 1] : undefined;
  return {
    kernel: kernel.name,
    type: m.type,
    message: m.message,
    line: inUser ? userLine : 0,
    column: inUser ? m.linePos : 0,
    ...(source !== undefined ? { source } : {}),
  };
}
