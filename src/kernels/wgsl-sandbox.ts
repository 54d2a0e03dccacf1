/**
 * Checks a kernel's WGSL before it is assembled into a module. The generated module binds
 * every actor's state in one buffer, so isolation between actors rests on kernel code
 * never naming ringshard's bindings or helpers, and never declaring resources of its own.
 * The compiler reports everything else with line and column.
 *
 * The checks read the tokens the compiler reads (wgsl-tokens.ts), so no blank space,
 * line break or comment between or around tokens changes what they see. Refused:
 * - an identifier starting with `rs_` in any ASCII case (`rs_`, `RS_`, `Rs_`, `rS_`):
 *   ringshard's bindings and helpers are `rs_*` and `RS_*`; refusing every case costs
 *   nothing and leaves no near miss. WGSL does not normalize identifiers, so a look-alike
 *   (`ｒｓ_states`, `rſ_states`) is a different name and cannot reach ringshard's.
 * - every attribute (`@` and whatever follows it): attributes are how WGSL declares
 *   bindings (`@group`, `@binding`), entry points (`@compute`, `@workgroup_size`) and
 *   pipeline constants (`@id`); ringshard writes the entry point and the bindings, and no
 *   built-in or test kernel uses any attribute, so none is allowed (no allowlist).
 * - a `var<...>` or `ptr<...>` whose address space is not `private` or `function`:
 *   storage, uniform and workgroup memory is shared with other actors (and anything else,
 *   `handle` or an extension's space, has no business in a handler).
 * - `override`: ringshard sets no pipeline constants, so an override is a `const` spelled
 *   so that the pipeline fails to build when it has no default.
 * - a module-scope declaration (fn, struct, alias, const, var) of a name WGSL predeclares
 *   (`select`, `min`, `u32`, ...; wgsl-predeclared.ts): a module-scope name shadows the
 *   built-in in the whole module, ringshard's driver included.
 * - a loop keyword with no body brace after it (loop-budget.ts could not meter it), and
 *   braces that do not balance.
 */
import { ErrorCode, RingshardError } from '../errors.ts';
import { loopBodyBraces } from './loop-budget.ts';
import { WGSL_PREDECLARED } from './wgsl-predeclared.ts';
import { tokenizeWgsl, type WgslToken } from './wgsl-tokens.ts';

export interface FoundFunctions {
  readonly handle: boolean;
  readonly handleSecure: boolean;
  readonly init: boolean;
  readonly shutdown: boolean;
  /** fn on_timer: the kernel has timers (src/layout/timer-table.ts). */
  readonly onTimer: boolean;
  /** The code calls set_timer or clear_timer. */
  readonly armsTimers: boolean;
}

/** Ringshard's names: `rs_` in any ASCII case. */
const RESERVED = /^[rR][sS]_/;

/** The address spaces a kernel may name in `var<...>` and `ptr<...>`. */
const ADDRESS_SPACES: ReadonlySet<string> = new Set(['function', 'private']);

const WHY = {
  reserved: 'names starting with rs_ or RS_ (in any case) are reserved for ringshard',
  attribute:
    'kernels may not use attributes: ringshard declares the entry point and the resource bindings (@group, @binding, @compute, @workgroup_size, ...)',
  var: 'kernel variables may only be function or private: storage, uniform and workgroup memory is shared with other actors',
  ptr: 'kernels may only use pointers into function or private memory: storage, uniform and workgroup memory is shared with other actors',
  override: 'ringshard sets no pipeline constants; use const',
  unbalanced: "it closes no block (the kernel's code sits between ringshard's)",
  unclosed: "the block it opens is never closed (the kernel's code sits between ringshard's)",
  shadow:
    'kernel code may not declare at module scope a name WGSL predeclares (a built-in function, type or enumerant): ' +
    "it would replace the built-in in ringshard's driver too",
};

