/**
 * Where the coordinator and a shard worker meet: the shapes of the shard's configuration
 * and of its control API (served over comlink). The worker imports this module and the
 * layout/ring modules, never the coordinator.
 */
import type { BatchShape } from './layout/batch.ts';
import type { Schema } from './layout/schema.ts';
import type { MetricTables } from './metrics/tables.ts';
import type { CheckpointBuffers } from './recovery/checkpoint-store.ts';
import type { CheckpointPolicy } from './recovery/checkpointer.ts';

export type { CheckpointPolicy } from './recovery/checkpointer.ts';
import type { WatchBuffers } from './recovery/dispatch-watch.ts';

export type BackendKind = 'webgpu' | 'cpu';

/** A kernel as it travels to a worker: plain data, no functions. */
export interface KernelWire {
  readonly id: number;
  readonly name: string;
  /** The state as handlers see it (the stored state adds the timer table, see `timers`). */
  readonly state: Schema;
  /** Timers an actor may hold (fn on_timer); 0: none, and the stored state is `state`. */
  readonly timers?: number;
  readonly request: Schema;
  readonly reply: Schema;
  /** Complete WGSL module for this kernel (prelude + structs + user code + driver). */
  readonly module: string;
  /** First line (1-based) of the user's code inside `module`, to map compiler lines back. */
  readonly userLineOffset: number;
  /** Number of lines of user code. */
  readonly userLineCount: number;
  /** The reference twin, as source text ("function (state, msg, ctx) {...}"), if any. */
  readonly reference?: ReferenceWire;
  /** The kernel's sends entries, resolved: name -> receiving kernel id. */
  readonly sends?: readonly { readonly name: string; readonly kernel: number }[];
}

export interface ReferenceWire {
  /** The handler that runs: handleSecure when the kernel has one, else handle. */
  readonly handle: string;
  readonly init?: string;
  readonly shutdown?: string;
  readonly onTimer?: string;
}

export interface ShardConfig {
  readonly index: number;
  readonly backend: BackendKind;
  readonly kernels: readonly KernelWire[];
  readonly requestRing: SharedArrayBuffer;
  readonly replyRing: SharedArrayBuffer;
  /** Shape of a batch (see src/layout/batch.ts); the kernels' modules were built for it. */
  readonly batch: BatchShape;
  /** Batches on the GPU at once (pipelining). */
  readonly framesInFlight: number;
  /** The cluster's role names (bit i is roles[i]); the cpu backend's ctx has ROLE_<NAME> for each. */
  readonly roles: readonly string[];
  /** Actor slots the state buffer starts with; it grows by doubling. */
  readonly initialSlots: number;
  /** Upper bound of actor slots on this shard. */
  readonly maxSlots: number;
  /** Pick the first adapter whose name contains this (webgpu backend). */
  readonly adapterName?: string;
  readonly dawnFlags?: readonly string[];
  /** performance.timeOrigin + performance.now() at cluster start, in ms. */
  readonly epochMs: number;
  /** The shard's metric tables (src/metrics/tables.ts); absent when metrics are off. */
  readonly metrics?: MetricTables;
  /**
   * Set when the coordinator restarts a shard that keeps no checkpoint: records before
   * this ring index were for actors whose state died with the old worker, and are dropped.
   */
  readonly skipTo?: number;
  /** The shard's checkpoint (src/recovery/checkpoint-store.ts); absent when checkpoints are off. */
  readonly checkpoint?: CheckpointPolicy & { readonly buffers: CheckpointBuffers };
  /** Where the worker shows the coordinator's watchdog what is on the GPU (src/recovery/dispatch-watch.ts). */
  readonly watch: WatchBuffers;
  /** This worker's generation: it owns the rings while the watch shows it (see DispatchWatch). */
  readonly generation: number;
  /** Ring records to replay one actor per batch: they were on the GPU when a dispatch hung. */
  readonly isolate?: { readonly from: number; readonly count: number };
  /** Ids of actors whose records the shard refuses (their messages kept hanging its dispatch). */
  readonly quarantined?: readonly number[];
  /** cpu backend: where the worker says why a reference failed an ask (src/kernels/reference-errors.ts). */
  readonly referenceErrors?: SharedArrayBuffer;
}

/**
 * A line for the cluster's logger, which a worker posts on its control port (beside
 * comlink's messages, which always carry an id); the coordinator passes it to
 * options.logger, so a worker never prints.
 */
export interface WorkerLogLine {
  readonly ringshardLog: string;
}

export function isWorkerLogLine(data: unknown): data is WorkerLogLine {
  return data !== null && typeof data === 'object' && typeof (data as WorkerLogLine).ringshardLog === 'string';
}


export interface CompileDiagnostic {
  readonly kernel: string;
  readonly type: 'error' | 'warning' | 'info';
  readonly message: string;
  /** Line and column in the user's WGSL (1-based), 0 when the problem is outside it. */
  readonly line: number;
  readonly column: number;
  /** The offending line of the user's code, if the problem lies in it. */
  readonly source?: string;
}

export interface ShardStarted {
  readonly backend: BackendKind;
  readonly adapter?: {
    readonly vendor: string;
    readonly architecture: string;
    readonly device: string;
    readonly description: string;
    readonly software: boolean;
  };
  /** Non-empty when a kernel did not compile; the shard is not running then. */
  readonly diagnostics: readonly CompileDiagnostic[];
  /** The worker thread's Linux thread id (/proc/<pid>/task/<tid>), for per-thread CPU figures; absent elsewhere. */
  readonly tid?: number;
}

export interface ShardStats {
  readonly batches: number;
  readonly records: number;
  readonly replies: number;
  readonly rejected: number;
  /** K2K send records put into the reply ring (a replay's again included). */
  readonly sends: number;
  readonly stateSlots: number;
  readonly stateBytes: number;
  readonly maxBatchSeen: number;
}

/** The control API a shard worker serves over comlink. */
export interface ShardControl {
  /** Opens the device, compiles the kernels and starts the batch loop. */
  start(): Promise<ShardStarted>;
  stats(): ShardStats;
  /** Finishes every record already in the ring, stops the loop, destroys the device. */
  stop(): Promise<ShardStats>;
  /** Destroys the device (or fails the cpu backend) as a lost GPU would; resolves once it is lost. */
  loseDevice(): Promise<void>;
  /**
   * Ends the thread as a crash would (no reply, ring update or checkpoint after this call),
   * at the first moment no GPU operation is pending (dawn.node aborts the process otherwise).
   */
  exit(): Promise<void>;
  /** Stops touching the rings and resolves once no GPU operation is pending: the thread may then be ended. */
  quiesce(): Promise<void>;
}
