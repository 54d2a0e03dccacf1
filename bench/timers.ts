/**
 * Timers (fn on_timer): what armed timers cost while none is due, how fast due timers
 * are handled, and how late they fire under load. Ratios are measured side by side in
 * one run (the machine is noisy); nothing here is a fixed rate.
 *
 *   1. Armed, none due: tell throughput to 1,024 actors among ACTORS actors holding 4
 *      timers each (RINGSHARD_BENCH_TIMERS armed in all, default 1,000,000, due in an
 *      hour) against the same actors with no timer armed.
 *   2. Due together: DUE one-shot timers (default 100,000) all past due at once (the
 *      main thread held meanwhile); how fast the backlog is handled.
 *   3. Under load: periodic timers (every 50 ms) on 4,096 actors while tells come at 70%
 *      of what the shard sustains (an open loop), and while a closed loop saturates it;
 *      their lateness p50/p99 against the same timers on an idle shard.
 *
 *   npm run bench:timers     RINGSHARD_BENCH_BACKEND=cpu|webgpu (default cpu)
 */
import { Cluster, defineKernel } from '../src/index.ts';
import { percentile, printTable, writeJson } from './report.ts';

const ARMED = Number(process.env.RINGSHARD_BENCH_TIMERS ?? 1_000_000);
const DUE = Number(process.env.RINGSHARD_BENCH_DUE ?? 100_000);
const backend = (process.env.RINGSHARD_BENCH_BACKEND as 'cpu' | 'webgpu' | undefined) ?? 'cpu';
const LATES = 8;

