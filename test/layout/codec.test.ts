import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { F32_MAX, ValueMismatch, compileCheckedStore, compileCodec } from '../../src/layout/codec.ts';
import { RingshardError } from '../../src/errors.ts';
import { schemaWithMessages } from '../helpers/schemas.ts';

describe('codec', () => {
  test('decode(encode(m)) equals m for random schemas and values', () => {
    fc.assert(
      fc.property(schemaWithMessages(8), ([schema, messages]) => {
        const codec = compileCodec(schema, 'prop');
        const words = new Uint32Array(codec.words * messages.length + 3);
        const floats = new Float32Array(words.buffer);
        // Canary words around the records catch writes outside a record.
        words.fill(0xdeadbeef);
        messages.forEach((m, i) => codec.encode(m, words, floats, 1 + i * codec.words));
        assert.equal(words[0], 0xdeadbeef);
        assert.equal(words[1 + codec.words * messages.length], 0xdeadbeef);
        messages.forEach((m, i) => assert.deepStrictEqual(codec.decode(words, floats, 1 + i * codec.words), m));
      }),
      { numRuns: 300 },
    );
  });

  test('fields are packed in declaration order, one word per element', () => {
    const codec = compileCodec({ a: 'u32', b: ['i32', 2], c: 'f32' }, 'order');
    const words = new Uint32Array(4);
    codec.encode({ a: 7, b: [-1, 2], c: 1.5 }, words, new Float32Array(words.buffer), 0);
    assert.deepEqual([...words], [7, 0xffffffff, 2, 0x3fc00000]);
    // Decoded messages are plain objects, keys in declaration order, arrays real arrays.
    const decoded = codec.decode(words, new Float32Array(words.buffer), 0) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
    assert.deepEqual(Object.keys(decoded), ['a', 'b', 'c']);
    assert.ok(Array.isArray(decoded.b));
    assert.equal(JSON.stringify(decoded), '{"a":7,"b":[-1,2],"c":1.5}');
  });

  test('typed arrays are accepted for array fields', () => {
    const codec = compileCodec({ v: ['f32', 3] }, 'typed');
    const words = new Uint32Array(3);
    const floats = new Float32Array(words.buffer);
    codec.encode({ v: new Float32Array([1, 2, 3]) as unknown as number[] }, words, floats, 0);
    assert.deepEqual(codec.decode(words, floats, 0), { v: [1, 2, 3] });
  });

  const codec = compileCodec({ add: 'u32', delta: 'i32', pos: ['f32', 3] }, "kernel 'k' request");
  const words = new Uint32Array(8);
  const floats = new Float32Array(words.buffer);
  const bad: Array<[string, unknown, RegExp]> = [
    ['missing field', { delta: 0, pos: [0, 0, 0] }, /kernel 'k' request: missing field 'add'/],
    ['extra field', { add: 1, delta: 0, pos: [0, 0, 0], sub: 2 }, /unknown field 'sub'/],
    ['negative u32', { add: -1, delta: 0, pos: [0, 0, 0] }, /field 'add' must be a u32.*got -1 \(number\)/],
    ['fractional i32', { add: 1, delta: 0.5, pos: [0, 0, 0] }, /field 'delta' must be an i32.*got 0.5/],
    ['string for u32', { add: '1', delta: 0, pos: [0, 0, 0] }, /field 'add' must be a u32.*got "1" \(string\)/],
    ['short array', { add: 1, delta: 0, pos: [0, 0] }, /field 'pos' must be an array of 3 f32, got an array of length 2/],
    ['NaN element', { add: 1, delta: 0, pos: [0, NaN, 0] }, /field 'pos\[1\]' must be an f32 \(a finite number from .*\), got NaN/],
    ['Infinity element', { add: 1, delta: 0, pos: [0, 0, Infinity] }, /field 'pos\[2\]' must be an f32.*got Infinity \(number\)/],
    ['f32 beyond the f32 range (1e39: Infinity once stored)', { add: 1, delta: 0, pos: [1e39, 0, 0] }, /field 'pos\[0\]' must be an f32 \(a finite number from -3.4028234663852886e\+38 to 3.4028234663852886e\+38\), got 1e\+39/],
    ['BigInt for u32', { add: 5n, delta: 0, pos: [0, 0, 0] }, /field 'add' must be a u32.*got 5 \(bigint\)/],
    ['Symbol for u32', { add: Symbol('x'), delta: 0, pos: [0, 0, 0] }, /field 'add' must be a u32.*got Symbol\(x\) \(symbol\)/],
    ['BigInt for i32', { add: 1, delta: 5n, pos: [0, 0, 0] }, /field 'delta' must be an i32.*got 5 \(bigint\)/],
    ['Symbol for f32', { add: 1, delta: 0, pos: [Symbol('y'), 0, 0] }, /field 'pos\[0\]' must be an f32.*got Symbol\(y\) \(symbol\)/],
    ['not an object', 42, /message must be an object.*got 42 \(number\)/],
    ['null', null, /message must be an object.*got null/],
  ];
  for (const [name, msg, pattern] of bad) {
    test(`rejects ${name} with a message naming the culprit`, () => {
      assert.throws(
        () => codec.encode(msg as never, words, floats, 0),
        (err: unknown) => err instanceof RingshardError && err.code === 'ERR_RINGSHARD_SCHEMA' && pattern.test(err.message),
      );
      assert.match(codec.check(msg) ?? '', new RegExp(pattern.source.replace(/^kernel 'k' request: /, '')));
    });
  }

  test('check() is undefined for a valid message', () => {
    assert.equal(codec.check({ add: 1, delta: -2, pos: [0.5, 1, 2] }), undefined);
  });

  test('the f32 range ends at the largest finite f32, both ends included', () => {
    assert.equal(F32_MAX, 2 ** 128 - 2 ** 104);
    assert.equal(Math.fround(F32_MAX), F32_MAX);
    codec.encode({ add: 0, delta: 0, pos: [F32_MAX, -F32_MAX, 0] }, words, floats, 0);
    assert.deepEqual(codec.decode(words, floats, 0).pos, [F32_MAX, -F32_MAX, 0]);
  });
});

