/**
 * Refusing option keys nobody reads: a typo (`ringCapcity`) would otherwise be ignored
 * silently and the default used. Each options object keeps its known keys in one list
 * (next to its resolver), checked against its interface by `KeysOf`.
 */
import { ErrorCode, RingshardError } from '../errors.ts';

/**
 * `true` when `List` names every key of `T` (and only those), else the keys it lacks:
 * `const x: KeysOf<MyOptions, typeof MY_KEYS> = true` fails to compile until the two agree.
 */
export type KeysOf<T, List extends readonly PropertyKey[]> = [Exclude<keyof T, List[number]>] extends [never]
  ? [Exclude<List[number], keyof T>] extends [never]
    ? true
    : { readonly notOptions: Exclude<List[number], keyof T> }
  : { readonly missing: Exclude<keyof T, List[number]> };

/**
 * Throws ERR_RINGSHARD_INVALID_OPTION for the first own key of `value` not in `known`:
 * "options.ringCapcity is not an option of Cluster.start (did you mean ringCapacity?)".
 * `path` is where `value` sits ('' for the options object itself, 'metrics' for options.metrics).
 */
export function refuseUnknownKeys(value: object, known: readonly string[], path = '', owner = 'Cluster.start'): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const prefix = path === '' ? '' : `${path}.`;
    const near = closest(key, known);
    const hint = near !== undefined ? ` (did you mean ${prefix}${near}?)` : `; ${path === '' ? 'its' : `options.${path}`} options: ${known.join(', ')}`;
    throw new RingshardError(ErrorCode.INVALID_OPTION, `options.${prefix}${key} is not an option of ${owner}${hint}`);
  }
}

/** The known key nearest to `key` (same letters in another case, or at most a few edits away), if any is near. */
export function closest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.min(3, Math.floor(key.length / 4)));
  for (const candidate of known) {
    if (candidate.toLowerCase() === lower) return candidate;
    const d = editDistance(lower, candidate.toLowerCase());
    if (d <= bestDistance) {
      best = candidate;
      bestDistance = d - 1;
    }
  }
  return best;
}

/** Levenshtein distance (insert, delete, substitute; a swap of neighbours counts 1). */
function editDistance(a: string, b: string): number {
  let before = new Array<number>(b.length + 1).fill(0);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      row.push(d);
    }
    before = prev;
    prev = row;
  }
  return prev[b.length]!;
}
