/**
 * Assembles the WGSL module of one kernel: the prelude and driver templates from
 * shaders/, constants and structs generated from the record, batch and schema layouts,
 * and the kernel's own code in between. Each kernel gets its own module (and pipeline),
 * so kernels never collide on names and a compile error belongs to exactly one kernel.
 */
import { readFileSync } from 'node:fs';
import { MAX_USER_STATUS, Op, Status } from '../layout/record.ts';
import { WORKGROUP_SIZE, wgslBatchConstants, type BatchLayout } from '../layout/batch.ts';
import { wgslHeaderConstants, wgslLoader, wgslStorer, wgslStruct } from '../layout/wgsl.ts';
import type { Kernel } from './define-kernel.ts';
import { meterLoops } from './loop-budget.ts';

const PRELUDE = readFileSync(new URL('../../shaders/prelude.wgsl', import.meta.url), 'utf8');
const DRIVER = readFileSync(new URL('../../shaders/driver.wgsl', import.meta.url), 'utf8');

export interface AssembledModule {
  readonly code: string;
  /** 1-based line of the module where the kernel's own code starts. */
  readonly userLineOffset: number;
  readonly userLineCount: number;
}

function generatedSection(kernel: Kernel, kernelId: number, layout: BatchLayout, maxLoopIterations: number): string {
  const { state, request, reply } = kernel.codecs;
  return [
    '// ---- generated from the record, batch and schema layouts (src/layout) ----',
    wgslHeaderConstants(),
    wgslBatchConstants(layout),
    `const RS_KERNEL_ID: u32 = ${kernelId}u;`,
    `const RS_OP_MESSAGE: u32 = ${Op.MESSAGE}u;`,
    `const RS_OP_INIT: u32 = ${Op.INIT}u;`,
    `const RS_OP_SHUTDOWN: u32 = ${Op.SHUTDOWN}u;`,
    `const RS_OP_SNAPSHOT: u32 = ${Op.SNAPSHOT}u;`,
    `const RS_OP_EXPORT: u32 = ${Op.EXPORT}u;`,
    `const RS_OP_IMPORT: u32 = ${Op.IMPORT}u;`,
    `const RS_STATE_WORDS: u32 = ${state.words}u;`,
    `const RS_STATUS_REJECTED: u32 = ${Status.REJECTED}u;`,
    `const RS_STATUS_BUDGET: u32 = ${Status.BUDGET}u;`,
    `const RS_MAX_USER_STATUS: u32 = ${MAX_USER_STATUS}u;`,
    `const RS_MAX_LOOP_ITERATIONS: u32 = ${maxLoopIterations}u;`,
    wgslStruct('State', state.layout),
    wgslStruct('Request', request.layout),
    wgslStruct('Reply', reply.layout),
    wgslLoader('rs_load_state', 'State', state.layout, 'rs_states'),
    wgslStorer('rs_store_state', 'State', state.layout, 'rs_states'),
    wgslStorer('rs_store_state_result', 'State', state.layout, 'rs_results'),
    wgslLoader('rs_load_request', 'Request', request.layout, 'rs_records'),
    wgslStorer('rs_store_reply', 'Reply', reply.layout, 'rs_results'),
  ].join('\n');
}

/** Loop iterations a message (or hook) may run before it fails with Status.BUDGET. */
export const DEFAULT_MAX_LOOP_ITERATIONS = 1 << 20;

export function assembleKernelModule(kernel: Kernel, kernelId: number, layout: BatchLayout, maxLoopIterations = DEFAULT_MAX_LOOP_ITERATIONS): AssembledModule {
  const head = `${PRELUDE.trimEnd()}\n\n${generatedSection(kernel, kernelId, layout, maxLoopIterations)}\n\n// ---- kernel '${kernel.name}' ----\n`;
  const driver = DRIVER.replace('{{WORKGROUP_SIZE}}', String(WORKGROUP_SIZE))
    .replace('{{INIT_CALL}}', kernel.hasInit ? 'init(&ctx, &state);' : '')
    .replace('{{SHUTDOWN_CALL}}', kernel.hasShutdown ? 'shutdown(&ctx, &state);' : '');
  // Every loop of the kernel's code counts against the message's budget (same lines).
  const user = meterLoops(kernel.code.trimEnd());
  return {
    code: `${head}${user}\n\n// ---- driver (shaders/driver.wgsl) ----\n${driver}`,
    userLineOffset: head.split('\n').length,
    userLineCount: user.split('\n').length,
  };
}
