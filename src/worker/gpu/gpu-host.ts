/**
 * Opens a WebGPU device through Dawn's dawn.node, in whichever thread calls it.
 *
 * The GPU object that `create()` returns is kept for the life of the thread, on
 * purpose: dawn.node aborts or segfaults (InstanceBase::ProcessEvents, "futex facility
 * returned an unexpected error code") when that object is garbage-collected while a
 * device made from it is alive. Adapters may be dropped; instances never are.
 */
import { create, globals } from 'webgpu';
import { ErrorCode, RingshardError } from '../../errors.ts';
import { withoutDawnLimitWarnings } from './dawn-stderr.ts';

// Never emptied: see the module comment.
const instances = new Map<string, GPU>();

function instance(flags: readonly string[]): GPU {
  const key = flags.join('\n');
  let gpu = instances.get(key);
  if (!gpu) {
    // GPUBufferUsage, GPUMapMode, ... live on `globals`; install them once.
    for (const [name, value] of Object.entries(globals)) {
      if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
    }
    gpu = create([...flags]);
    instances.set(key, gpu);
  }
  return gpu;
}

export interface GpuHostOptions {
  /** Pick the first adapter whose name contains this text (dawn.node `adapter=`). */
  readonly adapterName?: string;
  /** Extra dawn.node flags, e.g. `backend=vulkan`. Also read from RINGSHARD_DAWN_FLAGS. */
  readonly dawnFlags?: readonly string[];
  readonly powerPreference?: GPUPowerPreference;
}

export interface AdapterDescription {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** True for a CPU implementation such as Mesa's llvmpipe. */
  readonly software: boolean;
}

export interface GpuHost {
  readonly device: GPUDevice;
  readonly adapter: AdapterDescription;
  /** Resolves when the device is lost, with the reason; never rejects. */
  readonly lost: Promise<GPUDeviceLostInfo>;
  destroy(): void;
}

function flagsFor(options: GpuHostOptions): string[] {
  const flags = [...(options.dawnFlags ?? [])];
  const env = process.env.RINGSHARD_DAWN_FLAGS;
  if (env) flags.push(...env.split(',').map((f) => f.trim()).filter(Boolean));
  if (options.adapterName) flags.push(`adapter=${options.adapterName}`);
  return flags;
}

export function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info;
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    software: /llvmpipe|lavapipe|swiftshader|software|cpu/.test(text) || (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true,
  };
}

/** Requests an adapter; null when there is none (no driver, or no match for adapterName). */
export async function requestAdapter(options: GpuHostOptions = {}): Promise<GPUAdapter | null> {
  const gpu = instance(flagsFor(options));
  // Dawn prints a limit clamp to stderr as it enumerates adapters: kept off it (dawn-stderr.ts).
  return withoutDawnLimitWarnings(() => gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : undefined));
}

/** Opens a device with the adapter's highest storage limits (state buffers grow large). */
export async function openGpuHost(options: GpuHostOptions = {}): Promise<GpuHost> {
  const adapter = await requestAdapter(options);
  if (!adapter) {
    throw new RingshardError(
      ErrorCode.NO_ADAPTER,
      `no WebGPU adapter found${options.adapterName ? ` matching ${JSON.stringify(options.adapterName)}` : ''}; ` +
        'install a Vulkan driver (on Debian bookworm: mesa-vulkan-drivers from bookworm-backports) or use backend: "cpu"',
    );
  }
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(limits.maxStorageBuffersPerShaderStage, 8),
    },
  });
  const description = describeAdapter(adapter);
  let destroyed = false;
  return {
    device,
    adapter: description,
    lost: device.lost,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      device.destroy();
    },
  };
}
