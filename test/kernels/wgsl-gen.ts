/**
 * Random kernels for the sandbox and loop-budget properties: a valid handler written with
 * random separators (every WGSL blank space, line comments ended by every line break,
 * nested block comments full of decoy code) and random identifier spellings, optionally
 * with one forbidden construct in it. The writer knows what it wrote: how many loops, and
 * where the forbidden construct starts.
 *
 * The sets here are written out again on purpose, not imported from wgsl-tokens.ts, so
 * that a mistake there is not copied into the oracle.
 */
import fc from 'fast-check';

export const BLANKS = [' ', '\t', '\n', '\v', '\f', '\r', '\u0085', '\u200E', '\u200F', '\u2028', '\u2029'];
export const BREAKS = ['\n', '\v', '\f', '\r', '\r\n', '\u0085', '\u2028', '\u2029'];

/** Lines and columns as WGSL counts them (an independent oracle for error positions). */
export function positionOf(code: string, offset: number): { line: number; column: number } {
  const breaks = /\r\n|[\n\v\f\r\u0085\u2028\u2029]/g;
  let line = 1;
  let lineStart = 0;
  for (let m = breaks.exec(code); m !== null && m.index < offset; m = breaks.exec(code)) {
    line++;
    lineStart = m.index + m[0].length;
  }
  return { line, column: offset - lineStart + 1 };
}

// Code that would be refused, or metered, if it were not in a comment; and characters
// WGSL refuses outside comments but allows inside.
const DECOYS = [
  'rs_states[0] = 1u;', 'RS_MAX_LOOP_ITERATIONS', '@group(0) @binding(9)', '@ compute', 'var<storage, read_write> b: array<u32>;',
  'var<workgroup> w: u32;', 'ptr<storage, u32>', 'override o: u32;', 'loop {', 'for (;;) {', 'while true {', '{', '}', '@',
  'é数', '\u00A0', '\uFEFF', '\u200B', '\u200C', '"', '\\', 'x',
];
// Only in line comments: in a block comment they would open or close one.
const LINE_DECOYS = ['/*', '*/', '/* /*', '//', '*'];

const ANY_BREAK = /[\n\v\f\r\u0085\u2028\u2029]/;

function lineComment(g: fc.GeneratorValue): string {
  const words = g(() => fc.array(fc.constantFrom(...DECOYS, ...LINE_DECOYS), { maxLength: 4 }));
  const text = words.join(' ');
  if (ANY_BREAK.test(text)) throw new Error('a line comment decoy holds a line break');
  return `//${text}${g(() => fc.constantFrom(...BREAKS))}`;
}

function blockComment(g: fc.GeneratorValue, depth: number): string {
  const parts = g(() => fc.array(fc.constantFrom('decoy', 'break', 'nested', 'line'), { maxLength: 4 })).map((kind) => {
    if (kind === 'break') return g(() => fc.constantFrom(...BREAKS));
    if (kind === 'nested' && depth < 3) return blockComment(g, depth + 1);
    // `//` in a block comment does nothing; its text may hold line breaks too.
    if (kind === 'line') return `// ${g(() => fc.constantFrom(...DECOYS))}`;
    return g(() => fc.constantFrom(...DECOYS));
  });
  // Spaces keep a part from gluing onto the delimiters (`/` then `*/` would read `/*`).
  return `/* ${parts.join(' ')} */`;
}

/** Random separator: blank space and comments, at least `min` pieces. */
export function separator(g: fc.GeneratorValue, min: number): string {
  const kinds = g(() => fc.array(fc.constantFrom('blank', 'blank', 'line', 'block'), { minLength: min, maxLength: 3 }));
  return kinds.map((kind) => (kind === 'blank' ? g(() => fc.constantFrom(...BLANKS)) : kind === 'line' ? lineComment(g) : blockComment(g, 0))).join('');
}

const START = ['a', 'q', 'Z', 'é', 'Ω', '数', '\u{1D49C}', 'ǅ', '_a'];
const TAIL = ['b', '9', '_', 'é', '\u0301', '٣', '数', '\u{1D49C}', 'ǅ', 'rs_', 'RS_'];

/** A benign identifier: Unicode, never starting with rs_ (in any case) or __. */
export function benignName(g: fc.GeneratorValue, unique: number): string {
  const start = g(() => fc.constantFrom(...START));
  const tail = g(() => fc.array(fc.constantFrom(...TAIL), { maxLength: 3 })).join('');
  // The suffix keeps names apart and off WGSL's keywords and reserved words.
  return `${start}${tail}_${unique}`;
}

