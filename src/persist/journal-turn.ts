/**
 * The calls journaled in one turn of the event loop, laid out as one journal frame's
 * words (JournalFile writes them, with the turn's strings):
 *
 *   head   first call's sequence (high, low), caller count, call count,
 *          per caller CALLER_WORDS: op, words per message, roles, source,
 *          its principal's and its sender's index in the strings
 *   calls  per call CALL_HEAD_WORDS: actor id, caller index, call id, message count;
 *          then its payload (count * words)
 *
 * A call's sequence is the first call's plus its place in the frame. Callers repeat
 * (a server's requests come from a few principals), so a call carries four words
 * besides its payload, and consecutive tells of one caller to one actor are one call.
 */
import type { Codec } from '../layout/codec.ts';

export const TURN_HEAD_WORDS = 4;
export const CALLER_WORDS = 6;
export const CALL_HEAD_WORDS = 4;

/** One call read back from a frame. */
export interface TurnCall {
  readonly actorId: number;
  readonly seq: number;
  readonly id: number;
  readonly op: number;
  readonly count: number;
  readonly words: number;
  readonly roles: number;
  readonly source: number;
  readonly principal: string;
  readonly sender: string;
  readonly payload: Uint32Array;
}

export class TurnWords {
  /** The calls' words (the head is written apart, at the end: see head()). */
  words = new Uint32Array(4096);
  private floats = new Float32Array(this.words.buffer);
  length = 0;
  readonly strings: string[] = [];
  private readonly stringIndex = new Map<string, number>();
  private readonly callers: number[] = [];
  private readonly callerIndex = new Map<string, number>();
  calls = 0;
  private firstSeq = 0;
  /** The last caller asked for, and its index: a turn's calls mostly come from one. */
  private lastCallerOp = -1;
  private lastCallerWords = -1;
  private lastCallerRoles = -1;
  private lastCallerSource = -1;
  private lastCallerPrincipal = '';
  private lastCallerSender = '';
  private lastCallerAt = -1;
  /** The last call, while more messages may join it: a local tell's (-1: none). */
  private openTellAt = -1;
  private openTellActor = -1;
  private openTellCaller = -1;

  /** Empties it for the next turn. */
  reset(): void {
    this.length = 0;
    this.calls = 0;
    this.strings.length = 0;
    this.stringIndex.clear();
    this.callers.length = 0;
    this.callerIndex.clear();
    this.lastCallerAt = -1;
    this.openTellAt = -1;
  }

  /** The caller's index in this turn (added once). */
  caller(op: number, words: number, roles: number, source: number, principal: string, sender: string): number {
    if (this.lastCallerAt >= 0 && op === this.lastCallerOp && words === this.lastCallerWords && roles === this.lastCallerRoles && source === this.lastCallerSource && principal === this.lastCallerPrincipal && sender === this.lastCallerSender) {
      return this.lastCallerAt;
    }
    const key = `${op}/${words}/${roles}/${source}/${principal.length}/${principal}${sender}`;
    let at = this.callerIndex.get(key);
    if (at === undefined) {
      at = this.callers.length / CALLER_WORDS;
      this.callers.push(op, words, roles, source, this.stringAt(principal), this.stringAt(sender));
      this.callerIndex.set(key, at);
    }
    this.lastCallerOp = op;
    this.lastCallerWords = words;
    this.lastCallerRoles = roles;
    this.lastCallerSource = source;
    this.lastCallerPrincipal = principal;
    this.lastCallerSender = sender;
    this.lastCallerAt = at;
    return at;
  }

  /**
   * Adds a call with sequence `seq` (one more than the last call's in this turn); returns
   * where its `payloadWords` words go.
   */
  call(seq: number, actorId: number, caller: number, id: number, count: number, payloadWords: number): number {
    if (this.calls++ === 0) this.firstSeq = seq;
    const o = this.reserve(CALL_HEAD_WORDS + payloadWords);
    const w = this.words;
    w[o] = actorId;
    w[o + 1] = caller;
    w[o + 2] = id;
    w[o + 3] = count;
    this.length = o + CALL_HEAD_WORDS + payloadWords;
    this.openTellAt = -1;
    return o + CALL_HEAD_WORDS;
  }

  /**
   * One local tell, encoded: it joins the last call when that is a tell of the same caller
   * to the same actor (returns false: no new call, no new sequence), else it is a new call
   * with sequence `seq` (returns true). Nothing is added when `msg` does not encode.
   */
  tell(seq: number, actorId: number, caller: number, codec: Codec, msg: unknown): boolean {
    const n = codec.words;
    if (this.openTellAt >= 0 && actorId === this.openTellActor && caller === this.openTellCaller) {
      const o = this.reserve(n);
      codec.encode(msg as never, this.words, this.floats, o);
      this.words[this.openTellAt + 3]!++;
      this.length = o + n;
      return false;
    }
    const o = this.reserve(CALL_HEAD_WORDS + n);
    codec.encode(msg as never, this.words, this.floats, o + CALL_HEAD_WORDS);
    this.call(seq, actorId, caller, 0, 1, n);
    this.openTellAt = o;
    this.openTellActor = actorId;
    this.openTellCaller = caller;
    return true;
  }

  /** The head words (see the file's comment) for the calls so far. */
  head(): Uint32Array {
    const head = new Uint32Array(TURN_HEAD_WORDS + this.callers.length);
    head[0] = Math.floor(this.firstSeq / 2 ** 32);
    head[1] = this.firstSeq >>> 0;
    head[2] = this.callers.length / CALLER_WORDS;
    head[3] = this.calls;
    head.set(this.callers, TURN_HEAD_WORDS);
    return head;
  }

  private stringAt(text: string): number {
    let i = this.stringIndex.get(text);
    if (i === undefined) this.stringIndex.set(text, (i = this.strings.push(text) - 1));
    return i;
  }

  /** Room for `n` more words at the end; returns where they go. */
  private reserve(n: number): number {
    const need = this.length + n;
    if (need > this.words.length) {
      const grown = new Uint32Array(Math.max(need, this.words.length * 2));
      grown.set(this.words.subarray(0, this.length));
      this.words = grown;
      this.floats = new Float32Array(grown.buffer);
    }
    return this.length;
  }
}

/** The calls of a frame's words (head, then calls), oldest first. */
export function* readTurn(strings: readonly string[], w: Uint32Array): Generator<TurnCall> {
  const firstSeq = w[0]! * 2 ** 32 + w[1]!;
  const callers = w[2]!;
  const calls = w[3]!;
  let c = TURN_HEAD_WORDS + callers * CALLER_WORDS;
  for (let i = 0; i < calls; i++) {
    const k = TURN_HEAD_WORDS + w[c + 1]! * CALLER_WORDS;
    const count = w[c + 3]!;
    const words = w[k + 1]!;
    yield {
      actorId: w[c]!,
      seq: firstSeq + i,
      id: w[c + 2]!,
      op: w[k]!,
      count,
      words,
      roles: w[k + 2]!,
      source: w[k + 3]!,
      principal: strings[w[k + 4]!]!,
      sender: strings[w[k + 5]!]!,
      payload: w.subarray(c + CALL_HEAD_WORDS, c + CALL_HEAD_WORDS + count * words),
    };
    c += CALL_HEAD_WORDS + count * words;
  }
}
