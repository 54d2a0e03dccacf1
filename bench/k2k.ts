/**
 * K2K and security benchmark, all in one run:
 *   - K2K messages/s: ping-pong chains (one tell starts each, every hop is a K2K message
 *     routed by the coordinator) with both actors of a pair on one shard, and with the
 *     pair split across two shards; from the first tell to cluster.drain(). Hops per
 *     chain grow until a run takes RINGSHARD_BENCH_SECONDS, so the load fits the machine.
 *     Beside it, in the same cluster: external tells to counters (the baseline ratio).
 *   - what authorize costs: tell and askMany throughput of a cluster with an authorize
 *     policy against one without (same kernels, alternating slices, both start orders)
 *   - what handle_secure costs: a counter behind handle_secure (with a role check)
 *     against the plain counter, side by side in the same cluster
 * Prints tables and writes bench/results/k2k.json.
 *
 *   npm run bench:k2k      RINGSHARD_BENCH_SECONDS (default 1) per slice
 *   RINGSHARD_BENCH_ONLY=k2k|security    one part only;  RINGSHARD_BENCH_BACKEND=cpu
 */
import { Cluster, counter, defineKernel, type ActorRef } from '../src/index.ts';
import { requestAdapter } from '../src/worker/gpu/gpu-host.ts';
import { pingpong } from '../test/helpers/k2k-kernels.ts';
import { measureAskMany, measureTell } from './lib/load.ts';
import { printTable, writeJson } from './report.ts';

type Ref = ActorRef<typeof counter.state, typeof counter.request, typeof counter.reply>;

const SLICE = Number(process.env.RINGSHARD_BENCH_SECONDS ?? 1);
const ONLY = process.env.RINGSHARD_BENCH_ONLY;
const ROUNDS = 3;
const PAIRS = 2048;
const ACTORS = 1024;
const backend = (process.env.RINGSHARD_BENCH_BACKEND as 'webgpu' | 'cpu' | undefined) ?? ((await requestAdapter()) ? 'webgpu' : 'cpu');
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The counter behind handle_secure: the same work plus a role check that always passes. */
const secureCounter = defineKernel({
  name: 'secure-counter',
  state: counter.state,
  request: counter.request,
  reply: counter.reply,
  wgsl: `fn handle_secure(ctx: ptr<function, SecureRingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  if (((*ctx).roles & ROLE_WRITER) == 0u) {
    (*ctx).status = STATUS_FORBIDDEN;
    return Reply(0u, 0u);
  }
  (*state).total += msg.add;
  (*state).count += 1u;
  return Reply((*state).total, (*state).count);
}`,
  reference: {
    handleSecure: (s, m, ctx) => {
      if ((ctx.roles & ctx.ROLE_WRITER!) === 0) {
        ctx.status = ctx.FORBIDDEN;
        return { total: 0, count: 0 };
      }
      s.total = (s.total + m.add) >>> 0;
      s.count = (s.count + 1) >>> 0;
      return { total: s.total, count: s.count };
    },
  },
});

/** Runs PAIRS chains of `hops` K2K messages each; returns K2K messages per second. */
async function chains(cluster: Cluster, pairs: Array<[ActorRef<any, any, any>, ActorRef<any, any, any>]>, hops: number): Promise<{ rate: number; seconds: number }> {
  const t0 = performance.now();
  for (const [a, b] of pairs) void a.tell({ left: hops, to: b.id });
  await cluster.drain();
  const seconds = (performance.now() - t0) / 1000;
  return { rate: (pairs.length * hops) / seconds, seconds };
}

async function k2kRates() {
  const cluster = await Cluster.start({ kernels: [pingpong, counter], shards: 2, backend, logger: false });
  try {
    const same = Array.from({ length: PAIRS }, (_, i) => [cluster.actor(pingpong, `s-a${i}`, { shard: 0 }), cluster.actor(pingpong, `s-b${i}`, { shard: 0 })] as [ActorRef<any, any, any>, ActorRef<any, any, any>]);
    const cross = Array.from({ length: PAIRS }, (_, i) => [cluster.actor(pingpong, `x-a${i}`, { shard: 0 }), cluster.actor(pingpong, `x-b${i}`, { shard: 1 })] as [ActorRef<any, any, any>, ActorRef<any, any, any>]);
    const counters = Array.from({ length: ACTORS }, (_, i) => cluster.actor(counter, `c${i}`));
    await Promise.all([...same.flat(), ...cross.flat()].map((r) => r.snapshot()));
    await Promise.all(counters.map((r) => r.ask({ add: 0 })));
    // Hops per chain: doubled until one run takes a slice on this machine.
    let hops = 4;
    while (hops < 1 << 14 && (await chains(cluster, cross, hops)).seconds < SLICE) hops *= 2;
    const out = { hops, pairs: PAIRS, sameShard: [] as number[], crossShard: [] as number[], tell: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      out.sameShard.push((await chains(cluster, same, hops)).rate);
      out.crossShard.push((await chains(cluster, cross, hops)).rate);
      out.tell.push((await measureTell(counters as Ref[], SLICE)).msgsPerSec);
    }
    return out;
  } finally {
    await cluster.shutdown();
  }
}

