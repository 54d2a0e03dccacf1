import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileCodec } from '../../src/layout/codec.ts';
import { layoutSchema } from '../../src/layout/schema.ts';
import { wgslHeaderConstants, wgslLoader, wgslStorer, wgslStruct } from '../../src/layout/wgsl.ts';
import { openGpuHost } from '../../src/worker/gpu/gpu-host.ts';
import { gpuTest } from '../helpers/gpu.ts';
import { schemaWithMessages } from '../helpers/schemas.ts';

async function compileErrors(device: GPUDevice, code: string): Promise<string[]> {
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  return info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
}

gpuTest('generated struct text and header constants compile on the GPU', async () => {
  const host = await openGpuHost();
  try {
    const layout = layoutSchema({ count: 'u32', mean: 'f32', pos: ['f32', 3], delta: ['i32', 12] }, 'state');
    const code = [wgslHeaderConstants(), wgslStruct('State', layout), '@compute @workgroup_size(1) fn main() { var s: State; s.count = RS_REQ_TARGET; }'].join('\n');
    assert.deepEqual(await compileErrors(host.device, code), []);
  } finally {
    host.destroy();
  }
});

gpuTest('GPU loaders and storers agree word for word with the TS codec (random schemas)', async () => {
  const host = await openGpuHost();
  const { device } = host;
  try {
    await fc.assert(
      fc.asyncProperty(schemaWithMessages(16), async ([schema, messages]) => {
        const codec = compileCodec(schema, 'prop');
        const W = codec.words;
        const n = messages.length;
        const input = new Uint32Array(W * n);
        const floats = new Float32Array(input.buffer);
        messages.forEach((m, i) => codec.encode(m, input, floats, i * W));
        const code = `
@group(0) @binding(0) var<storage, read> rs_in: array<u32>;
@group(0) @binding(1) var<storage, read_write> rs_out: array<u32>;
${wgslStruct('Msg', codec.layout)}
${wgslLoader('load_msg', 'Msg', codec.layout, 'rs_in')}
${wgslStorer('store_msg', 'Msg', codec.layout, 'rs_out')}
@compute @workgroup_size(1) fn main() {
  for (var i = 0u; i < ${n}u; i++) { store_msg(i * ${W}u, load_msg(i * ${W}u)); }
}`;
        assert.deepEqual(await compileErrors(device, code), []);
        const module = device.createShaderModule({ code });
        const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
        const size = input.byteLength;
        const src = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
        const dst = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
        const read = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        device.queue.writeBuffer(src, 0, input);
        const bind = device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: dst } }],
        });
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bind);
        pass.dispatchWorkgroups(1);
        pass.end();
        enc.copyBufferToBuffer(dst, 0, read, 0, size);
        device.queue.submit([enc.finish()]);
        await read.mapAsync(GPUMapMode.READ);
        const out = new Uint32Array(read.getMappedRange().slice(0));
        read.unmap();
        for (const b of [src, dst, read]) b.destroy();
        assert.deepEqual(out, input);
        const outFloats = new Float32Array(out.buffer);
        messages.forEach((m, i) => assert.deepStrictEqual(codec.decode(out, outFloats, i * W), m));
      }),
      { numRuns: 30 },
    );
  } finally {
    host.destroy();
  }
});
