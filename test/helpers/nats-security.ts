/**
 * The nats-server configuration the README's "Securing a NATS cluster" shows, made here
 * so that the tests run the same text: TLS for every client (mutual with verify), one
 * user per node with the permissions a node of one cluster needs and nothing more, and a
 * read-only monitoring user. test/nats/secure.test.ts runs servers with it and checks
 * the README's copy against securityConfig(README_EXAMPLE).
 */
export type NatsUser =
  | { readonly user: string; readonly password: string; readonly role: 'node' | 'monitor' }
  | { readonly nkey: string; readonly role: 'node' | 'monitor' };

export interface SecurityConfig {
  /** options.nats.cluster of the nodes. */
  readonly cluster: string;
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string; readonly verify: boolean };
  readonly users: readonly NatsUser[];
}

/** The streams and buckets of a cluster (src/nats/actor-store.ts names them). */
function nodePermissions(c: string): string {
  const buckets = ['owners', 'snapshots', 'ids'].map((b) => `${c}-${b}`);
  const kv = buckets.map((b) => `KV_${b}`);
  const q = (s: string) => `"${s}"`;
  const publish = [
    `# its cluster's subjects: heartbeats, calls, replies, the journal (${c}.j.*)`,
    q(`${c}.>`),
    '# its cluster\'s KV buckets (leases, snapshots, actor ids)',
    buckets.map((b) => q(`$KV.${b}.>`)).join(', '),
    '# the JetStream API, for its cluster\'s buckets and journal stream only',
    q('$JS.API.INFO'),
    [...kv, `${c}-journal`].map((s) => q(`$JS.API.STREAM.INFO.${s}`)).join(', '),
    [...kv, `${c}-journal`].map((s) => q(`$JS.API.STREAM.CREATE.${s}`)).join(', '),
    q(`$JS.API.STREAM.PURGE.${c}-journal`),
    [...kv.map((s) => `$JS.API.DIRECT.GET.${s}.>`), `$JS.API.DIRECT.GET.${c}-journal`].map(q).join(', '),
    `# listing the leases (the journal sweep): a consumer on the owners bucket`,
    ['CREATE', 'INFO', 'DELETE'].map((op) => q(`$JS.API.CONSUMER.${op}.KV_${c}-owners.>`)).join(', '),
    q(`$JS.FC.KV_${c}-owners.>`),
  ];
  return [
    '{',
    '  publish: {',
    '    allow: [',
    ...publish.map((l) => `      ${l.startsWith('#') ? l : `${l},`}`),
    '    ]',
    '  }',
    '  # its cluster\'s subjects, and replies (requests, JetStream acknowledgements)',
    `  subscribe: { allow: ["${c}.>", "_INBOX.>"] }`,
    '  # answering a request (a node answers a starting node\'s name check on its _INBOX)',
    '  allow_responses: true',
    '}',
  ].join('\n');
}

function monitorPermissions(c: string): string {
  return ['{', '  publish: { deny: [">"] }', `  subscribe: { allow: ["${c}.hb"] }`, '}'].join('\n');
}

export function securityConfig(config: SecurityConfig): string {
  const c = config.cluster;
  const lines: string[] = [];
  if (config.tls) {
    lines.push(
      '# TLS for every client; verify: true also asks each for a certificate signed by ca_file',
      'tls {',
      `  cert_file: "${config.tls.certFile}"`,
      `  key_file: "${config.tls.keyFile}"`,
      `  ca_file: "${config.tls.caFile}"`,
      `  verify: ${config.tls.verify}`,
      '}',
      '',
    );
  }
  // (nats-server takes a variable nothing uses for an unknown field: only those used.)
  if (config.users.some((u) => u.role === 'node')) lines.push(`# What a node of cluster '${c}' may do, and nothing else`, `NODE = ${nodePermissions(c)}`, '');
  if (config.users.some((u) => u.role === 'monitor')) lines.push(`# A dashboard: reads heartbeats, publishes nothing`, `MONITOR = ${monitorPermissions(c)}`, '');
  lines.push('authorization {', '  users = [');
  for (const u of config.users) {
    const perms = u.role === 'node' ? '$NODE' : '$MONITOR';
    // A password '$NAME' is the environment variable NAME, read by nats-server (unquoted).
    const password = 'user' in u && u.password.startsWith('$') ? u.password : `"${'user' in u ? u.password : ''}"`;
    lines.push('user' in u ? `    { user: "${u.user}", password: ${password}, permissions: ${perms} }` : `    { nkey: "${u.nkey}", permissions: ${perms} }`);
  }
  lines.push('  ]', '}', '');
  return lines.join('\n');
}

/** What the README shows: cluster 'ringshard', two nodes, a monitor, placeholder paths and passwords. */
export const README_EXAMPLE: SecurityConfig = {
  cluster: 'ringshard',
  tls: { certFile: '/etc/nats/server-cert.pem', keyFile: '/etc/nats/server-key.pem', caFile: '/etc/nats/ca.pem', verify: true },
  users: [
    { user: 'gpu-a', password: '$GPU_A_PASSWORD', role: 'node' },
    { user: 'gpu-b', password: '$GPU_B_PASSWORD', role: 'node' },
    { user: 'grafana', password: '$GRAFANA_PASSWORD', role: 'monitor' },
  ],
};