async function securityCost() {
  const result = {
    plain: { tell: [] as number[], askMany: [] as number[] },
    policy: { tell: [] as number[], askMany: [] as number[] },
    secure: { tell: [] as number[], askMany: [] as number[] },
  };
  let policyCalls = 0;
  for (const first of ['plain', 'policy'] as const) {
    const start = (policy: boolean) =>
      Cluster.start({
        kernels: [counter, secureCounter],
        shards: 1,
        backend,
        logger: false,
        roles: ['reader', 'writer'],
        ...(policy ? { authorize: ({ roles }: { roles: readonly string[] }) => (policyCalls++, roles.includes('writer')) } : {}),
      });
    const a = await start(first === 'policy');
    const b = await start(first !== 'policy');
    const clusters = first === 'policy' ? { policy: a, plain: b } : { plain: a, policy: b };
    try {
      const who = { principal: 'svc', roles: ['writer'] };
      const refs = {
        plain: Array.from({ length: ACTORS }, (_, i) => clusters.plain.actor(counter, `c${i}`, who)) as Ref[],
        policy: Array.from({ length: ACTORS }, (_, i) => clusters.policy.actor(counter, `c${i}`, who)) as Ref[],
        secure: Array.from({ length: ACTORS }, (_, i) => clusters.plain.actor(secureCounter, `c${i}`, who)) as unknown as Ref[],
      };
      for (const r of Object.values(refs)) await Promise.all(r.map((x) => x.ask({ add: 0 })));
      // The order rotates round by round: the slice measured first in a round ran faster here.
      const kinds = ['plain', 'policy', 'secure'] as const;
      for (let round = 0; round < ROUNDS; round++) {
        const order = kinds.map((_, i) => kinds[(i + round) % kinds.length]!);
        for (const kind of order) result[kind].tell.push((await measureTell(refs[kind], SLICE)).msgsPerSec);
        for (const kind of order) result[kind].askMany.push((await measureAskMany(refs[kind], SLICE)).msgsPerSec);
      }
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  }
  return { ...result, policyCalls };
}

const json: Record<string, unknown> = { backend, sliceSeconds: SLICE };
const m = (x: number) => `${(x / 1e6).toFixed(2)} M/s`;
const k = (x: number) => `${(x / 1e3).toFixed(0)} k/s`;

if (ONLY === undefined || ONLY === 'k2k') {
  const r = await k2kRates();
  const same = median(r.sameShard);
  const cross = median(r.crossShard);
  const tell = median(r.tell);
  printTable(`K2K messages/s (${backend}, ${r.pairs} ping-pong chains of ${r.hops} hops, median of ${ROUNDS})`, [
    { load: 'K2K, both actors on one shard', rate: k(same), 'vs external tell': (same / tell).toFixed(3) },
    { load: 'K2K, pairs across two shards', rate: k(cross), 'vs external tell': (cross / tell).toFixed(3) },
    { load: 'external tell (same cluster)', rate: m(tell), 'vs external tell': '1.000' },
  ]);
  json.k2k = { ...r, median: { sameShard: same, crossShard: cross, tell } };
}

if (ONLY === undefined || ONLY === 'security') {
  const r = await securityCost();
  const row = (kind: 'plain' | 'policy' | 'secure', what: string) => {
    const tell = median(r[kind].tell);
    const askMany = median(r[kind].askMany);
    // Ratios are medians of the per-round ratios (the slices of one round ran side by side).
    const ratio = (xs: number[], base: number[]) => median(xs.map((x, i) => x / base[i]!)).toFixed(3);
    return { load: what, tell: m(tell), 'tell ratio': ratio(r[kind].tell, r.plain.tell), askMany: m(askMany), 'askMany ratio': ratio(r[kind].askMany, r.plain.askMany) };
  };
  printTable(`authorize and handle_secure (${backend}, 1 shard, ${ACTORS} actors, medians of ${ROUNDS * 2} slices, ratios per round)`, [
    row('plain', 'counter, no policy'),
    row('policy', 'counter, authorize policy'),
    row('secure', 'handle_secure counter, no policy'),
  ]);
  console.log(`authorize was asked ${r.policyCalls} times for ${2 * ACTORS} refs (once per tuple)`);
  json.security = r;
}

writeJson('k2k', json);
