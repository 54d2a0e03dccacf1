/**
 * Placement: which shard an actor lives on. Rendezvous (highest random weight) hashing:
 * every shard scores the key and the highest score wins, so a key's shard depends only
 * on the key and the shard list, and adding a shard moves only the keys it wins.
 * A pure function, tested without threads.
 */

/** 32-bit FNV-1a over the UTF-16 code units of `text`, continued from `seed`. */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's finalizer: spreads the bits of a combined hash so scores are independent. */
export function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit FNV-1a of a string, avalanched (the same function a shard's placement uses). */
export function hash32(text: string, seed = 0x811c9dc5): number {
  return mix(fnv1a(text, seed));
}

/** The shard (0 .. shards-1) that owns `key`. */
export function placeKey(key: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shards must be a positive integer, got ${shards}`);
  if (shards === 1) return 0;
  const h = fnv1a(key);
  let best = 0;
  let bestScore = -1;
  for (let s = 0; s < shards; s++) {
    const score = mix(h ^ Math.imul(s + 1, 0x9e3779b1));
    if (score > bestScore) {
      bestScore = score;
      best = s;
    }
  }
  return best;
}

/** `(key, kernel, tenant, shards) => shard index`: a user's own placement. */
export type PlacementFunction = (key: string, kernel: string, tenant: string, shards: number) => number;

/**
 * How a new actor picks its shard: 'hash' (rendezvous hashing of kernel, tenant and key:
 * the same actor lands on the same shard every time), 'least-loaded' (the shard with the
 * fewest active actors at activation; ties go to the lowest index), or a function.
 */
export type PlacementStrategy = 'hash' | 'least-loaded' | PlacementFunction;

export interface PlacementRequest {
  readonly key: string;
  readonly kernel: string;
  readonly tenant: string;
  /** The actor's identity string, what 'hash' hashes. */
  readonly identity: string;
}

/**
 * The shard for a new actor, given each shard's active actors (`load`, one per shard).
 * Pure. A function strategy's answer is checked: it must be an index of `load`.
 */
export function placeActor(strategy: PlacementStrategy, actor: PlacementRequest, load: readonly number[]): number {
  const shards = load.length;
  if (strategy === 'hash') return placeKey(actor.identity, shards);
  if (strategy === 'least-loaded') {
    let best = 0;
    for (let s = 1; s < shards; s++) if (load[s]! < load[best]!) best = s;
    return best;
  }
  const index = strategy(actor.key, actor.kernel, actor.tenant, shards);
  if (!Number.isInteger(index) || index < 0 || index >= shards) {
    throw new RangeError(
      `options.placement returned ${typeof index === 'number' ? index : `${typeof index} ${String(index)}`} for kernel '${actor.kernel}' actor '${actor.key}'; ` +
        `expected a shard index from 0 to ${shards - 1}`,
    );
  }
  return index;
}
