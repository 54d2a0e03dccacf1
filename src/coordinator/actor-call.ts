/**
 * A call on an actor by its names: what nodes send each other (src/nats/wire.ts encodes
 * it) and what a durable store journals (src/recovery/state-store.ts). A call names its
 * actor by kernel, tenant and key, and its caller by principal name and role bits:
 * process-local ids (actor ids, interned tenants and principals) never leave a process.
 */

import { Op } from '../layout/record.ts';

/** TIMER, SET_TIMER and CLEAR_TIMER: records ringshard makes (a due timer, ref.setTimer/clearTimer), journaled as calls. */
export const CallOp = { TELL: 0, ASK: 1, SNAPSHOT: 2, TERMINATE: 3, TIMER: 4, SET_TIMER: 5, CLEAR_TIMER: 6 } as const;
export type CallOp = (typeof CallOp)[keyof typeof CallOp];

const TIMER_CALLS: ReadonlyArray<readonly [Op, CallOp]> = [
  [Op.TIMER, CallOp.TIMER],
  [Op.SET_TIMER, CallOp.SET_TIMER],
  [Op.CLEAR_TIMER, CallOp.CLEAR_TIMER],
];

/** The call a timer record is journaled as. */
export function callOfTimerRecord(op: number): CallOp | undefined {
  return TIMER_CALLS.find(([o]) => o === op)?.[1];
}

/** The record op of a journaled timer call, or undefined when the call is not one. */
export function timerRecordOfCall(op: CallOp): Op | undefined {
  return TIMER_CALLS.find(([, c]) => c === op)?.[0];
}

export interface Call {
  /** Unique per sender (`from`) incarnation: with it, the call's id for deduplication. */
  readonly id: number;
  /** The sender's route epoch for this actor: a refusal refuses the rest of the epoch. */
  readonly epoch: number;
  readonly op: CallOp;
  readonly kernel: string;
  readonly tenant: string;
  readonly key: string;
  readonly principal: string;
  readonly roles: number;
  /** The sending actor's cluster-wide id (a K2K message), NO_ACTOR from outside. */
  readonly source: number;
  /** The sender's clock (K2K: the receiver's clock is merged past it); 0, 0 for none. */
  readonly hlcHi: number;
  readonly hlcLo: number;
  /** Messages (TELL, ASK), each `words` payload words. */
  readonly count: number;
  readonly words: number;
  readonly payload: Uint32Array;
}
