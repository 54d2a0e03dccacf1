// comlink ships ESM builds without .d.mts files; these point the ESM paths at its types.
declare module 'comlink/dist/esm/comlink.mjs' {
  const comlink: unknown;
  export = comlink;
}
declare module 'comlink/dist/esm/node-adapter.mjs' {
  const nodeEndpoint: unknown;
  export default nodeEndpoint;
}
