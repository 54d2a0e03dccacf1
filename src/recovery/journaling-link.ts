/**
 * JournalingLink: a durable actor's link. Every message goes into the actor's journal
 * (Journal.append, group commit per turn of the event loop) as it goes into the ring;
 * its tell resolves, and its ask's reply is given, only when both are done. So an
 * acknowledged message survives its process: the next owner replays the journal after
 * the actor's last snapshot.
 *
 * A tell goes into the ring, then is encoded straight into the store's turn
 * (appendTell; consecutive tells of one caller to one actor are one call there): no run,
 * promise or Call of its own, and the journal and the ring see the actor's records in
 * the same order. A message the ring refuses at once (a bad one, a quarantined actor, a
 * closed shard) is not journaled.
 *
 * A call from another node that the journal holds already (its sender sends it again
 * after the node that took it died) is not run again: the replay recorded its outcome,
 * and that is the answer. With `k2k` marks (persist 'message'), K2K messages into the
 * actor are journaled too, numbered per sender (see K2KMarks): a send that a replayed
 * message makes again is dropped here.
 */
import type { Codec } from '../layout/codec.ts';
import { packWords, wordsBatch, type MessageBatch } from '../layout/columns.ts';
import { IN_RING, type AskSpec, type Caller, type RecordTarget, type ShardLink } from '../coordinator/shard-link.ts';
import { DelegatingLink } from '../coordinator/delegating-link.ts';
import type { Journal, TellTarget } from './state-store.ts';
import { CallOp, callOfTimerRecord, type Call } from '../coordinator/actor-call.ts';
import { decodeMany, encodeOne } from '../layout/raw-words.ts';
import { SEND_HEADER_WORDS, SEND_OP_SHIFT, SendHeader } from '../layout/record.ts';

/** What a journal replay left for a call: its reply words (ASK) or nothing (TELL). */
export type ReplayedCalls = Map<string, Uint32Array>;

/** The sender name a journaled K2K message carries (its id is the send's number). */
export const K2K_SENDER = 'k2k';

export interface JournalNames {
  /** The store key of the actor, and its id. */
  readonly key: string;
  readonly actorId: number;
  readonly kernel: string;
  readonly tenant: string;
  readonly actorKey: string;
  principalName(id: number): string;
  /** K2K sends the actor made so far (k2k marks), kept when it is terminated. */
  sendsMade?(): number;
}

/** The last tell's two promises and the one that waits for both (tells in a row share them). */
let lastSent: Promise<unknown> | undefined;
let lastJournaled: Promise<unknown> | undefined;
let lastBoth: Promise<void> | undefined;

function both(sent: Promise<unknown>, journaled: Promise<unknown>): Promise<void> {
  if (sent !== lastSent || journaled !== lastJournaled) {
    lastSent = sent;
    lastJournaled = journaled;
    lastBoth = Promise.all([sent, journaled]).then(() => undefined);
  }
  return lastBoth!;
}

export class JournalingLink extends DelegatingLink {
  /** Dropped K2K repeats (a replayed message's sends taken before). */
  k2kRepeats = 0;

  constructor(
    inner: ShardLink,
    private readonly store: Journal,
    private readonly names: JournalNames,
    private readonly replayed: ReplayedCalls,
    /** Per sender actor id, the last K2K send number taken; undefined: K2K is not journaled. */
    readonly received?: Map<number, number>,
    /** Called at the first message after a snapshot round took the mark (the round snapshots the actor). */
    private readonly touched?: (link: JournalingLink) => void,
  ) {
    super(inner);
  }

  /** Set by a message, taken by the snapshot round: one boolean test per journaled call. */
  private marked = false;

  mark(): void {
    if (this.marked) return;
    this.marked = true;
    this.touched?.(this);
  }

  /** The snapshot round takes the mark (the next message marks again). */
  unmark(): void {
    this.marked = false;
  }

  /** The store's handle for this actor's tells (appendTell), found at the first. */
  private tellTarget: TellTarget | undefined;

