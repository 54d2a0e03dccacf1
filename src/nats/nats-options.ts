/**
 * options.nats: one process = one node of a cluster that spans processes and hosts,
 * found and coordinated through a NATS server (JetStream on: `nats-server -js`).
 *
 * Credentials and TLS go to the NATS client as it takes them (token, user and pass, an
 * nkey seed, a JWT creds file; TLS files). Secrets never appear in an error, a log line
 * or a metric: resolved, they are Secret objects that print as '[secret]', and server
 * URLs are shown without their userinfo (redactServer).
 */
import { fail, failSecret, invalidOption, milliseconds } from '../options/checks.ts';
import { accessSync, constants } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { inspect } from 'node:util';
import { nkeys } from '@nats-io/transport-node';
import { describeValue } from '../errors.ts';
import { refuseUnknownKeys, type KeysOf } from '../options/unknown-keys.ts';

/** TLS to the NATS server: required with a `tls://` server URL, or by the server. */
export interface NatsTlsOptions {
  /** PEM file of the CA that signed the server's certificate. @default Node's trusted CAs */
  readonly caFile?: string;
  /**
   * PEM file of this node's client certificate, for a server with `verify: true` (mutual
   * TLS); given with keyFile. @example '/etc/ringshard/gpu-a-cert.pem'
   */
  readonly certFile?: string;
  /** PEM file of the client certificate's private key; given with certFile. */
  readonly keyFile?: string;
}

export interface NatsOptions {
  /**
   * The NATS server(s): 'nats://127.0.0.1:4222', 'tls://nats.internal:4222', or several.
   * Credentials in a URL ('nats://user:pass@host:4222', 'nats://TOKEN@host:4222') are taken
   * as user and pass (or token) and never shown.
   */
  readonly servers: string | readonly string[];
  /** This node's name, unique among live nodes. @default `${hostname}-${pid}-${random}` */
  readonly node?: string;
  /**
   * Every message goes into a JetStream journal before its tell resolves or its ask's
   * reply is given; actor snapshots go to a KV bucket and the journal is trimmed behind
   * them. A node that dies loses nothing acknowledged; a restarted cluster restores every
   * actor. Without it, a node that dies loses the state of the actors it held.
   * @default false
   */
  readonly durable?: boolean;
  /** Names the subjects, buckets and stream: clusters of different names share a server without meeting. @default 'ringshard' */
  readonly cluster?: string;
  /** How often a node says it is alive. @default 250 */
  readonly heartbeatMs?: number;
  /** A node not heard from for this long is taken as dead, and its actors come back elsewhere. @default 1500 */
  readonly deadAfterMs?: number;
  /** durable: how often an actor that received messages is snapshotted (and its journal trimmed). @default 2000 */
  readonly snapshotEveryMs?: number;
  /** A token the server's `authorization { token: ... }` takes. One way of authenticating only. */
  readonly token?: string;
  /** A user of the server's `authorization { users = [...] }`; given with pass. @example 'gpu-a' */
  readonly user?: string;
  /** The user's password; given with user. */
  readonly pass?: string;
  /** An nkey user seed ('SU...', from `nk -gen user` or nkeys' createUser().getSeed()); the server lists its public key ('U...'). */
  readonly nkeySeed?: string;
  /** A JWT credentials file (`nsc generate creds`: a USER JWT and an NKEY SEED block), for a server in operator mode. */
  readonly credsFile?: string;
  /** TLS files; `{}` asks for TLS with Node's trusted CAs. */
  readonly tls?: NatsTlsOptions;
}

/** The keys of options.nats (and of options.nats.tls): any other is refused, with a did-you-mean. */
export const NATS_OPTION_KEYS = [
  'servers', 'node', 'durable', 'cluster', 'heartbeatMs', 'deadAfterMs', 'snapshotEveryMs',
  'token', 'user', 'pass', 'nkeySeed', 'credsFile', 'tls',
] as const;
export const NATS_TLS_OPTION_KEYS = ['caFile', 'certFile', 'keyFile'] as const;
export type NatsOptionKeysComplete = [KeysOf<NatsOptions, typeof NATS_OPTION_KEYS>, KeysOf<NatsTlsOptions, typeof NATS_TLS_OPTION_KEYS>];
export const NATS_OPTION_KEYS_COMPLETE: NatsOptionKeysComplete = [true, true];

/**
 * Not an option: frames between nodes go unsigned and unverified. Only bench/nats.ts
 * sets it (a symbol key, so no options object written by hand or parsed from JSON can),
 * to measure what signing costs.
 */
export const UNSIGNED_FOR_BENCH: unique symbol = Symbol('ringshard.nats.unsignedForBench');

