/**
 * The kernel-only limit: how fast one shard's GPU kernel set handles batches when
 * nothing else is in the way (no rings, no coordinator, no worker hop). Batches of
 * `batch` counter messages over `actors` actors are grouped and submitted with the
 * shard's own code (BatchGrouper, GpuKernelSet), `frames` in flight. Any kernel (counter
 * by default) with one message repeated.
 */
import { assembleKernelModule } from '../../src/kernels/assemble.ts';
import type { Kernel } from '../../src/kernels/define-kernel.ts';
import { batchLayout } from '../../src/layout/batch.ts';
import { NO_ACTOR, Op, REQUEST_HEADER_WORDS, RequestHeader, actorLocation, kernelOp, requestSlotWords } from '../../src/layout/record.ts';
import type { KernelWire } from '../../src/protocol.ts';
import { counter } from '../../shaders/builtins/counter.ts';
import { BatchGrouper } from '../../src/worker/runtime/batch-grouper.ts';
import { GpuKernelSet } from '../../src/worker/gpu/gpu-kernel-set.ts';
import { openGpuHost } from '../../src/worker/gpu/gpu-host.ts';

export async function measureKernelOnly(opts: {
  seconds: number;
  batch: number;
  actors: number;
  frames: number;
  kernel?: Kernel<any, any, any>;
  message?: Record<string, number | number[]>;
}): Promise<{ msgsPerSec: number; messages: number }> {
  const kernel = opts.kernel ?? (counter as unknown as Kernel);
  const message = opts.message ?? { add: 1 };
  const layout = batchLayout({
    kernels: 1,
    maxBatch: opts.batch,
    recordWords: requestSlotWords(kernel.codecs.request.words),
    resultWords: Math.max(kernel.codecs.reply.words, kernel.codecs.state.words),
    stateStride: kernel.codecs.state.words,
  });
  const module = assembleKernelModule(kernel, 0, layout);
  const wire: KernelWire = {
    id: 0, name: kernel.name, state: kernel.state, request: kernel.request, reply: kernel.reply,
    module: module.code, userLineOffset: module.userLineOffset, userLineCount: module.userLineCount,
  };
  const host = await openGpuHost();
  try {
    const set = await GpuKernelSet.create(host.device, [wire], layout, opts.actors, opts.actors, opts.frames);
    if (Array.isArray(set)) throw new Error(`${kernel.name} did not compile: ${set.map((d) => d.message).join('; ')}`);
    const grouper = new BatchGrouper(layout, 0, opts.actors);
    const rw = layout.recordWords;
    // One batch of messages (tells of `message`) spread round-robin over the actors.
    const template = new Uint32Array(opts.batch * rw);
    const floats = new Float32Array(template.buffer);
    const fill = (op: Op, count: number) => {
      for (let i = 0; i < count; i++) {
        const o = i * rw;
        template[o + RequestHeader.target] = actorLocation(0, i % opts.actors);
        template[o + RequestHeader.kernelOp] = kernelOp(0, op);
        // An arriving actor's INIT carries its id where a sender's would be.
        template[o + RequestHeader.source] = op === Op.INIT ? 1 + (i % opts.actors) : NO_ACTOR;
        if (op === Op.MESSAGE) kernel.codecs.request.encode(message as never, template, floats, o + REQUEST_HEADER_WORDS);
      }
    };
    let id = 0;
    // Resolves once the batch is submitted, with a promise of its completion.
    const run = async (count: number): Promise<{ done: Promise<void> }> => {
      const frame = await set.acquireFrame();
      frame.records.set(template.subarray(0, count * rw));
      const grouped = grouper.group(frame.records, count, id, frame.index);
      id += count;
      return { done: set.submit(frame, grouped).then((r) => r.release()) };
    };
    fill(Op.INIT, opts.actors);
    await (await run(opts.actors)).done;
    fill(Op.MESSAGE, opts.batch);
    let messages = 0;
    const inFlight: Array<Promise<void>> = [];
    const t0 = performance.now();
    const deadline = t0 + opts.seconds * 1000;
    while (performance.now() < deadline) {
      inFlight.push((await run(opts.batch)).done);
      messages += opts.batch;
      if (inFlight.length >= opts.frames) await inFlight.shift();
    }
    await Promise.all(inFlight);
    const elapsed = (performance.now() - t0) / 1000;
    set.destroy();
    return { msgsPerSec: messages / elapsed, messages };
  } finally {
    host.destroy();
  }
}
