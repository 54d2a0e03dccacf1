/**
 * What a NATS node needs of the Cluster it belongs to (the cluster's shards, directory,
 * names and refs), and of a ref that serves another node's call.
 */
import type { Kernel } from '../kernels/define-kernel.ts';
import type { ActorDirectory, ActorEntry } from '../coordinator/actor-directory.ts';
import type { ActorHandle } from '../coordinator/actor-handle.ts';
import type { Caller, ShardLink } from '../coordinator/shard-link.ts';

/** What serving another node's call needs of a ref (an ActorRef is one). */
export interface NodeRef {
  readonly kernel: Kernel<any, any, any>;
  readonly key: string;
  readonly caller: Caller;
  terminate(): Promise<unknown>;
  setTimer(id: number, timing: { readonly dueMs: number; readonly everyMs?: number }): Promise<void>;
  clearTimer(id: number): Promise<boolean>;
  /** The handle the call goes through (authorized, activated). */
  entryForCall(): ActorHandle;
}

/** What the runtime needs of its Cluster. */
export interface LocalNode {
  readonly shards: readonly ShardLink[];
  readonly directory: ActorDirectory;
  readonly askTimeoutMs: number;
  kernel(name: string): Kernel<any, any, any> | undefined;
  /** A ref for a call from another node (its names; roles as the cluster's role bits). */
  refFor(kernel: string, key: string, tenant: string, principal: string, roles: number): NodeRef;
  principalName(id: number): string;
  principalId(name: string): number;
  tenantName(id: number): string;
  kernelName(id: number): string | undefined;
  /** Merges another node's clock into this one's (a K2K message's receiver is after its sender). */
  receiveClock(hi: number, lo: number): void;
  activated(entry: ActorEntry): void;
  retired(entry: ActorEntry): void;
  log(line: string): void;
  /** A stored state was taken into `entry`'s slot (its timers are indexed). */
  restoredState?(entry: ActorEntry, kernel: Kernel<any, any, any>, state: Uint32Array): void;
}
