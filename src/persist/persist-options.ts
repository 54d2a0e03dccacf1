/**
 * options.persist: keep every actor's state across process restarts on this host, in an
 * embedded LMDB store (src/persist/lmdb-store.ts). No server to run; NATS
 * (options.nats with durable: true) stays the way to outgrow one host.
 */
import { fail, milliseconds, oneOf } from '../options/checks.ts';
import { refuseUnknownKeys, type KeysOf } from '../options/unknown-keys.ts';

export interface PersistOptions {
  /** A directory of this host's (created if missing); one process may have it open at a time. */
  readonly path: string;
  /**
   * 'message': every message is on disk before its tell resolves or its ask's reply is
   * given (group commit: one disk flush for everything sent in a turn of the event loop);
   * a crash loses no acknowledged message and applies none twice.
   * 'checkpoint': nothing is journaled; actors that took messages are snapshotted every
   * snapshotEveryMs, and a tell resolves as it would without persist. A crash loses at
   * most what an actor took after its last snapshot (about snapshotEveryMs, plus the
   * snapshot's own write), and never applies a message twice.
   * @default 'message'
   */
  readonly durability?: 'message' | 'checkpoint';
  /** How often actors that took messages are snapshotted (the journal is trimmed behind them). @default 2000 */
  readonly snapshotEveryMs?: number;
}

export interface ResolvedPersist {
  readonly path: string;
  readonly durability: 'message' | 'checkpoint';
  readonly snapshotEveryMs: number;
}

export const PERSIST_OPTION_KEYS = ['path', 'durability', 'snapshotEveryMs'] as const;
export const PERSIST_KEYS_COMPLETE: KeysOf<PersistOptions, typeof PERSIST_OPTION_KEYS> = true;

export function resolvePersist(value: unknown): ResolvedPersist | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('persist', 'an object ({ path, durability?, snapshotEveryMs? })', value);
  refuseUnknownKeys(value, PERSIST_OPTION_KEYS, 'persist');
  const o = value as PersistOptions;
  if (typeof o.path !== 'string' || o.path.length === 0 || o.path.includes('\u0000')) fail('persist.path', 'a directory path (a non-empty string)', o.path);
  return {
    path: o.path,
    durability: oneOf('persist.durability', o.durability, 'message', ['message', 'checkpoint']),
    snapshotEveryMs: milliseconds('persist.snapshotEveryMs', o.snapshotEveryMs, 2000, 10),
  };
}
