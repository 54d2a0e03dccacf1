/**
 * Baseline: one piscina task per message. The counter kernel's logic runs in one worker
 * thread, and every message pays piscina's queue + postMessage round trip; this is what
 * a server would do without batching messages into one dispatch.
 */
import { Piscina } from 'piscina';
import { percentile } from '../report.ts';
import { CounterModel, nextAdd, type BaselineResult } from './common.ts';

export interface PiscinaPerMessageOptions {
  readonly seconds: number;
  readonly actors: number;
  /** Tasks kept outstanding (closed loop). */
  readonly inFlight: number;
}

export async function measurePiscinaPerMessage(opts: PiscinaPerMessageOptions): Promise<BaselineResult> {
  const pool = new Piscina({
    // Node 20 workers do not inherit tsx's hooks; ts-entry.mjs registers them.
    filename: new URL('../../workers/ts-entry.mjs', import.meta.url).href,
    workerData: { tsEntry: new URL('./workers/counter-task.ts', import.meta.url).href },
    // One thread, so that all actor state sits in one worker, as in one GPU shard.
    minThreads: 1,
    maxThreads: 1,
    // Without this piscina 5 moves a task it cannot hand to the busy worker to the BACK
    // of its queue, so with many in flight messages to one actor overtake each other
    // (the model below caught it within a few dozen tasks). Actors need send order.
    stricterFIFO: true,
  });
  const model = new CounterModel(opts.actors);

  async function sendOne(actor: number, add: number): Promise<void> {
    // The model records the add when it is sent; the reply is checked against the
    // running total its count names, so overtaking shows up as a wrong total.
    model.send(actor, add);
    const reply = (await pool.run({ actor, add })) as { total: number; count: number };
    model.receive(actor, reply.total, reply.count);
  }

  try {
    // Warm up: the first task waits for the worker to start and load tsx; keep that
    // out of the figures. It goes through the model like any other message.
    await sendOne(0, 1);

    const latenciesUs: number[] = [];
    let messages = 0;
    let seed = 1;
    let failure: { error: unknown } | undefined;
    const t0 = performance.now();
    const deadline = t0 + opts.seconds * 1000;
    async function loop(): Promise<void> {
      try {
        while (!failure && performance.now() < deadline) {
          seed = nextAdd(seed);
          const t = performance.now();
          await sendOne(seed % opts.actors, (seed >>> 8) & 0xffff);
          latenciesUs.push((performance.now() - t) * 1000);
          messages++;
        }
      } catch (error) {
        // Stop every loop, but let their tasks finish: destroying the pool under
        // in-flight tasks makes piscina emit "Unexpected message from Worker",
        // which would hide this error.
        failure ??= { error };
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, opts.inFlight) }, loop));
    const elapsed = (performance.now() - t0) / 1000;
    if (failure) throw failure.error;
    model.checkFinal();
    latenciesUs.sort((a, b) => a - b);
    return { msgsPerSec: messages / elapsed, messages, p50Us: percentile(latenciesUs, 50), p99Us: percentile(latenciesUs, 99) };
  } finally {
    await pool.destroy();
  }
}
