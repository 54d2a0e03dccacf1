/**
 * Every failure ringshard reports is a RingshardError with a stable `code`, so callers
 * can branch on the code instead of parsing messages. The GPU, WGSL or worker error
 * that caused it travels as `cause`.
 */
export const ErrorCode = {
  /** A ring had no room and the policy said reject. */
  RING_FULL: 'ERR_RINGSHARD_RING_FULL',
  /** WGSL failed to compile; the message names kernel, line and column. */
  SHADER_COMPILE: 'ERR_RINGSHARD_SHADER_COMPILE',
  /** The GPU device was lost. */
  DEVICE_LOST: 'ERR_RINGSHARD_DEVICE_LOST',
  /** A shard worker exited unexpectedly. */
  WORKER_EXIT: 'ERR_RINGSHARD_WORKER_EXIT',
  /** The cluster (or ring) was shut down. */
  CLOSED: 'ERR_RINGSHARD_CLOSED',
  /** An ask did not get its reply in time. */
  TIMEOUT: 'ERR_RINGSHARD_TIMEOUT',
  /** A schema or a message does not fit the schema. */
  SCHEMA: 'ERR_RINGSHARD_SCHEMA',
  /** A kernel definition that cannot work: bad name, missing handle, forbidden WGSL. */
  INVALID_KERNEL: 'ERR_RINGSHARD_INVALID_KERNEL',
  /** A kernel name the cluster does not know. */
  UNKNOWN_KERNEL: 'ERR_RINGSHARD_UNKNOWN_KERNEL',
  /** An actor that is not active (terminated, or never used) where an active one is needed. */
  UNKNOWN_ACTOR: 'ERR_RINGSHARD_UNKNOWN_ACTOR',
  /** A state or payload that does not fit a ring slot. */
  TOO_LARGE: 'ERR_RINGSHARD_TOO_LARGE',
  /** No GPU adapter where one was required. */
  NO_ADAPTER: 'ERR_RINGSHARD_NO_ADAPTER',
  /** An option has a wrong type or value. */
  INVALID_OPTION: 'ERR_RINGSHARD_INVALID_OPTION',
  /** A handler (or hook) ran more loop iterations than options.maxLoopIterations allows. */
  BUDGET: 'ERR_RINGSHARD_BUDGET',
  /** The handler set a non-ok status (ctx.status) for a message. */
  HANDLER: 'ERR_RINGSHARD_HANDLER',
  /** Refused: the authorize policy denied the ref, or handle_secure set STATUS_FORBIDDEN. */
  FORBIDDEN: 'ERR_RINGSHARD_FORBIDDEN',
  /** The actor is quarantined: its messages hung its shard's dispatch (maxDispatchMs) again after a replay. */
  QUARANTINED: 'ERR_RINGSHARD_QUARANTINED',
  /** options.nats: no NATS server answered at the given address (or JetStream is off there). */
  NATS_UNREACHABLE: 'ERR_RINGSHARD_NATS_UNREACHABLE',
  /**
   * options.nats: the NATS server refused this node's credentials (a wrong password,
   * token, nkey or creds file; none given where the server wants some), or the node's
   * NATS user lacks a permission a node needs. The message never holds the secret.
   */
  NATS_AUTH: 'ERR_RINGSHARD_NATS_AUTH',
  /**
   * options.nats.tls: TLS with the NATS server failed: a certificate not trusted, a name
   * that does not match, or a server with `verify: true` that dropped a client whose
   * certificate it does not take (the client sees a connect timeout). Names the files.
   */
  NATS_TLS: 'ERR_RINGSHARD_NATS_TLS',
  /** options.nats.node: another live process already runs a node of that name. */
  DUPLICATE_NODE: 'ERR_RINGSHARD_DUPLICATE_NODE',
  /** A call to another node failed there (its message says which and why). */
  REMOTE: 'ERR_RINGSHARD_REMOTE',
  /** options.persist: the store's directory cannot be created, written or read as a store, or a write failed (disk full). */
  STORE: 'ERR_RINGSHARD_STORE',
  /** options.persist: another live process (or cluster) has the store open. */
  STORE_LOCKED: 'ERR_RINGSHARD_STORE_LOCKED',
  /** A timer call was refused: the kernel has no timers, a bad id or time, or the actor's timer table is full (maxTimers). */
  TIMER: 'ERR_RINGSHARD_TIMER',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class RingshardError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RingshardError';
    this.code = code;
  }
}

/** ERR_RINGSHARD_CLOSED: a call after shutdown, or (`beforeReply`) an ask the shutdown left unanswered. */
export function closedError(beforeReply = false): RingshardError {
  return new RingshardError(ErrorCode.CLOSED, beforeReply ? 'the cluster was shut down before the reply came' : 'the cluster is shut down');
}

/** Shows a received value in an error message: `5 (number)`, `"x" (string)`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  const t = typeof value;
  if (t === 'string') return `${JSON.stringify(value)} (string)`;
  if (t === 'object') return `an object`;
  if (t === 'function') return 'a function';
  return `${String(value)} (${t})`;
}

/** What Node's own APIs reject with on abort (fetch, timers/promises): name 'AbortError', code 'ABORT_ERR', the signal's reason as cause. */
export function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}
