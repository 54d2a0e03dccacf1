import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openGpuHost } from '../../src/worker/gpu/gpu-host.ts';
import { gpuTest } from '../helpers/gpu.ts';
import { seededRng } from '../helpers/random.ts';

gpuTest('a compute pass runs on the adapter and its result reads back', async (t) => {
  const rng = seededRng(t);
  const host = await openGpuHost();
  try {
    const { device } = host;
    t.diagnostic(`adapter: ${host.adapter.vendor} ${host.adapter.architecture} ${host.adapter.device} (software=${host.adapter.software})`);
    const n = 4096;
    const input = new Uint32Array(n).map(() => rng.u32());
    const module = device.createShaderModule({
      code: `
        @group(0) @binding(0) var<storage, read_write> data: array<u32>;
        @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
          if (id.x < arrayLength(&data)) { data[id.x] = data[id.x] * 3u + id.x; }
        }`,
    });
    const info = await module.getCompilationInfo();
    assert.deepEqual(info.messages.filter((m) => m.type === 'error').map((m) => m.message), []);
    const storage = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    const readback = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(storage, 0, input);
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: storage } }] });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(n / 64);
    pass.end();
    enc.copyBufferToBuffer(storage, 0, readback, 0, n * 4);
    device.queue.submit([enc.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const out = new Uint32Array(readback.getMappedRange().slice(0));
    readback.unmap();
    const expected = input.map((v, i) => (Math.imul(v, 3) + i) >>> 0);
    assert.deepEqual(out, expected);
  } finally {
    host.destroy();
  }
});

test('RINGSHARD_REQUIRE_GPU=1 turns a missing adapter into a failure, not a skip', () => {
  const fixture = fileURLToPath(new URL('./fixtures/needs-gpu.ts', import.meta.url));
  const run = (require: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', fixture], {
      encoding: 'utf8',
      // Without NODE_TEST_CONTEXT the child reports in TAP instead of to this runner.
      env: { ...process.env, NODE_TEST_CONTEXT: '', RINGSHARD_REQUIRE_GPU: require, RINGSHARD_DAWN_FLAGS: 'adapter=no-such-adapter-ringshard' },
    });
  const required = run('1');
  assert.notEqual(required.status, 0, `expected a failing run, got:\n${required.stdout}${required.stderr}`);
  assert.match(required.stdout + required.stderr, /RINGSHARD_REQUIRE_GPU=1 but no WebGPU adapter/);
  const optional = run('0');
  assert.equal(optional.status, 0, optional.stdout + optional.stderr);
  assert.match(optional.stdout, /# skipped 1/);
});
