import { Cluster, counter } from '../src/index.ts';
const c = await Cluster.start({ kernels: [counter], shards: 1, backend: 'webgpu', logger: false });
const refs = Array.from({ length: 1024 }, (_, i) => c.actor(counter, `bench-${i}`));
await Promise.all(refs.map((x) => x.ask({ add: 0 })));
const msg = { add: 1 }; let sent = 0; const t0 = performance.now(); const waiting: Promise<void>[] = [];
while (performance.now() < t0 + 4000) { let previous; for (let i = 0; i < 8192; i++) { const p = refs[(sent + i) % 1024]!.tell(msg); if (p !== previous) waiting.push((previous = p)); } sent += 8192; await Promise.all(waiting); waiting.length = 0; }
await Promise.all(refs.map((r) => r.snapshot()));
console.log((sent / ((performance.now() - t0) / 1000) / 1e6).toFixed(2));
await c.shutdown();
