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
  while (performance.now() - t0 < 2000) {
    let p: Promise<void> | undefined;
    for (let i = 0; i < 8192; i++) p = refs[i & 1023]!.tell(msg);
    sent += 8192;
    await p;
  }
  // wait until processed
  await Promise.all(refs.map((r) => r.snapshot()));
  const dt = (performance.now() - t0) / 1000;
  console.log(`tell: ${(sent / dt / 1e6).toFixed(2)} M msgs/s`);
}
for (let round = 0; round < 2; round++) {
  const t0 = performance.now();
  let sent = 0;
  const batch = Array.from({ length: 256 }, () => msg);
  while (performance.now() - t0 < 2000) {
    await Promise.all(refs.slice(0, 256).map((r) => r.askMany(batch)));
    sent += 256 * 256;
  }
  const dt = (performance.now() - t0) / 1000;
  console.log(`askMany: ${(sent / dt / 1e6).toFixed(2)} M msgs/s`);
}
const lat: number[] = [];
for (let i = 0; i < 2000; i++) { const t = performance.now(); await refs[i & 1023]!.ask(msg); lat.push((performance.now() - t) * 1000); }
lat.sort((a, b) => a - b);
console.log('ask p50', lat[1000]!.toFixed(0), 'us p99', lat[1980]!.toFixed(0), 'us');
console.log(JSON.stringify((await Promise.all((cluster as any).shards.map((s: any) => s.stats())))));
await cluster.shutdown();
