// Exits 0 and prints the adapter when dawn.node finds a WebGPU adapter, 1 otherwise.
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) {
  console.log('no WebGPU adapter');
  process.exit(1);
}
const { vendor, architecture, device, description } = adapter.info;
console.log(`WebGPU adapter: ${[vendor, architecture, device, description].filter(Boolean).join(' / ')}`);
// Keep `gpu` referenced until exit (dawn.node crashes if it is collected early).
globalThis.__ringshardProbe = gpu;
process.exit(0);
