/**
 * Moving an active actor between this process's shards while messages keep flowing: its
 * state is read back on its shard after every record sent before (EXPORT), written into a
 * new slot on the target shard (IMPORT), and the records sent meanwhile wait in a
 * MovingLink and follow it there in send order. Its id, its metric series and every
 * pending ask carry over; nothing is handled twice or lost.
 */
import type { Codec } from '../layout/codec.ts';
import type { ActorDirectory, ActorEntry } from './actor-directory.ts';
import { MovingLink } from './moving-link.ts';
import type { ShardLink } from './shard-link.ts';

export interface Move {
  readonly entry: ActorEntry;
  readonly to: ShardLink;
  /** The link the actor takes there (the shard's own, or one that journals it). */
  readonly link: ShardLink;
  readonly stateCodec: Codec;
  /** How errors name the move. */
  readonly what: string;
  readonly timeoutMs: number;
}

/** Moves `entry` to `to`'s shard; `moved` hears of it once the directory has (metrics). */
export async function moveActor(directory: ActorDirectory, move: Move, moved: (entry: ActorEntry, fromShard: number) => void): Promise<void> {
  const { entry, to } = move;
  const from = entry.link;
  const moving = new MovingLink(from);
  entry.link = moving;
  let state: unknown;
  try {
    state = await from.exportState(entry, { codec: move.stateCodec, what: move.what, timeoutMs: move.timeoutMs });
  } catch (error) {
    // The state never left: the actor stays, and what waited goes where it was.
    entry.link = from;
    moving.arrived(from);
    throw error;
  }
  const fromShard = entry.shard;
  directory.relocate(entry, to.index);
  moved(entry, fromShard);
  // IMPORT first, then everything that waited, in order, then the actor is home.
  const imported = to.importState(entry, move.stateCodec, state);
  entry.link = move.link;
  moving.arrived(move.link);
  await imported;
}
