/**
 * comlink for Node worker threads, used for control calls only (never per message).
 * comlink's package has no `exports` map and its `main` is a UMD build, so the ESM build
 * and its Node adapter are imported by path; their types come from comlink's own d.ts.
 */
import * as ComlinkEsm from 'comlink/dist/esm/comlink.mjs';
import nodeEndpointEsm from 'comlink/dist/esm/node-adapter.mjs';
import type * as ComlinkTypes from 'comlink';
import type { MessagePort } from 'node:worker_threads';

const Comlink = ComlinkEsm as typeof ComlinkTypes;
const nodeEndpoint = nodeEndpointEsm as (port: MessagePort) => ComlinkTypes.Endpoint;

export type Remote<T> = ComlinkTypes.Remote<T>;

/** Serves `api` on `port`. */
export function exposeOn(api: object, port: MessagePort): void {
  Comlink.expose(api, nodeEndpoint(port));
}

/**
 * A proxy for the api served on `port`. Keep the proxy referenced while calls are in
 * flight: a collected proxy can leave its call hanging (measured on Node 20).
 */
export function connect<T>(port: MessagePort): Remote<T> {
  return Comlink.wrap<T>(nodeEndpoint(port));
}

/** Releases a proxy's port listener. */
export function release(proxy: Remote<unknown>): void {
  (proxy as unknown as Record<symbol, () => void>)[Comlink.releaseProxy]?.();
}