/** Keywords that declare a name at module scope: the name follows (after `var`'s template list). */
const DECLARES: ReadonlySet<string> = new Set(['fn', 'struct', 'alias', 'const', 'var', 'override']);

/** The name token a module-scope declaration at `k` declares. */
function declaredName(tokens: readonly WgslToken[], k: number): WgslToken | undefined {
  let at = k + 1;
  if (tokens[k]!.text === 'var' && tokens[at]?.text === '<') {
    while (at < tokens.length && !tokens[at]!.text.startsWith('>')) at++;
    at++;
  }
  return tokens[at];
}

function refuse(what: string, at: WgslToken, shown: string, why: string): never {
  throw new RingshardError(ErrorCode.INVALID_KERNEL, `${what}: WGSL line ${at.line}, column ${at.column}: '${shown}' is not allowed: ${why}`);
}

export function checkKernelWgsl(code: string, what: string): FoundFunctions {
  const tokens = tokenizeWgsl(code, what);
  // Braces open only blocks and struct bodies (attributes are refused), so outside every
  // brace is module scope. They must balance: the kernel's code sits between ringshard's.
  const open: WgslToken[] = [];
  for (let k = 0; k < tokens.length; k++) {
    const token = tokens[k]!;
    if (token.text === '{') open.push(token);
    else if (token.text === '}' && open.pop() === undefined) refuse(what, token, '}', WHY.unbalanced);
    if (token.kind === 'attribute') {
      const name = tokens[k + 1];
      refuse(what, token, name?.kind === 'ident' ? `@${name.text}` : '@', WHY.attribute);
    }
    if (token.kind !== 'ident') continue;
    if (RESERVED.test(token.text)) refuse(what, token, token.text, WHY.reserved);
    if (token.text === 'override') refuse(what, token, token.text, WHY.override);
    if (open.length === 0 && DECLARES.has(token.text)) {
      const name = declaredName(tokens, k);
      if (name?.kind === 'ident' && WGSL_PREDECLARED.has(name.text)) refuse(what, name, name.text, WHY.shadow);
    }
    if (token.text === 'var' || token.text === 'ptr') {
      // A template list opens with `<` right after the keyword (blank space and comments
      // between are skipped already); its first item is the address space. Anything else
      // starting with `<` there (`<=`, `<<`) is refused too rather than interpreted.
      const open = tokens[k + 1];
      if (open === undefined || !open.text.startsWith('<')) continue;
      const space = tokens[k + 2];
      if (open.text !== '<' || space === undefined || space.kind !== 'ident' || !ADDRESS_SPACES.has(space.text)) {
        const shown = open.text === '<' && space !== undefined ? `${token.text}<${space.text}>` : `${token.text}${open.text}`;
        refuse(what, token, shown, token.text === 'var' ? WHY.var : WHY.ptr);
      }
    }
  }
  const unclosed = open[0];
  if (unclosed !== undefined) refuse(what, unclosed, '{', WHY.unclosed);
  loopBodyBraces(tokens, what);

  const has = (fn: string) => tokens.some((t, k) => t.kind === 'ident' && t.text === 'fn' && tokens[k + 1]?.text === fn && tokens[k + 2]?.text === '(');
  const calls = (fn: string) => tokens.some((t, k) => t.kind === 'ident' && t.text === fn && tokens[k + 1]?.text === '(' && tokens[k - 1]?.text !== 'fn');
  const found = {
    handle: has('handle'),
    handleSecure: has('handle_secure'),
    init: has('init'),
    shutdown: has('shutdown'),
    onTimer: has('on_timer'),
    armsTimers: calls('set_timer') || calls('clear_timer'),
  };
  if (!found.handle && !found.handleSecure) {
    throw new RingshardError(
      ErrorCode.INVALID_KERNEL,
      `${what}: the WGSL defines no handler; it needs ` +
        'fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply ' +
        'or fn handle_secure(ctx: ptr<function, SecureRingContext>, state: ptr<function, State>, msg: Request) -> Reply',
    );
  }
  return found;
}
