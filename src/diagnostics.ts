/**
 * ringshard's diagnostics_channel events, for APM tools and a server's own logs, the way
 * undici and fastify publish theirs: a named channel per kind of event, published only
 * while someone subscribes (one `hasSubscribers` test otherwise).
 *
 *   import { subscribe } from 'node:diagnostics_channel';
 *   subscribe('ringshard:actor:activate', (event) => log(event));
 *
 * Every event is a plain object; its fields are listed with its channel below.
 */
import { channel } from 'node:diagnostics_channel';

/** An actor as events name it. */
export interface ActorEventFields {
  readonly kernel: string;
  readonly tenant: string;
  readonly key: string;
  readonly actorId: number;
}

export interface ActivationEvent extends ActorEventFields {
  readonly shard: number;
  /** 'new': init runs; 'reactivated': a deactivated or stored actor comes back with its state and id. */
  readonly cause: 'new' | 'reactivated';
}
export interface DeactivationEvent extends ActorEventFields {
  readonly shard: number;
  readonly cause: 'idle';
}
export interface MigrationEvent extends ActorEventFields {
  readonly from: number;
  readonly to: number;
}
export interface RecoveryEvent {
  readonly shard: number;
  /** Why the worker was replaced: 'worker-exit', 'device-lost', 'watchdog', 'restart'. */
  readonly cause: string;
  readonly reason: string;
}
export interface QuarantineEvent {
  readonly shard: number;
  readonly actorId: number;
  /** The actor's names, when it is still in the directory. */
  readonly actor?: ActorEventFields;
}
export interface DeadLetterEvent {
  /** A DEAD_LETTER_REASONS entry: 'no-such-actor', 'terminated', 'overflow', ... */
  readonly reason: string;
}
export interface MembershipEvent {
  /** This node. */
  readonly node: string;
  /** The live members after the change, and the nodes that came and went with it. */
  readonly members: readonly string[];
  readonly joined: readonly string[];
  readonly left: readonly string[];
}

/** The channels, by name (documented in docs/api.md). */
export const CHANNEL_NAMES = {
  activation: 'ringshard:actor:activate',
  deactivation: 'ringshard:actor:deactivate',
  migration: 'ringshard:actor:migrate',
  recovery: 'ringshard:shard:recover',
  quarantine: 'ringshard:actor:quarantine',
  deadLetter: 'ringshard:k2k:dead-letter',
  membership: 'ringshard:node:members',
} as const;

export const diagnostics = {
  activation: channel(CHANNEL_NAMES.activation),
  deactivation: channel(CHANNEL_NAMES.deactivation),
  migration: channel(CHANNEL_NAMES.migration),
  recovery: channel(CHANNEL_NAMES.recovery),
  quarantine: channel(CHANNEL_NAMES.quarantine),
  deadLetter: channel(CHANNEL_NAMES.deadLetter),
  membership: channel(CHANNEL_NAMES.membership),
};

/** A directory entry, as events read it. */
interface EntryFields {
  readonly kernelName: string;
  readonly tenant: string;
  readonly key: string;
  readonly actorId: number;
  readonly shard: number;
}

// The events are written out as literals: an object spread cost ~2 us an event under tsx
// (measured: activations at 0.65-0.71 of unsubscribed with one subscriber).

/** The fields events name an actor by, from a directory entry. */
export function actorFields(entry: EntryFields): ActorEventFields {
  return { kernel: entry.kernelName, tenant: entry.tenant, key: entry.key, actorId: entry.actorId };
}

export function activationEvent(entry: EntryFields, cause: ActivationEvent['cause']): ActivationEvent {
  return { kernel: entry.kernelName, tenant: entry.tenant, key: entry.key, actorId: entry.actorId, shard: entry.shard, cause };
}

export function deactivationEvent(entry: EntryFields): DeactivationEvent {
  return { kernel: entry.kernelName, tenant: entry.tenant, key: entry.key, actorId: entry.actorId, shard: entry.shard, cause: 'idle' };
}

export function migrationEvent(entry: EntryFields, from: number): MigrationEvent {
  return { kernel: entry.kernelName, tenant: entry.tenant, key: entry.key, actorId: entry.actorId, from, to: entry.shard };
}
