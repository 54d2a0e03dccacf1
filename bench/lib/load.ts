/**
 * Closed-loop loads shared by the benchmarks: tells in chunks (awaiting backpressure
 * between chunks) and askMany lanes, each measured to the last message handled.
 */
import type { ActorRef } from '../../src/index.ts';

// Any kernel's refs: the message is the caller's (a counter's { add: 1 } by default).
type Ref = ActorRef<any, any, any>;

const TELL_CHUNK = 8192; // tells between awaits: the await is where backpressure applies
export const ASK_MANY = 256; // messages per askMany
const ASK_MANY_IN_FLIGHT = 64;

/**
 * How a load counts on Dawn's null GPU, where no shader runs and replies and statuses
 * are garbage: every settled call counts, rejected or not (`settled: true`). Elsewhere a
 * rejection fails the measurement.
 */
export interface LoadOptions {
  readonly settled?: boolean;
  /**
   * measureTell: chunks of tells whose promises may be pending at once (default 1: each
   * chunk waits for the one before). A tell that resolves only once it is on disk
   * (persist 'message') needs a few, as any producer of durable writes does.
   */
  readonly inFlight?: number;
}

/** Resolves when `p` settles, rejected or not: what a null-GPU load counts. */
export const settle = (p: Promise<unknown>) => p.then(() => undefined, () => undefined);

export async function measureTell(refs: Ref[], seconds: number, msg: Record<string, number | number[]> = { add: 1 }, options: LoadOptions = {}): Promise<{ msgsPerSec: number; messages: number }> {
  let sent = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  // Chunks whose tells have not all resolved yet, oldest first: up to `inFlight` of them.
  const chunks: Array<Promise<unknown>> = [];
  const inFlight = options.inFlight ?? 1;
  while (performance.now() < deadline) {
    // Every shard's backpressure counts: wait for all of the chunk to be in the rings.
    // tell() returns one shared promise while rings have room and one per queued chunk
    // when they do not, so collecting the distinct ones is cheap.
    const waiting: Array<Promise<void>> = [];
    let previous: Promise<void> | undefined;
    for (let i = 0; i < TELL_CHUNK; i++) {
      const p = refs[(sent + i) % refs.length]!.tell(msg);
      if (p !== previous) waiting.push((previous = p));
    }
    sent += TELL_CHUNK;
    chunks.push(Promise.all(waiting));
    if (chunks.length >= inFlight) await chunks.shift();
  }
  await Promise.all(chunks);
  // Handled, not just enqueued: a snapshot of every actor comes after its tells.
  await Promise.all(refs.map((r) => (options.settled ? settle(r.snapshot()) : r.snapshot())));
  const elapsed = (performance.now() - t0) / 1000;
  return { msgsPerSec: sent / elapsed, messages: sent };
}

export async function measureAskMany(refs: Ref[], seconds: number, msg: Record<string, number | number[]> = { add: 1 }, options: LoadOptions = {}): Promise<{ msgsPerSec: number; messages: number }> {
  const batch = Array.from({ length: ASK_MANY }, () => msg);
  let messages = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  let next = 0;
  const lane = async () => {
    while (performance.now() < deadline) {
      const ref = refs[next++ % refs.length]!;
      if (options.settled) await settle(ref.askMany(batch));
      else {
        const replies = await ref.askMany(batch);
        if (replies.length !== ASK_MANY) throw new Error(`askMany returned ${replies.length} replies`);
      }
      messages += ASK_MANY;
    }
  };
  await Promise.all(Array.from({ length: ASK_MANY_IN_FLIGHT }, lane));
  return { msgsPerSec: messages / ((performance.now() - t0) / 1000), messages };
}


/**
 * `lanes` closed loops over the refs (round-robin) for `seconds`, each call counting `per`
 * messages; resolves with messages/s. With `latencies`, every call's time in ms is pushed there.
 */
export async function closedLoops(refs: Ref[], lanes: number, per: number, seconds: number, call: (ref: Ref) => Promise<unknown>, latencies?: number[]): Promise<number> {
  let messages = 0;
  let next = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (performance.now() < deadline) {
        const s = latencies ? performance.now() : 0;
        await call(refs[next++ % refs.length]!);
        if (latencies) latencies.push(performance.now() - s);
        messages += per;
      }
    }),
  );
  return messages / ((performance.now() - t0) / 1000);
}
