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
 * With `k2k`, the keys are forwarders: each message to one sends 1 to a counter (a
 * sink) by K2K, and its reply says how many it forwarded; verify mode then also says
 *
 *   sink <key> <count> <total>   a sink's state, once every K2K message was delivered
 *
 * argv: path backend keys mode('load' | 'verify') seed durability('message' | 'checkpoint') [k2k]
 */
import { writeSync } from 'node:fs';
import { Cluster, counter, defineKernel } from '../../src/index.ts';

const [path, backend, keyCount, mode, seedText, durability, k2kFlag] = process.argv.slice(2) as [string, 'cpu' | 'webgpu', string, string, string, 'message' | 'checkpoint', string | undefined];
const k2k = k2kFlag === 'k2k';

/** Forwards 1 to the counter whose id it is given; counts (as `count`) what it forwarded. */
const forwarder = defineKernel({
  name: 'forwarder',
  state: { count: 'u32', total: 'u32' },
  request: { add: 'u32', to: 'u32' },
  reply: { count: 'u32', total: 'u32' },
  sends: { add: 'counter' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  send_add(ctx, msg.to, AddRequest(msg.add));
  (*state).count += 1u;
  (*state).total += msg.add;
  return Reply((*state).count, (*state).total);
}`,
  reference: (s, m, ctx) => {
    ctx.send('add', m.to, { add: m.add });
    s.count = (s.count + 1) >>> 0;
    s.total = (s.total + m.add) >>> 0;
    return { count: s.count, total: s.total };
  },
});
const SINKS = 4;
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
const cluster = await Cluster.start({ kernels: [counter, forwarder], backend, shards: 2, logger: false, persist: { path, snapshotEveryMs: 25, durability } });
// One shape for both (a counter's messages carry no `to`).
const kernel = (k2k ? forwarder : counter) as unknown as typeof forwarder;
const sinks = Array.from({ length: SINKS }, (_, i) => cluster.actor(counter, `sink${i}`));

if (mode === 'verify') {
  for (const key of keys) {
    const s = await cluster.actor(kernel, key).snapshot();
    say(`state ${key} ${s.count} ${s.total}`);
  }
  if (k2k) {
    // The forwarders' sends (replayed ones included) are all delivered before the sinks are read.
    await cluster.drain();
    for (const sink of sinks) {
      const s = await sink.snapshot();
      say(`sink ${sink.key} ${s.count} ${s.total}`);
    }
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
    const ref = cluster.actor(kernel, key);
    for (;;) {
      const r = next();
      const n = r < 0.4 ? 1 : r < 0.7 ? 2 : 1;
      const msg = k2k ? { add: 1, to: sinks[Math.floor(next() * SINKS)]!.id } : ({ add: 1 } as { add: number; to: number });
      say(`send ${key} ${n}`);
      if (r < 0.4) say(`ack ${key} ${n} ${(await ref.ask(msg)).count}`);
      else if (r < 0.7) say(`ack ${key} ${n} ${(await ref.askMany([msg, msg]))[1]!.count}`);
      else {
        await ref.tell(msg);
        say(`ack ${key} ${n}`);
      }
    }
  }),
);
