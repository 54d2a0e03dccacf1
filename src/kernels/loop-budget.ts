/**
 * Loop budgets: WGSL has no recursion, so a handler can only run forever in a loop, and a
 * dispatch that never ends blocks its whole shard (measured on llvmpipe: every other
 * actor timed out, shutdown hung, the process aborted in dawn.node). So every loop of a
 * kernel's code (`loop`, `for`, `while`) gets a check at the top of its body that counts
 * iterations against a per-message budget, shared by all loops the message runs; once it
 * is spent, every loop breaks at its next iteration, the handler returns, and the driver
 * fails that message with Status.BUDGET and puts the actor's state back as it was.
 *
 * The check is inserted on the line of the loop's opening brace, so compiler diagnostics
 * keep their line numbers (columns on that line shift by the inserted text).
 */
import { stripWgslComments } from './wgsl-sandbox.ts';

/** What is inserted after a loop body's `{`: the prelude defines rs_loop_tick(). */
export const LOOP_CHECK = ' if (rs_loop_tick()) { break; }';

/** The kernel's code with a budget check at the top of every loop body. */
export function meterLoops(code: string): string {
  const stripped = stripWgslComments(code);
  const keyword = /\b(loop|for|while)\b/g;
  const inserts: number[] = [];
  for (let m = keyword.exec(stripped); m !== null; m = keyword.exec(stripped)) {
    // The body's brace is the first `{` after the keyword: WGSL has no braces inside
    // expressions (constructors use parentheses), so a for header or while condition
    // cannot hold one.
    const brace = stripped.indexOf('{', m.index + m[0].length);
    if (brace >= 0) inserts.push(brace + 1);
  }
  let out = '';
  let from = 0;
  for (const at of inserts) {
    out += code.slice(from, at) + LOOP_CHECK;
    from = at;
  }
  return out + code.slice(from);
}
