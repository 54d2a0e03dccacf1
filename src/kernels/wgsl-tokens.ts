/**
 * A WGSL tokenizer: just enough of the spec's textual structure (W3C WGSL, "Textual
 * Structure") to see a kernel's code as the compiler (Tint) sees it, so that the sandbox
 * (wgsl-sandbox.ts) and the loop budget (loop-budget.ts) judge the same tokens Tint
 * compiles, whatever separates them. A check that reads text instead (regexes, JS's `\s`
 * and `\b`, a comment stripper ending line comments at `\n` only) can be walked around by
 * anything the compiler treats as a separator and the check does not.
 *
 * What the spec says, and this file follows:
 * - Blank space: U+0020 space, U+0009 tab, U+000A LF, U+000B VT, U+000C FF, U+000D CR,
 *   U+0085 NEL, U+200E LRM, U+200F RLM, U+2028 LS, U+2029 PS. (JS's `\s` misses U+0085,
 *   U+200E and U+200F, and matches U+00A0, U+FEFF and more, which WGSL refuses.)
 * - Line breaks: U+000A, U+000B, U+000C, U+000D (CR LF counts as one), U+0085, U+2028,
 *   U+2029. A line comment (`//`) ends at any of them; lines are counted at each, so the
 *   positions here are the positions in Tint's messages (WebGPU's lineNum and linePos:
 *   columns are UTF-16 code units, as in a JS string).
 * - Block comments (`/* ... *\/`) nest; `//` inside one does nothing, and `/*` inside a
 *   line comment opens nothing.
 * - Identifiers: `[_\p{XID_Start}]\p{XID_Continue}*`, but not `_` alone (a token of its
 *   own) and not starting with `__`. Identifiers are compared code point by code point
 *   (no normalization), so a look-alike is a different name.
 *
 * Anything else, outside a comment, is refused: a character the tokenizer cannot place
 * (U+00A0, U+200B, U+FEFF, a lone surrogate, ...) is also one Tint refuses, and an
 * unterminated block comment would hide the rest of the module (here: ringshard's driver).
 * Refusing is cheaper than guessing how the compiler would read it.
 *
 * Checked against Tint (dawn.node 0.6.2, on llvmpipe): every code point other than the
 * line breaks leaves a line comment open, and every one leaves a block comment open; every
 * character JS's \p{XID_Continue} accepts either continues an identifier in Tint or is
 * refused by it as an invalid character (Node's Unicode is newer than Tint's), never blank.
 */
import { ErrorCode, RingshardError } from '../errors.ts';

/** WGSL blank space: what may separate tokens (besides comments). */
export const WGSL_BLANKSPACE: readonly string[] = ['\u0020', '\u0009', '\u000A', '\u000B', '\u000C', '\u000D', '\u0085', '\u200E', '\u200F', '\u2028', '\u2029'];

/** WGSL line breaks: each ends a line comment and starts a line; `\r\n` is one. */
export const WGSL_LINE_BREAKS: readonly string[] = ['\u000A', '\u000B', '\u000C', '\u000D', '\r\n', '\u0085', '\u2028', '\u2029'];

export type WgslTokenKind = 'ident' | 'number' | 'punct' | 'attribute';

export interface WgslToken {
  /** Keywords (`var`, `loop`, ...) are identifiers here; `attribute` is the `@` alone. */
  readonly kind: WgslTokenKind;
  readonly text: string;
  /** Index in the code (UTF-16 code units). */
  readonly offset: number;
  /** 1-based, counted at every WGSL line break. */
  readonly line: number;
  /** 1-based, in UTF-16 code units from the start of the line. */
  readonly column: number;
}

const BLANK = new Set(WGSL_BLANKSPACE.map((c) => c.charCodeAt(0)));
const CR = 0x0d;
const LF = 0x0a;
const SLASH = 0x2f;
const STAR = 0x2a;
const AT = 0x40;

/** Length of the line break at `i` (2 for CR LF), or 0 when there is none. */
function lineBreakAt(code: string, i: number): number {
  const c = code.charCodeAt(i);
  if (c === CR) return code.charCodeAt(i + 1) === LF ? 2 : 1;
  return c === LF || c === 0x0b || c === 0x0c || c === 0x85 || c === 0x2028 || c === 0x2029 ? 1 : 0;
}

/** Lines of `code` as WGSL counts them (one more than its line breaks). */
/** The lines of `code` as WGSL (and Tint's diagnostics) count them: split at every line break. */
export function splitWgslLines(code: string): string[] {
  return code.split(/\r\n|[\n\v\f\r\u0085\u2028\u2029]/);
}

export function wgslLineCount(code: string): number {
  let lines = 1;
  for (let i = 0; i < code.length; ) {
    const br = lineBreakAt(code, i);
    if (br > 0) lines++;
    i += br || 1;
  }
  return lines;
}

const IDENT = /[_\p{XID_Start}]\p{XID_Continue}*/uy;

