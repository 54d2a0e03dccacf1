/**
 * The WGSL sandbox: kernel code may not name ringshard's bindings (rs_*), declare
 * resources or entry points (attributes), use shared memory (var/ptr other than private
 * and function), or declare overrides, whatever separates its tokens. Regression tests
 * are named after the bypasses found (issue 20); the properties generate kernels with
 * every separator WGSL has and show none of the forbidden ones passes, and that benign
 * ones do.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { defineKernel, type Kernel } from '../../src/kernels/define-kernel.ts';
import { checkKernelWgsl } from '../../src/kernels/wgsl-sandbox.ts';
import { meterLoops } from '../../src/kernels/loop-budget.ts';
import { tokenizeWgsl } from '../../src/kernels/wgsl-tokens.ts';
import { WGSL_PREDECLARED } from '../../src/kernels/wgsl-predeclared.ts';
import { assembleKernelModule } from '../../src/kernels/assemble.ts';
import { batchLayout } from '../../src/layout/batch.ts';
import { requestSlotWords } from '../../src/layout/record.ts';
import * as builtins from '../../shaders/builtins/index.ts';
import * as helperKernels from '../helpers/kernels.ts';
import * as k2kKernels from '../helpers/k2k-kernels.ts';
import { kernels as badInputKernels } from '../bad-inputs/table.ts';
import { openGpuHost } from '../../src/worker/gpu/gpu-host.ts';
import { gpuTest } from '../helpers/gpu.ts';
import { BLANKS, BREAKS, FORBIDDEN, generateKernel, positionOf } from './wgsl-gen.ts';

const HANDLE = 'fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply';
const schemas = { state: { n: 'u32' }, request: { x: 'u32' }, reply: { n: 'u32' } } as const;
const define = (wgsl: string, name = 'x') => defineKernel({ name, ...schemas, wgsl });
/** A handler whose body holds `body` (after `var i = 0u; var w = 1u;`). */
const handlerWith = (body: string) => `${HANDLE} {\n  var i = 0u; var w = 1u; var v = 0u;\n  ${body}\n  return Reply((*state).n);\n}`;
const hex = (s: string) => [...s].map((c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`).join(' ');

function refused(wgsl: string, message: RegExp): void {
  assert.throws(
    () => define(wgsl),
    (err: any) => err.code === 'ERR_RINGSHARD_INVALID_KERNEL' && message.test(err.message),
    `expected ${message} for ${JSON.stringify(wgsl)}`,
  );
}

// ---- regression tests: the bypasses found ----

const THE_ATTACK = (terminator: string) => handlerWith(`// x${terminator} v = rs_states[i]; rs_states[i] = w;`);

for (const br of BREAKS.filter((b) => b !== '\n')) {
  test(`bypass: a line comment ended by ${hex(br)} hid 'v = rs_states[i]; rs_states[i] = w;' (issue 20)`, () => {
    refused(THE_ATTACK(br), /kernel 'x': WGSL line 4, column \d+: 'rs_states' is not allowed: names starting with rs_ or RS_/);
  });
}

test('bypass: the exact attack from the issue, `// x\\r v = rs_states[i]; ...`, fails at defineKernel with its position', () => {
  const wgsl = `${HANDLE} {\n  var i = 0u; var w = 1u; var v = 0u;\n  // x\r v = rs_states[i]; rs_states[i] = w;\n  return Reply(v);\n}`;
  // Line 3 is the comment; the \r ends it, so the code after it is on line 4, column 6.
  refused(wgsl, /^kernel 'x': WGSL line 4, column 6: 'rs_states' is not allowed: names starting with rs_ or RS_ \(in any case\) are reserved for ringshard$/);
});

for (const blank of BLANKS) {
  test(`bypass: blank space ${hex(blank)} between tokens hides no var<workgroup>, @group, @binding, @compute`, () => {
    refused(`var<${blank}workgroup> box: u32;\n${handlerWith('')}`, /line 1, column 1: 'var<workgroup>' is not allowed: kernel variables may only be function or private/);
    refused(`var${blank}<${blank}storage${blank},${blank}read_write${blank}> b: array<u32>;\n${handlerWith('')}`, /'var<storage>' is not allowed/);
    refused(`@${blank}group(0) @binding(9) var<storage, read_write> b: array<u32>;\n${handlerWith('')}`, /line 1, column 1: '@group' is not allowed: kernels may not use attributes/);
    refused(`@${blank}binding(9) var<storage, read_write> b: array<u32>;\n${handlerWith('')}`, /'@binding' is not allowed/);
    refused(`${handlerWith('')}\n@${blank}compute @workgroup_size(1) fn main() {}`, /'@compute' is not allowed/);
    refused(`fn f(p: ptr<${blank}storage, u32, read_write>) {}\n${handlerWith('')}`, /line 1, column 9: 'ptr<storage>' is not allowed: kernels may only use pointers into function or private memory/);
  });
}

test('bypass: comments between @ and the attribute name (@/**/group, @// c\\r group)', () => {
  refused(`@/**/group(0) @binding(9) var<storage, read_write> b: array<u32>;\n${handlerWith('')}`, /line 1, column 1: '@group' is not allowed/);
  refused(`@/* /* */ */binding(9) var<storage> b: array<u32>;\n${handlerWith('')}`, /'@binding' is not allowed/);
  refused(`@// c\r group(0) var<private> b: u32;\n${handlerWith('')}`, /line 1, column 1: '@group' is not allowed/);
  refused(`${handlerWith('')}\n@\u2028compute fn main() {}`, /'@compute' is not allowed/);
  refused(`@ must_use fn f() -> u32 { return 1u; }\n${handlerWith('')}`, /'@must_use' is not allowed/);
  refused(`@diagnostic(off, derivative_uniformity) fn f() {}\n${handlerWith('')}`, /'@diagnostic' is not allowed/);
});

test('bypass: nested block comments close where WGSL closes them', () => {
  assert.ok(define(`/* /* */ rs_states[0] = 1u; */\n${handlerWith('')}`), 'still in the outer comment');
  refused(`/* /* */ */ var<workgroup> w: u32;\n${handlerWith('')}`, /line 1, column 13: 'var<workgroup>'/);
  assert.ok(define(`/* // */ var<private> p: u32;\n${handlerWith('')}`), '// in a block comment does nothing');
  refused(`// /* \nvar<workgroup> w: u32;\n${handlerWith('')}`, /line 2, column 1: 'var<workgroup>'/);
  refused(`${handlerWith('')}\n/* never closed`, /line 6, column 1: '\/\*' is not allowed: the block comment it opens is never closed/);
  refused(`${handlerWith('')}\n/* /* closed once */`, /never closed/);
});

test('bypass: reserved names in any ASCII case and any Unicode spelling around them', () => {
  for (const name of ['rs_states', 'RS_STATES', 'Rs_states', 'rS_x', 'rs_', 'rs_é', 'rs_数\u0301', 'RS_MAX_LOOP_ITERATIONS', 'rs_loop_tick']) {
    refused(handlerWith(`let a = ${name};`), new RegExp(`line 3, column 11: '${name}' is not allowed`));
  }
  refused(`fn rs_loop_tick() -> bool { return false; }\n${handlerWith('')}`, /line 1, column 4: 'rs_loop_tick'/);
  // Not ringshard's: rs_ inside a name, and look-alikes (WGSL does not normalize names).
  for (const name of ['ars_x', 'x_rs_y', 'rs', 'r_s_x', 'ｒｓ_x', 'rſ_x', 'é', '数', '_a', 'ǅ']) {
    assert.ok(define(handlerWith(`let ${name} = 1u;`)), name);
  }
});

test('var and ptr: only private and function address spaces, written any way', () => {
  assert.ok(define(`var<private> a: u32;\nvar < private > b: u32;\nfn f(p: ptr<function, u32>, q: ptr < private , u32 >) {}\n${handlerWith('var<function> c: u32;')}`));
  for (const space of ['storage', 'uniform', 'workgroup', 'handle', 'push_constant', 'pixel_local', 'privat', 'PRIVATE']) {
    refused(`var<${space}> a: u32;\n${handlerWith('')}`, new RegExp(`'var<${space}>' is not allowed`));
    refused(`fn f(p: ptr<${space}, u32>) {}\n${handlerWith('')}`, new RegExp(`'ptr<${space}>' is not allowed`));
  }
  refused(`var<<storage>> a: u32;\n${handlerWith('')}`, /'var<<' is not allowed/);
  refused(`alias P = ptr<storage, array<u32>, read_write>;\n${handlerWith('')}`, /'ptr<storage>' is not allowed/);
});

test('override is refused (ringshard sets no pipeline constants)', () => {
  refused(`override scale: u32 = 2u;\n${handlerWith('')}`, /line 1, column 1: 'override' is not allowed: ringshard sets no pipeline constants; use const/);
});

test('characters WGSL refuses outside comments are refused with their code point; inside comments they are fine', () => {
  refused(handlerWith('var\u00A0a = 1u;'), /line 3, column 6: 'U\+00A0' is not allowed/);
  refused(handlerWith('let a = 1u;\uFEFF'), /'U\+FEFF' is not allowed/);
  assert.ok(define(handlerWith('// \u00A0 \uFEFF \u200B are fine here\n/* and \u00A0 here */')));
});

test('a loop keyword with no body brace is refused', () => {
  refused(`${handlerWith('')}\nfn g() { loop }`, /line 6, column 10: 'loop' is not allowed: a loop needs a body in braces/);
});

test('braces must balance: the kernel\'s code sits between ringshard\'s', () => {
  refused(`${handlerWith('')}\n}\nfn select(a: u32, b: u32, c: bool) -> u32 { return b; }`, /line 6, column 1: '}' is not allowed: it closes no block/);
  refused(`${handlerWith('')}\nfn g() {\n  if true { }`, /line 6, column 8: '\{' is not allowed: the block it opens is never closed/);
});

test('found: a module-scope fn select/min replaced the built-ins in ringshard\'s driver too; predeclared names are refused at module scope', () => {
  for (const decl of [
    'fn select(a: u32, b: u32, c: bool) -> u32 { return b; }',
    'fn min(a: u32, b: u32) -> u32 { return a; }',
    'fn/**/bitcast(a: u32) -> u32 { return a; }',
    'alias u32 = i32;',
    'struct vec2 { a: f32 }',
    'const storage = 1u;',
    'var<private> read_write: u32;',
    'const arrayLength = 1u;',
  ]) {
    const name = /(?:fn|alias|struct|const|var<private>)(?:\/\*\*\/|\s)+(\w+)/.exec(decl)![1]!;
    refused(`${decl}\n${handlerWith('')}`, new RegExp(`line 1, column \\d+: '${name}' is not allowed: kernel code may not declare at module scope a name WGSL predeclares`));
  }
  // Inside a function a name shadows only there; struct members are not declarations.
  assert.ok(define(`struct Stats { min: u32, max: u32, select: u32 }\nfn f(min: u32) -> u32 { let max = min; var select = max; return select; }\n${handlerWith('let u32_ = 1u; var clamp = 2u;')}`));
});

test('the handler and hooks are found on tokens, whatever separates them', () => {
  const found = checkKernelWgsl(`fn/**/handle\u200E(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply { return Reply(0u); }\nfn\u2028init\r\n(c: u32) {}`, 'k');
  assert.deepEqual(found, { handle: true, handleSecure: false, init: true, shutdown: false, onTimer: false, armsTimers: false });
  assert.throws(() => checkKernelWgsl('// fn handle(\nfn other() {}', 'k'), /defines no handler/);
  assert.throws(() => checkKernelWgsl('fn handle_x() {}', 'k'), /defines no handler/);
});

// ---- every legitimate kernel in the repository still passes ----

const isKernel = (k: unknown): k is Kernel => typeof k === 'object' && k !== null && typeof (k as Kernel).code === 'string';

test('every built-in, test helper and bad-inputs kernel passes the sandbox and meters', () => {
  const all = ([...Object.values(builtins), ...Object.values(helperKernels), ...Object.values(k2kKernels), ...badInputKernels] as unknown[]).filter(isKernel);
  assert.ok(all.length >= 15, `found ${all.length} kernels`);
  for (const kernel of all) {
    checkKernelWgsl(kernel.code, kernel.name);
    meterLoops(kernel.code);
  }
});

test('every predeclared name ringshard\'s own WGSL uses (prelude, generated code, driver) is one the sandbox protects', () => {
  const layout = batchLayout({ kernels: 2, maxBatch: 64, recordWords: requestSlotWords(16), resultWords: 16, stateStride: 16, maxSends: 2, sendWords: 8 });
  const keywords = new Set(['fn', 'let', 'var', 'const', 'struct', 'alias', 'if', 'else', 'for', 'loop', 'while', 'switch', 'case', 'default', 'return', 'break', 'continue', 'continuing', 'true', 'false', 'discard', 'const_assert']);
  // Context-dependent names (attribute names and their arguments), and what the kernel defines.
  const contextual = new Set(['compute', 'workgroup_size', 'group', 'binding', 'builtin', 'global_invocation_id', 'handle', 'handle_secure', 'init', 'shutdown']);
  const unprotected = new Set<string>();
  for (const kernel of ([...Object.values(builtins), ...Object.values(k2kKernels)] as unknown[]).filter(isKernel)) {
    for (const secure of [false, true]) {
      const k = { ...kernel, secure, hasInit: true, hasShutdown: true } as Kernel<any, any, any>;
      const sends = [{ name: 'peer', kernelId: 1, kernelName: 'peer', request: kernel.codecs.request.layout }];
      const code = assembleKernelModule(k, 0, layout, { roles: ['teller', 'auditor'], sends }).code;
      const [start, end] = [code.indexOf(`// ---- kernel '${kernel.name}' ----`), code.indexOf('// ---- driver')];
      assert.ok(start > 0 && end > start);
      const tokens = tokenizeWgsl(code, kernel.name).filter((t) => t.offset < start || t.offset >= end);
      const declared = new Set<string>();
      tokens.forEach((t, i) => {
        const next = tokens[i + 1];
        if (['fn', 'struct', 'alias', 'const', 'let', 'var'].includes(t.text) && next?.kind === 'ident') declared.add(next.text);
        if (t.text === '>' && tokens[i - 3]?.text === 'var' && next?.kind === 'ident') declared.add(next.text); // var<private> x
        if (t.text === '>' && tokens[i - 5]?.text === 'var' && next?.kind === 'ident') declared.add(next.text); // var<storage, read> x
        if (t.kind === 'ident' && next?.text === ':') declared.add(t.text); // parameters, members
      });
      tokens.forEach((t, i) => {
        if (t.kind !== 'ident' || tokens[i - 1]?.text === '.' || /^(rs_|RS_)/.test(t.text)) return;
        if (!declared.has(t.text) && !keywords.has(t.text) && !contextual.has(t.text) && !WGSL_PREDECLARED.has(t.text)) unprotected.add(t.text);
      });
    }
  }
  assert.deepEqual([...unprotected], [], 'names ringshard\'s WGSL uses without declaring them, which a kernel could declare for it');
});

// ---- properties ----

test('property: a kernel with any forbidden construct, any separators and spellings, is refused where the construct is', () => {
  fc.assert(
    fc.property(fc.constantFrom(...FORBIDDEN), fc.gen(), (kind, g) => {
      const { code, forbiddenAt } = generateKernel(g, kind);
      assert.notEqual(forbiddenAt, undefined);
      const { line, column } = positionOf(code, forbiddenAt!);
      assert.throws(
        () => define(code),
        (err: any) => err.code === 'ERR_RINGSHARD_INVALID_KERNEL' && err.message.includes(`WGSL line ${line}, column ${column}: '`) && err.message.includes('is not allowed'),
        `${kind}: expected a refusal at line ${line}, column ${column} of ${JSON.stringify(code)}`,
      );
    }),
    { numRuns: 800 },
  );
});

test('property: the same kernels without the forbidden construct are accepted (the check is not "refuse everything")', () => {
  fc.assert(
    fc.property(fc.gen(), (g) => {
      const { code } = generateKernel(g);
      const kernel = define(code);
      assert.equal(kernel.secure, false);
      assert.deepEqual(checkKernelWgsl(code, 'k'), { handle: true, handleSecure: false, init: false, shutdown: false, onTimer: false, armsTimers: false });
    }),
    { numRuns: 400 },
  );
});

// ---- on the GPU: Tint agrees ----

async function compileErrors(device: GPUDevice, code: string): Promise<string[]> {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  await device.popErrorScope();
  return info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message.split('\n')[0]}`);
}

function assembled(code: string): string {
  const base = define(handlerWith(''));
  const layout = batchLayout({ kernels: 1, maxBatch: 64, recordWords: requestSlotWords(1), resultWords: 1, stateStride: 1 });
  return assembleKernelModule({ ...base, code } as Kernel<any, any, any>, 0, layout, { maxLoopIterations: 100 }).code;
}

gpuTest('Tint compiles each refused bypass as written: the sandbox, not the compiler, is what stops them', async () => {
  const host = await openGpuHost();
  try {
    const attacks = [
      ...BREAKS.filter((b) => b !== '\n').map((br) => THE_ATTACK(br)),
      `var<\u200Eworkgroup> box: u32;\n${handlerWith('box = 1u;')}`,
      `var<\u0085workgroup> box: u32;\n${handlerWith('box = 1u;')}`,
      `@\u200Egroup(0) @\u200Fbinding(9) var<storage, read_write> mine: array<u32>;\n${handlerWith('mine[0] = 1u;')}`,
      `@/**/group(0) @// c\rbinding(9) var<storage, read_write> mine: array<u32>;\n${handlerWith('mine[0] = 1u;')}`,
      `${handlerWith('')}\n@\u200Ecompute @workgroup_size(1) fn main2() {}`,
      `/* /* */ */ var<workgroup> w: u32;\n${handlerWith('w = 1u;')}`,
      `override scale: u32 = 2u;\n${handlerWith('v = scale;')}`,
      handlerWith('let a = RS_MAX_LOOP_ITERATIONS; //\u2028 rs_budget = 0u;'),
      `fn select(a: u32, b: u32, c: bool) -> u32 { return b; }\nfn min(a: u32, b: u32) -> u32 { return a; }\n${handlerWith('')}`,
    ];
    for (const attack of attacks) {
      assert.throws(() => define(attack), (err: any) => err.code === 'ERR_RINGSHARD_INVALID_KERNEL', JSON.stringify(attack));
      assert.deepEqual(await compileErrors(host.device, assembled(attack)), [], `Tint refused ${JSON.stringify(attack)}`);
    }
  } finally {
    host.destroy();
  }
});

gpuTest('property: generated benign kernels, metered, compile in Tint (the generator writes real WGSL)', async () => {
  const host = await openGpuHost();
  try {
    await fc.assert(
      fc.asyncProperty(fc.gen(), async (g) => {
        const { code } = generateKernel(g);
        define(code);
        assert.deepEqual(await compileErrors(host.device, assembled(code)), [], JSON.stringify(code));
      }),
      { numRuns: 60 },
    );
  } finally {
    host.destroy();
  }
});
