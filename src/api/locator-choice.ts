/**
 * Which locator a cluster uses: its own shards alone; its own shards with every actor
 * kept in an embedded store (options.persist); or a node of a cluster of processes on
 * NATS (options.nats). A new mode is a new ActorLocator and a branch here.
 */
import type { ActorLocator } from '../coordinator/actor-locator.ts';
import type { LocalLocator } from '../coordinator/local-locator.ts';
import { NodeRuntime, type LocalNode } from '../nats/node-runtime.ts';
import type { LmdbStore } from '../persist/lmdb-store.ts';
import { PersistentLocator } from '../persist/persistent-locator.ts';
import type { ResolvedOptions } from './options.ts';

export interface LocatorContext {
  readonly resolved: ResolvedOptions;
  /** The cluster's own locator (its directory, shards and placement). */
  readonly local: LocalLocator;
  /** What a node or a store's custody needs of the cluster. */
  node(): LocalNode;
  /** options.persist: the store, opened already (its ids make the directory). */
  readonly store: LmdbStore | undefined;
  /** The metrics' counter and histogram series now (undefined: no metrics). */
  readonly countsNow: (() => Array<[string, number]>) | undefined;
}

/**
 * Gives the cluster its locator (`adopt`), then, for a node, joins: a node serves other
 * nodes' calls from its join on, and those calls must find the node as the locator.
 */
export async function chooseLocator(context: LocatorContext, adopt: (locator: ActorLocator) => void): Promise<void> {
  const { resolved, local, store } = context;
  if (store && resolved.persist) {
    const locator = new PersistentLocator({
        directory: local.directory,
        shards: local.shards,
        placement: resolved.placement,
        hooks: local.activationHooks,
        host: context.node(),
        store,
        snapshotEveryMs: resolved.persist.snapshotEveryMs,
        durability: resolved.persist.durability,
        life: local.lifecycleHost!,
        countsNow: context.countsNow,
      });
    adopt(locator);
    locator.restoreUnfinished();
    return;
  }
  if (!resolved.nats) return adopt(local);
  const runtime = await NodeRuntime.connect(resolved.nats, context.node());
  adopt(runtime);
  await runtime.join();
}
