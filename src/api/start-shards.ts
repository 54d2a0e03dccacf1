/**
 * The cluster's shards: one ShardClient per shard, each with its rings, worker and
 * metric tables, started together. A shard that fails to start, or WGSL that does not
 * compile, stops them all and rejects.
 */
import type { BatchShape } from '../layout/batch.ts';
import { replySlotWords } from '../layout/record.ts';
import type { BackendKind, KernelWire, ShardStarted } from '../protocol.ts';
import type { HybridClock } from '../coordinator/hlc.ts';
import type { ClusterMetrics } from '../metrics/cluster-metrics.ts';
import { compileError } from '../kernels/kernel-wires.ts';
import { ShardClient } from '../shard/shard-client.ts';
import type { ResolvedOptions } from './options.ts';

export interface ShardPlan {
  readonly count: number;
  readonly backend: BackendKind;
  readonly shape: BatchShape;
  readonly wires: readonly KernelWire[];
  /** Payload words of a K2K send, or -1 when no kernel sends. */
  readonly sendPayloadWords: number;
  /** Per shard, the adapter it is pinned to ('auto' with several adapters). */
  readonly pinned: readonly string[];
  readonly metrics: ClusterMetrics | undefined;
  readonly clock: HybridClock;
}

export function createShards(resolved: ResolvedOptions, plan: ShardPlan): ShardClient[] {
  const { shape, metrics, clock } = plan;
  return Array.from(
    { length: plan.count },
    (_, index) =>
      new ShardClient({
        config: {
          index,
          backend: plan.backend,
          kernels: plan.wires,
          batch: shape,
          framesInFlight: resolved.framesInFlight,
          roles: resolved.roles,
          initialSlots: resolved.initialActorsPerShard,
          maxSlots: resolved.maxActorsPerShard,
          epochMs: clock.epochMs,
          generation: 0,
          ...(metrics ? { metrics: metrics.tablesFor(index) } : {}),
          ...(resolved.adapterName ? { adapterName: resolved.adapterName } : plan.pinned.length > 1 ? { adapterName: plan.pinned[index]! } : {}),
          ...(resolved.dawnFlags ? { dawnFlags: resolved.dawnFlags } : {}),
        },
        checkpoint: resolved.checkpointEvery,
        maxDispatchMs: resolved.maxDispatchMs,
        maxRestartsPerMinute: resolved.maxRestartsPerMinute,
        ringCapacity: resolved.ringCapacity,
        replyRingCapacity: resolved.replyRingCapacity,
        recordWords: shape.recordWords,
        replyWords: replySlotWords(shape.resultWords, plan.sendPayloadWords),
        policy: resolved.backpressure,
        maxQueued: resolved.maxQueuedPerShard,
        maxK2KQueued: resolved.maxK2KQueuedPerShard,
        clock,
      }),
  );
}

/** Starts every shard; on a failure or a compile error, stops them all and throws. */
export async function startShards(shards: readonly ShardClient[]): Promise<void> {
  const started = await Promise.allSettled(shards.map((s) => s.start()));
  const failure = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const diagnostics = started.flatMap((r) => (r.status === 'fulfilled' ? r.value.diagnostics : []));
  if (!failure && diagnostics.length === 0) return;
  await Promise.allSettled(shards.map((s) => s.stop()));
  if (failure) throw failure.reason;
  // Every shard compiles the same modules: report one shard's diagnostics.
  const first = (started[0] as PromiseFulfilledResult<ShardStarted>).value.diagnostics;
  throw compileError(first.length > 0 ? first : diagnostics);
}
