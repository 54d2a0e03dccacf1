/**
 * SIGKILL at random moments (persist, durability 'message'): a child process drives
 * asks, askMany and tells on counters; it is killed, started again on the same store,
 * killed again (early, while actors are still being restored from the store; later,
 * while snapshots are written every 25 ms), five times; then a last start reads every
 * actor. Each counter must hold every acknowledged message exactly once: at least the
 * acknowledged ones, at most the ones sent (one in flight per actor), and its total
 * equal to its count (every message adds 1). And every ask's reply, which says how many
 * messages its actor has taken, must say no more than were ever sent to it by then, and
 * no fewer than were acknowledged before plus its own: a message applied twice, or one
 * acknowledged and lost, shows at the next reply. With K2K, the actors are forwarders,
 * each message sending 1 to one of four counters: the counters must hold exactly what
 * the forwarders' states say they sent (a send that a replayed message makes again is
 * dropped by its receiver; one a crash caught in flight is made again by the replay).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gpuOrSkip, NO_GPU } from '../helpers/gpu.ts';
import { seededRng } from '../helpers/random.ts';

const CHILD = fileURLToPath(new URL('../helpers/persist-child.ts', import.meta.url));
const KEYS = 12;
const KILLS = 5;

interface Run {
  readonly lines: AsyncIterableIterator<string>;
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

type Durability = 'message' | 'checkpoint';
/** durability 'checkpoint' may lose what an actor took after its last snapshot (every 25 ms); this much before a kill, generously. */
const CHECKPOINT_WINDOW_MS = 750;

