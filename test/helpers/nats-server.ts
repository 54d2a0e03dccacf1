/**
 * A real nats-server (Debian's, JetStream on) for a test: on a free loopback port, with
 * a temporary store directory, stopped (and the directory removed) by stop(). `config`
 * is the text of a nats-server configuration file (TLS, users, permissions: see
 * test/nats/secure.test.ts); port, address and JetStream still come from the command line.
 * stop() may be called more than once. Most tests want test/helpers/nats-fixtures.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  /** What the server wrote to stderr so far (its log: permission violations, TLS errors). */
  output(): string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface NatsServerOptions {
  readonly storeDir?: string;
  readonly port?: number;
  /** A nats-server configuration file's text. */
  readonly config?: string;
  /** The URL's scheme: 'tls' when the configuration turns TLS on. @default 'nats' */
  readonly scheme?: 'nats' | 'tls';
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const port = options.port ?? (await freePort());
  const dir = options.storeDir ?? mkdtempSync(join(tmpdir(), 'ringshard-nats-'));
  const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir];
  const confDir = options.config !== undefined ? mkdtempSync(join(tmpdir(), 'ringshard-nats-conf-')) : undefined;
  if (confDir) {
    writeFileSync(join(confDir, 'server.conf'), options.config!);
    args.push('-c', join(confDir, 'server.conf'));
  }
  const child: ChildProcess = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server did not start in 10 s:\n${log}`)), 10_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run nats-server (${error.message}): install Debian's nats-server package (.ci/run does)`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (${code}) before it was ready:\n${log}`));
    });
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Server is ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  let stopped: Promise<void> | undefined;
  return {
    url: `${options.scheme ?? 'nats'}://127.0.0.1:${port}`,
    port,
    output: () => log,
    // Once: a second call (a test stopped the server, its fixture stops it again) gets the
    // first's promise. (After SIGTERM exitCode stays null, so asking it again would wait
    // for an 'exit' that already came.)
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        }
        if (!options.storeDir) rmSync(dir, { recursive: true, force: true });
        if (confDir) rmSync(confDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
