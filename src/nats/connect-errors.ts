/**
 * Why a node could not connect, as a RingshardError with a code a caller can branch on:
 * ERR_RINGSHARD_NATS_AUTH (the server refused the credentials, or the user may not use
 * what a node needs), ERR_RINGSHARD_NATS_TLS (the TLS handshake failed, or timed out:
 * nats-server with `verify: true` drops a client without a certificate it takes, and the
 * client sees only a connect timeout), ERR_RINGSHARD_NATS_UNREACHABLE (nobody answered).
 * Messages name the servers without userinfo, the TLS files by path, and the way of
 * authenticating without its secret.
 */
import { ErrorCode, RingshardError } from '../errors.ts';
import { describeAuth, describeTls, redactText, type ResolvedNats } from './nats-options.ts';

const TLS_CODE = /^(ERR_TLS|ERR_SSL|ERR_OSSL|UNABLE_TO|CERT_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH)/;

function isAuthError(error: Error): boolean {
  return error.name === 'AuthorizationError' || error.name === 'UserAuthenticationExpiredError' || /authori[sz]ation violation|authentication/i.test(error.message);
}

function isTlsError(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return (typeof code === 'string' && TLS_CODE.test(code)) || /certificate|\btls\b|\bssl\b|handshake/i.test(error.message);
}

function isTimeout(error: Error): boolean {
  return error.name === 'TimeoutError' || /time ?out/i.test(error.message);
}

export function connectError(error: Error, options: ResolvedNats): RingshardError {
  const servers = options.servers.join(', ');
  const why = redactText(error.message);
  if (isAuthError(error)) {
    const hint = options.auth.kind === 'none' ? '; the server wants credentials: options.nats.user and pass, token, nkeySeed or credsFile' : '';
    return new RingshardError(ErrorCode.NATS_AUTH, `options.nats: the NATS server at ${servers} refused this node's credentials (${describeAuth(options.auth)}): ${why}${hint}`, { cause: error });
  }
  const tlsWanted = options.tls !== undefined || options.servers.some((s) => s.startsWith('tls://'));
  if (isTlsError(error)) {
    return new RingshardError(ErrorCode.NATS_TLS, `options.nats.tls: TLS with the NATS server at ${servers} failed (${describeTls(options.tls)}): ${why}`, { cause: error });
  }
  if (tlsWanted && isTimeout(error)) {
    const noCert = options.tls?.certFile === undefined ? '; no client certificate was given (options.nats.tls.certFile and keyFile)' : '';
    return new RingshardError(
      ErrorCode.NATS_TLS,
      `options.nats.tls: the NATS server at ${servers} did not complete a TLS connection in time (${describeTls(options.tls)})${noCert}. ` +
        'A server with verify: true drops a client whose certificate it does not take (none, or not signed by its CA) this way',
      { cause: error },
    );
  }
  return new RingshardError(ErrorCode.NATS_UNREACHABLE, `options.nats.servers: cannot reach the NATS server at ${servers}: ${why}`, { cause: error });
}

/** An error while opening the cluster's buckets and stream: a permission the node's user lacks is NATS_AUTH. */
export function storeError(error: Error, options: ResolvedNats): Error {
  // The permission error may be wrapped (ActorStore says "no JetStream"): find it.
  let denied: Error | undefined;
  for (let e: unknown = error; e instanceof Error && !denied; e = e.cause) {
    if (e.name === 'PermissionViolationError' || /permissions? violation/i.test(e.message)) denied = e;
  }
  if (!denied) return error;
  const why = redactText(denied.message.replace(/^.*?(Permissions? Violation)/i, '$1'));
  return new RingshardError(
    ErrorCode.NATS_AUTH,
    `options.nats: this node's NATS user (${describeAuth(options.auth)}) may not use what a node of cluster '${options.cluster}' needs: ${why}. ` +
      'See "Securing a NATS cluster" in docs/nats.md for a node\'s permissions',
    { cause: error },
  );
}
