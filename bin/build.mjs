#!/usr/bin/env node
// `npm run build` (run by `prepare`): compiles src/, workers/ and shaders/ into
// dist/ with tsconfig.build.json, then copies the .wgsl files beside the compiled modules
// that read them through `new URL('./x.wgsl', import.meta.url)`. Not shipped.
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });

const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

let copied = 0;
for (const entry of readdirSync(join(root, 'shaders'), { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.wgsl')) continue;
  const from = join(entry.parentPath ?? entry.path, entry.name);
  cpSync(from, join(dist, relative(root, from)));
  copied++;
}
console.log(`ringshard: built ${relative(root, dist)}/ (${copied} .wgsl files copied)`);
