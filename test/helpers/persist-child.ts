/**
 * A process that keeps actors in a persisted store (options.persist) and drives load on
 * them until it is killed, for test/persist/kill.test.ts. Every line goes to stdout with
 * a synchronous write (stdout is a pipe: on Linux, written before writeSync returns), so
 * what the parent reads before the kill happened before it:
 *
 *   send <key> <n>   n messages to <key> are about to be sent (before any is)
 *   ack <key> <n> [count]   they were acknowledged (tell resolved, ask answered; an
 *                    ask's reply says how many messages the actor has taken by then)
 *   state <key> <count> <total>   (verify mode) the actor's state
 *
 * argv: path backend keys mode('load' | 'verify') seed durability('message' | 'checkpoint')
 */
import { writeSync } from 'node:fs';
import { Cluster, counter } from '../../src/index.ts';

const [path, backend, keyCount, mode, seedText, durability] = process.argv.slice(2) as [string, 'cpu' | 'webgpu', string, string, string, 'message' | 'checkpoint'];
/** Written before it returns: a full pipe (EAGAIN: Node's stdout pipe does not block) is waited out. */
function say(line: string): void {
  const bytes = Buffer.from(`${line}\n`);
  for (let at = 0; at < bytes.length; ) {
    try {
      at += writeSync(1, bytes, at);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
}
const keys = Array.from({ length: Number(keyCount) }, (_, i) => `k${i}`);
const cluster = await Cluster.start({ kernels: [counter], backend, shards: 2, logger: false, persist: { path, snapshotEveryMs: 25, durability } });

if (mode === 'verify') {
  for (const key of keys) {
    const s = await cluster.actor(counter, key).snapshot();
    say(`state ${key} ${s.count} ${s.total}`);
  }
  await cluster.shutdown();
  process.exit(0);
}

let seed = Number(seedText) >>> 0 || 1;
const next = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
};
say('ready');
await Promise.all(
  keys.map(async (key) => {
    const ref = cluster.actor(counter, key);
    for (;;) {
      const r = next();
      const n = r < 0.4 ? 1 : r < 0.7 ? 2 : 1;
      say(`send ${key} ${n}`);
      if (r < 0.4) say(`ack ${key} ${n} ${(await ref.ask({ add: 1 })).count}`);
      else if (r < 0.7) say(`ack ${key} ${n} ${(await ref.askMany([{ add: 1 }, { add: 1 }]))[1]!.count}`);
      else {
        await ref.tell({ add: 1 });
        say(`ack ${key} ${n}`);
      }
    }
  }),
);
