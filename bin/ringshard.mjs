#!/usr/bin/env node
// The `ringshard` command. In a checkout (src/ is there and tsx, a dev dependency, can be
// loaded) it runs the TypeScript sources through tsx, so `npm run demo` always runs the
// current code; from the installed package (no src/, no tsx) it runs the compiled CLI
// in dist/.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);

async function registerTsx() {
  try {
    const { register } = await import('tsx/esm/api');
    register();
    return true;
  } catch (error) {
    if (error?.code === 'ERR_MODULE_NOT_FOUND') return false;
    throw error;
  }
}

const { main } = existsSync(source) && (await registerTsx()) ? await import(source.href) : await import('../dist/src/cli/main.js');
const code = await main(process.argv.slice(2));
// A command exits when its work is done, even if something still holds the event loop
// (a test saw a finished bench process linger once); stdout is flushed first, so piped
// output such as --json is whole.
process.exitCode = code;
process.stdout.write('', () => process.exit(code));
