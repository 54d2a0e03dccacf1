/**
 * Loop budgets: WGSL has no recursion, so a handler can only run forever in a loop, and a
 * dispatch that never ends blocks its whole shard (measured on llvmpipe: every other
 * actor timed out, shutdown hung, the process aborted in dawn.node). So every loop of a
 * kernel's code (`loop`, `for`, `while`) gets a check at the top of its body that counts
 * iterations against a per-message budget, shared by all loops the message runs; once it
 * is spent, every loop breaks at its next iteration, the handler returns, and the driver
 * fails that message with Status.BUDGET and puts the actor's state back as it was.
 *
 * Loops are found on the tokens the compiler sees (wgsl-tokens.ts), so a loop after a
 * line comment ended by `\r` or U+2028, or behind any other WGSL separator, is metered
 * like any other, and a `loop` inside a comment is not one.
 *
 * The check is inserted on the line of the loop's opening brace, so compiler diagnostics
 * keep their line numbers (columns on that line shift by the inserted text).
 */
import { ErrorCode, RingshardError } from '../errors.ts';
import { tokenizeWgsl, type WgslToken } from './wgsl-tokens.ts';

/** What is inserted after a loop body's `{`: the prelude defines rs_loop_tick(). */
export const LOOP_CHECK = ' if (rs_loop_tick()) { break; }';

/** The keywords that start a loop statement. */
export const LOOP_KEYWORDS: ReadonlySet<string> = new Set(['loop', 'for', 'while']);

/**
 * The `{` token that opens the body of each loop, in order. Throws
 * ERR_RINGSHARD_INVALID_KERNEL for a loop keyword with no `{` after it.
 *
 * The body's brace is the first `{` token after the keyword. WGSL's grammar:
 *   loop_statement:  attribute* 'loop' attribute* '{' statement* continuing_statement? '}'
 *   for_statement:   attribute* 'for' '(' for_header ')' compound_statement
 *   while_statement: attribute* 'while' expression compound_statement
 *   compound_statement: attribute* '{' statement* '}'
 * A for header holds declarations, assignments, calls and an expression, and WGSL has no
 * braces in expressions (constructors and calls use parentheses), so neither a for
 * header nor a while condition can hold a `{`; attributes could, in their arguments, but
 * the sandbox refuses every attribute. A `continuing { ... }` block gets no check: it runs
 * once per iteration of its loop, whose body's check has run first. Keywords are
 * reserved words, so a `loop`, `for` or `while` token is always a loop statement.
 */
export function loopBodyBraces(tokens: readonly WgslToken[], what: string): WgslToken[] {
  const braces: WgslToken[] = [];
  for (let k = 0; k < tokens.length; k++) {
    const keyword = tokens[k]!;
    if (keyword.kind !== 'ident' || !LOOP_KEYWORDS.has(keyword.text)) continue;
    let b = k + 1;
    while (b < tokens.length && tokens[b]!.text !== '{') b++;
    const brace = tokens[b];
    if (brace === undefined) {
      throw new RingshardError(
        ErrorCode.INVALID_KERNEL,
        `${what}: WGSL line ${keyword.line}, column ${keyword.column}: '${keyword.text}' is not allowed: a loop needs a body in braces (no '{' follows)`,
      );
    }
    braces.push(brace);
  }
  return braces;
}

/** The kernel's code with a budget check at the top of every loop body. */
export function meterLoops(code: string, what = 'kernel code'): string {
  let out = '';
  let from = 0;
  for (const brace of loopBodyBraces(tokenizeWgsl(code, what), what)) {
    const at = brace.offset + 1;
    out += code.slice(from, at) + LOOP_CHECK;
    from = at;
  }
  return out + code.slice(from);
}
