/**
 * The hot path into one shard: records written straight into claimed request-ring slots
 * (header, then the payload through the kernel's generated encoder), visible at the next
 * publish: at the end of the current microtask queue, or every PUBLISH_EVERY records,
 * so a burst of tells costs one store and at most one notify.
 *
 * When the ring is full, records wait in the overflow queue (policy 'wait', bounded by
 * maxQueued) or are refused (policy 'reject'). Once anything waits, every new record
 * queues behind it, so per-actor order holds.
 */
import { ErrorCode, RingshardError } from '../errors.ts';
import type { Codec } from '../layout/codec.ts';
import type { MessageBatch } from '../layout/columns.ts';
import { Op, REQUEST_HEADER_WORDS, RequestHeader, SEND_HEADER_WORDS, SEND_OP_SHIFT, SendHeader, kernelOp } from '../layout/record.ts';
import type { SpscRing } from '../rings/spsc-ring.ts';
import type { HybridClock } from '../coordinator/hlc.ts';
import { IN_RING, type Caller, type RecordTarget } from '../coordinator/shard-link.ts';
import type { OverflowQueue } from './overflow-queue.ts';
import { writeRequestHeader, writeRequestHeaders } from './request-header.ts';
import type { ShardGate } from './shard-gate.ts';

const PUBLISH_EVERY = 1024;

/** What a send returns when its record went straight into the ring (nothing to wait for). */
export const RESOLVED: Promise<void> = IN_RING;

export class RequestWriter {
  private flushQueued = false;

  /** Publishes what was written and refreshes the clock's cached time. */
  private readonly flush = () => {
    this.flushQueued = false;
    this.ring.publish();
    this.clock.refresh();
  };

  constructor(
    readonly ring: SpscRing,
    readonly overflow: OverflowQueue,
    private readonly clock: HybridClock,
    private readonly recordWords: number,
    private readonly gate: ShardGate,
  ) {}

  /**
   * Sends one record. Resolves when it is in the ring (at once, usually). Throws
   * ERR_RINGSHARD_SCHEMA if `msg` does not fit `codec` and ERR_RINGSHARD_RING_FULL when
   * the policy refuses to wait; nothing is sent then.
   */
  send(to: RecordTarget, op: Op, codec: Codec | undefined, msg: unknown, correlation: number, from: Caller): Promise<void> {
    this.gate.admit(to.actorId);
    const ring = this.ring;
    const overflow = this.overflow;
    if (overflow.empty) {
      const o = ring.claim();
      if (o >= 0) {
        this.writeHeader(ring.words, o, to, op, correlation, from);
        if (codec) {
          try {
            codec.encode(msg as never, ring.words, ring.floats, o + REQUEST_HEADER_WORDS);
          } catch (error) {
            ring.unclaim();
            throw error;
          }
        }
        this.schedulePublish();
        return RESOLVED;
      }
    }
    // The ring is full, or records already wait: queue behind them (order per actor).
    const o = overflow.claim();
    this.writeHeader(overflow.words, o, to, op, correlation, from);
    if (codec) codec.encode(msg as never, overflow.words, overflow.floats, o + REQUEST_HEADER_WORDS);
    return overflow.commit();
  }

  /**
   * Sends many records to one actor as one unit: all are encoded (and checked) before
   * any is sent. Written in place when the ring has the run free in one piece (a
   * claimed run is invisible until published, so a message that fails its check gives
   * the run back and nothing is sent); else packed apart and copied in.
   */
  sendMany(to: RecordTarget, op: Op, msgs: MessageBatch, correlationBase: number, from: Caller): Promise<void> {
    this.gate.admit(to.actorId);
    const n = msgs.count;
    const rw = this.recordWords;
    const ring = this.ring;
    if (this.overflow.empty) {
      const o = ring.claimRun(n);
      if (o >= 0) {
        try {
          msgs.write(ring.words, ring.floats, o + REQUEST_HEADER_WORDS, rw);
        } catch (error) {
          ring.unclaimMany(n);
          throw error;
        }
        writeRequestHeaders(ring.words, o, n, rw, to, op, correlationBase, from, this.clock);
        this.schedulePublish();
        return RESOLVED;
      }
    }
    this.overflow.checkFits(n);
    const words = new Uint32Array(n * rw);
    const floats = new Float32Array(words.buffer);
    // Every payload first: a bad message throws before any header takes a clock tick.
    msgs.write(words, floats, REQUEST_HEADER_WORDS, rw);
    writeRequestHeaders(words, 0, n, rw, to, op, correlationBase, from, this.clock);
    return this.pushUnit(words, n);
  }

