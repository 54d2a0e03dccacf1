/**
 * The cluster's Prometheus metrics: a prom-client Registry whose collectors read the
 * shard workers' SharedArrayBuffer tables (and the coordinator's own counters) at scrape
 * time. Nothing is sent or locked per message.
 *
 * Per-actor series are bounded: the first `perActor` actors active at a time get their
 * own series, labelled by the actor's id (tenant and key only with metrics.labels: they
 * may be personal data); the rest of each kernel's actors share the series actor="_other". Counts
 * of terminated actors fold into "_other" too, so summing a kernel's actor series always
 * gives the kernel's exact total, which ringshard_messages_total reports per shard.
 */
import { STORE_COMMIT_BUCKETS, type LifecycleCounts, type NodeCounters, type StoreCounters } from '../coordinator/actor-locator.ts';
import { Registry } from 'prom-client';
import type { ActorEntry } from '../coordinator/actor-directory.ts';
import type { SpscRing } from '../rings/spsc-ring.ts';
import { CollectedMetric, histogramSamples, sampleKey, type Sample } from './collected-metric.ts';
import {
  BATCH_AT, BATCH_BUCKETS, DISPATCH_AT, DISPATCH_BUCKETS, LATENCY_BUCKETS, ROW_LATENCY_AT, ROW_LATENCY_SUM, ROW_TIMERS_AT, ROW_WORDS, STATUS_COLUMNS, TIMER_COLUMNS,
  ShardCell, createMetricTables, ensureBytes, type MetricTables,
} from './tables.ts';

const US = 1e-6;

/** Whether a sample key (sampleKey) is a series of metric `name` (itself, or its _bucket, _sum, _count). */
function isSampleOf(key: string, name: string): boolean {
  const sample = key.slice(0, key.indexOf('\u0000'));
  return sample === name || sample === `${name}_bucket` || sample === `${name}_sum` || sample === `${name}_count`;
}
export const OTHER_ACTOR = '_other';

export interface ShardMetricsSource {
  readonly requests: SpscRing;
  readonly replies: SpscRing;
  queued(): number;
  readonly backpressure: { readonly waits: number; readonly rejections: number };
  restarts(): number;
  /** Recoveries from a checkpoint, by cause. */
  recoveries?(): ReadonlyMap<string, number>;
  /** Checkpoint counters; undefined when checkpoints are off. */
  checkpoints?(): { checkpoints: number; durationUs: number; bytes: number; lastBytes: number; replayed: number } | undefined;
  /** K2K sends the shard's handlers made, passed on once each; and repeats a replay made, dropped. */
  sends?(): { readonly passedOn: number; readonly deduplicated: number };
}

export type { NodeCounters } from '../coordinator/actor-locator.ts';

/** What the coordinator counts itself: K2K routing and authorization. */
export interface ClusterCountersSource {
  /** K2K messages not delivered, by reason. */
  deadLetters(): ReadonlyMap<string, number>;
  /** Per kernel: messages the authorize policy refused, by reason ('denied', 'policy-error'). */
  policyRefusals(): ReadonlyArray<ReadonlyMap<string, number>>;
  /** options.nats: what this node counts (undefined without NATS). */
  node?(): NodeCounters | undefined;
  /** options.persist: what the embedded store counts (undefined without it). */
  store?(): StoreCounters | undefined;
  /** Activations and deactivations by cause (undefined where the locator does not count them). */
  lifecycle?(): LifecycleCounts | undefined;
  /** Deactivated actors kept in host memory (undefined: kept in a store, or none). */
  deactivated?(): number | undefined;
  /** Timers the timer service waits for (undefined: no kernel has timers). */
  timersArmed?(): number | undefined;
}

interface ShardTables {
  readonly tables: MetricTables;
  readonly shard: Float64Array;
  readonly actors: Float64Array;
  readonly slotRows: Int32Array;
  readonly freeRows: number[];
  nextRow: number;
  /** Per kernel: what terminated tracked actors of this shard had counted. */
  readonly retired: Float64Array[];
  /**
   * Per kernel: what tracked actors counted here before they moved to another shard; it
   * stays in this shard's totals while their own series carry it along.
   */
  readonly movedOut: Float64Array[];
  source?: ShardMetricsSource;
}

