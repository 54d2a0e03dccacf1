// Public surface of ringshard. Only re-exports; each concern lives in its own module.
export { ErrorCode, RingshardError } from './errors.ts';
export { compileCodec, type Codec } from './layout/codec.ts';
export { layoutSchema, type FieldType, type MessageOf, type ScalarType, type Schema, type SchemaLayout } from './layout/schema.ts';
export { wgslLoader, wgslStorer, wgslStruct } from './layout/wgsl.ts';
export * from './layout/record.ts';
export { SpscRing, ringByteLength, type RingOptions, type WaitResult } from './rings/spsc-ring.ts';
