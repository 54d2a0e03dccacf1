// The built-in kernels, each a WGSL file with its TS definition and reference beside it.
export { counter } from './counter.ts';
export { echo } from './echo.ts';
export { stats } from './stats.ts';
