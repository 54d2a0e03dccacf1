/**
 * Reference handlers run inside shard workers, which cannot share functions with the
 * coordinator, so they travel as source text and are rebuilt there (in the cpu backend's
 * locked-down sandbox, reference-sandbox.ts). This checks at definition time that the
 * text can be rebuilt; rebuildFunction rebuilds it in the caller's own realm (benches).
 */
import { ErrorCode, RingshardError, describeValue } from '../errors.ts';

// tsx/esbuild's keepNames wraps nested named functions in __name(fn, "name"); a rebuilt
// function has no such helper in scope, so it gets an identity one.
const KEEP_NAMES_SHIM = (target: unknown) => target;

/** Returns source text that `rebuildFunction` turns back into the function. */
export function serializeFunction(fn: unknown, what: string): string {
  if (typeof fn !== 'function') throw fail(`${what} must be a function, got ${describeValue(fn)}`);
  let source = Function.prototype.toString.call(fn).trim();
  if (/^(async\b|class\b|function\s*\*)/.test(source) || /\[native code\]\s*\}$/.test(source)) {
    throw fail(`${what} must be a plain synchronous function (not async, a generator, a class or a bound/native function)`);
  }
  // Method shorthand `handle(s, m) { ... }` is not an expression; make it one.
  if (!/^(function\b|\(|[A-Za-z_$][\w$]*\s*=>)/.test(source)) source = `function ${source}`;
  try {
    rebuildFunction(source);
  } catch (cause) {
    throw fail(`${what} cannot be rebuilt from its source text: ${(cause as Error).message}`, cause);
  }
  return source;
}

export function rebuildFunction<T extends (...args: never[]) => unknown>(source: string): T {
  const fn = new Function('__name', `"use strict"; return (${source});`)(KEEP_NAMES_SHIM);
  if (typeof fn !== 'function') throw new TypeError('source does not evaluate to a function');
  return fn as T;
}

function fail(message: string, cause?: unknown): RingshardError {
  return new RingshardError(ErrorCode.INVALID_KERNEL, message, cause === undefined ? undefined : { cause });
}
