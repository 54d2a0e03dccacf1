/**
 * One ringshard node in its own process, for multi-process tests: started with
 * `node --import tsx test/helpers/nats-node-process.ts '<json options>'`, it joins the
 * cluster, says { ready, node } over IPC, and then does what the parent asks:
 *   { op: 'asks', id, keys, n }  n asks { add: 1 } to each key, in order per key;
 *                                answers { id, replies: { key: counts[] } }
 *   { op: 'snapshot', id, keys } answers { id, states: { key: state } }
 *   { op: 'shutdown', id }       shuts the cluster down, answers { id }, exits
 */
import { Cluster, counter } from '../../src/index.ts';

const options = JSON.parse(process.argv[2]!) as { servers: string; node: string; durable?: boolean; backend?: 'cpu' | 'webgpu'; deadAfterMs?: number; heartbeatMs?: number; extra?: Record<string, unknown> };
const cluster = await Cluster.start({
  kernels: [counter],
  shards: 1,
  backend: options.backend ?? 'cpu',
  logger: false,
  nats: { servers: options.servers, node: options.node, durable: options.durable ?? false, heartbeatMs: options.heartbeatMs ?? 100, deadAfterMs: options.deadAfterMs ?? 600, ...options.extra },
});

process.on('message', async (m: { op: string; id: number; keys?: string[]; n?: number }) => {
  try {
    if (m.op === 'asks') {
      const replies: Record<string, number[]> = {};
      await Promise.all(
        m.keys!.map(async (key) => {
          const ref = cluster.actor(counter, key);
          const got = await Promise.all(Array.from({ length: m.n! }, () => ref.ask({ add: 1 })));
          replies[key] = got.map((r) => r.count);
        }),
      );
      process.send!({ id: m.id, replies });
    } else if (m.op === 'snapshot') {
      const states: Record<string, unknown> = {};
      for (const key of m.keys!) states[key] = await cluster.actor(counter, key).snapshot();
      process.send!({ id: m.id, states });
    } else if (m.op === 'shutdown') {
      await cluster.shutdown();
      process.send!({ id: m.id });
      process.exit(0);
    }
  } catch (error) {
    process.send!({ id: m.id, error: `${(error as Error).message}` });
  }
});
process.send!({ ready: true, node: cluster.nodeName });