/** A secret's value: prints as '[secret]' (String, JSON, util.inspect); `reveal()` gives it to the NATS client only. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[secret]';
  }
  toJSON(): string {
    return '[secret]';
  }
  [inspect.custom](): string {
    return '[secret]';
  }
}

export type NatsAuth =
  | { readonly kind: 'none' }
  | { readonly kind: 'token'; readonly token: Secret }
  | { readonly kind: 'user'; readonly user: string; readonly pass: Secret }
  | { readonly kind: 'nkey'; readonly seed: Secret; readonly publicKey: string }
  | { readonly kind: 'creds'; readonly file: string };

export interface ResolvedNats {
  /** Without userinfo (credentials from URLs are in `auth`). */
  readonly servers: string[];
  readonly node: string;
  readonly durable: boolean;
  readonly cluster: string;
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;
  readonly snapshotEveryMs: number;
  readonly auth: NatsAuth;
  readonly tls: NatsTlsOptions | undefined;
  /** UNSIGNED_FOR_BENCH was set. */
  readonly unsigned: boolean;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

// The shared checks (option-checks.ts), under options.nats (`path` '' for options.nats itself).
function bad(path: string, expected: string, value: unknown): never {
  fail(path ? `nats.${path}` : 'nats', expected, value);
}
function badSecret(path: string, expected: string, value: unknown): never {
  failSecret(`nats.${path}`, expected, value);
}
function ms(path: string, value: unknown, fallback: number): number {
  return milliseconds(`nats.${path}`, value, fallback, 10);
}
const invalid = invalidOption;

/** A server URL as messages show it: without its userinfo ('nats://u:p@h:4222' -> 'nats://h:4222'). */
export function redactServer(url: string): string {
  return url.replace(/^((?:[A-Za-z][A-Za-z0-9+.-]*:\/\/)?)[^@/]*@/, '$1');
}

/** Any server URL in `text` without its userinfo. */
export function redactText(text: string): string {
  return text.replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^@/\s'"]*@/g, '$1');
}

/** A URL's userinfo, percent-decoded: user and pass, or a token (no ':'). */
function userinfo(url: string, path: string): { user: string; pass: string } | { token: string } | undefined {
  const m = /^(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/)?([^@/]*)@/.exec(url);
  if (!m) return undefined;
  try {
    const at = m[1]!.indexOf(':');
    if (at < 0) return { token: decodeURIComponent(m[1]!) };
    return { user: decodeURIComponent(m[1]!.slice(0, at)), pass: decodeURIComponent(m[1]!.slice(at + 1)) };
  } catch {
    throw invalid(`options.nats.${path}: the credentials in server URL ${redactServer(url)} are not percent-encoded properly`);
  }
}

function fileOption(path: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) bad(path, 'a file path', value);
  try {
    accessSync(value, constants.R_OK);
  } catch (error) {
    throw invalid(`options.nats.${path}: cannot read '${value}' (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return value;
}

function secretString(path: string, value: unknown): Secret | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) badSecret(path, 'a non-empty string', value);
  return new Secret(value);
}

function resolveAuth(o: NatsOptions, servers: readonly string[]): NatsAuth {
  const token = secretString('token', o.token);
  const pass = secretString('pass', o.pass);
  if (o.user !== undefined && (typeof o.user !== 'string' || o.user.length === 0)) bad('user', 'a non-empty string', o.user);
  if (o.user !== undefined && pass === undefined) throw invalid('options.nats.user must be given with options.nats.pass');
  if (pass !== undefined && o.user === undefined) throw invalid('options.nats.pass must be given with options.nats.user');
  let nkey: NatsAuth | undefined;
  if (o.nkeySeed !== undefined) {
    const seed = secretString('nkeySeed', o.nkeySeed)!;
    let publicKey: string;
    try {
      const kp = nkeys.fromSeed(new TextEncoder().encode(seed.reveal()));
      publicKey = kp.getPublicKey();
    } catch {
      throw invalid('options.nats.nkeySeed is not an nkey seed (a user seed starts with \'SU\')');
    }
    if (!publicKey.startsWith('U')) throw invalid(`options.nats.nkeySeed is not a user seed (its public key is ${publicKey}; a user's starts with 'U')`);
    nkey = { kind: 'nkey', seed, publicKey };
  }
  const credsFile = fileOption('credsFile', o.credsFile);
  const given: NatsAuth[] = [
    ...(token ? [{ kind: 'token', token } as const] : []),
    ...(o.user !== undefined ? [{ kind: 'user', user: o.user, pass: pass! } as const] : []),
    ...(nkey ? [nkey] : []),
    ...(credsFile ? [{ kind: 'creds', file: credsFile } as const] : []),
  ];
  // Credentials in server URLs: the same in every URL that has some, and not given twice.
  let fromUrl: NatsAuth | undefined;
  let fromUrlText: string | undefined;
  servers.forEach((url, i) => {
    const info = userinfo(url, typeof o.servers === 'string' ? 'servers' : `servers[${i}]`);
    if (!info) return;
    const text = JSON.stringify(info);
    if (fromUrlText !== undefined && text !== fromUrlText) throw invalid('options.nats.servers: two server URLs carry different credentials; give them once (options.nats.user and pass, or token)');
    fromUrlText = text;
    fromUrl = 'token' in info ? { kind: 'token', token: new Secret(info.token) } : { kind: 'user', user: info.user, pass: new Secret(info.pass) };
  });
  if (fromUrl) given.push(fromUrl);
  if (given.length > 1) {
    const names = [token && 'token', o.user !== undefined && 'user/pass', nkey && 'nkeySeed', credsFile && 'credsFile', fromUrl && 'credentials in a server URL'].filter(Boolean);
    throw invalid(`options.nats: give one way of authenticating, not ${names.join(' and ')}`);
  }
  return given[0] ?? { kind: 'none' };
}

function resolveTls(value: unknown): NatsTlsOptions | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) bad('tls', 'an object ({ caFile, certFile, keyFile })', value);
  refuseUnknownKeys(value, NATS_TLS_OPTION_KEYS, 'nats.tls');
  const t = value as NatsTlsOptions;
  if ((t.certFile === undefined) !== (t.keyFile === undefined)) {
    throw invalid(t.certFile === undefined ? 'options.nats.tls.certFile must be given with options.nats.tls.keyFile' : 'options.nats.tls.keyFile must be given with options.nats.tls.certFile');
  }
  const caFile = fileOption('tls.caFile', t.caFile);
  const certFile = fileOption('tls.certFile', t.certFile);
  const keyFile = fileOption('tls.keyFile', t.keyFile);
  return { ...(caFile ? { caFile } : {}), ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}) };
}

