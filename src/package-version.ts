/**
 * ringshard's own version, from its package.json. This module runs from src/ in a
 * checkout and from dist/src/ in the installed package, so the file is found by walking
 * up to the first package.json named "ringshard".
 */
import { readFileSync } from 'node:fs';

let version: string | undefined;

export function packageVersion(): string {
  if (version !== undefined) return version;
  let dir = new URL('./', import.meta.url);
  for (;;) {
    let text: string | undefined;
    try {
      text = readFileSync(new URL('package.json', dir), 'utf8');
    } catch {
      // None here: look further up.
    }
    if (text !== undefined) {
      const pkg = JSON.parse(text) as { name?: unknown; version?: unknown };
      if (pkg.name === 'ringshard' && typeof pkg.version === 'string') return (version = pkg.version);
    }
    const parent = new URL('../', dir);
    if (parent.href === dir.href) throw new Error(`ringshard: no package.json named "ringshard" above ${import.meta.url}`);
    dir = parent;
  }
}
