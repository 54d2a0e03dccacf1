/**
 * One ringshard node on NATS: run it in several terminals (or on several hosts) against
 * one nats-server with JetStream, and they form one cluster.
 *
 *   nats-server -js &                                          # or any NATS 2.9+ with JetStream
 *   node --import tsx examples/nats-node.ts --node gpu-a &
 *   node --import tsx examples/nats-node.ts --node gpu-b --drive
 *
 * Options: --servers nats://host:4222 (default nats://127.0.0.1:4222), --node NAME,
 * --durable, --drive (ask 64 counters in closed loops and print, every second, the rate
 * and how many of them each node owns). Ctrl-C hands this node's actors to the others.
 */
import { parseArgs } from 'node:util';
import { Cluster, counter } from '../src/index.ts';

const { values } = parseArgs({
  options: {
    servers: { type: 'string', default: 'nats://127.0.0.1:4222' },
    node: { type: 'string' },
    durable: { type: 'boolean', default: false },
    drive: { type: 'boolean', default: false },
  },
});

const cluster = await Cluster.start({
  kernels: [counter],
  nats: { servers: values.servers!, ...(values.node ? { node: values.node } : {}), durable: values.durable! },
});
console.log(`node '${cluster.nodeName}' joined: members ${cluster.members().map((m) => `${m.node}(${m.shards} shard${m.shards === 1 ? '' : 's'})`).join(', ')}`);

let stopping = false;
process.on('SIGINT', () => {
  if (stopping) process.exit(1);
  stopping = true;
  console.log('handing actors over and leaving...');
  void cluster.shutdown().then(() => process.exit(0));
});

if (values.drive) {
  const refs = Array.from({ length: 64 }, (_, i) => cluster.actor(counter, `user-${i}`));
  let asks = 0;
  setInterval(() => {
    const owners = new Map<string, number>();
    for (const r of refs) owners.set(cluster.locate(r).node, (owners.get(cluster.locate(r).node) ?? 0) + 1);
    console.log(`${asks} asks/s; actors per node: ${[...owners].map(([n, c]) => `${n} ${c}`).join(', ')}`);
    asks = 0;
  }, 1000).unref();
  await Promise.all(
    refs.map(async (ref) => {
      while (!stopping) {
        await ref.ask({ add: 1 });
        asks++;
      }
    }),
  );
} else {
  setInterval(() => {}, 1 << 30); // serve until Ctrl-C
}
