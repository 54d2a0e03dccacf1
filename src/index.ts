// Public surface of ringshard. Only re-exports; each concern lives in its own module.
export { Cluster, DEAD_LETTER_REASONS, type ActorOptions, type ClusterInfo, type DeadLetterReason, type ShardInfo } from './api/cluster.ts';
export { ActorRef, type AskOptions } from './api/actor-ref.ts';
export type { AuthorizeRequest, ClusterOptions, BackendChoice } from './api/options.ts';
export {
  defineKernel,
  type Kernel,
  type KernelSpec,
  type ReferenceContext,
  type ReferenceHandle,
  type ReferenceHook,
  type ReferenceSpec,
  type SendEntry,
} from './kernels/define-kernel.ts';
export { ReferenceRunner } from './kernels/reference-runner.ts';
export { ErrorCode, RingshardError } from './errors.ts';
export { CHANNEL_NAMES as diagnosticsChannels } from './diagnostics.ts';
export type { ActivationEvent, DeactivationEvent, MigrationEvent, RecoveryEvent, QuarantineEvent, DeadLetterEvent, MembershipEvent } from './diagnostics.ts';
export { compileCodec, type Codec } from './layout/codec.ts';
export { layoutSchema, type FieldType, type MessageOf, type ScalarType, type Schema, type SchemaLayout } from './layout/schema.ts';
export { wgslLoader, wgslStorer, wgslStruct } from './layout/wgsl.ts';
export { ColumnCodec, type ColumnOf, type ColumnsOf } from './layout/columns.ts';
export * from './layout/record.ts';
export { placeKey } from './coordinator/placement.ts';
export { SpscRing, ringByteLength, type RingOptions, type WaitResult } from './rings/spsc-ring.ts';
export { counter, echo, stats } from '../shaders/builtins/index.ts';
export type { MetricsOptions } from './api/options.ts';
export { chooseFormat, metricsHandler, renderMetrics, serveMetrics, type MetricsServer, type MetricsServerOptions } from './metrics/exporter.ts';
