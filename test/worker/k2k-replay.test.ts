/**
 * A replacement worker sends again what its predecessor sent: the records it runs again
 * after a recovery include messages whose sends were out before the crash. Here a shard
 * runtime (in this thread, cpu backend) is stopped while it waits for reply-ring room,
 * with some of a batch's sends out and the batch not marked handled; its successor runs
 * the batch again. The raw reply ring then holds repeats, and the coordinator's
 * SendDeduplicator must pass on each send exactly once, in order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchLayout, SEND_ENTRY_HEADER } from '../../src/layout/batch.ts';
import { NO_ACTOR, Op, RequestHeader, SEND_HEADER_WORDS, SendHeader, actorLocation, kernelOp, replySlotWords, requestSlotWords } from '../../src/layout/record.ts';
import type { KernelWire } from '../../src/protocol.ts';
import { CheckpointStore } from '../../src/recovery/checkpoint-store.ts';
import { DispatchWatch, createWatchBuffers } from '../../src/recovery/dispatch-watch.ts';
import { SpscRing } from '../../src/rings/spsc-ring.ts';
import { SendDeduplicator } from '../../src/recovery/send-dedupe.ts';
import { CpuKernelSet } from '../../src/worker/cpu/cpu-kernel-set.ts';
import { ShardRuntime } from '../../src/worker/runtime/shard-runtime.ts';
import { fwd, sink } from '../helpers/k2k-kernels.ts';

const SINK_ID = 100;
const FWD_ID = 200;
const MESSAGES = 24;

test('a successor re-sends what its predecessor sent; the deduplicator passes each send on once, in order', async () => {
  const kernels = [sink, fwd];
  const payload = Math.max(...kernels.map((k) => k.codecs.request.words));
  const sendPayload = sink.codecs.request.words;
  const layout = batchLayout({
    kernels: 2,
    maxBatch: 64,
    recordWords: requestSlotWords(payload),
    resultWords: Math.max(...kernels.map((k) => Math.max(k.codecs.reply.words, k.codecs.state.words))),
    stateStride: Math.max(...kernels.map((k) => k.codecs.state.words)),
    maxSends: 4,
    sendWords: SEND_ENTRY_HEADER + sendPayload,
  });
  const wires: KernelWire[] = kernels.map((k, id) => ({
    id,
    name: k.name,
    state: k.state,
    request: k.request,
    reply: k.reply,
    module: '',
    userLineOffset: 0,
    userLineCount: 0,
    reference: k.referenceWire!,
    ...(id === 1 ? { sends: [{ name: 'sink', kernel: 0 }] } : {}),
  }));
  const requests = SpscRing.create({ capacity: 256, slotWords: layout.recordWords });
  // Room for 4 records: the runtime waits for the reply ring mid-batch.
  const replies = SpscRing.create({ capacity: 4, slotWords: replySlotWords(layout.resultWords, sendPayload) });
  const store = CheckpointStore.create(layout.stateStride, 16, requests.committedIndex);
  const watch = createWatchBuffers();

  // Two actors arrive (INIT carries the id in the source word), then the forwarder's messages.
  const put = (location: number, kernel: number, op: Op, source: number, msg?: Record<string, number>) => {
    const o = requests.claim();
    assert.ok(o >= 0);
    const w = requests.words;
    w.fill(0, o, o + layout.recordWords);
    w[o + RequestHeader.target] = location;
    w[o + RequestHeader.kernelOp] = kernelOp(kernel, op);
    w[o + RequestHeader.source] = source;
    w[o + RequestHeader.hlcHi] = 1;
    if (msg) kernels[kernel]!.codecs.request.encode(msg as never, w, requests.floats, o + layout.recordWords - payload);
  };
  put(actorLocation(0, 0), 0, Op.INIT, SINK_ID);
  put(actorLocation(0, 1), 1, Op.INIT, FWD_ID);
  for (let i = 0; i < MESSAGES; i++) put(actorLocation(0, 1), 1, Op.MESSAGE, NO_ACTOR, { to: SINK_ID, amount: i + 1, sink: 0, me: 0 });
  requests.publish();

  const runtime = (generation: number) =>
    new ShardRuntime({
      shardIndex: 0,
      requestRing: requests.buffer,
      replyRing: replies.buffer,
      kernels: wires,
      layout,
      backend: new CpuKernelSet(wires, layout),
      maxSlots: 16,
      metrics: undefined,
      skipTo: undefined,
      checkpoint: { store: new CheckpointStore(store.buffers), policy: { everyRecords: 1 << 20, everyMs: 0 } },
      watch: new DispatchWatch(watch),
      epochMs: performance.timeOrigin,
      isolate: undefined,
      quarantined: new Set(),
      generation,
    });

  const consumer = new SpscRing(replies.buffer);
  const raw: Array<{ cause: number; ordinal: number; amount: number; source: number }> = [];
  const takeAll = () => {
    const start = consumer.readIndex;
    const n = consumer.take(64);
    for (let i = 0; i < n; i++) {
      const o = consumer.slotOffset(start + i);
      const w = consumer.words;
      if (w[o + SendHeader.correlation] !== 0) continue;
      raw.push({ cause: w[o + SendHeader.cause]!, ordinal: w[o + SendHeader.ordinal]!, amount: w[o + SEND_HEADER_WORDS]!, source: w[o + SendHeader.source]! });
    }
    consumer.commit(n);
  };

  const first = runtime(0);
  const firstRun = first.run();
  // Handshake: the first worker published 4 sends and sleeps waiting for reply room.
  while (!replies.producerWaiting) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(((requests.handledIndex - requests.committedIndex) | 0) < 2 + MESSAGES, 'the batch is not marked handled');
  // The coordinator replaces the worker: from the next generation on the rings are not its.
  const generation = new DispatchWatch(watch).nextGeneration();
  first.abandon();
  takeAll();
  assert.equal(raw.length, 4);
  // It wakes (room in the reply ring), sees it was replaced and writes nothing more.
  while (replies.producerWaiting) await new Promise((resolve) => setImmediate(resolve));

  // The successor restores the checkpoint (none was taken: everything from the start) and runs on.
  const second = runtime(generation);
  const secondRun = second.run();
  while (raw.length < 4 + MESSAGES) {
    takeAll();
    await new Promise((resolve) => setImmediate(resolve));
  }
  requests.close();
  takeAll();
  await secondRun;
  await firstRun;

  assert.equal(raw.length, 4 + MESSAGES, 'the successor sent the first 4 again');
  const dedupe = new SendDeduplicator();
  const passed = raw.filter((s) => dedupe.accept(s.cause, s.ordinal));
  assert.equal(dedupe.dropped, 4);
  assert.deepEqual(passed.map((s) => s.amount), Array.from({ length: MESSAGES }, (_, i) => i + 1), 'each send once, in send order');
  assert.ok(passed.every((s) => s.source === FWD_ID), 'a send carries its sender\'s id');
});
