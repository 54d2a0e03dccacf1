/**
 * Certificates for a test's nats-server, made with openssl in a temporary directory: a
 * CA, a server certificate for 127.0.0.1 and localhost (subjectAltName), and client
 * certificates, all signed by the CA (P-256 keys: quick to make). remove() deletes them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** A client certificate signed by the CA: { certFile, keyFile }. */
  client(name: string): { certFile: string; keyFile: string };
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function keyAndCert(dir: string, name: string, subject: string, extensions: string): { cert: string; key: string } {
  const key = join(dir, `${name}-key.pem`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}-cert.pem`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  openssl(dir, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', subject]);
  openssl(dir, ['x509', '-req', '-in', csr, '-CA', 'ca-cert.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2', '-out', cert, '-extfile', ext]);
  return { cert, key };
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'ringshard-pki-'));
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca-cert.pem', '-days', '2', '-subj', '/CN=ringshard test CA']);
  const server = keyAndCert(dir, 'server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  return {
    dir,
    caFile: join(dir, 'ca-cert.pem'),
    serverCert: server.cert,
    serverKey: server.key,
    client(name) {
      const c = keyAndCert(dir, `client-${name}`, `/CN=${name}`, 'extendedKeyUsage=clientAuth\n');
      return { certFile: c.cert, keyFile: c.key };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
