/**
 * Figures the demo, `ringshard bench` and loadTest() report about the cluster itself
 * (batch sizes, each shard's share of the messages), read from the cluster's own
 * Prometheus metrics.
 */
import type { Cluster } from '../api/cluster.ts';

interface MetricJson {
  readonly name: string;
  readonly values: ReadonlyArray<{ readonly value: number; readonly labels: Record<string, string | number>; readonly metricName?: string }>;
}

export interface ClusterFigures {
  readonly batches: number;
  readonly meanBatchRecords: number;
  readonly shards: ReadonlyArray<{ readonly index: number; readonly messages: number; readonly share: number }>;
}

async function metric(cluster: Cluster, name: string): Promise<MetricJson | undefined> {
  const m = cluster.registry.getSingleMetric(name) as unknown as { get(): Promise<MetricJson> } | undefined;
  return m?.get();
}

/** Totals since the cluster started (subtract an earlier reading for a window). */
export async function clusterFigures(cluster: Cluster): Promise<ClusterFigures> {
  const batch = await metric(cluster, 'ringshard_batch_size_records');
  const sum = (suffix: string) => (batch?.values ?? []).filter((v) => v.metricName === `ringshard_batch_size_records_${suffix}`).reduce((n, v) => n + v.value, 0);
  const messages = await metric(cluster, 'ringshard_messages_total');
  const perShard = new Map<number, number>();
  for (const v of messages?.values ?? []) {
    if (v.labels.status !== 'ok') continue;
    const shard = Number(v.labels.shard);
    perShard.set(shard, (perShard.get(shard) ?? 0) + v.value);
  }
  const total = [...perShard.values()].reduce((a, b) => a + b, 0);
  const count = sum('count');
  return {
    batches: count,
    meanBatchRecords: count > 0 ? sum('sum') / count : 0,
    shards: [...perShard.entries()].sort((a, b) => a[0] - b[0]).map(([index, n]) => ({ index, messages: n, share: total > 0 ? n / total : 0 })),
  };
}

/** What happened between two readings. */
export function figuresBetween(before: ClusterFigures, after: ClusterFigures): ClusterFigures {
  const batches = after.batches - before.batches;
  const records = after.meanBatchRecords * after.batches - before.meanBatchRecords * before.batches;
  const shards = after.shards.map((s) => ({ index: s.index, messages: s.messages - (before.shards.find((b) => b.index === s.index)?.messages ?? 0) }));
  const total = shards.reduce((n, s) => n + s.messages, 0);
  return { batches, meanBatchRecords: batches > 0 ? records / batches : 0, shards: shards.map((s) => ({ ...s, share: total > 0 ? s.messages / total : 0 })) };
}
