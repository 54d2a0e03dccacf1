/**
 * Why a K2K message was not delivered: the `reason` label of ringshard_dead_letters_total,
 * one list for the router in one process (Cluster) and the one across nodes (NodeRuntime).
 */
import { ErrorCode, RingshardError } from '../errors.ts';

export type DeadLetterReason = 'no-such-actor' | 'terminated' | 'wrong-kernel' | 'cross-tenant' | 'forbidden' | 'overflow' | 'quarantined' | 'shard-failed';
export const DEAD_LETTER_REASONS: readonly DeadLetterReason[] = ['no-such-actor', 'terminated', 'wrong-kernel', 'cross-tenant', 'forbidden', 'overflow', 'quarantined', 'shard-failed'];

/** The reason for a delivery that failed with `error`: refused by a policy, past a K2K budget, quarantined, or the shard's failure. */
export function deadLetterReason(error: unknown): DeadLetterReason {
  const code = error instanceof RingshardError ? error.code : undefined;
  if (code === ErrorCode.FORBIDDEN) return 'forbidden';
  if (code === ErrorCode.RING_FULL) return 'overflow';
  if (code === ErrorCode.QUARANTINED) return 'quarantined';
  return 'shard-failed';
}