function run(path: string, backend: string, mode: 'load' | 'verify', seed: number, durability: Durability, k2k: boolean): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path, backend, String(KEYS), mode, String(seed), durability, ...(k2k ? ['k2k'] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    lines,
    exited,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** With k2k, every message makes a K2K send to a counter (a sink), which must take each once. */
const cases: Array<{ backend: 'cpu' | 'webgpu'; durability: Durability; k2k: boolean }> = [
  { backend: 'cpu', durability: 'message', k2k: false },
  { backend: 'webgpu', durability: 'message', k2k: false },
  { backend: 'cpu', durability: 'checkpoint', k2k: false },
  { backend: 'cpu', durability: 'message', k2k: true },
  { backend: 'webgpu', durability: 'message', k2k: true },
];

for (const { backend, durability, k2k } of cases) {
  const what = durability === 'message' ? 'lose no acknowledged message' : `lose only what came in the ${CHECKPOINT_WINDOW_MS} ms before a kill`;
  const sends = k2k ? ', and every K2K send they make is taken exactly once' : '';
  test(`${backend}, durability '${durability}': ${KILLS} SIGKILLs under load ${what} and apply none twice${sends}`, { timeout: 300_000 }, async (t) => {
    if (backend === 'webgpu' && !(await gpuOrSkip())) return t.skip(NO_GPU);
    const rng = seededRng(t);
    const path = mkdtempSync(join(tmpdir(), 'ringshard-kill-'));
    const acked = new Map<string, number>();
    const sent = new Map<string, number>();
    const bump = (m: Map<string, number>, key: string, n: number) => m.set(key, (m.get(key) ?? 0) + n);
    /** 'checkpoint': per key, acknowledged messages a kill may have taken with it (acked within the window before it). */
    const mayLose = new Map<string, number>();
    try {
      for (let k = 0; k < KILLS; k++) {
        const child = run(path, backend, 'load', rng.int(1, 0x7fffffff), durability, k2k);
        const acksAt: Array<{ key: string; n: number; at: number }> = [];
        // Early kills land while actors are restored from the store; later ones amid
        // snapshots (every 25 ms) and journal commits.
        const killAfter = k % 2 === 0 ? rng.int(1, 12) : rng.int(100, 600);
        // 'checkpoint' runs longer than its loss window, or it would bound nothing.
        const killAtMs = durability === 'checkpoint' && k > 0 ? performance.now() + 6 * CHECKPOINT_WINDOW_MS + rng.int(0, 1000) : undefined;
        let acks = 0;
        let killing: Promise<void> | undefined;
        // Read to the end: every line written before the kill counts (a send announced is
        // a message that may have been applied; an ack written was an acknowledgement).
        for await (const line of child.lines) {
          const [what, key, n, count] = line.split(' ');
          if (what === 'send') bump(sent, key!, Number(n));
          else if (what === 'ack') {
            acksAt.push({ key: key!, n: Number(n), at: performance.now() });
            if (count !== undefined && durability === 'checkpoint') {
              assert.ok(Number(count) <= sent.get(key!)!, `${key}: a reply says ${count} messages taken, only ${sent.get(key!)} were sent (one applied twice)`);
            } else if (count !== undefined) {
              const c = Number(count);
              assert.ok(c <= sent.get(key!)!, `${key}: a reply says ${c} messages taken, only ${sent.get(key!)} were sent (one applied twice)`);
              assert.ok(c >= (acked.get(key!) ?? 0) + Number(n), `${key}: a reply says ${c} messages taken, ${acked.get(key!) ?? 0} were acknowledged before it (one lost)`);
            }
            bump(acked, key!, Number(n));
            ++acks;
            if (killAtMs === undefined ? acks >= killAfter : performance.now() >= killAtMs) killing ??= child.kill();
          }
        }
        await (killing ?? child.kill());
        const killedAt = performance.now();
        for (const a of acksAt) if (a.at > killedAt - CHECKPOINT_WINDOW_MS) bump(mayLose, a.key, a.n);
      }
      const verify = run(path, backend, 'verify', 1, durability, k2k);
      const states = new Map<string, { count: number; total: number }>();
      const sinks = new Map<string, { count: number; total: number }>();
      for await (const line of verify.lines) {
        const [what, key, count, total] = line.split(' ');
        if (what === 'state') states.set(key!, { count: Number(count), total: Number(total) });
        if (what === 'sink') sinks.set(key!, { count: Number(count), total: Number(total) });
      }
      assert.equal(await verify.exited, 0);
      assert.equal(states.size, KEYS);
      let acknowledged = 0;
      let bounded = 0;
      for (const [key, s] of states) {
        const low = (acked.get(key) ?? 0) - (durability === 'checkpoint' ? (mayLose.get(key) ?? 0) : 0);
        const high = sent.get(key) ?? 0;
        acknowledged += acked.get(key) ?? 0;
        bounded += low;
        assert.ok(s.count >= low, `${key}: ${s.count} messages applied, ${low} were acknowledged (one lost)`);
        assert.ok(s.count <= high, `${key}: ${s.count} messages applied, only ${high} were sent (one applied twice)`);
        assert.equal(s.total, s.count, `${key}: total ${s.total} for ${s.count} messages of 1`);
      }
      assert.ok(acknowledged > 0, 'the load acknowledged nothing');
      if (k2k) {
        // Every message a forwarder took (its count) sent 1 to a sink: a send lost, or
        // one that a replayed message made again and was taken twice, shows here.
        const forwarded = [...states.values()].reduce((a, s) => a + s.count, 0);
        const taken = [...sinks.values()].reduce((a, s) => a + s.count, 0);
        assert.equal(sinks.size, 4);
        assert.equal(taken, forwarded, `the sinks took ${taken} K2K messages, the forwarders sent ${forwarded}`);
        for (const [key, s] of sinks) assert.equal(s.total, s.count, `${key}: total ${s.total} for ${s.count} messages of 1`);
      }
      if (durability === 'checkpoint') assert.ok(bounded > acknowledged / 2, `the loss window covers ${acknowledged - bounded} of ${acknowledged} acknowledged messages: the test bounds too little`);
    } finally {
      rmSync(path, { recursive: true, force: true });
    }
  });
}
