/**
 * Baseline: one WebGPU dispatch per message, one message at a time. Each message pays a
 * writeBuffer, a submit and a mapAsync round trip; ringshard batches many messages into
 * one dispatch precisely to pay those once per batch instead.
 */
import { openGpuHost } from '../../src/worker/gpu/gpu-host.ts';
import { percentile } from '../report.ts';
import { CounterModel, nextAdd, type BaselineResult } from './common.ts';

export interface NaiveDispatchOptions {
  readonly seconds: number;
  readonly actors: number;
  /** dawn.node flags, e.g. ['backend=null'] (no shader runs there: results are not checked). */
  readonly dawnFlags?: readonly string[];
}

// The counter kernel's body (shaders/builtins/counter.wgsl), for a single message.
// Kept inline rather than reusing the ring driver so this measures the naive path only.
const SHADER = /* wgsl */ `
struct Msg { actor: u32, add: u32 }
@group(0) @binding(0) var<uniform> msg: Msg;
@group(0) @binding(1) var<storage, read_write> states: array<vec2<u32>>; // (total, count)
@group(0) @binding(2) var<storage, read_write> reply: vec2<u32>;

@compute @workgroup_size(1)
fn main() {
  var s = states[msg.actor];
  s.x += msg.add;
  s.y += 1u;
  states[msg.actor] = s;
  reply = s;
}
`;

export async function measureNaiveDispatch(opts: NaiveDispatchOptions): Promise<BaselineResult> {
  const host = await openGpuHost(opts.dawnFlags ? { dawnFlags: opts.dawnFlags } : {});
  const check = !opts.dawnFlags?.includes('backend=null');
  try {
    const { device } = host;
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code: SHADER });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const msgBuffer = device.createBuffer({ size: 8, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    // WebGPU zero-fills new buffers, which is the counter's initial state.
    const stateBuffer = device.createBuffer({ size: Math.max(1, opts.actors) * 8, usage: GPUBufferUsage.STORAGE });
    const replyBuffer = device.createBuffer({ size: 8, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const readback = device.createBuffer({ size: 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: msgBuffer } },
        { binding: 1, resource: { buffer: stateBuffer } },
        { binding: 2, resource: { buffer: replyBuffer } },
      ],
    });
    const setupError = await device.popErrorScope();
    if (setupError) throw new Error(`naive dispatch setup: ${setupError.message}`);

    const model = new CounterModel(opts.actors);
    const staging = new Uint32Array(2);
    async function sendOne(actor: number, add: number): Promise<void> {
      staging[0] = actor;
      staging[1] = add;
      device.queue.writeBuffer(msgBuffer, 0, staging);
      // Command buffers are single-use, so encoding is part of the per-message cost.
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(1);
      pass.end();
      encoder.copyBufferToBuffer(replyBuffer, 0, readback, 0, 8);
      device.queue.submit([encoder.finish()]);
      model.send(actor, add);
      await readback.mapAsync(GPUMapMode.READ);
      const out = new Uint32Array(readback.getMappedRange());
      const total = out[0]!;
      const count = out[1]!;
      readback.unmap();
      if (check) model.receive(actor, total, count);
    }

    // Warm up: the first dispatch compiles the pipeline in the driver; keep it out.
    await sendOne(0, 1);

    const latenciesUs: number[] = [];
    let messages = 0;
    let seed = 1;
    const t0 = performance.now();
    const deadline = t0 + opts.seconds * 1000;
    while (performance.now() < deadline) {
      seed = nextAdd(seed);
      const t = performance.now();
      await sendOne(seed % opts.actors, (seed >>> 8) & 0xffff);
      latenciesUs.push((performance.now() - t) * 1000);
      messages++;
    }
    const elapsed = (performance.now() - t0) / 1000;
    if (check) model.checkFinal();
    latenciesUs.sort((a, b) => a - b);
    return { msgsPerSec: messages / elapsed, messages, p50Us: percentile(latenciesUs, 50), p99Us: percentile(latenciesUs, 99) };
  } finally {
    host.destroy();
  }
}
