import { Cluster, counter } from '../src/index.ts';
const backend = (process.argv[2] ?? 'webgpu') as 'webgpu';
const shards = Number(process.argv[3] ?? 1);
const cluster = await Cluster.start({ kernels: [counter], shards, backend, logger: false, maxBatch: Number(process.argv[4] ?? 16384) });
const refs = Array.from({ length: 1024 }, (_, i) => cluster.actor(counter, `k${i}`));
await Promise.all(refs.map((r) => r.ask({ add: 0 })));
const msg = { add: 1 };
for (let round = 0; round < 3; round++) {
  const t0 = performance.now();
  let sent = 0;
  while (performance.now() - t0 < 3000) {
    let p: Promise<void> | undefined;
    for (let i = 0; i < 8192; i++) p = refs[i & 1023]!.tell(msg);
    sent += 8192;
    await p;
  }
  await Promise.all(refs.map((r) => r.snapshot()));
  const dt = (performance.now() - t0) / 1000;
  console.log(`tell: ${(sent / dt / 1e6).toFixed(2)} M msgs/s`);
}
await cluster.shutdown();
