/**
 * The embedded store's journal on its own: turns' words (TurnWords) read back as the
 * calls that made them, through real segment files; a torn or damaged tail ends the
 * readable journal exactly at the last whole frame; frames that arrive during a write go
 * in the next one (group commit); segments go once every turn in them is released; and
 * the store reads what a previous process journaled, up to a torn frame.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { JournalFile } from '../../src/persist/journal-file.ts';
import { TurnWords, readTurn, type TurnCall } from '../../src/persist/journal-turn.ts';
import { LmdbStore } from '../../src/persist/lmdb-store.ts';
import { storeKey } from '../../src/recovery/state-store.ts';
import { CallOp, type Call } from '../../src/coordinator/actor-call.ts';
import type { Codec } from '../../src/layout/codec.ts';
import { seededRng } from '../helpers/random.ts';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'ringshard-journal-'));
}

/** A codec of `words` words that copies a number array (what a kernel's generated one does, minus checks). */
function wordsCodec(words: number): Codec {
  return {
    words,
    encode(msg: unknown, u32: Uint32Array, _f32: Float32Array, o: number) {
      const m = msg as number[];
      for (let i = 0; i < words; i++) u32[o + i] = m[i]!;
    },
  } as unknown as Codec;
}

type Caller = { op: number; words: number; roles: number; source: number; principal: string; sender: string };
type Step = { kind: 'call' | 'tell'; actor: number; caller: Caller; id: number; count: number; payload: number[] };

const callerArb: fc.Arbitrary<Caller> = fc.record({
  op: fc.constantFrom(0, 1),
  words: fc.integer({ min: 1, max: 3 }),
  roles: fc.constantFrom(0, 5),
  source: fc.constantFrom(0, 0xffffffff),
  principal: fc.constantFrom('', 'alice', 'bøb', 'a/1'),
  sender: fc.constantFrom('', 'node#1'),
});
const stepArb: fc.Arbitrary<Step> = fc
  .record({ kind: fc.constantFrom('call' as const, 'tell' as const), actor: fc.integer({ min: 1, max: 4 }), caller: callerArb, id: fc.nat(), count: fc.integer({ min: 1, max: 3 }) })
  .chain((s) => {
    // A tell is one message from a local caller (op TELL, no sender, no id).
    const caller = s.kind === 'tell' ? { ...s.caller, op: 0, sender: '' } : s.caller;
    const count = s.kind === 'tell' ? 1 : s.count;
    return fc.array(fc.nat({ max: 0xffffffff }), { minLength: count * caller.words, maxLength: count * caller.words }).map((payload) => ({ ...s, caller, count, id: s.kind === 'tell' ? 0 : s.id, payload }));
  });

/** What the journal must give back: a tell joins the call before it when that is a tell of the same caller to the same actor. */
function model(steps: readonly Step[], firstSeq: number): TurnCall[] {
  const out: Array<TurnCall & { payload: Uint32Array }> = [];
  let openTell = false;
  for (const s of steps) {
    const last = out.at(-1);
    const c = s.caller;
    if (s.kind === 'tell' && openTell && last && last.actorId === s.actor && last.words === c.words && last.roles === c.roles && last.source === c.source && last.principal === c.principal) {
      out[out.length - 1] = { ...last, count: last.count + 1, payload: Uint32Array.from([...last.payload, ...s.payload]) };
      continue;
    }
    out.push({ actorId: s.actor, seq: firstSeq + out.length, id: s.id, op: c.op, count: s.count, words: c.words, roles: c.roles, source: c.source, principal: c.principal, sender: c.sender, payload: Uint32Array.from(s.payload) });
    openTell = s.kind === 'tell';
  }
  return out;
}

function build(turn: TurnWords, steps: readonly Step[], firstSeq: number): void {
  let seq = firstSeq;
  for (const s of steps) {
    const c = s.caller;
    const caller = turn.caller(c.op, c.words, c.roles, c.source, c.principal, c.sender);
    if (s.kind === 'tell') {
      if (turn.tell(seq, s.actor, caller, wordsCodec(c.words), s.payload)) seq++;
    } else {
      const o = turn.call(seq++, s.actor, caller, s.id, s.count, s.payload.length);
      turn.words.set(s.payload, o);
    }
  }
}

const plain = (calls: Iterable<TurnCall>) => [...calls].map((c) => ({ ...c, payload: [...c.payload] }));

