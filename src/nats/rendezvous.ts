/**
 * Placement across nodes: rendezvous (highest random weight) hashing over the live
 * (node, shard) members. Every node computes the same owner from the same member list,
 * and when a member joins or leaves only the actors whose winner changed move.
 */

import { hash32, mix } from '../coordinator/placement.ts';

export { hash32 } from '../coordinator/placement.ts';

export interface Member {
  readonly node: string;
  readonly shards: number;
}

export interface Placement {
  readonly node: string;
  readonly shard: number;
}

/** One candidate per (node, shard), its hash computed once per view. */
export class RendezvousTable {
  private readonly nodes: string[] = [];
  private readonly shards: number[] = [];
  private readonly seeds: number[] = [];

  constructor(members: readonly Member[]) {
    for (const m of members) {
      for (let s = 0; s < m.shards; s++) {
        this.nodes.push(m.node);
        this.shards.push(s);
        this.seeds.push(hash32(`${m.node}\u0000${s}`));
      }
    }
  }

  get empty(): boolean {
    return this.nodes.length === 0;
  }

  /** The winning (node, shard) for an actor identity; undefined with no members. */
  owner(identity: string): Placement | undefined {
    const h = hash32(identity);
    let best = -1;
    let bestScore = -1;
    for (let i = 0; i < this.seeds.length; i++) {
      const score = mix((h ^ this.seeds[i]!) >>> 0);
      // Ties (1 in 2^32) go to the lower node name, the same everywhere.
      if (score > bestScore || (score === bestScore && this.nodes[i]! < this.nodes[best]!)) {
        best = i;
        bestScore = score;
      }
    }
    return best < 0 ? undefined : { node: this.nodes[best]!, shard: this.shards[best]! };
  }
}
