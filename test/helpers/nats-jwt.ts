/**
 * A nats-server in operator (JWT) mode for a test, without nsc: an operator, a system
 * account, one account (JetStream on) and one user, as nkeys, with their JWTs signed here (header
 * `{"typ":"JWT","alg":"ed25519-nkey"}`, claims, an Ed25519 signature by the issuer's
 * nkey, each base64url), and the user's credentials file as `nsc generate creds` writes it.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nkeys } from '@nats-io/transport-node';

type KeyPair = ReturnType<typeof nkeys.createUser>;

function jwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const claims = { jti: randomBytes(16).toString('hex').toUpperCase(), iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats: { ...nats, version: 2 } };
  const signing = `${b64({ typ: 'JWT', alg: 'ed25519-nkey' })}.${b64(claims)}`;
  return `${signing}.${Buffer.from(issuer.sign(Buffer.from(signing))).toString('base64url')}`;
}

export interface OperatorSetup {
  /** The server configuration's text (operator mode, the account preloaded). */
  readonly config: string;
  /** The user's credentials file. */
  readonly credsFile: string;
  /** The credentials file of a user the server does not know (another account's). */
  readonly strangerCredsFile: string;
}

function creds(userJwt: string, seed: string): string {
  return `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n` +
    '************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\nNKEYs are sensitive and should be treated as secrets.\n\n' +
    `-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n\n*************************************************************\n`;
}

/** Writes the operator JWT and the credentials files into `dir`. */
export function operatorSetup(dir: string): OperatorSetup {
  const operator = nkeys.createOperator();
  const account = nkeys.createAccount();
  const user = nkeys.createUser();
  const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };
  const operatorJwt = jwt(operator, operator.getPublicKey(), 'test-operator', { type: 'operator' });
  const accountJwt = jwt(operator, account.getPublicKey(), 'test-account', { type: 'account', limits: unlimited, default_permissions: { pub: {}, sub: {} } });
  const userJwt = jwt(account, user.getPublicKey(), 'test-user', { type: 'user', pub: {}, sub: {}, subs: -1, data: -1, payload: -1 });
  // JetStream needs a system account.
  const system = nkeys.createAccount();
  const systemJwt = jwt(operator, system.getPublicKey(), 'SYS', { type: 'account', limits: { ...unlimited, mem_storage: 0, disk_storage: 0, streams: 0, consumer: 0 } });
  // A user of an account the server was never told about.
  const otherAccount = nkeys.createAccount();
  const stranger = nkeys.createUser();
  const strangerJwt = jwt(otherAccount, stranger.getPublicKey(), 'stranger', { type: 'user', pub: {}, sub: {}, subs: -1, data: -1, payload: -1 });
  writeFileSync(join(dir, 'operator.jwt'), operatorJwt);
  const credsFile = join(dir, 'user.creds');
  writeFileSync(credsFile, creds(userJwt, new TextDecoder().decode(user.getSeed())), { mode: 0o600 });
  const strangerCredsFile = join(dir, 'stranger.creds');
  writeFileSync(strangerCredsFile, creds(strangerJwt, new TextDecoder().decode(stranger.getSeed())), { mode: 0o600 });
  const config = [
    `operator: "${join(dir, 'operator.jwt')}"`,
    `system_account: ${system.getPublicKey()}`,
    'resolver: MEMORY',
    'resolver_preload: {',
    `  ${account.getPublicKey()}: "${accountJwt}"`,
    `  ${system.getPublicKey()}: "${systemJwt}"`,
    '}',
    '',
  ].join('\n');
  return { config, credsFile, strangerCredsFile };
}
