/**
 * The WGSL tokenizer: the separators, comments, identifiers and positions the spec
 * defines (and Tint follows), since the sandbox and the loop budget judge its tokens.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WGSL_BLANKSPACE, WGSL_LINE_BREAKS, tokenizeWgsl, wgslLineCount } from '../../src/kernels/wgsl-tokens.ts';

const texts = (code: string) => tokenizeWgsl(code, 'k').map((t) => t.text);
const invalid = (pattern: RegExp) => (err: any) => err.code === 'ERR_RINGSHARD_INVALID_KERNEL' && pattern.test(err.message);
const hex = (s: string) => [...s].map((c) => `U+${c.codePointAt(0)!.toString(16).padStart(4, '0')}`).join(' ');

test('the blank space and line break sets are the spec\'s', () => {
  assert.deepEqual(hex(WGSL_BLANKSPACE.join('')), 'U+0020 U+0009 U+000a U+000b U+000c U+000d U+0085 U+200e U+200f U+2028 U+2029');
  assert.deepEqual(hex(WGSL_LINE_BREAKS.join('')), 'U+000a U+000b U+000c U+000d U+000d U+000a U+0085 U+2028 U+2029');
});

for (const blank of WGSL_BLANKSPACE) {
  test(`${hex(blank)} separates tokens`, () => {
    assert.deepEqual(texts(`var${blank}x${blank}=${blank}1u;`), ['var', 'x', '=', '1u', ';']);
  });
}

for (const br of WGSL_LINE_BREAKS) {
  test(`a line comment ends at ${hex(br)}, which starts line 2`, () => {
    const tokens = tokenizeWgsl(`a // b /* c${br}  rs_x`, 'k');
    assert.deepEqual(tokens.map((t) => [t.text, t.line, t.column]), [['a', 1, 1], ['rs_x', 2, 3]]);
  });
}

test('JS blank space that WGSL lacks is refused with its code point, not skipped', () => {
  for (const c of ['\u00A0', '\u200B', '\uFEFF', '\u3000', '\u2009', '\u001C']) {
    assert.throws(() => tokenizeWgsl(`a${c}b`, 'kernel \'x\''), invalid(new RegExp(`kernel 'x': WGSL line 1, column 2: 'U\\+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}' is not allowed`)));
  }
  assert.throws(() => tokenizeWgsl('a \uD800 b', 'k'), invalid(/'U\+D800' is not allowed/), 'a lone surrogate');
});

test('block comments nest, and count the lines inside them', () => {
  const tokens = tokenizeWgsl('a /* 1 /* 2 \r\n */ still // in */ b /**/c/*/ */d', 'k');
  assert.deepEqual(tokens.map((t) => [t.text, t.line]), [['a', 1], ['b', 2], ['c', 2], ['d', 2]]);
  assert.deepEqual(texts('x /* // */ y'), ['x', 'y'], '// in a block comment does nothing');
  assert.deepEqual(texts('x // /* \n y'), ['x', 'y'], '/* in a line comment opens nothing');
});

test('an unterminated block comment is refused where it opens', () => {
  assert.throws(() => tokenizeWgsl('a\n  /* b /* c */ d', 'k'), invalid(/WGSL line 2, column 3: '\/\*' is not allowed: the block comment it opens is never closed/));
  assert.throws(() => tokenizeWgsl('a /*/', 'k'), invalid(/never closed/));
});

test('lines are counted at every WGSL line break, CR LF once', () => {
  assert.equal(wgslLineCount('a\r\nb\rc\nd\ve\ff\u0085g\u2028h\u2029i'), 9);
  assert.equal(wgslLineCount('\r\r\n\n'), 4);
  const last = tokenizeWgsl('a\r\n\r\nb\u000b\u000bc', 'k').at(-1)!;
  assert.deepEqual([last.line, last.column], [5, 1]);
});

test('columns are UTF-16 code units from the line start (WebGPU linePos)', () => {
  const tokens = tokenizeWgsl('fn \u{1D49C}() { let é数 = 1.5; }', 'k');
  assert.deepEqual(tokens.filter((t) => t.kind !== 'punct').map((t) => [t.text, t.column]), [['fn', 1], ['\u{1D49C}', 4], ['let', 11], ['é数', 15], ['1.5', 20]]);
});

test('identifiers are Unicode (XID_Start XID_Continue), _ alone is punctuation, __ is refused', () => {
  assert.deepEqual(tokenizeWgsl('é x数 Ωmega _a a_b _ a\u0301', 'k').map((t) => `${t.kind}:${t.text}`), ['ident:é', 'ident:x数', 'ident:Ωmega', 'ident:_a', 'ident:a_b', 'punct:_', 'ident:a\u0301']);
  assert.throws(() => tokenizeWgsl('let __x = 1;', 'k'), invalid(/column 5: '__x' is not allowed: WGSL identifiers may not start with two underscores/));
});

test('numbers take only number characters: an identifier after one is a token of its own', () => {
  assert.deepEqual(texts('1u 0x1Fu 1.5e-3f .5 1. 0x1p4 0x1.8p1h 2h 1e3 0i'), ['1u', '0x1Fu', '1.5e-3f', '.5', '1.', '0x1p4', '0x1.8p1h', '2h', '1e3', '0i']);
  assert.deepEqual(texts('0xfrs_states 1rs_x 1.rs_y 1ers_z'), ['0xf', 'rs_states', '1', 'rs_x', '1.', 'rs_y', '1', 'ers_z']);
});

test('attributes: @ is a token of its own, whatever separates it from the name', () => {
  const tokens = tokenizeWgsl('@/* */group(0) @\u200Ebinding(1)', 'k');
  assert.deepEqual(tokens.map((t) => `${t.kind}:${t.text}`), ['attribute:@', 'ident:group', 'punct:(', 'number:0', 'punct:)', 'attribute:@', 'ident:binding', 'punct:(', 'number:1', 'punct:)']);
});

test('operators take the longest match', () => {
  assert.deepEqual(texts('a<<=b>>=c->d&&e||f++;g--;h!=i'), ['a', '<<=', 'b', '>>=', 'c', '->', 'd', '&&', 'e', '||', 'f', '++', ';', 'g', '--', ';', 'h', '!=', 'i']);
  assert.deepEqual(texts('array<vec2<u32>>'), ['array', '<', 'vec2', '<', 'u32', '>>']);
});
