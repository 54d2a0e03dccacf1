/**
 * Runs every kernel's pipeline once on every shard, before anything is measured: with
 * Mesa's shader cache empty, the first dispatch of a kernel compiles it (about a second
 * per kernel on llvmpipe), and on a real driver the first dispatch of a pipeline is slow
 * too. The demo and `ringshard bench` both call it.
 */
import type { Cluster } from '../api/cluster.ts';
import type { Kernel } from '../kernels/define-kernel.ts';
import { Workload } from './workloads.ts';

/** Asks one actor of each kernel on each shard once (then terminates it); returns the seconds it took. */
export async function warmPipelines(cluster: Cluster, kernels: readonly Kernel<any, any, any>[], shards: number, nullGpu = false, messageOf?: (kernel: Kernel<any, any, any>) => any): Promise<number> {
  const started = performance.now();
  const workloads = kernels.map((k, i) => (messageOf ? { message: () => messageOf(k) } : new Workload(k, 1000 + i)));
  for (const [i, kernel] of kernels.entries()) {
    const covered = new Set<number>();
    const refs = [];
    for (let n = 0; covered.size < shards && n < 64 * shards; n++) {
      const ref = cluster.actor(kernel, `warmup-${n}`);
      if (covered.has(ref.shard)) continue;
      covered.add(ref.shard);
      refs.push(ref);
    }
    // On the null GPU statuses are garbage: a settled ask has run its pipeline all the same.
    const settle = nullGpu ? (p: Promise<unknown>) => p.catch(() => undefined) : (p: Promise<unknown>) => p;
    await Promise.all(refs.map((r) => settle(r.ask(workloads[i]!.message()))));
    await Promise.all(refs.map((r) => settle(r.terminate())));
  }
  return (performance.now() - started) / 1000;
}

