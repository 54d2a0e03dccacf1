/**
 * Securing a NATS cluster (docs/nats.md): options.nats takes credentials (token, user and pass,
 * nkey seed, JWT creds file, credentials in a server URL) and TLS files, validates them
 * with the option's path, and never shows a secret; real nats-servers configured as the
 * docs/nats.md says (test/helpers/nats-security.ts: mutual TLS, a user per node, the
 * permissions a node needs, a read-only monitor) run two nodes and a third in its own
 * process that is killed and taken over; wrong credentials and missing certificates
 * fail Cluster.start with ERR_RINGSHARD_NATS_AUTH and _TLS.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { connect, nkeys, type NatsConnection } from '@nats-io/transport-node';
import { Cluster, counter, ErrorCode } from '../../src/index.ts';
import { FAST, withNatsCluster } from '../helpers/nats-fixtures.ts';
import { makeTestPki, type TestPki } from '../helpers/nats-tls.ts';
import { README_EXAMPLE, securityConfig, type NatsUser } from '../helpers/nats-security.ts';
import { operatorSetup } from '../helpers/nats-jwt.ts';
import { parseExposition, sumOf } from '../helpers/exposition.ts';

const PASSWORDS = { 'node-a': 'pw-a-7f3c9e1d', 'node-b': 'pw-b-2b8e4a6f', 'node-c': 'pw-c-9d1f3b7a', grafana: 'pw-mon-5e7a2c4b' } as const;
const SECRETS = Object.values(PASSWORDS);

let pki: TestPki;
let dir: string;
before(() => {
  pki = makeTestPki();
  dir = mkdtempSync(join(tmpdir(), 'ringshard-secure-'));
});
after(() => {
  pki.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** Everything an error can show: message, String(), util.inspect (stack, cause, fields). */
function shown(error: unknown): string {
  return `${(error as Error).message}\n${String(error)}\n${inspect(error, { depth: 5 })}`;
}

function assertNoSecret(text: string, secrets: readonly string[], what: string): void {
  for (const s of secrets) assert.ok(!text.includes(s), `${what} shows a secret (${s.slice(0, 4)}...)`);
}

/** Cluster.start's rejection, checked for its code and for no secret anywhere in it. */
async function refused(options: Parameters<typeof Cluster.start>[0], code: ErrorCode, message: RegExp, secrets: readonly string[]): Promise<string> {
  let error: unknown;
  await Cluster.start(options).then(
    (c) => c.shutdown(),
    (e) => (error = e),
  );
  assert.ok(error, 'Cluster.start did not fail');
  assert.equal((error as { code?: string }).code, code, shown(error));
  assert.match((error as Error).message, message);
  assertNoSecret(shown(error), secrets, 'the error');
  return (error as Error).message;
}

const base = { kernels: [counter], shards: 1, backend: 'cpu' as const, logger: false as const };

