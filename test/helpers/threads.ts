import { Worker } from 'node:worker_threads';

/** Starts a worker thread running a TypeScript file; `data` arrives as workerData. */
export function startTsWorker(entry: URL, data: Record<string, unknown>): Worker {
  return new Worker(new URL('../../workers/ts-entry.mjs', import.meta.url), { workerData: { ...data, tsEntry: entry.href } });
}
