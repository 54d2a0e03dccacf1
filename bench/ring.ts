/**
 * Ring benchmark: records per second through SpscRing between two threads (a round
 * trip: main -> worker -> main), for 64-byte records with the real header, batched and
 * one at a time, and the one-record round-trip time. A bare 16-byte-slot run in the same
 * process is the baseline the figures are compared with.
 *
 *   npm run bench:ring            (RINGSHARD_BENCH_SECONDS=2 per case by default)
 */
import { CAPACITY, RECORD_WORDS, ringRoundTrip, ringThroughput } from './lib/ring-measure.ts';
import { printTable, writeJson, type BenchRow } from './report.ts';

const SECONDS = Number(process.env.RINGSHARD_BENCH_SECONDS ?? 2);
const BATCH = 256;

const bare = await ringThroughput(SECONDS, 4, BATCH, false);
const raw64 = await ringThroughput(SECONDS, RECORD_WORDS, BATCH, false);
const batched = await ringThroughput(SECONDS, RECORD_WORDS, BATCH, true);
const single = await ringThroughput(SECONDS, RECORD_WORDS, 1, true);
const rtt = await ringRoundTrip(SECONDS);

const rows: BenchRow[] = [
  { case: 'bare 16-byte slots, batch 256 (baseline)', 'msgs/s': Math.round(bare.msgsPerSec), 'vs baseline': 1 },
  { case: '64-byte slots, one word written, batch 256', 'msgs/s': Math.round(raw64.msgsPerSec), 'vs baseline': raw64.msgsPerSec / bare.msgsPerSec },
  { case: '64-byte records, encoded, batch 256', 'msgs/s': Math.round(batched.msgsPerSec), 'vs baseline': batched.msgsPerSec / bare.msgsPerSec },
  { case: '64-byte records, encoded, one per publish', 'msgs/s': Math.round(single.msgsPerSec), 'vs baseline': single.msgsPerSec / bare.msgsPerSec },
];
printTable(`SpscRing round trip main -> worker -> main (${SECONDS}s per case)`, rows);
printTable('One 64-byte record in flight (main waits with Atomics.waitAsync)', [
  { case: 'round trip', 'p50 us': rtt.p50, 'p99 us': rtt.p99, 'mean us': rtt.mean, samples: rtt.samples },
]);
const file = writeJson('ring', {
  bench: 'ring',
  seconds: SECONDS,
  capacity: CAPACITY,
  recordBytes: RECORD_WORDS * 4,
  throughput: { bare16: bare.msgsPerSec, raw64: raw64.msgsPerSec, batched64: batched.msgsPerSec, single64: single.msgsPerSec },
  ratios: { batched64VsBare: batched.msgsPerSec / bare.msgsPerSec, single64VsBare: single.msgsPerSec / bare.msgsPerSec },
  roundTripUs: rtt,
});
console.log(`\nJSON: ${file}`);