export function resolveNats(value: unknown): ResolvedNats | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') bad('', 'an object', value);
  refuseUnknownKeys(value, NATS_OPTION_KEYS, 'nats');
  const o = value as NatsOptions;
  const servers = typeof o.servers === 'string' ? [o.servers] : o.servers;
  if (!Array.isArray(servers) || servers.length === 0 || !servers.every((s) => typeof s === 'string' && s.length > 0)) {
    // A string that carries credentials is not shown.
    const shown = typeof o.servers === 'string' ? `"${redactServer(o.servers)}" (string)` : describeValue(o.servers);
    throw invalid(`options.nats.servers must be a server URL ('nats://host:4222') or a non-empty array of them, got ${shown}`);
  }
  const node = o.node ?? `${hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 32)}-${process.pid}-${randomBytes(3).toString('hex')}`;
  if (typeof node !== 'string' || !NAME.test(node)) bad('node', 'a name of 1-64 letters, digits, _ or -', node);
  const cluster = o.cluster ?? 'ringshard';
  if (typeof cluster !== 'string' || !NAME.test(cluster)) bad('cluster', 'a name of 1-64 letters, digits, _ or -', cluster);
  if (o.durable !== undefined && typeof o.durable !== 'boolean') bad('durable', 'a boolean', o.durable);
  const heartbeatMs = ms('heartbeatMs', o.heartbeatMs, 250);
  const deadAfterMs = ms('deadAfterMs', o.deadAfterMs, 1500);
  if (deadAfterMs < 3 * heartbeatMs) bad('deadAfterMs', `at least 3 x heartbeatMs (${3 * heartbeatMs})`, deadAfterMs);
  const auth = resolveAuth(o, servers as readonly string[]);
  const tls = resolveTls(o.tls);
  return {
    servers: (servers as readonly string[]).map(redactServer),
    node,
    durable: o.durable ?? false,
    cluster,
    heartbeatMs,
    deadAfterMs,
    snapshotEveryMs: ms('snapshotEveryMs', o.snapshotEveryMs, 2000),
    auth,
    tls,
    unsigned: (value as Record<symbol, unknown>)[UNSIGNED_FOR_BENCH] === true,
  };
}

/** How this node authenticates, as messages may say it (never a secret). */
export function describeAuth(auth: NatsAuth): string {
  switch (auth.kind) {
    case 'none':
      return 'no credentials';
    case 'token':
      return 'a token';
    case 'user':
      return `user '${auth.user}' with a password`;
    case 'nkey':
      return `nkey ${auth.publicKey}`;
    case 'creds':
      return `the credentials file '${auth.file}'`;
  }
}

/** The TLS files, as messages say them (paths, never contents). */
export function describeTls(tls: NatsTlsOptions | undefined): string {
  if (!tls) return 'no options.nats.tls';
  const files = Object.entries(tls).map(([k, v]) => `${k} '${v}'`);
  return files.length > 0 ? files.join(', ') : 'options.nats.tls {} (no files)';
}