test('options.nats credentials and TLS: validated with the path, no secret in any message', async () => {
  const secretFile = join(dir, 'not-creds.txt');
  writeFileSync(secretFile, 'hunter2-file-contents\n');
  const seed = 'SUnotaseed-b7c1d9e3f5a2';
  const secrets = ['hunter2-file-contents', seed, 'pw-url-4c6e8a', 'tok-9a7b5c'];
  const nats = (extra: object) => ({ ...base, nats: { servers: 'nats://127.0.0.1:1', ...extra } as never });
  const invalid = (extra: object, message: RegExp) => refused(nats(extra), ErrorCode.INVALID_OPTION, message, secrets);
  await invalid({ user: 'gpu-a' }, /^options\.nats\.user must be given with options\.nats\.pass$/);
  await invalid({ pass: 'pw-url-4c6e8a' }, /^options\.nats\.pass must be given with options\.nats\.user$/);
  await invalid({ user: 'gpu-a', pass: 12345 }, /options\.nats\.pass must be a non-empty string, got a value of type number/);
  await invalid({ token: 'tok-9a7b5c', user: 'gpu-a', pass: 'pw-url-4c6e8a' }, /options\.nats: give one way of authenticating, not token and user\/pass/);
  await invalid({ servers: 'nats://gpu-a:pw-url-4c6e8a@127.0.0.1:1', token: 'tok-9a7b5c' }, /not token and credentials in a server URL/);
  await invalid({ servers: ['nats://u:pw-url-4c6e8a@127.0.0.1:1', 'nats://u:other@127.0.0.1:2'] }, /two server URLs carry different credentials/);
  await invalid({ password: 'pw-url-4c6e8a' }, /^options\.nats\.password is not an option of Cluster\.start; options\.nats options: servers, .*, user, pass, nkeySeed, credsFile, tls$/);
  await invalid({ passs: 'pw-url-4c6e8a' }, /options\.nats\.passs is not an option of Cluster\.start \(did you mean nats\.pass\?\)/);
  await invalid({ nkeySeed: seed }, /options\.nats\.nkeySeed is not an nkey seed/);
  await invalid({ nkeySeed: new TextDecoder().decode(nkeys.createAccount().getSeed()) }, /options\.nats\.nkeySeed is not a user seed \(its public key is A/);
  await invalid({ credsFile: join(dir, 'missing.creds') }, new RegExp(`^options\\.nats\\.credsFile: cannot read '${join(dir, 'missing.creds')}' \\(ENOENT\\)$`));
  await invalid({ tls: { caFile: join(dir, 'no-ca.pem') } }, /^options\.nats\.tls\.caFile: cannot read '.*no-ca\.pem' \(ENOENT\)$/);
  await invalid({ tls: { certFile: pki.caFile } }, /^options\.nats\.tls\.keyFile must be given with options\.nats\.tls\.certFile$/);
  await invalid({ tls: { keyFile: pki.caFile } }, /^options\.nats\.tls\.certFile must be given with options\.nats\.tls\.keyFile$/);
  await invalid({ tls: { cafile: pki.caFile } }, /options\.nats\.tls\.cafile is not an option of Cluster\.start \(did you mean nats\.tls\.caFile\?\)/);
  // A creds file that is not one: named, its contents not shown (read at connect).
  await invalid({ credsFile: secretFile }, new RegExp(`options\\.nats\\.credsFile: '${secretFile}' is not a NATS credentials file`));
  // A URL with credentials and a bad shape elsewhere: the URL is shown without them.
  const message = await invalid({ servers: 'nats://gpu-a:pw-url-4c6e8a@127.0.0.1:1', node: 'bad name' }, /options\.nats\.node/);
  assert.doesNotMatch(message, /pw-url/);
  // Unreachable with credentials in the URL: the server is named without them.
  const unreachable = await refused(nats({ servers: 'nats://gpu-a:pw-url-4c6e8a@127.0.0.1:1' }), ErrorCode.NATS_UNREACHABLE, /nats:\/\/127\.0\.0\.1:1/, secrets);
  assert.doesNotMatch(unreachable, /gpu-a/);
});

test('mutual TLS, a user per node, the permissions docs/nats.md shows: nodes serve each other, a killed one is taken over, the monitor only reads', { timeout: 180_000 }, async () => {
  const users: NatsUser[] = [
    { user: 'node-a', password: PASSWORDS['node-a'], role: 'node' },
    { user: 'node-b', password: PASSWORDS['node-b'], role: 'node' },
    { user: 'node-c', password: PASSWORDS['node-c'], role: 'node' },
    { user: 'grafana', password: PASSWORDS.grafana, role: 'monitor' },
  ];
  const config = securityConfig({ cluster: 'ringshard', tls: { certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.caFile, verify: true }, users });
  await withNatsCluster({ config, scheme: 'tls' }, async ({ server, start: startNode, startChild, defer }) => {
    const lines: string[] = [];
    const secure = (node: keyof typeof PASSWORDS) => ({ user: node, pass: PASSWORDS[node], tls: { caFile: pki.caFile, ...pki.client(node) } });
    const start = (node: 'node-a' | 'node-b') => startNode({ ...base, logger: (l: string) => lines.push(l), node, nats: { durable: true, snapshotEveryMs: 300, ...secure(node) } });
    const a = await start('node-a');
    const b = await start('node-b');
    let monitor: NatsConnection | undefined;
    defer(() => monitor?.close());
    const child = await startChild({ node: 'node-c', durable: true, extra: secure('node-c') });
    while (a.members().length < 3 || b.members().length < 3) await new Promise((r) => setTimeout(r, 20));
    const keys = Array.from({ length: 24 }, (_, i) => `s${i}`);
    const owners = new Set(keys.map((k) => a.locate(a.actor(counter, k)).node));
    assert.deepEqual([...owners].sort(), ['node-a', 'node-b', 'node-c']);
    // Every node asks every actor: remote calls in every direction, over TLS.
    const n = 5;
    const fromChild = child.asks(keys, n);
    await Promise.all(keys.flatMap((k) => [a, b].map(async (c) => { for (let i = 0; i < n; i++) await c.actor(counter, k).ask({ add: 1 }); })));
    await fromChild;
    for (const k of keys) assert.deepEqual(await a.actor(counter, k).snapshot(), { total: 3 * n, count: 3 * n }, k);
    // node-c dies: its actors come back on a and b from its journal (JetStream direct gets).
    const ofC = keys.filter((k) => a.locate(a.actor(counter, k)).node === 'node-c');
    await child.kill();
    for (const k of ofC) assert.deepEqual(await b.actor(counter, k).ask({ add: 1 }), { total: 3 * n + 1, count: 3 * n + 1 }, `${k} after node-c died`);
    // The journal sweep lists leases (a consumer on the owners bucket) and purges node-c's journal.
    await new Promise((r) => setTimeout(r, 700)); // a snapshot round behind the takeovers
    const store = (a as unknown as { locator: { store: { sweep(live: string[]): Promise<number> } } }).locator.store;
    assert.ok((await store.sweep([])) >= 1, 'the sweep purged no journal');

    // The monitoring user reads heartbeats, and may neither send calls nor read them.
    monitor = await connect({ servers: server.url, user: 'grafana', pass: PASSWORDS.grafana, tls: { caFile: pki.caFile, ...pki.client('grafana') } });
    const violations: string[] = [];
    void (async () => {
      for await (const s of monitor!.status()) if (s.type === 'error') violations.push(`${s.error.name}: ${s.error.message}`);
    })();
    const hb = monitor.subscribe('ringshard.hb', { max: 1 });
    for await (const m of hb) assert.match(m.json<{ node: string }>().node, /^node-[ab]$/);
    monitor.publish('ringshard.rpc.node-b', new Uint8Array(64));
    monitor.subscribe('ringshard.rpc.node-a');
    await monitor.flush();
    while (violations.length < 2) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(violations.sort(), [
      'PermissionViolationError: Permissions Violation for Publish to "ringshard.rpc.node-b"',
      'PermissionViolationError: Permissions Violation for Subscription to "ringshard.rpc.node-a"',
    ]);
    // Nothing reached node-b (not even a refusal to count); the nodes broke no permission.
    const metrics = await Promise.all([a.registry.metrics(), b.registry.metrics()]);
    for (const text of metrics) {
      assert.equal(sumOf(parseExposition(text), 'ringshard_node_calls_refused_total'), 0);
      assertNoSecret(text, SECRETS, 'the metrics');
    }
    // The client hears of the violation before the server's log line reaches our pipe: wait for the line.
    const violation = /Publish Violation - User "grafana", Subject "ringshard\.rpc\.node-b"/;
    for (let i = 0; i < 250 && !violation.test(server.output()); i++) await new Promise((r) => setTimeout(r, 20));
    const log = server.output();
    assert.match(log, /Publish Violation - User "grafana", Subject "ringshard\.rpc\.node-b"/);
    assert.doesNotMatch(log, /Violation - User "node-/, 'a node was refused a permission it needs: see test/helpers/nats-security.ts');
    assertNoSecret(lines.join('\n'), SECRETS, 'the log');
  });
});

test('a wrong password, no client certificate, no TLS, credentials in a URL, the monitor as a node: clear codes, no secret shown', { timeout: 120_000 }, async () => {
  const users: NatsUser[] = [
    { user: 'node-a', password: PASSWORDS['node-a'], role: 'node' },
    { user: 'grafana', password: PASSWORDS.grafana, role: 'monitor' },
  ];
  const config = securityConfig({ cluster: 'ringshard', tls: { certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.caFile, verify: true }, users });
  await withNatsCluster({ config, scheme: 'tls' }, async ({ server, start }) => {
    const cert = pki.client('node-a');
    const lines: string[] = [];
    const opts = (nats: object) => ({ ...base, logger: (l: string) => lines.push(l), nats: { node: 'node-a', ...FAST, ...nats } as never });
    const secrets = [...SECRETS, 'wrong-pw-3e5d7f'];
    await refused(opts({ servers: server.url, user: 'node-a', pass: 'wrong-pw-3e5d7f', tls: { caFile: pki.caFile, ...cert } }), ErrorCode.NATS_AUTH, /refused this node's credentials \(user 'node-a' with a password\): Authorization Violation/, secrets);
    await refused(opts({ servers: server.url.replace('tls://', 'tls://node-a:wrong-pw-3e5d7f@'), tls: { caFile: pki.caFile, ...cert } }), ErrorCode.NATS_AUTH, /at tls:\/\/127\.0\.0\.1:\d+ refused/, secrets);
    const noCert = await refused(opts({ servers: server.url, user: 'node-a', pass: PASSWORDS['node-a'], tls: { caFile: pki.caFile } }), ErrorCode.NATS_TLS, /did not complete a TLS connection in time .*no client certificate was given/, secrets);
    assert.ok(noCert.includes(pki.caFile), noCert);
    await refused(opts({ servers: server.url.replace('tls:', 'nats:'), user: 'node-a', pass: PASSWORDS['node-a'] }), ErrorCode.NATS_TLS, /TLS with the NATS server .* failed \(no options\.nats\.tls\)/, secrets);
    // The monitor's credentials are good, but a node's permissions they are not.
    await refused(opts({ servers: server.url, user: 'grafana', pass: PASSWORDS.grafana, tls: { caFile: pki.caFile, ...pki.client('grafana') } }), ErrorCode.NATS_AUTH, /\(user 'grafana' with a password\) may not use what a node of cluster 'ringshard' needs: Permissions Violation for (Publish|Subscription) to "/, secrets);
    // Credentials in the URL work (they go to the client as user and pass) and are never shown.
    const c = await start({ ...base, logger: (l: string) => lines.push(l), node: 'node-a', nats: { servers: server.url.replace('tls://', `tls://node-a:${PASSWORDS['node-a']}@`), tls: { caFile: pki.caFile, ...cert } } });
    assert.deepEqual(await c.actor(counter, 'x').ask({ add: 4 }), { total: 4, count: 1 });
    assertNoSecret(await c.registry.metrics(), secrets, 'the metrics');
    await c.shutdown();
    assertNoSecret(lines.join('\n'), secrets, 'the log');
  });
});

test('a token, an nkey seed, a JWT creds file: each connects; a wrong one is ERR_RINGSHARD_NATS_AUTH', { timeout: 120_000 }, async () => {
  // Token.
  const token = 'tok-1c3e5a7b9d';
  await withNatsCluster({ config: `authorization { token: "${token}" }\n` }, async ({ server, start }) => {
    const c = await start({ ...base, node: 'tok', nats: { token } });
    assert.deepEqual(await c.actor(counter, 'x').ask({ add: 1 }), { total: 1, count: 1 });
    await c.shutdown();
    await refused({ ...base, nats: { servers: server.url, node: 'tok', token: 'tok-wrong-8f6d' } }, ErrorCode.NATS_AUTH, /refused this node's credentials \(a token\)/, [token, 'tok-wrong-8f6d']);
    await refused({ ...base, nats: { servers: server.url, node: 'tok' } }, ErrorCode.NATS_AUTH, /the server wants credentials/, [token]);
  });
  // Nkey: the server lists the public key, with a node's permissions.
  const user = nkeys.createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  await withNatsCluster({ config: securityConfig({ cluster: 'ringshard', users: [{ nkey: user.getPublicKey(), role: 'node' }] }) }, async ({ server, start }) => {
    const c = await start({ ...base, node: 'nk', nats: { nkeySeed: seed, durable: true } });
    assert.deepEqual(await c.actor(counter, 'x').ask({ add: 2 }), { total: 2, count: 1 });
    await c.shutdown();
    const other = nkeys.createUser();
    const message = await refused(
      { ...base, nats: { servers: server.url, node: 'nk', nkeySeed: new TextDecoder().decode(other.getSeed()) } },
      ErrorCode.NATS_AUTH,
      new RegExp(`\\(nkey ${other.getPublicKey()}\\): Authorization Violation`),
      [seed, new TextDecoder().decode(other.getSeed())],
    );
    // A seed is SU + 56 base32 characters at a word start (a public key U... may hold 'SU' inside).
    assert.doesNotMatch(message, /\bSU[A-Z2-7]{50,}/);
  });
  // A JWT creds file (operator mode): read at connect and handed to the client's credsAuthenticator.
  const op = operatorSetup(dir);
  await withNatsCluster({ config: op.config }, async ({ server, start }) => {
    const credSecrets = [readFileSync(op.credsFile, 'utf8').match(/SU[A-Z0-9]+/)![0], readFileSync(op.strangerCredsFile, 'utf8').match(/SU[A-Z0-9]+/)![0]];
    const c = await start({ ...base, node: 'jwt', nats: { credsFile: op.credsFile, durable: true } });
    assert.deepEqual(await c.actor(counter, 'x').ask({ add: 3 }), { total: 3, count: 1 });
    await c.shutdown();
    await refused({ ...base, nats: { servers: server.url, node: 'jwt', credsFile: op.strangerCredsFile } }, ErrorCode.NATS_AUTH, /\(the credentials file '.*stranger\.creds'\): Authorization Violation/, credSecrets);
  });
});

test('the NATS guide (docs/nats.md) shows the configuration these tests run', () => {
  const readme = readFileSync(new URL('../../docs/nats.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('### Securing a NATS cluster'));
  const block = /```conf\n([\s\S]*?)```/.exec(section);
  assert.ok(block, 'no ```conf block in docs/nats.md\'s "Securing a NATS cluster"');
  assert.equal(block[1], securityConfig(README_EXAMPLE));
});
