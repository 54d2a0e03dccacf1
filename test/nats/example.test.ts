/**
 * The README's two-node recipe: examples/nats-node.ts twice against one nats-server,
 * one of them driving asks; both nodes end up owning actors, and Ctrl-C (SIGINT) hands
 * them over and exits 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withNatsCluster } from '../helpers/nats-fixtures.ts';

const example = fileURLToPath(new URL('../../examples/nats-node.ts', import.meta.url));

function run(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', example, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, output: () => out, exited: new Promise((r) => child.once('exit', (code) => r(code))) };
}

test('examples/nats-node.ts: two nodes form one cluster, the driver sees actors on both, SIGINT leaves cleanly', { timeout: 90_000 }, () =>
  withNatsCluster(async ({ server }) => {
    const a = run(['--servers', server.url, '--node', 'gpu-a']);
    try {
      while (!a.output().includes("node 'gpu-a' joined")) {
        assert.equal(a.child.exitCode, null, a.output());
        await new Promise((r) => setTimeout(r, 50));
      }
      const b = run(['--servers', server.url, '--node', 'gpu-b', '--drive']);
      try {
        const deadline = Date.now() + 60_000;
        while (!/asks\/s; actors per node: .*gpu-a \d+.*gpu-b \d+|asks\/s; actors per node: .*gpu-b \d+.*gpu-a \d+/.test(b.output())) {
          assert.ok(Date.now() < deadline && b.child.exitCode === null, `driver output:\n${b.output()}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.match(b.output(), /members gpu-a\(\d+ shards?\), gpu-b/);
      } finally {
        b.child.kill('SIGINT');
        assert.equal(await b.exited, 0, b.output());
      }
    } finally {
      a.child.kill('SIGINT');
      assert.equal(await a.exited, 0, a.output());
    }
  }),
);
