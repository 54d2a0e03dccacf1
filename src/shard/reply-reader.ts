/**
 * The way back from one shard: the reply ring read in ring order. A reply settles its
 * ask (PendingReplies); a K2K send record the shard's handlers made is passed on once
 * (SendDeduplicator drops a replay's repeats).
 */
import { abortError } from '../errors.ts';
import { ReplyHeader, REPLY_HEADER_WORDS, SendHeader } from '../layout/record.ts';
import type { SpscRing } from '../rings/spsc-ring.ts';
import type { AskSpec } from '../coordinator/shard-link.ts';
import { SendDeduplicator } from '../recovery/send-dedupe.ts';
import { PendingReplies, type PendingAsk } from './pending-replies.ts';
import { RESOLVED } from './request-writer.ts';
import type { ShardGate } from './shard-gate.ts';

const REPLY_TAKE = 4096;

export class ReplyReader {
  readonly pending = new PendingReplies();
  /** Drops the sends a replay makes again (exactly once across recoveries). */
  readonly sends = new SendDeduplicator();
  private nextCorrelation = 1;
  /** Reply ring index up to which replies and sends have been processed here. */
  private processed = 0;
  private loop: Promise<void> | undefined;

  constructor(
    readonly ring: SpscRing,
    private readonly gate: ShardGate,
    /** Each K2K send record, once (valid only during the call). */
    private readonly onSend: (words: Uint32Array, offset: number) => void,
    /** The worker's replacement while one is under way (a closed ring waits for it). */
    private readonly restarting: () => Promise<void> | undefined,
  ) {}

  /** Reply ring index up to which replies and sends have been processed. */
  get processedIndex(): number {
    return this.processed;
  }

  /** Starts reading (once); the promise ends when the shard closes or fails. */
  start(): Promise<void> {
    this.loop ??= this.drain();
    return this.loop;
  }

  /** Resolves once the reading loop has ended (at once if it never started). */
  async stopped(): Promise<void> {
    await this.loop;
  }

  /** Correlation ids for `n` records: a run that never contains 0 (0 means tell). */
  allocateCorrelations(n: number): number {
    if (this.nextCorrelation + n > 0xffffffff) this.nextCorrelation = 1;
    const base = this.nextCorrelation;
    this.nextCorrelation += n;
    return base;
  }

  /** Registers an ask whose `count` replies will come back in ring order. */
  expect(base: number, count: number, many: boolean, reply: AskSpec, sent: Promise<void>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const onDone = reply.onDone;
      const signal = reply.signal;
      if (signal !== undefined) {
        // An abort settles the entry (its reply is dropped when it comes); settling takes the listener off.
        const onAbort = () => this.pending.settle(entry, abortError(signal));
        const settled = resolve;
        const failed = reject;
        resolve = (value) => {
          signal.removeEventListener('abort', onAbort);
          settled(value);
        };
        reject = (error) => {
          signal.removeEventListener('abort', onAbort);
          failed(error);
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
      const entry: PendingAsk = {
        base,
        count,
        received: 0,
        codec: reply.codec,
        many,
        sink: reply.sink,
        values: many && !reply.sink ? new Array(count) : undefined,
        value: undefined,
        failures: undefined,
        deadline: performance.now() + reply.timeoutMs,
        timeoutMs: reply.timeoutMs,
        settled: false,
        what: reply.what,
        resolve,
        reject,
        onDone: onDone ? () => onDone() : undefined,
      };
      this.pending.push(entry);
      // A record that waited for ring space and then could not be sent fails its ask
      // (a record already in the ring shares the resolved promise: nothing to watch).
      if (sent !== RESOLVED) sent.catch((error: Error) => this.pending.settle(entry, error));
    });
  }

  private async drain(): Promise<void> {
    const ring = this.ring;
    const words = ring.words;
    const floats = ring.floats;
    for (;;) {
      const start = ring.readIndex;
      const n = ring.take(REPLY_TAKE);
      if (n === 0) {
        const r = await ring.waitReadableAsync(Infinity, false);
        if (r === 'closed' && ring.availableRead() === 0) {
          if (this.gate.closed || this.gate.failure) return;
          // The worker closed it on its way out; its replacement reopens it.
          await (this.restarting() ?? new Promise((resolve) => setTimeout(resolve, 10)));
        }
        continue;
      }
      for (let i = 0; i < n; i++) {
        const o = ring.slotOffset(start + i);
        const correlation = words[o + ReplyHeader.correlation]!;
        if (correlation === 0) this.passOnSend(words, o);
        else this.pending.deliver(correlation, words[o + ReplyHeader.status]!, words, floats, o + REPLY_HEADER_WORDS);
      }
      ring.commit(n);
      this.processed = (start + n) | 0;
    }
  }

  /** A K2K send record: passed on once; a replay's repeat of one passed on before is dropped. */
  private passOnSend(words: Uint32Array, o: number): void {
    if (this.sends.accept(words[o + SendHeader.cause]!, words[o + SendHeader.ordinal]!)) this.onSend(words, o);
  }
}