test('property: turns written to segment files read back as the calls that made them (tells of one caller to one actor in a row are one call)', async () => {
  const dir = tempDir();
  try {
    const turns = await fc.sample(fc.array(stepArb, { minLength: 1, maxLength: 40 }), { numRuns: 60 });
    const file = JournalFile.open(dir, 4096); // small segments: several of them
    const expected: TurnCall[][] = [];
    const words = new TurnWords();
    let seq = 2 ** 32 - 5; // sequences past 32 bits
    for (const [t, steps] of turns.entries()) {
      build(words, steps, seq);
      expected.push(model(steps, seq));
      seq += expected[t]!.length;
      const written = file.append(t + 1, words.strings, words.head(), words.words, words.length);
      words.reset(); // the frame is copied in: the words are free again
      if (t % 3 === 0) await written; // some frames alone, some together
    }
    await file.close(); // waits for the rest; no turn was released, so every segment stays
    assert.ok(readdirSync(dir).length > 1, 'several segments');
    const again = JournalFile.open(dir, 4096);
    const frames = [...again.read()];
    assert.deepEqual(frames.map((f) => f.turn), turns.map((_, t) => t + 1));
    frames.forEach((f, t) => assert.deepEqual(plain(readTurn(f.strings, f.words)), plain(expected[t]!), `turn ${t + 1}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a torn or damaged frame ends its segment: every whole frame before it reads back, none after', async (t) => {
  const rng = seededRng(t);
  for (let round = 0; round < 40; round++) {
    const dir = tempDir();
    try {
      const file = JournalFile.open(dir);
      const n = rng.int(1, 12);
      const frames: Uint32Array[] = [];
      const promises: Array<Promise<void>> = [];
      for (let f = 0; f < n; f++) {
        const words = Uint32Array.from({ length: rng.int(0, 50) }, () => rng.u32());
        frames.push(words);
        promises.push(file.append(f + 1, [`p${f}`], new Uint32Array([f]), words, words.length));
      }
      await Promise.all(promises);
      await file.close();
      const [segment] = readdirSync(dir);
      const path = join(dir, segment!);
      const bytes = readFileSync(path);
      // Where each frame ends: frame head, body head, one string (4 + padded bytes), head word, words.
      const ends: number[] = [];
      let end = 0;
      for (let f = 0; f < n; f++) ends.push((end += 12 + 16 + 4 + 4 * Math.ceil(`p${f}`.length / 4) + 4 + 4 * frames[f]!.length));
      assert.equal(end, bytes.length);
      const damage = rng.int(0, bytes.length - 1);
      if (rng.int(0, 1) === 0) truncateSync(path, damage);
      else {
        bytes[damage]! ^= 1 << rng.int(0, 7);
        writeFileSync(path, bytes);
      }
      const whole = ends.filter((e) => e <= damage).length;
      const read = [...JournalFile.open(dir).read()];
      assert.deepEqual(read.map((f) => f.turn), Array.from({ length: whole }, (_, i) => i + 1), `damage at byte ${damage} of ${bytes.length}`);
      read.forEach((f, i) => assert.deepEqual([...f.words], [i, ...frames[i]!]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('group commit: frames appended while a write is on its way go to the disk together in the next write', async () => {
  const dir = tempDir();
  try {
    const file = JournalFile.open(dir);
    const order: number[] = [];
    // One frame: its write starts at once. 199 more in the same turn: they wait for it, then go as one.
    const all = Array.from({ length: 200 }, (_, i) => file.append(i + 1, [], new Uint32Array([i]), new Uint32Array(0), 0).then(() => order.push(i)));
    await Promise.all(all);
    assert.equal(file.writes, 2);
    assert.deepEqual(order, Array.from({ length: 200 }, (_, i) => i), 'resolved in the order appended');
    // A lone frame later: a write of its own, at once.
    await file.append(201, [], new Uint32Array([200]), new Uint32Array(0), 0);
    assert.equal(file.writes, 3);
    await file.close();
    assert.deepEqual([...JournalFile.open(dir).read()].map((f) => f.words[0]), Array.from({ length: 201 }, (_, i) => i));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('segments go once every turn in them is released (and at open when none of theirs is kept); a clean close leaves none', async () => {
  const dir = tempDir();
  try {
    const payload = new Uint32Array(64); // 256 bytes a frame: four segments of 1 KiB
    let file = JournalFile.open(dir, 1024, { preallocate: false });
    for (let turn = 1; turn <= 16; turn++) await file.append(turn, [], new Uint32Array(0), payload, payload.length);
    const segments = () => readdirSync(dir).sort();
    assert.equal(segments().length, 4);
    // Released out of order, some early: the first segment's turns all, the second's but one.
    file.release([2, 1, 4, 3, 5, 6, 8]);
    await file.close();
    assert.deepEqual(segments(), ['000000000002.log', '000000000003.log', '000000000004.log']);
    // The next process keeps turns 7 and 13 (what its snapshots do not cover): the rest goes.
    file = JournalFile.open(dir, 1024, { preallocate: false });
    const frames = [...file.read()];
    assert.deepEqual(frames.map((f) => f.turn), [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    for (const f of frames) if (f.turn === 7 || f.turn === 13) file.keep(f.turn, f.segment);
    file.dropUnneeded();
    assert.deepEqual(segments(), ['000000000002.log', '000000000004.log']);
    await file.append(17, [], new Uint32Array(0), payload, payload.length);
    file.release([7, 13, 17]);
    await file.close();
    assert.deepEqual(segments(), [], 'every turn released: nothing is left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('segments are zero-filled ahead of use: once one is half full the next is prepared, frames go into it without growing it, and one a process left unused is the next one\'s first', async () => {
  const dir = tempDir();
  const SIZE = 1024;
  const size = (n: number) => statSync(join(dir, `${String(n).padStart(12, '0')}.log`)).size;
  // 12 + 16 + 8 (one string) + 400 = 436 bytes a frame.
  const frame = (turn: number) => Uint32Array.from({ length: 100 }, (_, i) => turn * 1000 + i);
  const append = (file: JournalFile, turn: number) => file.append(turn, ['s'], new Uint32Array(0), frame(turn), 100);
  try {
    let file = JournalFile.open(dir, SIZE);
    // No zero-filled segment yet: frames go to a new file, which grows. At the third, the
    // first is past half full: segment 2 is prepared meanwhile.
    for (let turn = 1; turn <= 2; turn++) await append(file, turn);
    await file.close();
    assert.deepEqual(readdirSync(dir).sort(), ['000000000001.log'], 'less than half full: nothing prepared');
    file = JournalFile.open(dir, SIZE);
    for (const f of file.read()) file.keep(f.turn, f.segment);
    await append(file, 3); // a new segment (2): the last process's is not a zero-filled one
    await append(file, 4);
    await append(file, 5); // segment 2 is past half full now: segment 3 is prepared
    await file.close(); // waits for the preparation; every turn is live, so every segment stays
    assert.deepEqual(readdirSync(dir).sort(), ['000000000001.log', '000000000002.log', '000000000003.log']);
    assert.ok(size(2) > SIZE, 'segment 2 grew with its frames');
    assert.equal(size(3), SIZE, 'segment 3 zero-filled');
    assert.ok(readFileSync(join(dir, '000000000003.log')).every((b) => b === 0));

    file = JournalFile.open(dir, SIZE);
    const before = [...file.read()];
    assert.deepEqual(before.map((f) => [f.turn, f.segment]), [[1, 1], [2, 1], [3, 2], [4, 2], [5, 2]], 'the unused segment holds no frame');
    for (const f of before) file.keep(f.turn, f.segment);
    await append(file, 6);
    await append(file, 7);
    await file.close();
    assert.equal(size(3), SIZE, 'written in place: segment 3 did not grow');
    assert.deepEqual(readdirSync(dir).sort(), ['000000000001.log', '000000000002.log', '000000000003.log'], 'not half full: nothing more prepared');

    file = JournalFile.open(dir, SIZE);
    const frames = [...file.read()];
    assert.deepEqual(frames.map((f) => [f.turn, f.segment]), [[1, 1], [2, 1], [3, 2], [4, 2], [5, 2], [6, 3], [7, 3]]);
    for (const f of frames) assert.deepEqual([...f.words], [...frame(f.turn)], `turn ${f.turn}`);
    await file.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the store reads what a previous process journaled, up to a torn last frame, and knows which actors it was for', async () => {
  const path = tempDir();
  try {
    let store = LmdbStore.open(path);
    await store.registerId(7, 'counter\u0000t\u0000a');
    await store.registerId(9, 'counter\u0000t\u0000b');
    const call = (n: number): Call => ({ id: 0, epoch: 0, op: CallOp.TELL, kernel: 'counter', tenant: 't', key: 'a', principal: 'p', roles: 0, source: 0xffffffff, hlcHi: 0, hlcLo: 0, count: 1, words: 1, payload: new Uint32Array([n]) });
    const keyA = storeKey('counter\u0000t\u0000a');
    const keyB = storeKey('counter\u0000t\u0000b');
    for (let turn = 0; turn < 5; turn++) {
      void store.append(keyA, call(turn), '', 7);
      await store.append(keyB, call(100 + turn), '', 9);
    }
    await store.close();
    // The process died writing its last frame: a few of its bytes are missing.
    const [segment] = readdirSync(join(path, 'journal'));
    const file = join(path, 'journal', segment!);
    truncateSync(file, readFileSync(file).length - 3);
    store = LmdbStore.open(path);
    try {
      assert.deepEqual(store.unfinished().map((u) => u.key).sort(), ['a', 'b']);
      const a = await store.read(keyA, 0);
      const b = await store.read(keyB, 0);
      assert.deepEqual(a.map((c) => c.call.payload[0]), [0, 1, 2, 3]);
      assert.deepEqual(b.map((c) => c.call.payload[0]), [100, 101, 102, 103]);
      assert.deepEqual(a.map((c) => c.call.principal), ['p', 'p', 'p', 'p']);
      // Sequences increase through both actors' calls, in the order they were journaled.
      assert.deepEqual([...a, ...b].map((c) => c.seq).sort((x, y) => x - y), [1, 2, 3, 4, 5, 6, 7, 8]);
      assert.ok(a.every((c, i) => c.seq < b[i]!.seq));
      // New calls continue past the sequences the journal holds (the torn frame's were never acknowledged).
      await store.append(keyA, call(9), '', 7);
      assert.equal(await store.journaled(keyA), 9);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(path, { recursive: true, force: true });
  }
});