interface Tracked {
  /** Its row in its current shard's actor table. */
  row: number;
  /** The row's values when this actor got it (rows are reused). */
  baseline: Float64Array;
  /** What it counted on shards it has moved away from (its series carries on). */
  readonly carried: Float64Array;
}

export interface ClusterMetricsOptions {
  readonly kernels: readonly string[];
  /** Per kernel: it has timers (its fires are counted as ringshard_messages_total{kind="timer"}). */
  readonly timers?: readonly boolean[];
  readonly shards: number;
  readonly maxSlots: number;
  /** Actors with series of their own at a time; Infinity for all, 0 for none. */
  readonly perActor: number;
  /** Identifying labels the per-actor series carry besides kernel and actor id (MetricsOptions.labels). @default [] */
  readonly labels?: readonly ('tenant' | 'key')[];
  readonly registry: Registry;
  readonly backend: string;
  readonly adapter: string;
  readonly version: string;
  /** Active actors per shard and kernel, from the coordinator's directory. */
  readonly activeActors: (shard: number, kernel: string) => number;
}

export class ClusterMetrics {
  readonly registry: Registry;
  private readonly shards: ShardTables[];
  private readonly tracked = new Map<ActorEntry, Tracked>();
  /** Per kernel: what retired actors had carried over from shards they moved away from. */
  private readonly retiredCarried: Float64Array[];

  constructor(private readonly options: ClusterMetricsOptions) {
    this.registry = options.registry;
    const k = options.kernels.length;
    this.retiredCarried = options.kernels.map(() => new Float64Array(ROW_WORDS));
    const maxRows = k + Math.min(options.perActor, options.maxSlots);
    this.shards = Array.from({ length: options.shards }, () => {
      const tables = createMetricTables(k, maxRows, options.maxSlots);
      return {
        tables,
        shard: new Float64Array(tables.shard),
        actors: new Float64Array(tables.actors),
        slotRows: new Int32Array(tables.slotRows),
        freeRows: [],
        nextRow: k, // rows 0 .. k-1 are each kernel's "_other"
        retired: options.kernels.map(() => new Float64Array(ROW_WORDS)),
        movedOut: options.kernels.map(() => new Float64Array(ROW_WORDS)),
      };
    });
    this.metrics = this.collectors();
    for (const metric of this.metrics) this.registry.registerMetric(metric.asMetric());
  }

  private readonly metrics: CollectedMetric[];

