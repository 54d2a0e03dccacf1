/**
 * Serving other nodes' calls for the actors this node owns (`<cluster>.rpc.<node>`), each
 * frame in this order; a refusal is counted by reason (ringshard_node_calls_refused_total):
 *   1. the frame decodes with every length checked, else 'bad-frame' (dropped);
 *   2. it is signed ('unsigned' otherwise, dropped), by the sender incarnation's pinned
 *      key (not known yet: 'unknown-node', and every call is answered "not mine", so a
 *      sender this node has not heard yet sends it again, nothing lost), over this node's
 *      subject ('bad-signature', dropped);
 *   3. its sequence number is one that sender has not used before ('replay', dropped;
 *      signing.ts ReplayWindow) and it names this incarnation (else "not mine": the
 *      sender's view is older);
 *   4. per call: a known op and kernel, count x words = payload words with the kernel's
 *      request words, payload words the request schema allows (call-checks.ts); a call
 *      that fails is answered ERR_RINGSHARD_SCHEMA (or _UNKNOWN_KERNEL) and runs not.
 * Dropped frames get no answer: they come from no node. Answers go to the verified
 * sender's reply subject, never to a reply subject the frame asks for.
 */
import { TimerRecord } from '../layout/timer-table.ts';
import type { KeyObject } from 'node:crypto';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { ErrorCode, RingshardError } from '../errors.ts';
import { actorIdentity } from '../coordinator/actor-directory.ts';
import { linkOf } from '../coordinator/actor-handle.ts';
import type { Caller } from '../coordinator/shard-link.ts';
import { wordsBatch } from '../layout/columns.ts';
import { isIncarnation } from './membership.ts';
import { replySubject } from './remote-link.ts';
import { CallOp, ReplyStatus, decodeCalls, encodeReplies, frameKind, openSignedFrame, type Call, type DecodedCalls, type Reply, type SignedFrame } from './wire.ts';
import { REFUSAL_REASONS, refusalOf, wordsChecker, type KernelWords, type RefusalReason } from './call-checks.ts';
import { ReplayWindow, verifySignature } from './signing.ts';
import { encodeOne, rawCodec, wordsSink } from '../layout/raw-words.ts';
import type { LocalNode, NodeRef } from './local-node.ts';

const EMPTY = new Uint32Array(0);
/** Refs the server keeps for callers before it starts again (re-made on demand). */
const REFS_LIMIT = 100_000;

/** What the server needs of its node. */
export interface CallServerHost {
  readonly self: string;
  readonly incarnation: string;
  readonly subjectPrefix: string;
  /** Frames must be signed (a node that signs its own refuses unsigned ones). */
  readonly signing: boolean;
  readonly local: LocalNode;
  /** Joined and not closed: before the view of the members is known, calls are refused (they come again). */
  serving(): boolean;
  /** The pinned key of a live sender incarnation. */
  keyOf(incarnation: string): KeyObject | undefined;
  /** This node owns the actor in its view now, and is not handing it over. */
  owns(identity: string): boolean;
}

