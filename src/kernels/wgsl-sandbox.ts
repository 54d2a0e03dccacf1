/**
 * Checks a kernel's WGSL before it is assembled into a module. The generated module binds
 * every actor's state in one buffer, so isolation between actors rests on kernel code
 * never naming ringshard's bindings or helpers, and never declaring resources of its own.
 * The compiler reports everything else with line and column.
 */
import { ErrorCode, RingshardError } from '../errors.ts';

export interface FoundFunctions {
  readonly handle: boolean;
  readonly handleSecure: boolean;
  readonly init: boolean;
  readonly shutdown: boolean;
}

const FORBIDDEN: ReadonlyArray<[RegExp, string]> = [
  [/\b(rs_|RS_)\w*/, 'names starting with rs_ or RS_ are reserved for ringshard'],
  [/@\s*(group|binding)\b/, 'kernels may not declare resource bindings'],
  [/\bvar\s*<\s*(storage|uniform|workgroup)\b/, 'kernels may not declare storage, uniform or workgroup variables'],
  [/@\s*(compute|vertex|fragment|workgroup_size)\b/, 'kernels may not declare entry points'],
  [/\bptr\s*<\s*(storage|uniform|workgroup)\b/, 'kernels may not use pointers into shared memory'],
];

/** Blanks out comments (line and nested block), keeping line and column positions. */
export function stripWgslComments(code: string): string {
  let out = '';
  let depth = 0;
  for (let i = 0; i < code.length; i++) {
    const c = code[i]!;
    const next = code[i + 1];
    if (depth === 0 && c === '/' && next === '/') {
      while (i < code.length && code[i] !== '\n') {
        out += ' ';
        i++;
      }
      if (i < code.length) out += '\n';
      continue;
    }
    if (c === '/' && next === '*') {
      depth++;
      out += '  ';
      i++;
      continue;
    }
    if (depth > 0 && c === '*' && next === '/') {
      depth--;
      out += '  ';
      i++;
      continue;
    }
    out += depth > 0 && c !== '\n' ? ' ' : c;
  }
  return out;
}

export function checkKernelWgsl(code: string, what: string): FoundFunctions {
  const stripped = stripWgslComments(code);
  for (const [pattern, why] of FORBIDDEN) {
    const m = pattern.exec(stripped);
    if (m) {
      const before = stripped.slice(0, m.index);
      const line = before.split('\n').length;
      const column = m.index - before.lastIndexOf('\n');
      throw new RingshardError(
        ErrorCode.INVALID_KERNEL,
        `${what}: WGSL line ${line}, column ${column}: '${m[0]}' is not allowed: ${why}`,
      );
    }
  }
  const has = (fn: string) => new RegExp(`\\bfn\\s+${fn}\\s*\\(`).test(stripped);
  const found = { handle: has('handle'), handleSecure: has('handle_secure'), init: has('init'), shutdown: has('shutdown') };
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
