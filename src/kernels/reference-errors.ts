/**
 * Why a kernel's TS reference failed an ask (it threw, or returned a value that does not
 * fit the kernel's reply or state schema), from a cpu shard worker to the coordinator,
 * which puts the text in the ask's ERR_RINGSHARD_HANDLER error. The reply record carries
 * only the status (Status.REFERENCE_FAILED); the text waits in this table, keyed by the
 * ask's correlation id, in a SharedArrayBuffer the coordinator allocates per shard.
 *
 * Layout (Int32 words):
 *
 *   word 0                      WRITES        entries written so far (mod 2^32)
 *   then ENTRIES entries of ENTRY_WORDS words; entry i starts at word 1 + i * ENTRY_WORDS:
 *     +0  SEQ          0 while the worker fills it, else the write's number (never 0)
 *     +1  CORRELATION  the failed ask's correlation id
 *     +2  BYTES        length of the text in UTF-8 bytes (TEXT_BYTES at most)
 *     +3  TEXT         the text, TEXT_BYTES bytes
 *
 * Write n goes to entry n % ENTRIES: an ask whose reply the coordinator reads after
 * ENTRIES more failures on the same shard finds its entry overwritten and says so
 * instead (exact text for every ask but floods of failures, at no cost per message).
 * Only asks are written; a tell (correlation 0) has no one to tell.
 *
 * Both sides touch the table only with Atomics. The worker writes an entry before it
 * publishes the reply (the ring's publish is an Atomics.store), so the coordinator
 * finds it when it reads that reply; it takes an entry only when SEQ is the same before
 * and after copying it, so a half-written one is never taken.
 */

export const ENTRIES = 64;
export const TEXT_BYTES = 512;
const WRITES = 0;
const SEQ = 0;
const CORRELATION = 1;
const BYTES = 2;
const TEXT = 3;
const ENTRY_WORDS = TEXT + TEXT_BYTES / 4;
const FIRST_ENTRY = 1;

export function createReferenceErrors(): SharedArrayBuffer {
  return new SharedArrayBuffer((FIRST_ENTRY + ENTRIES * ENTRY_WORDS) * 4);
}

export class ReferenceErrors {
  private readonly words: Int32Array;
  private readonly scratch = new Int32Array(TEXT_BYTES / 4);
  private readonly scratchBytes = new Uint8Array(this.scratch.buffer);
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer);
  }

  /** Worker side: why the ask with this correlation id failed (cut to TEXT_BYTES). */
  record(correlation: number, text: string): void {
    const w = this.words;
    const n = Atomics.add(w, WRITES, 1);
    const at = FIRST_ENTRY + ((n >>> 0) % ENTRIES) * ENTRY_WORDS;
    const bytes = this.scratchBytes;
    let { read, written } = this.encoder.encodeInto(text, bytes);
    if (read! < text.length) {
      // Cut: as much as fits before an ellipsis (3 bytes); encodeInto never splits a character.
      written = this.encoder.encodeInto(text, bytes.subarray(0, TEXT_BYTES - 3)).written!;
      written += this.encoder.encodeInto('…', bytes.subarray(written)).written!;
    }
    Atomics.store(w, at + SEQ, 0);
    Atomics.store(w, at + CORRELATION, correlation | 0);
    Atomics.store(w, at + BYTES, written!);
    const s = this.scratch;
    for (let i = 0, words = Math.ceil(written! / 4); i < words; i++) Atomics.store(w, at + TEXT + i, s[i]!);
    Atomics.store(w, at + SEQ, (n + 1) | 0 || 1);
  }

  /** Coordinator side: the text recorded for this correlation id, if it is still there. */
  find(correlation: number): string | undefined {
    const w = this.words;
    const s = this.scratch;
    for (let e = 0; e < ENTRIES; e++) {
      const at = FIRST_ENTRY + e * ENTRY_WORDS;
      const seq = Atomics.load(w, at + SEQ);
      if (seq === 0 || Atomics.load(w, at + CORRELATION) !== (correlation | 0)) continue;
      const bytes = Math.min(TEXT_BYTES, Math.max(0, Atomics.load(w, at + BYTES)));
      for (let i = 0, words = Math.ceil(bytes / 4); i < words; i++) s[i] = Atomics.load(w, at + TEXT + i);
      if (Atomics.load(w, at + SEQ) !== seq || Atomics.load(w, at + CORRELATION) !== (correlation | 0)) continue;
      return this.decoder.decode(this.scratchBytes.subarray(0, bytes));
    }
    return undefined;
  }
}