export class CallServer {
  /** Frames of other nodes' calls not answered yet (a leaving node answers them all before it goes). */
  inFlight = 0;
  readonly served = new Map<string, number>([['ok', 0], ['refused', 0], ['error', 0]]);
  /** Other nodes' calls (or frames) refused by the checks, by reason. */
  readonly refused = new Map<RefusalReason, number>(REFUSAL_REASONS.map((r) => [r, 0]));
  /** Per (sender incarnation, actor): the route epoch this node refused (its later calls of that epoch are refused too). */
  private readonly refusedEpochs = new Map<string, { epoch: number; at: number }>();
  /** Per sender incarnation: the sequence numbers of its frames served here. */
  private readonly frameSeqs = new Map<string, ReplayWindow>();
  /** Per kernel name known here: its request words and their checker. */
  private readonly kernelWords = new Map<string, KernelWords>();
  private readonly refs = new Map<string, NodeRef>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly host: CallServerHost,
    /** This node's subject (signatures cover it). */
    private readonly rpcSubject: string,
  ) {}

  /** The members changed: forget refusals older than a minute and senders no longer known. */
  membersChanged(): void {
    const now = Date.now();
    for (const [k, v] of this.refusedEpochs) if (now - v.at > 60_000) this.refusedEpochs.delete(k);
    for (const from of this.frameSeqs.keys()) if (!this.host.keyOf(from)) this.frameSeqs.delete(from);
  }

  serveFrame(m: Msg): void {
    // 1. Decode, every length checked.
    let decoded: DecodedCalls;
    let signed: SignedFrame | undefined;
    try {
      const kind = frameKind(m.data);
      if (kind === 'call' && this.host.signing) return this.refuse('unsigned');
      if (kind === 'signed-call') {
        signed = openSignedFrame(m.data);
        decoded = decodeCalls(signed.body);
      } else if (kind === 'call') {
        decoded = decodeCalls(m.data);
      } else {
        return this.refuse('bad-frame');
      }
      // A journal entry's senders never travel in a call; the sender is an incarnation.
      if (decoded.senders !== undefined || !isIncarnation(decoded.from)) return this.refuse('bad-frame');
    } catch {
      return this.refuse('bad-frame');
    }
    const { from, to, calls } = decoded;
    const inbox = replySubject(this.host.subjectPrefix, from);
    // Before the members (and their keys) are known, every call is refused: it comes again.
    if (!this.host.serving()) return this.answerNotMine(inbox, calls);
    // 2. Signed by the sender's pinned key, for this node's subject; 3. not seen before.
    if (signed) {
      const key = this.host.keyOf(from);
      if (!key) {
        this.refuse('unknown-node', calls.length);
        return this.answerNotMine(inbox, calls);
      }
      if (!verifySignature(key, signed.signed(this.rpcSubject), signed.signature)) return this.refuse('bad-signature');
      let seen = this.frameSeqs.get(from);
      if (!seen) this.frameSeqs.set(from, (seen = new ReplayWindow()));
      if (!seen.accept(signed.seq)) return this.refuse('replay');
    }
    if (to !== this.host.incarnation) return this.answerNotMine(inbox, calls);
    // 4. Each call against its kernel.
    const answers = calls.map((c) => {
      const reason = refusalOf(c, this.kernelWordsOf(c.kernel));
      if (reason === undefined) return this.serve(from, c);
      this.refuse(reason);
      const code = reason === 'unknown-kernel' ? ErrorCode.UNKNOWN_KERNEL : ErrorCode.SCHEMA;
      const message = `node '${this.host.self}' refused a call to kernel '${c.kernel}': ${REFUSAL_TEXT[reason]}`;
      return Promise.resolve<Reply>({ id: c.id, status: ReplyStatus.ERROR, payload: EMPTY, error: { code, message } });
    });
    this.inFlight++;
    void Promise.all(answers).then((replies) => {
      this.inFlight--;
      this.publish(inbox, encodeReplies(replies));
    });
  }

  private publish(subject: string, data: Uint8Array): void {
    try {
      if (!this.nc.isClosed()) this.nc.publish(subject, data);
    } catch {
      // Closing: the sender's call times out, or it is sent again to the new owner.
    }
  }

  private refuse(reason: RefusalReason, n = 1): void {
    this.refused.set(reason, this.refused.get(reason)! + n);
  }

  /** Every call of a frame answered "not mine" (the sender sends them again). */
  private answerNotMine(inbox: string, calls: readonly Call[]): void {
    for (let i = 0; i < calls.length; i++) this.countServed('refused');
    this.publish(inbox, encodeReplies(calls.map((c) => ({ id: c.id, status: ReplyStatus.NOT_OWNER, payload: EMPTY }))));
  }

  private kernelWordsOf(name: string): KernelWords | undefined {
    let k = this.kernelWords.get(name);
    if (k) return k;
    const kernel = this.host.local.kernel(name);
    if (!kernel) return undefined; // not cached: names nobody defined do not fill the map
    const request = kernel.codecs.request;
    k = { words: request.words, check: wordsChecker(request.layout) };
    this.kernelWords.set(name, k);
    return k;
  }

  private serve(from: string, call: Call): Promise<Reply> {
    const identity = actorIdentity(call.kernel, call.tenant, call.key);
    const route = `${from}\u0000${identity}`;
    const refused = this.refusedEpochs.get(route);
    if (!this.host.serving() || (refused && call.epoch <= refused.epoch) || !this.host.owns(identity)) {
      this.refusedEpochs.set(route, { epoch: Math.max(call.epoch, refused?.epoch ?? 0), at: Date.now() });
      this.countServed('refused');
      return Promise.resolve({ id: call.id, status: ReplyStatus.NOT_OWNER, payload: EMPTY });
    }
    return this.runLocally(call, `${from}/${call.id}`).then(
      (payload): Reply => {
        this.countServed('ok');
        return { id: call.id, status: ReplyStatus.OK, payload };
      },
      (error: Error): Reply => (this.countServed('error'), {
        id: call.id,
        status: ReplyStatus.ERROR,
        payload: EMPTY,
        error: { code: error instanceof RingshardError ? error.code : ErrorCode.REMOTE, message: `node '${this.host.self}': ${error.message}` },
      }),
    );
  }

  private countServed(result: string): void {
    this.served.set(result, this.served.get(result)! + 1);
  }

  /** Runs a call on this node's actor (activating it here if needed). */
  runLocally(call: Call, callId: string): Promise<Uint32Array> {
    try {
      const ref = this.refFor(call);
      const kernel = ref.kernel;
      if (call.op === CallOp.TERMINATE) return ref.terminate().then((state) => (state === undefined ? EMPTY : encodeOne(kernel.codecs.state, state)));
      const entry = ref.entryForCall();
      const caller: Caller = { principalId: ref.caller.principalId, roles: ref.caller.roles, sourceId: call.source, callId };
      if (call.hlcHi !== 0 || call.hlcLo !== 0) this.host.local.receiveClock(call.hlcHi, call.hlcLo);
      const what = `call to kernel '${kernel.name}' actor '${ref.key}'`;
      const timeoutMs = this.host.local.askTimeoutMs;
      switch (call.op) {
        case CallOp.TELL:
          return linkOf(entry).tellMany(entry, caller, wordsBatch(call.payload, call.count, call.words)).then(() => EMPTY);
        case CallOp.ASK: {
          const sink = wordsSink(call.count, kernel.codecs.reply.words);
          return linkOf(entry).askMany(entry, caller, wordsBatch(call.payload, call.count, call.words), { codec: kernel.codecs.reply, what, timeoutMs, sink }).then(() => sink.words);
        }
        case CallOp.SNAPSHOT:
          return linkOf(entry).snapshot(entry, { codec: rawCodec(kernel.codecs.state), what, timeoutMs }) as Promise<Uint32Array>;
        case CallOp.SET_TIMER:
          return ref.setTimer(call.payload[TimerRecord.id]!, { dueMs: call.payload[TimerRecord.dueMs]!, everyMs: call.payload[TimerRecord.everyMs]! }).then(() => ONE);
        case CallOp.CLEAR_TIMER:
          return ref.clearTimer(call.payload[TimerRecord.id]!).then((armed) => (armed ? ONE : ZERO));
        default:
          return Promise.reject(new RingshardError(ErrorCode.REMOTE, `unknown call op ${call.op}`));
      }
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private refFor(call: Call): NodeRef {
    const k = `${call.kernel}\u0000${call.tenant}\u0000${call.key}\u0000${call.principal}\u0000${call.roles}`;
    let ref = this.refs.get(k);
    if (!ref) {
      ref = this.host.local.refFor(call.kernel, call.key, call.tenant, call.principal, call.roles);
      if (this.refs.size > REFS_LIMIT) this.refs.clear();
      this.refs.set(k, ref);
    }
    return ref;
  }
}

const ONE = Uint32Array.of(1);
const ZERO = Uint32Array.of(0);

const REFUSAL_TEXT: Record<RefusalReason, string> = {
  unsigned: 'the frame is not signed',
  'bad-signature': 'the signature does not verify',
  'unknown-node': 'its sender is not known here yet',
  replay: 'the frame was served before',
  'bad-frame': 'the call is malformed (unknown op)',
  'unknown-kernel': 'no such kernel on this node',
  'count-mismatch': "its message count and words per message do not match its payload and the kernel's request",
  schema: "a payload word is not a value the kernel's request schema allows (an f32 field holding NaN or an infinity)",
};
