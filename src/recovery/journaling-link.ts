/**
 * JournalingLink: a durable node's link to a local actor. Every message goes into the
 * actor's journal (Journal.append: JetStream's, batched per turn of the event loop) while
 * it goes into the ring; its tell resolves, and its ask's reply is given, only when both
 * are done. So an acknowledged message survives its node: the next owner replays the
 * journal after the actor's last snapshot.
 *
 * A call from another node that the journal holds already (its sender sends it again
 * after the node that took it died) is not run again: the replay recorded its outcome,
 * and that is the answer.
 */
import type { Codec } from '../layout/codec.ts';
import { packWords, wordsBatch, type MessageBatch } from '../layout/columns.ts';
import type { AskSpec, Caller, RecordTarget, ShardLink } from '../coordinator/shard-link.ts';
import { DelegatingLink } from '../coordinator/delegating-link.ts';
import type { Journal } from './state-store.ts';
import { CallOp, type Call } from '../coordinator/actor-call.ts';
import { decodeMany, encodeOne } from '../layout/raw-words.ts';

/** What a journal replay left for a call: its reply words (ASK) or nothing (TELL). */
export type ReplayedCalls = Map<string, Uint32Array>;

export interface JournalNames {
  /** The store key of the actor. */
  readonly key: string;
  readonly kernel: string;
  readonly tenant: string;
  readonly actorKey: string;
  principalName(id: number): string;
}

export class JournalingLink extends DelegatingLink {
  constructor(
    inner: ShardLink,
    private readonly store: Journal,
    private readonly names: JournalNames,
    private readonly replayed: ReplayedCalls,
  ) {
    super(inner);
  }

  private lastJournaled: Promise<unknown> | undefined;
  private lastSent: Promise<void> | undefined;
  private lastBoth: Promise<void> | undefined;

  /**
   * A tell's promise: its journal commit and its ring write. Tells of one turn share both
   * (one commit per turn, one resolved promise for records in the ring), so they share
   * this one too: no promise per message.
   */
  private both(journaled: Promise<unknown>, sent: Promise<void>): Promise<void> {
    if (journaled !== this.lastJournaled || sent !== this.lastSent) {
      this.lastJournaled = journaled;
      this.lastSent = sent;
      this.lastBoth = Promise.all([journaled, sent]).then(() => undefined);
    }
    return this.lastBoth!;
  }

  private journal(op: CallOp, from: Caller, count: number, words: number, payload: Uint32Array): Promise<unknown> {
    const [sender, id] = splitCallId(from.callId);
    const call: Call = {
      id,
      epoch: 0,
      op,
      kernel: this.names.kernel,
      tenant: this.names.tenant,
      key: this.names.actorKey,
      principal: this.names.principalName(from.principalId),
      roles: from.roles,
      source: from.sourceId,
      hlcHi: 0,
      hlcLo: 0,
      count,
      words,
      payload,
    };
    return this.store.append(this.names.key, call, sender);
  }

  override tell(to: RecordTarget, from: Caller, codec: Codec, msg: unknown): Promise<void> {
    if (from.callId !== undefined && this.replayed.has(from.callId)) return Promise.resolve();
    const payload = encodeOne(codec, msg);
    const journaled = this.journal(CallOp.TELL, from, 1, codec.words, payload);
    const sent = this.inner.tellMany(to, from, wordsBatch(payload, 1, codec.words));
    return this.both(journaled, sent);
  }

  override tellMany(to: RecordTarget, from: Caller, msgs: MessageBatch): Promise<void> {
    if (from.callId !== undefined && this.replayed.has(from.callId)) return Promise.resolve();
    const payload = packWords(msgs);
    const journaled = this.journal(CallOp.TELL, from, msgs.count, msgs.words, payload);
    const sent = this.inner.tellMany(to, from, wordsBatch(payload, msgs.count, msgs.words));
    return this.both(journaled, sent);
  }

  override ask(to: RecordTarget, from: Caller, codec: Codec, msg: unknown, reply: AskSpec): Promise<unknown> {
    const done = from.callId !== undefined ? this.replayed.get(from.callId) : undefined;
    if (done) return Promise.resolve(reply.codec.decode(done, new Float32Array(done.buffer, done.byteOffset, done.length), 0));
    const payload = encodeOne(codec, msg);
    const journaled = this.journal(CallOp.ASK, from, 1, codec.words, payload);
    const answered = this.inner.ask(to, from, codec, msg, reply);
    return Promise.all([journaled, answered]).then(([, r]) => r);
  }

  override askMany(to: RecordTarget, from: Caller, msgs: MessageBatch, reply: AskSpec): Promise<unknown> {
    const done = from.callId !== undefined ? this.replayed.get(from.callId) : undefined;
    if (done) return Promise.resolve(decodeMany(reply.codec, done, msgs.count, reply.sink));
    const payload = packWords(msgs);
    const journaled = this.journal(CallOp.ASK, from, msgs.count, msgs.words, payload);
    const answered = this.inner.askMany(to, from, wordsBatch(payload, msgs.count, msgs.words), reply);
    return Promise.all([journaled, answered]).then(([, r]) => r);
  }

  override terminate(to: RecordTarget, reply: AskSpec): Promise<unknown> {
    return this.inner.terminate(to, reply).then(async (state) => {
      // A terminated actor starts afresh: nothing of it is to be restored.
      await this.store.forget(this.names.key);
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
