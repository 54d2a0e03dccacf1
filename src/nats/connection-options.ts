/**
 * The NATS client's connection options for a node, from its resolved options. Apart from
 * nats-options.ts so the public declarations (options.ts imports NatsOptions) never name
 * the client's types: under a user's strict tsconfig those .d.ts files do not check.
 */
import { readFileSync } from 'node:fs';
import { credsAuthenticator, nkeyAuthenticator, type NodeConnectionOptions } from '@nats-io/transport-node';
import { ErrorCode, RingshardError } from '../errors.ts';
import type { ResolvedNats } from './nats-options.ts';

function invalid(message: string): RingshardError {
  return new RingshardError(ErrorCode.INVALID_OPTION, message);
}

const CREDS = /\s*(?:(?:-{3,}[^\n]*-{3,}\n)(.+)(?:\n\s*-{3,}[^\n]*-{3,}\n))/gi;

/** The NATS client's connection options for a node (reads the creds file: INVALID_OPTION naming it when it cannot). */
export function connectionOptions(options: ResolvedNats): NodeConnectionOptions {
  const auth = options.auth;
  const base: NodeConnectionOptions = { servers: options.servers, name: options.node, ...(options.tls ? { tls: { ...options.tls } } : {}) };
  switch (auth.kind) {
    case 'none':
      return base;
    case 'token':
      return { ...base, token: auth.token.reveal() };
    case 'user':
      return { ...base, user: auth.user, pass: auth.pass.reveal() };
    case 'nkey':
      return { ...base, authenticator: nkeyAuthenticator(new TextEncoder().encode(auth.seed.reveal())) };
    case 'creds': {
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(auth.file);
      } catch (error) {
        throw invalid(`options.nats.credsFile: cannot read '${auth.file}' (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      const blocks = [...new TextDecoder().decode(bytes).matchAll(CREDS)];
      if (blocks.length < 2) throw invalid(`options.nats.credsFile: '${auth.file}' is not a NATS credentials file (it needs a USER JWT block and a USER NKEY SEED block, as \`nsc generate creds\` writes)`);
      return { ...base, authenticator: credsAuthenticator(bytes) };
    }
  }
}
