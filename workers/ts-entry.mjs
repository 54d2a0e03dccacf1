// Worker entry that can load TypeScript. Node 20 workers do not pick up tsx's
// `--import tsx` hooks from their parent (measured: "Unknown file extension .ts"), so
// the hooks are registered here before the real entry, workerData.tsEntry, is imported.
// piscina uses the default export as its task handler, so it is passed through.
import { workerData } from 'node:worker_threads';

const entry = workerData?.tsEntry;
if (typeof entry !== 'string') throw new Error('ts-entry.mjs needs workerData.tsEntry (a file URL)');
if (entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
const mod = await import(entry);
export default mod.default;