/** A name ringshard reserves: rs_ in some case, then anything an identifier may hold. */
export function reservedName(g: fc.GeneratorValue): string {
  const prefix = g(() => fc.constantFrom('rs_', 'RS_', 'Rs_', 'rS_'));
  const tail = g(() => fc.array(fc.constantFrom(...TAIL, 'states', 'results', 'loop_tick'), { maxLength: 3 })).join('');
  return prefix + tail;
}

const WORDY = /[\p{XID_Continue}.]$/u;
const WORDY_START = /^[\p{XID_Continue}.]/u;

/** Writes tokens with random separators, keeping track of what it wrote. */
export class KernelWriter {
  code = '';
  loops = 0;
  private names = 0;
  constructor(readonly g: fc.GeneratorValue) {}

  /** Appends the tokens (space-separated in `text`), each after a random separator; returns where the first starts. */
  put(text: string): number {
    let first = -1;
    for (const token of text.split(' ').filter((t) => t.length > 0)) {
      const glue = WORDY.test(this.code) && WORDY_START.test(token);
      this.code += separator(this.g, glue ? 1 : 0);
      if (first < 0) first = this.code.length;
      this.code += token;
    }
    return first;
  }

  name(): string {
    return benignName(this.g, this.names++);
  }
}

export type Forbidden = 'reserved-read' | 'reserved-write' | 'reserved-decl' | 'var' | 'ptr' | 'attribute' | 'binding' | 'override' | 'shadow';
export const FORBIDDEN: readonly Forbidden[] = ['reserved-read', 'reserved-write', 'reserved-decl', 'var', 'ptr', 'attribute', 'binding', 'override', 'shadow'];

const SHARED_SPACES = ['storage', 'uniform', 'workgroup', 'handle', 'push_constant', 'pixel_local'];
// Predeclared names ringshard's driver uses (and some it does not).
const PREDECLARED = ['select', 'min', 'max', 'u32', 'i32', 'f32', 'vec2', 'bitcast', 'array', 'storage', 'read', 'read_write', 'arrayLength', 'clamp', 'workgroupBarrier'];
const ATTRIBUTES = ['group', 'binding', 'compute', 'workgroup_size', 'must_use', 'diagnostic', 'align', 'size', 'id', 'builtin', 'location', 'interpolate', 'invariant', 'vertex', 'fragment', 'const'];

/** What generateKernel wrote. */
export interface GeneratedKernel {
  readonly code: string;
  /** Loops written as code (not in comments). */
  readonly loops: number;
  /** Where the forbidden construct's first token starts (when one was asked for). */
  readonly forbiddenAt?: number;
}

/** Forbidden constructs that go in the handler's body; the others go at module scope. */
function inHandler(kind: Forbidden): boolean {
  return kind === 'reserved-read' || kind === 'reserved-write';
}

/** A statement naming a reserved identifier; returns where that identifier starts. */
function handlerForbidden(w: KernelWriter, kind: Forbidden, counter: string): number {
  if (kind === 'reserved-read') {
    w.put(`let ${w.name()} =`);
    return w.put(`${reservedName(w.g)} [ 0u ] ;`);
  }
  const at = w.put(`${reservedName(w.g)} [ 0u ]`);
  w.put(`= ${counter} ;`);
  return at;
}

/** A module-scope forbidden construct; returns where its refused token starts. */
function moduleForbidden(w: KernelWriter, kind: Forbidden): number {
  const g = w.g;
  switch (kind) {
    case 'reserved-decl': {
      const asConst = g(() => fc.boolean());
      w.put(asConst ? 'const' : 'fn');
      return w.put(asConst ? `${reservedName(g)} = 1u ;` : `${reservedName(g)} ( ) { }`);
    }
    case 'var': {
      const space = g(() => fc.constantFrom(...SHARED_SPACES, w.name()));
      const access = g(() => fc.constantFrom('', ', read', ', read_write'));
      return w.put(`var < ${space} ${access} > ${w.name()} : u32 ;`);
    }
    case 'ptr': {
      const space = g(() => fc.constantFrom(...SHARED_SPACES, w.name()));
      w.put(`fn ${w.name()} ( p :`);
      return w.put(`ptr < ${space} , u32 , read_write > ) { }`);
    }
    case 'attribute': {
      const attr = g(() => fc.constantFrom(...ATTRIBUTES, w.name()));
      const args = g(() => fc.constantFrom('', '( 1 )'));
      return w.put(`@ ${attr} ${args} fn ${w.name()} ( ) -> u32 { return 1u ; }`);
    }
    case 'binding':
      return w.put(`@ group ( 0 ) @ binding ( 9 ) var < storage , read_write > ${w.name()} : array < u32 > ;`);
    case 'override':
      return w.put(`override ${w.name()} : u32 = 1u ;`);
    case 'shadow': {
      const name = g(() => fc.constantFrom(...PREDECLARED));
      const form = g(() => fc.constantFrom('fn', 'const', 'alias', 'struct', 'var'));
      if (form === 'fn') {
        w.put('fn');
        return w.put(`${name} ( a : u32 , b : u32 , c : bool ) -> u32 { return b ; }`);
      }
      w.put(form === 'var' ? 'var < private >' : form);
      return w.put(form === 'const' ? `${name} = 1u ;` : form === 'alias' ? `${name} = i32 ;` : form === 'struct' ? `${name} { a : f32 , }` : `${name} : u32 ;`);
    }
    default:
      throw new Error(`${kind} is not a module-scope construct`);
  }
}