  /**
   * Every counter and histogram series now, what was carried over included (options.persist
   * keeps it, so the next process's series go on from here): [sample key, value] pairs.
   */
  countsNow(): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const metric of this.metrics) {
      if (metric.type === 'gauge') continue;
      for (const s of metric.values()) if (s.value !== 0) out.push([sampleKey(s.metricName ?? metric.name, s.labels), s.value]);
    }
    return out;
  }

  /** Counts an earlier process had (countsNow's): its counter and histogram series go on from them. */
  carryOver(counts: ReadonlyArray<readonly [string, number]>): void {
    const all = new Map(counts);
    for (const metric of this.metrics) {
      if (metric.type === 'gauge') continue;
      const mine = new Map<string, number>();
      const prefix = `${metric.name}`;
      for (const [key, value] of all) if (key.startsWith(prefix) && isSampleOf(key, metric.name)) mine.set(key, value);
      metric.carried = mine;
    }
  }

  tablesFor(shard: number): MetricTables {
    return this.shards[shard]!.tables;
  }

  attach(shard: number, source: ShardMetricsSource): void {
    this.shards[shard]!.source = source;
  }

  private counters: ClusterCountersSource | undefined;

  attachCounters(source: ClusterCountersSource): void {
    this.counters = source;
  }

  /** Called before the actor's INIT is sent: gives it a row and tells the worker. */
  actorActivated(entry: ActorEntry): void {
    const row = this.assignRow(entry, this.tracked.size < this.options.perActor);
    if (row !== entry.kernelId) {
      const s = this.shards[entry.shard]!;
      this.tracked.set(entry, { row, baseline: s.actors.slice(row * ROW_WORDS, (row + 1) * ROW_WORDS), carried: new Float64Array(ROW_WORDS) });
    }
  }

  /** Maps the entry's slot to a fresh row of its shard (or its kernel's "_other" row). */
  private assignRow(entry: ActorEntry, own: boolean): number {
    const s = this.shards[entry.shard]!;
    ensureBytes(s.tables.slotRows, (entry.slot + 1) * 4);
    let row = entry.kernelId; // its kernel's "_other" row
    if (own) {
      row = s.freeRows.pop() ?? s.nextRow++;
      ensureBytes(s.tables.actors, (row + 1) * ROW_WORDS * 8);
    }
    s.slotRows[entry.slot] = row;
    return row;
  }

  /**
   * Called when the actor has moved from `fromShard` to its entry's new
   * place, before its first record there: its series continues from a row on the new
   * shard, carrying what it counted before; the old shard keeps those counts in its
   * own totals.
   */
  actorMoved(entry: ActorEntry, fromShard: number): void {
    const t = this.tracked.get(entry);
    const old = this.shards[fromShard]!;
    if (!t) {
      this.assignRow(entry, false);
      return;
    }
    const at = t.row * ROW_WORDS;
    const into = old.movedOut[entry.kernelId]!;
    for (let i = 0; i < ROW_WORDS; i++) {
      const counted = old.actors[at + i]! - t.baseline[i]!;
      t.carried[i]! += counted;
      into[i]! += counted;
    }
    // The old slot is free; the next actor to take it gets a row of its own.
    old.freeRows.push(t.row);
    const row = this.assignRow(entry, true);
    const s = this.shards[entry.shard]!;
    t.row = row;
    t.baseline = s.actors.slice(row * ROW_WORDS, (row + 1) * ROW_WORDS);
  }

  /** Called when the shard is done with the actor: its counts fold into "_other". */
  actorRetired(entry: ActorEntry): void {
    const t = this.tracked.get(entry);
    if (!t) return;
    this.tracked.delete(entry);
    const s = this.shards[entry.shard]!;
    const into = s.retired[entry.kernelId]!;
    const at = t.row * ROW_WORDS;
    for (let i = 0; i < ROW_WORDS; i++) into[i]! += s.actors[at + i]! - t.baseline[i]!;
    // What it had carried from earlier shards joins "_other" too (those shards keep it
    // in their totals as moved out; here it is no longer any actor's own).
    const carried = this.retiredCarried[entry.kernelId]!;
    for (let i = 0; i < ROW_WORDS; i++) carried[i]! += t.carried[i]!;
    s.freeRows.push(t.row);
  }

  /** The shard's worker was replaced: its actors are gone, their counts fold into "_other". */
  shardRestarted(shard: number): void {
    for (const entry of [...this.tracked.keys()]) if (entry.shard === shard) this.actorRetired(entry);
  }

  private collectors(): CollectedMetric[] {
    const { kernels } = this.options;
    const shards = this.shards;
    const perShard = (f: (s: ShardTables, shard: string) => Sample[]) => () => shards.flatMap((s, i) => f(s, String(i)));
    const statusSamples = (labels: Record<string, string>, row: ArrayLike<number>) =>
      STATUS_COLUMNS.map((status, c) => ({ labels: { ...labels, status }, value: row[c]! }));

    return [
      new CollectedMetric('ringshard_info', 'ringshard build and backend (value is 1).', 'gauge', () => [
        { labels: { version: this.options.version, backend: this.options.backend, adapter: this.options.adapter }, value: 1 },
      ]),
      new CollectedMetric('ringshard_messages_total', 'Messages handled per shard and kernel, by status (ok, error: the handler set a status, rejected: the shard refused it, forbidden: handle_secure refused it); a kernel with timers also has its due timers here, kind="timer", by status (ok: on_timer ran, error: it failed, stale: the timer was cleared or re-armed since, nothing ran).', 'counter',
        perShard((_, shard) => kernels.flatMap((kernel, k) => {
          const row = this.kernelTotals(Number(shard), k);
          const messages = statusSamples({ shard, kernel }, row);
          if (!this.options.timers?.[k]) return messages;
          return [...messages, ...TIMER_COLUMNS.map((status, c) => ({ labels: { shard, kernel, kind: 'timer', status }, value: row[ROW_TIMERS_AT + c]! }))];
        }))),
      new CollectedMetric('ringshard_message_latency_seconds', 'Time from enqueue to handled (its batch finished on the GPU), per shard and kernel.', 'histogram',
        perShard((_, shard) => kernels.flatMap((kernel, k) => rowHistogram('ringshard_message_latency_seconds', { shard, kernel }, this.kernelTotals(Number(shard), k))))),
      new CollectedMetric('ringshard_actor_messages_total', `Messages handled per actor (actor: its id; tenant and key only with metrics.labels), by status; actors beyond the per-actor limit (and rejected records) are counted under actor="${OTHER_ACTOR}".`, 'counter',
        () => this.actorRows().flatMap(([labels, row]) => statusSamples(labels, row))),
      new CollectedMetric('ringshard_actor_message_latency_seconds', `Time from enqueue to handled per actor (actor: its id); actors beyond the per-actor limit under actor="${OTHER_ACTOR}".`, 'histogram',
        () => this.actorRows().flatMap(([labels, row]) => rowHistogram('ringshard_actor_message_latency_seconds', labels, row))),
      new CollectedMetric('ringshard_ring_retained_records', 'Request records already answered and kept in the ring until a checkpoint covers them (they take ring space).', 'gauge',
        perShard((s, shard) => (s.source ? [{ labels: { shard }, value: s.source.requests.retained() }] : []))),
      new CollectedMetric('ringshard_ring_depth', 'Records in a shard ring not yet handled by its consumer.', 'gauge',
        perShard((s, shard) => (s.source ? [{ labels: { shard, ring: 'request' }, value: s.source.requests.depth() }, { labels: { shard, ring: 'reply' }, value: s.source.replies.depth() }] : []))),
      new CollectedMetric('ringshard_ring_capacity', 'Slots of a shard ring.', 'gauge',
        perShard((s, shard) => (s.source ? [{ labels: { shard, ring: 'request' }, value: s.source.requests.capacity }, { labels: { shard, ring: 'reply' }, value: s.source.replies.capacity }] : []))),
      new CollectedMetric('ringshard_queued_records', 'Records waiting for room in a full request ring (backpressure).', 'gauge',
        perShard((s, shard) => (s.source ? [{ labels: { shard }, value: s.source.queued() }] : []))),
      new CollectedMetric('ringshard_backpressure_waits_total', 'Records that had to wait for room in a full request ring.', 'counter',
        perShard((s, shard) => (s.source ? [{ labels: { shard }, value: s.source.backpressure.waits }] : []))),
      new CollectedMetric('ringshard_backpressure_rejections_total', "Records refused because a request ring was full ('reject' policy, or maxQueued reached).", 'counter',
        perShard((s, shard) => (s.source ? [{ labels: { shard }, value: s.source.backpressure.rejections }] : []))),
      new CollectedMetric('ringshard_batches_total', 'Batches dispatched per shard.', 'counter',
        perShard((s, shard) => [{ labels: { shard }, value: s.shard[ShardCell.batches]! }])),
      new CollectedMetric('ringshard_batch_size_records', 'Records per dispatched batch.', 'histogram',
        perShard((s, shard) => histogramSamples('ringshard_batch_size_records', { shard }, BATCH_BUCKETS, s.shard, BATCH_AT, 1))),
      new CollectedMetric('ringshard_dispatch_duration_seconds', 'GPU round trip of a batch: submit to results readable.', 'histogram',
        perShard((s, shard) => histogramSamples('ringshard_dispatch_duration_seconds', { shard }, DISPATCH_BUCKETS, s.shard, DISPATCH_AT, US))),
      new CollectedMetric('ringshard_actors_active', 'Active actors per shard and kernel.', 'gauge',
        perShard((_, shard) => kernels.map((kernel) => ({ labels: { shard, kernel }, value: this.options.activeActors(Number(shard), kernel) })))),
      new CollectedMetric('ringshard_gpu_state_bytes', 'Bytes of the GPU buffer that holds the actor state of the shard.', 'gauge',
        perShard((s, shard) => [{ labels: { shard }, value: s.shard[ShardCell.stateBytes]! }])),
      new CollectedMetric('ringshard_shard_restarts_total', 'Times the worker of a shard was replaced.', 'counter',
        perShard((s, shard) => (s.source ? [{ labels: { shard }, value: s.source.restarts() }] : []))),
      ...this.recoveryCollectors(),
      ...this.nodeCollectors(),
      ...this.storeCollectors(),
      ...this.lifecycleCollectors(),
      new CollectedMetric('ringshard_k2k_sends_total', 'Kernel-to-kernel messages the handlers of a shard sent (each once; a replay\'s repeats are not counted).', 'counter',
        perShard((s, shard) => (s.source?.sends ? [{ labels: { shard }, value: s.source.sends().passedOn }] : []))),
      new CollectedMetric('ringshard_k2k_duplicates_total', 'K2K sends a shard made again while replaying after a recovery, dropped by the coordinator (delivered once already).', 'counter',
        perShard((s, shard) => (s.source?.sends ? [{ labels: { shard }, value: s.source.sends().deduplicated }] : []))),
      new CollectedMetric('ringshard_dead_letters_total', 'K2K messages not delivered, by reason: no-such-actor, terminated, wrong-kernel, cross-tenant, forbidden, overflow, quarantined, shard-failed.', 'counter',
        () => [...(this.counters?.deadLetters() ?? [])].map(([reason, value]) => ({ labels: { reason }, value }))),
      new CollectedMetric('ringshard_policy_refusals_total', 'Messages the authorize policy refused at the coordinator (status="forbidden"; they never reached a shard), per kernel, by reason: denied, policy-error (it threw).', 'counter',
        () => (this.counters?.policyRefusals() ?? []).flatMap((byReason, k) => [...byReason].map(([reason, value]) => ({ labels: { kernel: kernels[k]!, status: 'forbidden', reason }, value })))),
      new CollectedMetric('ringshard_records_dropped_total', 'Records dropped when a shard restarted (the state of their actors was lost with the worker).', 'counter',
        perShard((s, shard) => [{ labels: { shard }, value: s.shard[ShardCell.dropped]! }])),
    ];
  }

  private nodeCollectors(): CollectedMetric[] {
    const node = () => this.counters?.node?.();
    const byLabel = (label: string, pick: (n: NodeCounters) => ReadonlyMap<string, number>, extra: Record<string, string> = {}) => (): Sample[] => {
      const n = node();
      return n ? [...pick(n)].map(([value, count]) => ({ labels: { ...extra, [label]: value }, value: count })) : [];
    };
    const single = (pick: (n: NodeCounters) => number) => (): Sample[] => {
      const n = node();
      return n ? [{ labels: {}, value: pick(n) }] : [];
    };
    return [
      new CollectedMetric('ringshard_node_members', 'Live nodes of the cluster (options.nats), this one included while it is not leaving.', 'gauge', single((n) => n.members)),
      new CollectedMetric('ringshard_node_calls_total', 'Calls between nodes: direction="sent" (to actors other nodes own) and "served" (other nodes\' calls this node ran), by result: ok, refused (not the owner: sent again), error, timeout.', 'counter', () => [
        ...byLabel('result', (n) => n.sent, { direction: 'sent' })(),
        ...byLabel('result', (n) => n.served, { direction: 'served' })(),
      ]),
      new CollectedMetric('ringshard_node_calls_refused_total', 'Other nodes\' calls this node refused by its checks, by reason: unsigned, bad-signature, replay, bad-frame (whole frames, dropped unanswered); unknown-node (sender\'s key not known yet: answered not-mine, sent again), unknown-kernel, count-mismatch, schema (calls, answered with an error).', 'counter', byLabel('reason', (n) => n.refused)),
      new CollectedMetric('ringshard_node_heartbeats_ignored_total', 'Membership messages (heartbeat, bye, gone) this node ignored, by reason: malformed, bad-signature, key-changed (another key than the one pinned for that incarnation), replay.', 'counter', byLabel('reason', (n) => n.heartbeatsIgnored)),
      new CollectedMetric('ringshard_node_takeovers_total', 'Actors this node became the owner of, by how it got the lease: free, own (its own from before a restart), dead (a dead node\'s), handed-over.', 'counter', byLabel('from', (n) => n.takeovers)),
      new CollectedMetric('ringshard_node_handovers_total', 'Actors this node handed over to another node (the members changed, or it left).', 'counter', single((n) => n.handovers)),
      new CollectedMetric('ringshard_node_journal_entries_total', 'durable: journal entries this node published to JetStream (one per actor per turn of the event loop).', 'counter', single((n) => n.journalEntries)),
      new CollectedMetric('ringshard_node_snapshots_total', 'Actor snapshots this node wrote to the snapshot bucket (periodic, durable; and at every handover).', 'counter', single((n) => n.snapshots)),
      new CollectedMetric('ringshard_node_replayed_calls_total', 'durable: journaled calls this node replayed while taking actors over.', 'counter', single((n) => n.replayedCalls)),
    ];
  }

  private lifecycleCollectors(): CollectedMetric[] {
    const counts = () => this.counters?.lifecycle?.();
    return [
      new CollectedMetric('ringshard_actor_activations_total', 'Actors activated, by cause: new (init ran), reactivated (a deactivated actor, or one kept in the store, came back with its state and id; no init).', 'counter', () => {
        const c = counts();
        return c ? [{ labels: { cause: 'new' }, value: c.created }, { labels: { cause: 'reactivated' }, value: c.reactivated }] : [];
      }),
      new CollectedMetric('ringshard_actor_deactivations_total', 'Actors deactivated, by cause: idle (no message for idleAfterMs; state kept, slot freed). given-up: a message came while the state was exported, and the actor stayed.', 'counter', () => {
        const c = counts();
        return c ? [{ labels: { cause: 'idle' }, value: c.idle }, { labels: { cause: 'given-up' }, value: c.kept }] : [];
      }),
      new CollectedMetric('ringshard_timers_armed', "Timers the timer service waits for (one per armed timer; a cleared one until its due time).", 'gauge', () => {
        const n = this.counters?.timersArmed?.();
        return n === undefined ? [] : [{ labels: {}, value: n }];
      }),
      new CollectedMetric('ringshard_actors_deactivated', 'Deactivated actors whose state waits in host memory for their next message (with options.persist they wait in the store: ringshard_store_actors).', 'gauge', () => {
        const n = this.counters?.deactivated?.();
        return n === undefined ? [] : [{ labels: {}, value: n }];
      }),
    ];
  }

  private storeCollectors(): CollectedMetric[] {
    const store = () => this.counters?.store?.();
    const single = (pick: (s: StoreCounters) => number) => (): Sample[] => {
      const s = store();
      return s ? [{ labels: {}, value: pick(s) }] : [];
    };
    return [
      new CollectedMetric('ringshard_store_commit_seconds', "options.persist: time from a turn's first journaled message to its frame on disk (one per turn of the event loop; group commit: the frames of several turns may share one synced write).", 'histogram', () => {
        const s = store();
        return s ? histogramSamples('ringshard_store_commit_seconds', {}, STORE_COMMIT_BUCKETS, s.commitSeconds, 0, 1) : [];
      }),
      new CollectedMetric('ringshard_store_bytes_written_total', 'options.persist: payload and state bytes written to the store (journal entries and snapshots).', 'counter', single((s) => s.bytesWritten)),
      new CollectedMetric('ringshard_store_journal_entries', 'options.persist: journal entries (one per turn of the event loop) some actor still needs (a snapshot does not cover its calls there yet).', 'gauge', single((s) => s.journalEntries)),
      new CollectedMetric('ringshard_store_snapshots_total', 'options.persist: actor snapshots written (periodic for actors that took messages, and at shutdown).', 'counter', single((s) => s.snapshots)),
      new CollectedMetric('ringshard_store_actors', 'options.persist: actors with a state in the store.', 'gauge', single((s) => s.storedActors)),
      new CollectedMetric('ringshard_store_actors_restored_total', 'options.persist: actors brought back from the store (on first use; at start, those a crash left with journaled calls). Like every counter with persist, it goes on across restarts.', 'counter', single((s) => s.actorsRestored)),
      new CollectedMetric('ringshard_store_restore_seconds_total', 'options.persist: time the restores took (snapshot read, state import, journal replay), summed.', 'counter', single((s) => s.restoreSeconds)),
    ];
  }

  private recoveryCollectors(): CollectedMetric[] {
    const shards = this.shards;
    const checkpointMetric = (name: string, help: string, type: 'counter' | 'gauge', pick: (c: NonNullable<ReturnType<NonNullable<ShardMetricsSource['checkpoints']>>>) => number) =>
      new CollectedMetric(name, help, type, () =>
        shards.flatMap((s, i) => {
          const c = s.source?.checkpoints?.();
          return c ? [{ labels: { shard: String(i) }, value: pick(c) }] : [];
        }),
      );
    return [
      checkpointMetric('ringshard_checkpoints_total', 'Checkpoints a shard took of its actors (state and admission data).', 'counter', (c) => c.checkpoints),
      checkpointMetric('ringshard_checkpoint_duration_seconds_total', 'Time from the start of a checkpoint (capture) to its end (in the coordinator\'s memory), summed.', 'counter', (c) => c.durationUs * US),
      checkpointMetric('ringshard_checkpoint_bytes_total', 'Bytes written by checkpoints (only the actors that changed).', 'counter', (c) => c.bytes),
      checkpointMetric('ringshard_checkpoint_last_bytes', 'Bytes of the last checkpoint.', 'gauge', (c) => c.lastBytes),
      checkpointMetric('ringshard_records_replayed_total', 'Records run again after a recovery for their effect on state (already answered: not answered or counted again).', 'counter', (c) => c.replayed),
      new CollectedMetric('ringshard_recoveries_total', 'Times a shard\'s worker was replaced and its actors restored from the checkpoint, by cause.', 'counter', () =>
        shards.flatMap((s, i) => [...(s.source?.recoveries?.() ?? [])].map(([cause, value]) => ({ labels: { shard: String(i), cause }, value }))),
      ),
    ];
  }

  /** What a tracked actor counted on its current shard (its row, less what the row held before). */
  private shardPart(entry: ActorEntry, t: Tracked): Float64Array {
    const actors = this.shards[entry.shard]!.actors;
    const out = actors.slice(t.row * ROW_WORDS, (t.row + 1) * ROW_WORDS);
    for (let i = 0; i < ROW_WORDS; i++) out[i]! -= t.baseline[i]!;
    return out;
  }

  /** Everything kernel `k` counted on `shard`: its "_other" row, retired, moved-out and tracked actors. */
  private kernelTotals(shard: number, k: number): Float64Array {
    const s = this.shards[shard]!;
    const out = s.actors.slice(k * ROW_WORDS, (k + 1) * ROW_WORDS);
    for (let i = 0; i < ROW_WORDS; i++) out[i]! += s.retired[k]![i]! + s.movedOut[k]![i]!;
    for (const [entry, t] of this.tracked) {
      if (entry.shard !== shard || entry.kernelId !== k) continue;
      const row = this.shardPart(entry, t);
      for (let i = 0; i < ROW_WORDS; i++) out[i]! += row[i]!;
    }
    return out;
  }

  /**
   * Rows of the per-actor series: tracked actors, then each kernel's "_other" over all
   * shards. An actor is labelled by its id; its tenant and key only where the options
   * ask for them (they may be personal data).
   */
  private actorRows(): Array<[Record<string, string>, Float64Array]> {
    const out: Array<[Record<string, string>, Float64Array]> = [];
    const labels = this.options.labels ?? [];
    const tenant = labels.includes('tenant');
    const key = labels.includes('key');
    const named = (kernel: string, actor: string, entry: ActorEntry | undefined): Record<string, string> => ({
      kernel,
      actor,
      ...(tenant ? { tenant: entry?.tenant ?? '' } : {}),
      ...(key ? { key: entry?.key ?? '' } : {}),
    });
    for (const [entry, t] of this.tracked) {
      const row = this.shardPart(entry, t);
      for (let i = 0; i < ROW_WORDS; i++) row[i]! += t.carried[i]!;
      out.push([named(entry.kernelName, String(entry.actorId), entry), row]);
    }
    this.options.kernels.forEach((kernel, k) => {
      const other = Float64Array.from(this.retiredCarried[k]!);
      for (const s of this.shards) {
        for (let i = 0; i < ROW_WORDS; i++) other[i]! += s.actors[k * ROW_WORDS + i]! + s.retired[k]![i]!;
      }
      out.push([named(kernel, OTHER_ACTOR, undefined), other]);
    });
    return out;
  }
}

/** Histogram samples of an actor-table row (its count is the sum of its status counters). */
function rowHistogram(name: string, labels: Record<string, string>, row: ArrayLike<number>): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i <= LATENCY_BUCKETS.length; i++) {
    cumulative += row[ROW_LATENCY_AT + i]!;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i]! : '+Inf' }, value: cumulative });
  }
  out.push({ metricName: `${name}_sum`, labels, value: row[ROW_LATENCY_SUM]! * US });
  out.push({ metricName: `${name}_count`, labels, value: cumulative });
  return out;
}
