/**
 * Links that stand in for a local actor's shard when the actor is not (or no longer) in
 * one, so that what waited in its MovingLink has somewhere to go.
 */
import { ErrorCode, RingshardError } from '../errors.ts';
import type { RemoteTarget } from './actor-handle.ts';
import type { MessageLink, ShardLink } from './shard-link.ts';

/**
 * An actor handed over to another node: its messages follow it there, through the
 * remote link, in the order they waited. A K2K message that waited is a dead letter: K2K
 * reaches other nodes through the node's router, which finds the actor by id.
 */
export function departedLink(remote: MessageLink<RemoteTarget>, actor: RemoteTarget, index: number): ShardLink {
  const gone = () => Promise.reject(new RingshardError(ErrorCode.REMOTE, `actor '${actor.key}' of kernel '${actor.kernelName}' was handed over to another node`));
  return {
    index,
    failed: undefined,
    moving: undefined,
    tell: (_to, from, codec, msg) => remote.tell(actor, from, codec, msg),
    tellMany: (_to, from, msgs) => remote.tellMany(actor, from, msgs),
    ask: (_to, from, codec, msg, reply) => remote.ask(actor, from, codec, msg, reply),
    askMany: (_to, from, msgs, reply) => remote.askMany(actor, from, msgs, reply),
    snapshot: (_to, reply) => remote.snapshot(actor, reply),
    terminate: (_to, reply) => remote.terminate(actor, reply),
    forward: (_t, _s, _o, _p, onDead) => onDead(new RingshardError(ErrorCode.REMOTE, 'a K2K message waited for an actor that was handed over to another node')),
    activate: () => Promise.resolve(), // its owner activates it
    retire: () => Promise.resolve(),
    exportState: gone,
    importState: gone,
  };
}

/** Stands in for a local actor whose takeover failed: everything that waited fails with why. */
export function failingLink(real: ShardLink, error: Error): ShardLink {
  const fail = () => Promise.reject(error);
  return {
    index: real.index,
    failed: undefined,
    moving: undefined,
    tell: fail,
    tellMany: fail,
    ask: fail,
    askMany: fail,
    snapshot: fail,
    terminate: fail,
    activate: fail,
    retire: () => Promise.resolve(),
    exportState: fail,
    importState: fail,
    forward: (_t, _s, _o, _p, onDead) => onDead(error),
  };
}
