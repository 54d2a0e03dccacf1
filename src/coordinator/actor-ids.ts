/**
 * Actor ids that cannot be guessed from one's own: the n-th actor gets the n-th value of
 * a keyed permutation of the u32 ids (a balanced Feistel network over two 16-bit halves,
 * 8 rounds, keys drawn from node:crypto per cluster), not n. A K2K message names its
 * receiver by id; ids counting up from 1 let a kernel of one tenant address the actors
 * of others by trying ids. Guessing is only the first wall: the router still refuses a
 * message whose tenant is not the receiver's, and asks the authorize policy.
 *
 * It stays a permutation, so the directory can still tell an id it gave (an actor since
 * terminated: dead letter 'terminated') from one it never gave ('no-such-actor').
 * 0 and NO_ACTOR (0xffffffff) are never ids: the permutation walks past them (cycle
 * walking keeps it a bijection on the ids in between).
 */
import { randomBytes } from 'node:crypto';
import { NO_ACTOR } from '../layout/record.ts';
// murmur3's finalizer as the round function: every input bit moves every output bit.
import { mix } from './placement.ts';

const ROUNDS = 8;

export class ActorIds {
  /** The permutation's keys (kept by a persisted cluster, so its ids stay the same). */
  readonly keys: Uint32Array;

  constructor(keys?: Uint32Array) {
    this.keys = keys ?? new Uint32Array(randomBytes(ROUNDS * 4).buffer.slice(0));
  }

  private forward(x: number): number {
    let l = x >>> 16;
    let r = x & 0xffff;
    for (let i = 0; i < ROUNDS; i++) {
      const next = (l ^ mix(r ^ this.keys[i]!)) & 0xffff;
      l = r;
      r = next;
    }
    return ((l << 16) | r) >>> 0;
  }

  private backward(y: number): number {
    let l = y >>> 16;
    let r = y & 0xffff;
    for (let i = ROUNDS - 1; i >= 0; i--) {
      const prev = (r ^ mix(l ^ this.keys[i]!)) & 0xffff;
      r = l;
      l = prev;
    }
    return ((l << 16) | r) >>> 0;
  }

  /** The id of the n-th actor (n from 1 to 2^32 - 2). */
  idFor(n: number): number {
    let x = this.forward(n);
    while (x === 0 || x === NO_ACTOR) x = this.forward(x);
    return x;
  }

  /** The n of an id: idFor's inverse. */
  ordinalOf(id: number): number {
    let x = this.backward(id);
    while (x === 0 || x === NO_ACTOR) x = this.backward(x);
    return x;
  }
}
