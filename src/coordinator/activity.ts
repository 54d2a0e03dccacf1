/**
 * The activity clock idle deactivation reads: a message stamps its actor with the epoch
 * (one store, no clock read per message), and each sweep of an IdleSweeper starts a new
 * epoch. An actor whose stamp is older than the epoch of n sweeps ago took no message for
 * n sweep periods. One clock for the process: epochs only grow.
 */
export const activity = { epoch: 1 };