function statements(w: KernelWriter, counter: string, depth: number, forbidden: { kind?: Forbidden; at?: number }): void {
  const g = w.g;
  const kinds = g(() => fc.array(fc.constantFrom('add', 'loop', 'for', 'while', 'while-paren', 'forbidden'), { maxLength: depth === 0 ? 5 : 2 }));
  for (const kind of kinds) {
    if (kind === 'forbidden') {
      if (forbidden.kind !== undefined && inHandler(forbidden.kind) && forbidden.at === undefined) forbidden.at = handlerForbidden(w, forbidden.kind, counter);
      continue;
    }
    if (kind === 'add' || depth >= 2) {
      w.put(`${counter} += 1u ;`);
      continue;
    }
    w.loops++;
    if (kind === 'loop') {
      w.put('loop {');
      statements(w, counter, depth + 1, forbidden);
      w.put(`if ( ${counter} > 3u ) { break ; } ${counter} += 1u ;`);
      if (g(() => fc.boolean())) w.put(`continuing { break if ${counter} > 5u ; }`);
      w.put('}');
    } else if (kind === 'for') {
      const i = w.name();
      w.put(`for ( var ${i} : u32 = 0u ; ${i} < 3u ; ${i} ++ ) {`);
      statements(w, counter, depth + 1, forbidden);
      w.put('}');
    } else {
      w.put(kind === 'while' ? `while ${counter} < 3u {` : `while ( ${counter} < 3u ) {`);
      statements(w, counter, depth + 1, forbidden);
      w.put(`${counter} += 1u ; }`);
    }
  }
}

/**
 * A kernel with `fn handle` for state { n: u32 }, request { x: u32 }, reply { n: u32 }:
 * benign module-scope declarations, loops in the handler, and, if asked, one forbidden
 * construct (in the handler for reserved-read/-write, at module scope otherwise).
 */
export function generateKernel(g: fc.GeneratorValue, kind?: Forbidden): GeneratedKernel {
  const w = new KernelWriter(g);
  const forbidden: { kind?: Forbidden; at?: number } = kind === undefined ? {} : { kind };
  const moduleItems = g(() => fc.array(fc.constantFrom('private', 'const', 'fn', 'struct', 'alias'), { maxLength: 3 }));
  const forbiddenSlot = g(() => fc.nat({ max: moduleItems.length }));
  moduleItems.forEach((item, index) => {
    if (index === forbiddenSlot && kind !== undefined && !inHandler(kind)) {
      forbidden.at = moduleForbidden(w, kind);
    }
    if (item === 'private') w.put(`var < private > ${w.name()} : u32 ;`);
    else if (item === 'const') w.put(`const ${w.name()} = 1u ;`);
    else if (item === 'fn') w.put(`fn ${w.name()} ( p : ptr < function , u32 > ) -> u32 { return * p + 1u ; }`);
    // Member names are not declarations: predeclared ones are fine there.
    else if (item === 'struct') w.put(`struct ${w.name()} { ${g(() => fc.constantFrom('a', 'min', 'select', 'read'))} : u32 , }`);
    else w.put(`alias ${w.name()} = array < u32 , 4 > ;`);
  });
  if (kind !== undefined && !inHandler(kind) && forbidden.at === undefined) forbidden.at = moduleForbidden(w, kind);
  w.put('fn handle ( ctx : ptr < function , RingContext > , state : ptr < function , State > , msg : Request ) -> Reply {');
  const counter = w.name();
  w.put(`var ${counter} : u32 = msg . x ;`);
  statements(w, counter, 0, forbidden);
  if (kind !== undefined && forbidden.at === undefined) forbidden.at = handlerForbidden(w, kind, counter);
  w.put(`( * state ) . n = ${counter} ; return Reply ( ${counter} ) ; }`);
  w.code += separator(g, 0); // maybe a comment at the very end
  return { code: w.code, loops: w.loops, ...(forbidden.at !== undefined ? { forbiddenAt: forbidden.at } : {}) };
}
