/**
 * What cluster.info() tells: the backend, the kernels, and per shard its adapter, actors,
 * ring depth and whether it failed.
 */
import type { BackendKind, ShardStarted } from '../protocol.ts';
import type { ActorDirectory } from '../coordinator/actor-directory.ts';

export interface ShardInfo {
  readonly index: number;
  readonly backend: BackendKind;
  readonly adapter?: ShardStarted['adapter'];
  readonly actors: number;
  readonly ringCapacity: number;
  readonly ringDepth: number;
  /** Request records already answered and kept until a checkpoint covers them. */
  readonly ringRetained: number;
  readonly queued: number;
  /**
   * Asks (ask, askMany, snapshot, ...) whose replies the shard has not sent yet, and of
   * them those whose caller still waits (one that timed out or was aborted waits no
   * more; its entry goes when its reply comes).
   */
  readonly asks: { readonly pending: number; readonly waiting: number };
  readonly failed?: string;
  /** The shard worker's Linux thread id (per-thread CPU: /proc/<pid>/task/<tid>/schedstat). */
  readonly tid?: number;
}

export interface ClusterInfo {
  readonly backend: BackendKind;
  readonly shards: readonly ShardInfo[];
  readonly kernels: readonly string[];
  /** Active actors (their state in a GPU slot). */
  readonly actors: number;
  /** Deactivated actors whose state waits in host memory (idleAfterMs; with persist they wait in the store, and this is 0). */
  readonly deactivated: number;
  /**
   * Entries in the bounded tables: tenant and principal names (kept while a ref or an
   * actor names them, then among the 4,096 released last) and cached policy answers
   * (the 16,384 used last, for refs and for K2K deliveries each).
   */
  readonly tables: { readonly tenants: number; readonly principals: number; readonly policyAnswers: number };
  /** Timers (kernels with on_timer): armed in the coordinator's index, and fires sent so far (a stale one included). */
  readonly timers: { readonly armed: number; readonly fired: number };
}

/** What info() reads of a shard (a ShardClient is one). */
interface ShardView {
  readonly index: number;
  readonly started: ShardStarted | undefined;
  readonly requests: { readonly capacity: number; depth(): number; retained(): number };
  readonly queued: number;
  readonly failed: Error | undefined;
  readonly pendingReplies: { readonly size: number; readonly unsettled: number };
}

export function clusterInfo(backend: BackendKind, kernels: string[], shards: readonly ShardView[], directory: ActorDirectory, tables: ClusterInfo['tables'], deactivated = 0, timers: ClusterInfo['timers'] = { armed: 0, fired: 0 }): ClusterInfo {
  return {
    backend,
    kernels,
    actors: directory.size,
    deactivated,
    tables,
    timers,
    shards: shards.map((s) => ({
      index: s.index,
      backend,
      ...(s.started?.adapter ? { adapter: s.started.adapter } : {}),
      actors: directory.count(s.index),
      ringCapacity: s.requests.capacity,
      ringDepth: s.requests.depth(),
      ringRetained: s.requests.retained(),
      queued: s.queued,
      asks: { pending: s.pendingReplies.size, waiting: s.pendingReplies.unsettled },
      ...(s.failed ? { failed: s.failed.message } : {}),
      ...(s.started?.tid !== undefined ? { tid: s.started.tid } : {}),
    })),
  };
}