  private principalId = -1;
  private principal = '';

  /** The principal's name (the last one asked is kept: a link's caller rarely changes). */
  private principalOf(id: number): string {
    if (id !== this.principalId) {
      this.principalId = id;
      this.principal = this.names.principalName(id);
    }
    return this.principal;
  }

  private journal(op: CallOp, from: Caller, count: number, words: number, payload: Uint32Array): Promise<unknown> {
    if (!this.marked) this.mark();
    const [sender, id] = splitCallId(from.callId);
    return this.store.append(this.names.key, this.call(id, op, this.principalOf(from.principalId), from.roles, from.sourceId, count, words, payload), sender, this.names.actorId);
  }

  private call(id: number, op: CallOp, principal: string, roles: number, source: number, count: number, words: number, payload: Uint32Array): Call {
    const n = this.names;
    return { id, epoch: 0, op, kernel: n.kernel, tenant: n.tenant, key: n.actorKey, principal, roles, source, hlcHi: 0, hlcLo: 0, count, words, payload };
  }

  override tell(to: RecordTarget, from: Caller, codec: Codec, msg: unknown): Promise<void> {
    if (from.callId !== undefined) {
      // Another node's call: journaled alone, with its id.
      if (this.replayed.has(from.callId)) return Promise.resolve();
      return this.tellMany(to, from, wordsBatch(encodeOne(codec, msg), 1, codec.words));
    }
    // Into the ring first: a message it refuses (a bad one, a quarantined actor) is not journaled.
    const sent = this.inner.tell(to, from, codec, msg);
    if (!this.marked) this.mark();
    const store = this.store;
    if (store.appendTell === undefined) return both(sent, this.journal(CallOp.TELL, from, 1, codec.words, encodeOne(codec, msg)));
    const target = (this.tellTarget ??= store.tellTarget!(this.names.key, this.names.actorId));
    const journaled = store.appendTell(target, this.principalOf(from.principalId), from.roles, from.sourceId, codec, msg);
    // In the ring already (the common case): the commit (one promise per turn) is all there is to wait for.
    return sent === IN_RING ? journaled : both(sent, journaled);
  }

  override tellMany(to: RecordTarget, from: Caller, msgs: MessageBatch): Promise<void> {
    if (from.callId !== undefined && this.replayed.has(from.callId)) return Promise.resolve();
    const payload = packWords(msgs);
    const sent = this.inner.tellMany(to, from, wordsBatch(payload, msgs.count, msgs.words));
    const journaled = this.journal(CallOp.TELL, from, msgs.count, msgs.words, payload);
    return Promise.all([journaled, sent]).then(() => undefined);
  }

  override ask(to: RecordTarget, from: Caller, codec: Codec, msg: unknown, reply: AskSpec): Promise<unknown> {
    const done = from.callId !== undefined ? this.replayed.get(from.callId) : undefined;
    if (done) return Promise.resolve(reply.codec.decode(done, new Float32Array(done.buffer, done.byteOffset, done.length), 0));
    const payload = encodeOne(codec, msg);
    const answered = this.inner.ask(to, from, codec, msg, reply);
    const journaled = this.journal(CallOp.ASK, from, 1, codec.words, payload);
    return Promise.all([journaled, answered]).then(([, r]) => r);
  }

  override askMany(to: RecordTarget, from: Caller, msgs: MessageBatch, reply: AskSpec): Promise<unknown> {
    const done = from.callId !== undefined ? this.replayed.get(from.callId) : undefined;
    if (done) return Promise.resolve(decodeMany(reply.codec, done, msgs.count, reply.sink));
    const payload = packWords(msgs);
    const answered = this.inner.askMany(to, from, wordsBatch(payload, msgs.count, msgs.words), reply);
    const journaled = this.journal(CallOp.ASK, from, msgs.count, msgs.words, payload);
    return Promise.all([journaled, answered]).then(([, r]) => r);
  }

