/**
 * Which locator a cluster uses: its own shards alone, or a node of a cluster of
 * processes on NATS (options.nats). A new mode is a new ActorLocator and a line here.
 */
import type { ActorLocator } from '../coordinator/actor-locator.ts';
import type { LocalLocator } from '../coordinator/local-locator.ts';
import { NodeRuntime, type LocalNode } from '../nats/node-runtime.ts';
import type { ResolvedOptions } from './options.ts';

/**
 * Gives the cluster its locator (`adopt`), then joins: a node serves other nodes' calls
 * from its join on, and those calls must find the node as the cluster's locator.
 */
export async function chooseLocator(resolved: ResolvedOptions, local: LocalLocator, node: () => LocalNode, adopt: (locator: ActorLocator) => void): Promise<void> {
  if (!resolved.nats) return adopt(local);
  const runtime = await NodeRuntime.connect(resolved.nats, node());
  adopt(runtime);
  await runtime.join();
}