/** Arms timers 0..n-1 (`arm` = n) due in `due` ms, every `every` ms; counts messages; keeps the last LATES lateness values. */
const alarm = defineKernel({
  name: 'alarm',
  state: { n: 'u32', fires: 'u32', lates: ['u32', LATES] },
  request: { arm: 'u32', due: 'u32', every: 'u32' },
  reply: { n: 'u32', fires: 'u32' },
  maxTimers: 4,
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  for (var i = 0u; i < msg.arm; i++) { set_timer(ctx, i, msg.due, msg.every); }
  (*state).n += 1u;
  return Reply((*state).n, (*state).fires);
}
fn on_timer(ctx: ptr<function, RingContext>, state: ptr<function, State>, timer: u32) {
  (*state).lates[(*state).fires % ${LATES}u] = (*ctx).timer_late_ms;
  (*state).fires += 1u;
}`,
  reference: {
    handle: (s, m, ctx) => {
      for (let i = 0; i < m.arm; i++) ctx.setTimer(i, m.due, m.every);
      s.n += 1;
      return { n: s.n, fires: s.fires };
    },
    onTimer: (s, _timer, ctx) => {
      s.lates[s.fires % 8] = ctx.timerLateMs;
      s.fires += 1;
    },
  },
});

const CHUNK = 8_192;
const HOT = 1_024;

async function start(actors: number): Promise<Cluster> {
  return Cluster.start({ kernels: [alarm], backend, shards: 1, logger: false, maxActorsPerShard: Math.max(1024, actors), idleAfterMs: 0, maxSendsPerMessage: 8 });
}

async function tellAll(cluster: Cluster, from: number, to: number, msg: { arm: number; due: number; every: number }): Promise<void> {
  for (let base = from; base < to; base += CHUNK) {
    const sends: Array<Promise<void>> = [];
    for (let i = base; i < Math.min(to, base + CHUNK); i++) sends.push(cluster.actor(alarm, `a${i}`).tell(msg));
    await Promise.all(sends);
  }
  await cluster.drain();
}

/** Tells per second to HOT actors for `ms`, two chunks in flight, the event loop turning between chunks. */
async function tellRate(cluster: Cluster, ms: number): Promise<number> {
  const refs = Array.from({ length: HOT }, (_, i) => cluster.actor(alarm, `a${i}`));
  const msg = { arm: 0, due: 0, every: 0 };
  let n = 0;
  const t0 = performance.now();
  const chunk = () => {
    const sends: Array<Promise<void>> = [];
    for (let i = 0; i < CHUNK; i++) sends.push(refs[i % HOT]!.tell(msg));
    n += CHUNK;
    return Promise.all(sends);
  };
  let inFlight = chunk();
  while (performance.now() - t0 < ms) {
    const next = chunk();
    await inFlight;
    inFlight = next;
    // As a server's I/O does: the event loop turns between chunks (timers run there).
    await new Promise((resolve) => setImmediate(resolve));
  }
  await inFlight;
  await cluster.drain();
  return n / ((performance.now() - t0) / 1000);
}

async function lateness(cluster: Cluster, from: number, to: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = from; i < to; i++) {
    const s = await cluster.actor(alarm, `a${i}`).snapshot();
    for (let k = 0; k < Math.min(LATES, s.fires); k++) out.push(s.lates[k]!);
  }
  return out.sort((a, b) => a - b);
}

async function firesDone(cluster: Cluster): Promise<number> {
  const text = await cluster.registry.metrics();
  const m = /ringshard_messages_total\{[^}]*kind="timer",status="ok"\} (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

// 1. Armed, none due.
const actors = Math.ceil(ARMED / 4);
const armedRows: Array<Record<string, string | number>> = [];
const PARTS = (process.env.RINGSHARD_BENCH_PARTS ?? '1,2,3').split(',');
// Pairs in ABBA order, so a machine that speeds up or slows down through the run favours neither.
for (const arm of PARTS.includes('1') ? [0, 4, 4, 0, 0, 4] : []) {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  // The main thread's heap and its array buffers (the timer index is typed arrays).
  const used = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const heap0 = used();
  const cluster = await start(actors);
  try {
    await tellAll(cluster, 0, actors, { arm, due: 3_600_000, every: 0 });
    gc?.();
    const heap = used() - heap0;
    await tellRate(cluster, 1_000); // warm
    const rates: number[] = [];
    for (let r = 0; r < 3; r++) rates.push(await tellRate(cluster, 2_000));
    armedRows.push({ case: arm ? `${(actors * arm).toLocaleString('en-US')} armed, none due` : 'no timer armed', actors, 'tell msgs/s': Math.round(percentile(rates.sort((a, b) => a - b), 50)), 'main heap + buffers growth MB': Math.round(heap / 2 ** 20) });
  } finally {
    await cluster.shutdown();
  }
}
// Each case three times, in pairs: each pair's ratio (armed over none), and their median.
const pairRatios: number[] = [];
for (let p = 0; p + 1 < armedRows.length; p += 2) {
  const [a, b] = [armedRows[p]!, armedRows[p + 1]!];
  const [none, armed] = String(a.case).startsWith('no timer') ? [a, b] : [b, a];
  const ratio = Number(((armed['tell msgs/s'] as number) / Math.max(1, none['tell msgs/s'] as number)).toFixed(2));
  none['x none armed'] = 1;
  armed['x none armed'] = ratio;
  pairRatios.push(ratio);
}
pairRatios.sort((a, b) => a - b);
const medianRatio = pairRatios.length > 0 ? pairRatios[Math.floor(pairRatios.length / 2)]! : NaN;

// 2. Due together: armed, then the main thread is held until every one is past due, so
// they wait as one backlog (100,000 due in the same instant); then how fast they are
// handled, in batches.
let dueRow: Record<string, string | number> = {};
if (PARTS.includes('2')) {
  const n = Math.ceil(DUE / 4);
  const cluster = await start(n);
  try {
    const t0 = performance.now();
    // Due after arming is over (none fires before the hold), and all past due when it ends.
    const DUE_MS = 4_000;
    await tellAll(cluster, 0, n, { arm: 4, due: DUE_MS, every: 0 });
    const armedBy = performance.now() - t0;
    if (armedBy > DUE_MS / 2) throw new Error(`arming took ${Math.round(armedBy)} ms: lower RINGSHARD_BENCH_DUE`);
    if (cluster.info().timers.fired > 0) throw new Error('a timer fired before the hold');
    const hold = t0 + armedBy + DUE_MS + 100;
    while (performance.now() < hold) {
      // the event loop is held: every timer comes due meanwhile
    }
    const released = performance.now();
    while (cluster.info().timers.fired < n * 4) await new Promise((resolve) => setTimeout(resolve, 1));
    await cluster.drain();
    const seconds = (performance.now() - released) / 1000;
    const handled = await firesDone(cluster);
    if (handled !== n * 4) throw new Error(`${handled} fires handled, not ${n * 4}`);
    dueRow = { case: `${(n * 4).toLocaleString('en-US')} one-shot, all due at once`, 'armed in ms': Math.round(armedBy), 'handled in ms': Math.round(seconds * 1000), 'fires/s': Math.round((n * 4) / seconds) };
  } finally {
    await cluster.shutdown();
  }
}

// 3. Lateness under load, against the same timers idle: under a paced load at 70% of
// what a closed loop sustains (measured first, on the same cluster), and under the closed
// loop itself (the shard saturated: fires queue behind its backlog).
const PERIODIC = 4_096;
const loadRows: Array<Record<string, string | number>> = [];

/** Tells at `rate` per second to HOT actors for `ms`, sent every 5 ms (an open loop). */
async function pacedTells(cluster: Cluster, rate: number, ms: number): Promise<number> {
  const refs = Array.from({ length: HOT }, (_, i) => cluster.actor(alarm, `a${i}`));
  const msg = { arm: 0, due: 0, every: 0 };
  const t0 = performance.now();
  let sent = 0;
  let told = 0;
  const pending: Array<Promise<void>> = [];
  while (performance.now() - t0 < ms) {
    // What is due by now, at most two ticks' worth at once (a shard that fell behind is
    // not flooded: the load is the rate it takes, up to `rate`).
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    const end = Math.min(due, sent + Math.ceil(rate * 0.01));
    for (let i = sent; i < end; i++) pending.push(refs[i % HOT]!.tell(msg));
    told += Math.max(0, end - sent);
    sent = Math.max(end, due - Math.ceil(rate * 0.01));
    if (pending.length > 16_384) await Promise.all(pending.splice(0));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const n = told;
  await Promise.all(pending);
  await cluster.drain();
  return n / ((performance.now() - t0) / 1000);
}

for (const load of PARTS.includes('3') ? ['idle shard', 'open loop aiming at 0.7 of the closed loop', 'closed loop (saturated)'] : []) {
  const cluster = await start(PERIODIC + HOT);
  try {
    const most = load === 'idle shard' ? 0 : await tellRate(cluster, 1_000);
    await tellAll(cluster, HOT, HOT + PERIODIC, { arm: 1, due: 50, every: 50 });
    let rate = 0;
    if (load.startsWith('open')) rate = await pacedTells(cluster, most * 0.7, 3_000);
    else if (load.startsWith('closed')) rate = await tellRate(cluster, 3_000);
    else await new Promise((resolve) => setTimeout(resolve, 3_000));
    const lates = await lateness(cluster, HOT, HOT + PERIODIC);
    loadRows.push({ case: load, 'periodic timers': PERIODIC, 'every ms': 50, 'tell msgs/s': Math.round(rate), 'late p50 ms': percentile(lates, 50), 'late p99 ms': percentile(lates, 99) });
  } finally {
    await cluster.shutdown();
  }
}

const day = new Date().toISOString().slice(0, 10);
if (armedRows.length > 0) printTable(`armed timers, none due (${backend}, 1 shard, 4 timers per actor; ${day}); median of the pairs' ratios: ${medianRatio}`, armedRows);
if (Object.keys(dueRow).length > 0) printTable(`timers coming due together (${backend}, 1 shard; ${day})`, [dueRow]);
if (loadRows.length > 0) printTable(`lateness of periodic timers (${backend}, 1 shard; ${day})`, loadRows);
console.log(`\nJSON: ${writeJson('timers', { backend, armed: armedRows, medianRatio, due: dueRow, load: loadRows })}`);