// The spec's literal forms, tried in this order (JS takes the first alternative that
// matches, so the longer forms come first). A number never contains `_` or any letter
// but hex digits, x, p, e and the suffixes i u f h, so an identifier cannot hide in one:
// whatever follows a number is tokenized afresh.
const NUMBER = new RegExp(
  [
    '0[xX](?:[0-9a-fA-F]*\\.[0-9a-fA-F]+|[0-9a-fA-F]+\\.[0-9a-fA-F]*)(?:[pP][+-]?[0-9]+[fh]?)?',
    '0[xX][0-9a-fA-F]+[pP][+-]?[0-9]+[fh]?',
    '0[xX][0-9a-fA-F]+[iu]?',
    '(?:[0-9]*\\.[0-9]+|[0-9]+\\.[0-9]*)(?:[eE][+-]?[0-9]+)?[fh]?',
    '[0-9]+[eE][+-]?[0-9]+[fh]?',
    '(?:0|[1-9][0-9]*)[fhiu]?',
  ].join('|'),
  'y',
);

// Longest first. `<` and `>` are ordinary tokens here; what WGSL's template-list rule
// does with them matters only after `var` and `ptr`, which the sandbox reads token by token.
const PUNCT = [
  '<<=', '>>=',
  '&&', '||', '--', '++', '->', '==', '!=', '<=', '>=', '<<', '>>', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=',
  '&', '|', '^', '~', '!', '=', '<', '>', '+', '-', '*', '/', '%', '(', ')', '[', ']', '{', '}', ',', '.', ':', ';', '_',
];

/** `U+00A0` for a character an error message must show (it may be invisible). */
function codePointName(code: string, i: number): string {
  return `U+${code.codePointAt(i)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * The tokens of `code`, comments and blank space skipped. Throws ERR_RINGSHARD_INVALID_KERNEL
 * (`${what}: WGSL line L, column C: ...`) for an unterminated block comment, a character
 * WGSL has no token for, or an identifier WGSL does not allow (`__x`).
 */
export function tokenizeWgsl(code: string, what: string): WgslToken[] {
  const tokens: WgslToken[] = [];
  let line = 1;
  let lineStart = 0;
  const refuse = (at: number, atLine: number, atLineStart: number, text: string, why: string): never => {
    throw new RingshardError(ErrorCode.INVALID_KERNEL, `${what}: WGSL line ${atLine}, column ${at - atLineStart + 1}: '${text}' is not allowed: ${why}`);
  };
  let i = 0;
  while (i < code.length) {
    const br = lineBreakAt(code, i);
    if (br > 0) {
      i += br;
      line++;
      lineStart = i;
      continue;
    }
    const c = code.charCodeAt(i);
    if (BLANK.has(c)) {
      i++;
      continue;
    }
    if (c === SLASH && code.charCodeAt(i + 1) === SLASH) {
      // To the next line break (which the loop above counts), or the end.
      i += 2;
      while (i < code.length && lineBreakAt(code, i) === 0) i++;
      continue;
    }
    if (c === SLASH && code.charCodeAt(i + 1) === STAR) {
      const [openAt, openLine, openLineStart] = [i, line, lineStart];
      let depth = 1;
      i += 2;
      while (depth > 0 && i < code.length) {
        const d = code.charCodeAt(i);
        const next = code.charCodeAt(i + 1);
        if (d === SLASH && next === STAR) {
          depth++;
          i += 2;
        } else if (d === STAR && next === SLASH) {
          depth--;
          i += 2;
        } else {
          const inner = lineBreakAt(code, i);
          if (inner > 0) {
            line++;
            lineStart = i + inner;
          }
          i += inner || 1;
        }
      }
      if (depth > 0) refuse(openAt, openLine, openLineStart, '/*', 'the block comment it opens is never closed (it would hide the code after it)');
      continue;
    }
    const column = i - lineStart + 1;
    const push = (kind: WgslTokenKind, text: string) => {
      tokens.push({ kind, text, offset: i, line, column });
      i += text.length;
    };
    IDENT.lastIndex = i;
    const ident = IDENT.exec(code);
    if (ident) {
      const text = ident[0];
      if (text === '_') push('punct', text);
      else if (text.startsWith('__')) refuse(i, line, lineStart, text, 'WGSL identifiers may not start with two underscores');
      else push('ident', text);
      continue;
    }
    NUMBER.lastIndex = i;
    const number = NUMBER.exec(code);
    if (number) {
      push('number', number[0]);
      continue;
    }
    if (c === AT) {
      push('attribute', '@');
      continue;
    }
    const punct = PUNCT.find((p) => code.startsWith(p, i));
    if (punct !== undefined) {
      push('punct', punct);
      continue;
    }
    refuse(i, line, lineStart, codePointName(code, i), 'WGSL has no token with this character (only blank space may separate tokens, and the compiler refuses it too)');
  }
  return tokens;
}
