/**
 * meterLoops on tokens: every loop the compiler sees gets the budget check at the top of
 * its body, whatever separates its tokens, and nothing in a comment does (issue 20: a
 * loop hidden after `//\u2028` ran 50,000,000 iterations under a budget of 100).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Cluster } from '../../src/index.ts';
import { defineKernel } from '../../src/kernels/define-kernel.ts';
import { LOOP_CHECK, meterLoops } from '../../src/kernels/loop-budget.ts';
import { tokenizeWgsl } from '../../src/kernels/wgsl-tokens.ts';
import { gpuTest } from '../helpers/gpu.ts';
import { BLANKS, BREAKS, generateKernel } from './wgsl-gen.ts';

const CHECK_TOKENS = tokenizeWgsl(LOOP_CHECK, 'check').map((t) => t.text);
const lineBreaks = (code: string) => (code.match(/\r\n|[\n\v\f\r\u0085\u2028\u2029]/g) ?? []).length;
const checks = (code: string) => code.split(LOOP_CHECK).length - 1;
const hex = (s: string) => [...s].map((c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`).join(' ');

/** Every loop keyword's first `{` is followed by the check's tokens. */
function assertEveryLoopChecked(metered: string): number {
  const tokens = tokenizeWgsl(metered, 'metered');
  let loops = 0;
  tokens.forEach((t, k) => {
    if (t.kind !== 'ident' || !['loop', 'for', 'while'].includes(t.text)) return;
    loops++;
    const brace = tokens.findIndex((b, j) => j > k && b.text === '{');
    assert.deepEqual(tokens.slice(brace + 1, brace + 1 + CHECK_TOKENS.length).map((b) => b.text), CHECK_TOKENS, `the ${t.text} at line ${t.line}, column ${t.column}`);
  });
  return loops;
}

for (const br of BREAKS.filter((b) => b !== '\n')) {
  test(`bypass: a loop after a line comment ended by ${hex(br)} is metered (issue 20)`, () => {
    const code = `fn f() -> u32 {\n  var i = 0u; //${br} loop { i += 1u; if (i > 9u) { break; } }\n  return i;\n}`;
    const metered = meterLoops(code);
    assert.equal(checks(metered), 1);
    assert.equal(assertEveryLoopChecked(metered), 1);
    assert.equal(lineBreaks(metered), lineBreaks(code), 'line numbers stay');
  });
}

test('loops behind any blank space or comment are metered; loops in comments are not', () => {
  for (const blank of BLANKS) {
    const code = `fn f() {${blank}loop${blank}{${blank}break;${blank}}${blank}for${blank}(${blank};${blank};${blank})${blank}{${blank}break;${blank}}${blank}while${blank}true${blank}{${blank}break;${blank}}${blank}}`;
    assert.equal(checks(meterLoops(code)), 3, hex(blank));
  }
  const code = 'fn f() { loop/* { */{ break; } for/**/(;;)//{\n{ break; } /* loop { /* for (;;) { */ while true { */ // while true {\n}';
  const metered = meterLoops(code);
  assert.equal(checks(metered), 2);
  assert.equal(assertEveryLoopChecked(metered), 2);
  assert.match(metered, /loop\/\* \{ \*\/\{ if \(rs_loop_tick\(\)\) \{ break; \} break; \}/, 'after the body brace, not the one in the comment');
});

test('continuing blocks get no check (the body\'s check runs first in every iteration); nested loops in them do', () => {
  const code = 'fn f() { var i = 0u; loop { i += 1u; continuing { for (var j = 0u; j < 2u; j++) { } break if i > 3u; } } }';
  const metered = meterLoops(code);
  assert.equal(checks(metered), 2);
  assert.match(metered, /continuing \{ for \(var j = 0u; j < 2u; j\+\+\) \{ if \(rs_loop_tick\(\)\) \{ break; \} \}/);
});

test('a loop keyword without a body brace is refused, not skipped', () => {
  assert.throws(() => meterLoops('fn f() {}\n// x\rwhile'), (err: any) => err.code === 'ERR_RINGSHARD_INVALID_KERNEL' && /line 3, column 1: 'while' is not allowed: a loop needs a body/.test(err.message));
});

test('property: meterLoops puts one check at the top of every loop the generator wrote as code, none for loops in comments, and keeps lines', () => {
  fc.assert(
    fc.property(fc.gen(), (g) => {
      const { code, loops } = generateKernel(g);
      const metered = meterLoops(code);
      assert.equal(checks(metered), loops, 'one check per loop');
      assert.equal(assertEveryLoopChecked(metered), loops, 'the tokenizer sees exactly the loops written as code');
      assert.equal(lineBreaks(metered), lineBreaks(code), 'line numbers stay');
      assert.equal(metered.replaceAll(LOOP_CHECK, ''), code, 'nothing else changes');
    }),
    { numRuns: 500 },
  );
});

// One handler, one hidden loop per line break (and one behind nested block comments),
// chosen by msg.which; msg.n is how many iterations the loop wants.
const TERMINATORS = [...BREAKS, '/* /* */ */'];
const hidden = defineKernel({
  name: 'hidden',
  state: { n: 'u32' },
  request: { which: 'u32', n: 'u32' },
  reply: { i: 'u32' },
  wgsl: [
    'fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {',
    '  var i = 0u;',
    ...TERMINATORS.map((t, k) => `  if (msg.which == ${k}u) { ${t.startsWith('/*') ? t : `// hidden${t}`} loop { i += 1u; if (i >= msg.n) { break; } } }`),
    '  (*state).n += 1u;',
    '  return Reply(i);',
    '}',
  ].join('\n'),
  reference: (s, m) => {
    s.n += 1;
    return { i: m.n };
  },
});

gpuTest('bypass: loops hidden after //\\u2028 (and every other line break) are stopped by the budget with ERR_RINGSHARD_BUDGET', async () => {
  const cluster = await Cluster.start({ kernels: [hidden], backend: 'webgpu', shards: 1, logger: false, askTimeoutMs: 30_000, maxLoopIterations: 1000 });
  try {
    const a = cluster.actor(hidden, 'a');
    for (const [which, t] of TERMINATORS.entries()) {
      assert.deepEqual(await a.ask({ which, n: 500 }), { i: 500 }, `${hex(t)}: within the budget`);
      // Unmetered, this loop would run its million iterations and answer { i: 1000000 }.
      await assert.rejects(a.ask({ which, n: 1_000_000 }), (err: any) => err.code === 'ERR_RINGSHARD_BUDGET', `${hex(t)}: past the budget`);
    }
    assert.deepEqual(await a.snapshot(), { n: TERMINATORS.length }, 'the failed messages changed nothing');
  } finally {
    await cluster.shutdown();
  }
});
