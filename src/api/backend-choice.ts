/**
 * Which backend a cluster runs, probed in the coordinator's thread. The GPU host (and
 * with it dawn.node, the `webgpu` package) is imported only when an adapter is asked
 * for: backend 'cpu' never loads it.
 */
import { ErrorCode, RingshardError } from '../errors.ts';
import type { BackendKind } from '../protocol.ts';
import type { AdapterDescription, GpuHostOptions } from '../worker/gpu/gpu-host.ts';
import type { ResolvedOptions } from './options.ts';

interface Probe {
  readonly adapter: AdapterDescription | null;
  /** Why there is none, when dawn.node failed to load or to answer. */
  readonly error?: unknown;
}

/** The adapter dawn.node gives for these options, described; null when there is none. */
async function probeAdapter(options: GpuHostOptions): Promise<Probe> {
  try {
    const { requestAdapter, describeAdapter } = await import('../worker/gpu/gpu-host.ts');
    const adapter = await requestAdapter(options);
    return { adapter: adapter ? describeAdapter(adapter) : null };
  } catch (error) {
    return { adapter: null, error };
  }
}

/**
 * Names of the distinct adapters dawn.node offers. It has no enumeration: its default
 * and its low-power and high-performance choices are asked for, and told apart by name,
 * which is also how a shard is pinned to one (`adapter=NAME` picks the first adapter whose
 * name contains NAME), so identical GPUs count as one.
 */
export async function distinctAdapters(options: ResolvedOptions): Promise<string[]> {
  const names = new Set<string>();
  for (const powerPreference of [undefined, 'high-performance', 'low-power'] as const) {
    const { adapter: a } = await probeAdapter({
      ...(options.dawnFlags ? { dawnFlags: options.dawnFlags } : {}),
      ...(powerPreference ? { powerPreference } : {}),
    });
    if (a) names.add(a.device || a.description);
  }
  return [...names];
}

/** The backend to run, and the adapter it found (probed here, in the coordinator's thread). */
export async function chooseBackend(options: ResolvedOptions): Promise<{ backend: BackendKind; adapter?: AdapterDescription }> {
  if (options.backend === 'cpu') return { backend: 'cpu' };
  const { adapter: a, error } = await probeAdapter({
    ...(options.adapterName ? { adapterName: options.adapterName } : {}),
    ...(options.dawnFlags ? { dawnFlags: options.dawnFlags } : {}),
  });
  if (a) {
    if (options.backend === 'auto') {
      options.log(`ringshard: backend webgpu on ${a.vendor} ${a.device || a.architecture}${a.software ? ' (software rasterizer)' : ''}`);
    }
    return { backend: 'webgpu', adapter: a };
  }
  if (options.backend === 'webgpu') {
    throw new RingshardError(
      ErrorCode.NO_ADAPTER,
      `options.backend is 'webgpu' but no WebGPU adapter was found${options.adapterName ? ` matching '${options.adapterName}'` : ''}; install a Vulkan driver or use backend: 'cpu'`,
      error === undefined ? undefined : { cause: error },
    );
  }
  options.log("ringshard: no WebGPU adapter found; backend cpu (the kernels' TS references)");
  return { backend: 'cpu' };
}