  override forward(to: RecordTarget, send: Uint32Array, offset: number, payloadWords: number, onDead: (error: Error) => void, sendId = 0): void {
    const timerCall = callOfTimerRecord(send[offset + SendHeader.kernel]! >>> SEND_OP_SHIFT);
    if (timerCall !== undefined) return this.forwardTimerRecord(timerCall, to, send, offset, payloadWords, onDead);
    const received = this.received;
    if (received === undefined) return this.inner.forward(to, send, offset, payloadWords, onDead, sendId);
    const source = send[offset + SendHeader.source]!;
    if (sendId !== 0) {
      if (sendId <= (received.get(source) ?? 0)) {
        this.k2kRepeats++;
        return;
      }
      received.set(source, sendId);
    }
    if (!this.sent(to, send, offset, payloadWords, onDead)) return;
    if (!this.marked) this.mark();
    const payload = send.slice(offset + SEND_HEADER_WORDS, offset + SEND_HEADER_WORDS + payloadWords);
    const principal = this.names.principalName(send[offset + SendHeader.principal]!);
    void this.store.append(this.names.key, this.call(sendId, CallOp.TELL, principal, send[offset + SendHeader.roles]!, source, 1, payloadWords, payload), K2K_SENDER, this.names.actorId);
  }

  /**
   * A timer's fire, or a ref's SET_TIMER / CLEAR_TIMER: journaled (it changes the actor's
   * state) and sent. Its replay sends the same record: the same due time fires once.
   */
  private forwardTimerRecord(op: CallOp, to: RecordTarget, send: Uint32Array, offset: number, payloadWords: number, onDead: (error: Error) => void): void {
    if (!this.sent(to, send, offset, payloadWords, onDead)) return;
    if (!this.marked) this.mark();
    const payload = send.slice(offset + SEND_HEADER_WORDS, offset + SEND_HEADER_WORDS + payloadWords);
    const committed = this.store.append(this.names.key, this.call(0, op, '', 0, send[offset + SendHeader.source]!, 1, payloadWords, payload), '', this.names.actorId);
    committed.catch(() => {});
    this.timerCommit = committed;
  }

  /** Forwards a record to the shard; false when it refused it at once (`onDead` was told): nothing to journal then. */
  private sent(to: RecordTarget, send: Uint32Array, offset: number, payloadWords: number, onDead: (error: Error) => void): boolean {
    let dead = false;
    this.inner.forward(to, send, offset, payloadWords, (error) => {
      dead = true;
      onDead(error);
    });
    return !dead;
  }

  /** The last timer record's commit: the next snapshot answers after it (ref.setTimer resolves on a snapshot). */
  private timerCommit: Promise<unknown> | undefined;

  /** The K2K marks a snapshot taken now keeps: [sender, last number taken, ...]. */
  receivedMarks(): number[] {
    const out: number[] = [];
    if (this.received) for (const [sender, n] of this.received) out.push(sender, n);
    return out;
  }

  override snapshot(to: RecordTarget, reply: AskSpec): Promise<unknown> {
    const state = this.inner.snapshot(to, reply);
    const commit = this.timerCommit;
    if (commit === undefined) return state;
    // A timer record before it: once it is on disk too (ref.setTimer resolves on this snapshot).
    this.timerCommit = undefined;
    return Promise.all([state, commit]).then(([s]) => s);
  }

  override terminate(to: RecordTarget, reply: AskSpec): Promise<unknown> {
    return this.inner.terminate(to, reply).then(async (state) => {
      // A terminated actor starts afresh: nothing of it is to be restored.
      await this.store.forget(this.names.key, this.received ? { sends: this.names.sendsMade?.() ?? 0, received: this.receivedMarks() } : undefined);
      return state;
    });
  }
}

/** 'node#inc/42' -> ['node#inc', 42]; a local call: ['', 0]. */
export function splitCallId(callId: string | undefined): [string, number] {
  if (callId === undefined) return ['', 0];
  const at = callId.lastIndexOf('/');
  return [callId.slice(0, at), Number(callId.slice(at + 1))];
}
