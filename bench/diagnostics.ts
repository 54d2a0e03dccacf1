/**
 * What the diagnostics_channel events cost, in one run: activations (an ask to a new
 * actor each, then terminate: the activation event's path) and tells (the message path, which publishes
 * nothing), with no subscriber and with a subscriber on every channel, in ABBA order;
 * and one `hasSubscribers` test alone, which is all an unsubscribed event costs.
 *
 *   npm run bench:diagnostics    RINGSHARD_BENCH_SECONDS (default 1) per slice
 */
import { channel, subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Cluster, counter } from '../src/index.ts';
import { CHANNEL_NAMES } from '../src/diagnostics.ts';
import { measureTell } from './lib/load.ts';
import { printTable, writeJson } from './report.ts';

const SLICE = Number(process.env.RINGSHARD_BENCH_SECONDS ?? 1);
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 1, logger: false });
let next = 0;
let events = 0;
const listener = () => void events++;

/** New actors activated per second: an ask to a new key each (then terminate), 64 in flight. */
async function activations(seconds: number): Promise<number> {
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  let n = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (performance.now() < end) {
        const ref = cluster.actor(counter, `d${next++}`);
        await ref.ask({ add: 1 });
        await ref.terminate(); // the shard's table stays small
        n++;
      }
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

const refs = Array.from({ length: 1024 }, (_, i) => cluster.actor(counter, `t${i}`));
await Promise.all(refs.map((r) => r.ask({ add: 0 })));
await activations(SLICE / 2);
await measureTell(refs, SLICE / 2);

const figures = { none: { activations: [] as number[], tells: [] as number[] }, subscribed: { activations: [] as number[], tells: [] as number[] } };
const set = (on: boolean) => {
  for (const name of Object.values(CHANNEL_NAMES)) (on ? subscribe : unsubscribe)(name, listener);
};
for (const order of [['none', 'subscribed', 'subscribed', 'none'], ['subscribed', 'none', 'none', 'subscribed']] as const) {
  for (const which of order) {
    set(which === 'subscribed');
    figures[which].activations.push(await activations(SLICE));
    figures[which].tells.push((await measureTell(refs, SLICE)).msgsPerSec);
    set(false);
  }
}
await cluster.shutdown();

// One unsubscribed check, alone.
const ch = channel(CHANNEL_NAMES.activation);
let hits = 0;
const N = 50_000_000;
const t0 = performance.now();
for (let i = 0; i < N; i++) if (ch.hasSubscribers) hits++;
const checkNs = ((performance.now() - t0) * 1e6) / N;

const row = (which: 'none' | 'subscribed') => ({
  case: which === 'none' ? 'no subscriber' : 'a subscriber on every channel',
  'activations/s': Math.round(median(figures[which].activations)).toLocaleString('en-US'),
  'x none': (median(figures[which].activations) / median(figures.none.activations)).toFixed(2),
  'tells/s': Math.round(median(figures[which].tells)).toLocaleString('en-US'),
  'x none ': (median(figures[which].tells) / median(figures.none.tells)).toFixed(2),
});
printTable(`diagnostics_channel (cpu, 1 shard, medians of 4 ABBA slices; ${new Date().toISOString().slice(0, 10)})`, [row('none'), row('subscribed')]);
printTable('one unsubscribed hasSubscribers test', [{ ns: checkNs.toFixed(2), 'events seen while subscribed': events.toLocaleString('en-US'), hits }]);
writeJson('diagnostics', { figures, checkNs, events });