describe('codec store (storage semantics)', () => {
  test('wraps integers and rounds floats like GPU memory does', () => {
    const codec = compileCodec({ u: 'u32', i: 'i32', f: 'f32', a: ['u32', 2] }, 'store');
    const words = new Uint32Array(5);
    const floats = new Float32Array(words.buffer);
    codec.store({ u: 2 ** 32 + 5, i: 2 ** 31, f: 0.1, a: [-1, 2 ** 33] }, words, floats, 0);
    assert.deepEqual(codec.decode(words, floats, 0), { u: 5, i: -(2 ** 31), f: Math.fround(0.1), a: [0xffffffff, 0] });
  });
});

describe('checked store (what a reference returns)', () => {
  const layout = compileCodec({ total: 'u32', d: 'i32', pos: ['f32', 2] }, 'reply').layout;
  const store = compileCheckedStore(layout);
  const words = new Uint32Array(4);
  const floats = new Float32Array(words.buffer);
  const cases: Array<[string, unknown, string]> = [
    ['negative u32', { total: -5, d: 0, pos: [0, 0] }, 'total = -5, not a u32'],
    ['string u32', { total: 'x', d: 0, pos: [0, 0] }, 'total = "x", not a u32'],
    ['u32 past 2^32 - 1', { total: 2 ** 32, d: 0, pos: [0, 0] }, 'total = 4294967296, not a u32'],
    ['fractional i32', { total: 1, d: 0.5, pos: [0, 0] }, 'd = 0.5, not an i32'],
    ['i32 past 2^31 - 1', { total: 1, d: 2 ** 31, pos: [0, 0] }, 'd = 2147483648, not an i32'],
    ['BigInt', { total: 5n, d: 0, pos: [0, 0] }, 'total = 5n, not a u32'],
    ['missing field', { d: 0, pos: [0, 0] }, 'total is missing (a u32)'],
    ['short array', { total: 1, d: 0, pos: [0] }, 'pos = an array of length 1, not an array of 2 f32'],
    ['NaN element', { total: 1, d: 0, pos: [0, NaN] }, 'pos[1] = NaN, not a finite f32'],
    ['f32 out of range', { total: 1, d: 0, pos: [1e39, 0] }, 'pos[0] = 1e+39, not a finite f32'],
    ['not an object', 7, ' = 7, not an object with fields total: u32, d: i32, pos: f32[2]'],
  ];
  for (const [name, value, text] of cases) {
    test(`refuses ${name}, naming the field`, () => {
      assert.throws(() => store(value, words, floats, 0), (err: unknown) => err instanceof ValueMismatch && `${err.field} ${err.problem}` === text);
    });
  }

  test('writes a value that fits (extra fields ignored, f32 rounded)', () => {
    store({ total: 4294967295, d: -2147483648, pos: [0.1, -F32_MAX], scratch: 'ignored' }, words, floats, 0);
    assert.deepEqual([words[0], words[1], floats[2], floats[3]], [4294967295, 2147483648, Math.fround(0.1), -F32_MAX]);
  });
});
