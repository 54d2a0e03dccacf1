/**
 * The checks every options object goes through (Cluster.start's and options.nats): a bad
 * value is ERR_RINGSHARD_INVALID_OPTION saying `options.<path> must be <what>, got <value>`.
 */
import { ErrorCode, RingshardError, describeValue } from '../errors.ts';

export function invalidOption(message: string): RingshardError {
  return new RingshardError(ErrorCode.INVALID_OPTION, message);
}

export function fail(path: string, expected: string, value: unknown): never {
  throw invalidOption(`options.${path} must be ${expected}, got ${describeValue(value)}`);
}

/** Like fail(), for a secret: says what kind of value came, never the value. */
export function failSecret(path: string, expected: string, value: unknown): never {
  const got = typeof value === 'string' ? `a string of ${value.length} characters` : value === null ? 'null' : `a value of type ${typeof value}`;
  throw invalidOption(`options.${path} must be ${expected}, got ${got}`);
}

export function integer(path: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(path, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

export function powerOfTwo(path: string, value: unknown, fallback: number, min: number, max: number): number {
  const n = integer(path, value, fallback, min, max);
  if ((n & (n - 1)) !== 0) fail(path, `a power of two from ${min} to ${max}`, value);
  return n;
}

export function oneOf<T extends string>(path: string, value: unknown, fallback: T, allowed: readonly T[]): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) fail(path, allowed.map((a) => `'${a}'`).join(' or '), value);
  return value as T;
}

export function positive(path: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0)) fail(path, 'a number > 0 (or Infinity)', value);
  return value;
}

/** A finite number of milliseconds, at least `min`. */
export function milliseconds(path: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) fail(path, `a number of milliseconds >= ${min}`, value);
  return value;
}