  /**
   * Writes a K2K send record (at word `offset` of `send`) as a message to `to`: the
   * sender's tenant, principal and roles travel with it. When neither the ring nor the
   * K2K share of the queue has room, `onDead` is told instead.
   */
  forward(to: RecordTarget, send: Uint32Array, offset: number, payloadWords: number, onDead: (error: Error) => void): void {
    this.gate.admit(to.actorId);
    // The receiver's time is after the sender's: merge, then stamp.
    const clock = this.clock;
    clock.receive(send[offset + SendHeader.hlcHi]!, send[offset + SendHeader.hlcLo]!);
    clock.tick();
    const ring = this.ring;
    let w: Uint32Array;
    let o = this.overflow.empty ? ring.claim() : -1;
    if (o >= 0) w = ring.words;
    else {
      // K2K messages wait within a budget of their own (maxK2KQueuedPerShard), apart from callers'.
      o = this.overflow.claimK2K();
      if (o < 0) {
        onDead(this.k2kFull());
        return;
      }
      w = this.overflow.words;
    }
    writeRequestHeader(
      w,
      o,
      to.location,
      // A handler's send is a message; the timer service's fires and a ref's timer calls carry their op.
      kernelOp(to.kernelId, (send[offset + SendHeader.kernel]! >>> SEND_OP_SHIFT) as Op),
      0,
      send[offset + SendHeader.source]!,
      send[offset + SendHeader.tenant]!,
      send[offset + SendHeader.principal]!,
      send[offset + SendHeader.roles]!,
      clock,
    );
    const words = Math.min(payloadWords, this.recordWords - REQUEST_HEADER_WORDS);
    const from = offset + SEND_HEADER_WORDS;
    for (let i = 0; i < words; i++) w[o + REQUEST_HEADER_WORDS + i] = send[from + i]!;
    if (w !== ring.words) {
      void this.overflow.commit();
      return;
    }
    this.schedulePublish();
  }

  /** The state goes in IMPORT records of a slot's payload each (offset in the principal word). */
  importState(to: RecordTarget, stateCodec: Codec, state: unknown): Promise<void> {
    this.gate.check();
    const state32 = new Uint32Array(stateCodec.words);
    stateCodec.encode(state as never, state32, new Float32Array(state32.buffer), 0);
    const rw = this.recordWords;
    const per = rw - REQUEST_HEADER_WORDS;
    const parts = Math.max(1, Math.ceil(state32.length / per));
    this.overflow.checkFits(parts);
    const words = new Uint32Array(parts * rw);
    const from = arriving(to);
    for (let p = 0; p < parts; p++) {
      const o = p * rw;
      this.writeHeader(words, o, to, Op.IMPORT, 0, from);
      words[o + RequestHeader.principal] = p * per;
      words.set(state32.subarray(p * per, (p + 1) * per), o + REQUEST_HEADER_WORDS);
    }
    return this.pushUnit(words, parts);
  }

  /** Publishes now, then waits until every queued record is in the ring. */
  async drainQueued(): Promise<void> {
    this.flush();
    await this.overflow.flushed();
  }

  /** Makes every claimed record visible now. */
  publish(): void {
    this.ring.publish();
  }

  private writeHeader(w: Uint32Array, o: number, to: RecordTarget, op: Op, correlation: number, from: Caller): void {
    this.clock.tick();
    writeRequestHeader(w, o, to.location, kernelOp(to.kernelId, op), correlation, from.sourceId, from.tenantId ?? to.tenantId, from.principalId, from.roles, this.clock);
  }

  /** Sends `count` packed records as one unit: all go, in order, or none does. */
  private pushUnit(words: Uint32Array, count: number): Promise<void> {
    if (this.overflow.empty) {
      // All or nothing: what will not fit in the ring must be admitted to the queue
      // before any of it is sent, or a refusal would leave part of the batch sent.
      const room = Math.max(0, this.ring.availableWrite());
      if (room < count) this.overflow.admit(count - room);
      const n = this.ring.tryPush(words, count);
      if (n === count) return RESOLVED;
      return this.overflow.append(words.subarray(n * this.recordWords), count - n);
    }
    return this.overflow.append(words, count);
  }

  /** A record was written into a claimed ring slot: it becomes visible at the next publish. */
  private schedulePublish(): void {
    if (this.ring.pendingClaims >= PUBLISH_EVERY) this.ring.publish();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flush);
    }
  }

  private k2kFull(): RingshardError {
    return new RingshardError(
      ErrorCode.RING_FULL,
      `shard ${this.gate.index}: a K2K message was dropped: ${this.overflow.k2kSize} K2K messages already wait for ring space (maxK2KQueuedPerShard)`,
    );
  }
}

/** An arriving actor's records (INIT, IMPORT) carry its own id where a sender's would be. */
export function arriving(to: RecordTarget): Caller {
  return { principalId: 0, roles: 0, sourceId: to.actorId };
}
