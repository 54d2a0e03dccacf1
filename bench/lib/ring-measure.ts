/**
 * Ring measurements shared by bench/ring.ts and bench/throughput.ts: records per second
 * through SpscRing between two threads (a round trip: main -> worker -> main) and the
 * one-record round-trip time.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { compileCodec } from '../../src/layout/codec.ts';
import { NO_ACTOR, Op, REQUEST_HEADER_WORDS, RequestHeader, kernelOp, requestSlotWords } from '../../src/layout/record.ts';
import { SpscRing } from '../../src/rings/spsc-ring.ts';
import { percentile } from '../report.ts';

export const CAPACITY = 1 << 16; // the coordinator's default request ring

interface Pair {
  requests: SpscRing;
  replies: SpscRing;
  worker: Worker;
}

function startEcho(slotWords: number): Pair {
  const requests = SpscRing.create({ capacity: CAPACITY, slotWords });
  const replies = SpscRing.create({ capacity: CAPACITY, slotWords });
  const worker = new Worker(new URL('../../workers/ts-entry.mjs', import.meta.url), {
    workerData: { tsEntry: new URL('../workers/ring-echo.ts', import.meta.url).href, requests: requests.buffer, replies: replies.buffer, maxBatch: 4096 },
  });
  return { requests, replies, worker };
}

async function stop(pair: Pair): Promise<number> {
  pair.requests.close();
  const [msg] = await once(pair.worker, 'message');
  await pair.worker.terminate();
  return (msg as { echoed: number }).echoed;
}

// Payload of 7 words, so that header (9 words) + payload = 16 words = 64 bytes.
const codec = compileCodec({ key: 'u32', seq: 'u32', value: ['f32', 5] }, 'bench request');
export const RECORD_WORDS = requestSlotWords(codec.words);

/** Claims up to `batch` slots and writes real request records (header + encoded payload). */
function fillRecords(ring: SpscRing, batch: number, seq: number, msg: { key: number; seq: number; value: number[] }): number {
  const w = ring.words;
  const f = ring.floats;
  const op = kernelOp(0, Op.MESSAGE);
  let n = 0;
  for (; n < batch; n++) {
    const o = ring.claim();
    if (o < 0) break;
    const s = seq + n;
    w[o + RequestHeader.target] = s & 1023;
    w[o + RequestHeader.kernelOp] = op;
    w[o + RequestHeader.correlation] = 0;
    w[o + RequestHeader.source] = NO_ACTOR;
    w[o + RequestHeader.tenant] = 0;
    w[o + RequestHeader.principal] = 0;
    w[o + RequestHeader.hlcHi] = 0;
    w[o + RequestHeader.hlcLo] = s;
    w[o + RequestHeader.enqueuedUs] = s;
    msg.seq = s;
    codec.encode(msg, w, f, o + REQUEST_HEADER_WORDS);
  }
  return n;
}

/** Claims up to `batch` slots and writes only the sequence number: the ring's own cost. */
function fillBare(ring: SpscRing, batch: number, seq: number): number {
  let n = 0;
  for (; n < batch; n++) {
    const o = ring.claim();
    if (o < 0) break;
    ring.words[o] = seq + n;
  }
  return n;
}

/** Round-trip throughput: keep the ring full, drain replies, for `seconds`. */
export async function ringThroughput(seconds: number, slotWords: number, batch: number, real: boolean): Promise<{ msgsPerSec: number; sent: number }> {
  const pair = startEcho(slotWords);
  const { requests, replies } = pair;
  const msg = { key: 1, seq: 0, value: [1, 2, 3, 4, 5] };
  let sent = 0;
  let received = 0;
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  let now = t0;
  while (now < deadline) {
    for (let b = 0; b < 64; b++) {
      // One batch (or one record), published with one store.
      const claimed = real ? fillRecords(requests, batch, sent, msg) : fillBare(requests, batch, sent);
      requests.publish();
      sent += claimed;
      const n = replies.take(1 << 30);
      if (n > 0) {
        replies.commit(n);
        received += n;
      } else if (claimed === 0) {
        replies.waitReadable(100);
      }
    }
    now = performance.now();
  }
  const elapsed = (performance.now() - t0) / 1000;
  // Drain what is still in flight so the worker can finish.
  while (received < sent) {
    const n = replies.take(1 << 30);
    if (n === 0) {
      replies.waitReadable(100);
      continue;
    }
    replies.commit(n);
    received += n;
  }
  const echoed = await stop(pair);
  if (echoed !== sent) throw new Error(`worker echoed ${echoed} of ${sent} records`);
  return { msgsPerSec: received / elapsed, sent };
}

/** One record in flight: main waits with waitReadableAsync, like the coordinator. */
export async function ringRoundTrip(seconds: number): Promise<{ p50: number; p99: number; mean: number; samples: number }> {
  const pair = startEcho(RECORD_WORDS);
  const { requests, replies } = pair;
  const msg = { key: 1, seq: 0, value: [1, 2, 3, 4, 5] };
  const times: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  let seq = 0;
  while (performance.now() < deadline) {
    const t = performance.now();
    fillRecords(requests, 1, seq++, msg);
    requests.publish();
    while (replies.take(1) === 0) await replies.waitReadableAsync();
    replies.commit(1);
    times.push((performance.now() - t) * 1000);
  }
  await stop(pair);
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), mean: times.reduce((a, b) => a + b, 0) / times.length, samples: times.length };
}

