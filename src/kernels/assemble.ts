/**
 * Assembles the WGSL module of one kernel: the prelude and driver templates from
 * shaders/, constants and structs generated from the record, batch and schema layouts,
 * and the kernel's own code in between. Each kernel gets its own module (and pipeline),
 * so kernels never collide on names and a compile error belongs to exactly one kernel.
 */
import { wgslLineCount } from './wgsl-tokens.ts';
import { readFileSync } from 'node:fs';
import { MAX_USER_STATUS, Op, Status } from '../layout/record.ts';
import { WORKGROUP_SIZE, wgslBatchConstants, type BatchLayout } from '../layout/batch.ts';
import { wgslHeaderConstants, wgslLoader, wgslStorer, wgslStruct } from '../layout/wgsl.ts';
import type { SchemaLayout } from '../layout/schema.ts';
import type { Kernel } from './define-kernel.ts';
import { meterLoops } from './loop-budget.ts';
import { roleConstant, sendStructName } from './generated-names.ts';
import { timerFunctions } from './timer-wgsl.ts';

const PRELUDE = readFileSync(new URL('../../shaders/prelude.wgsl', import.meta.url), 'utf8');
const DRIVER = readFileSync(new URL('../../shaders/driver.wgsl', import.meta.url), 'utf8');

export interface AssembledModule {
  readonly code: string;
  /** 1-based line of the module where the kernel's own code starts. */
  readonly userLineOffset: number;
  readonly userLineCount: number;
}

/** A kernel's `sends` entry, resolved by the cluster: the receiving kernel's id and request layout. */
export interface ResolvedSend {
  readonly name: string;
  readonly kernelId: number;
  readonly kernelName: string;
  readonly request: SchemaLayout;
}

export interface AssembleOptions {
  readonly maxLoopIterations?: number;
  /** The cluster's role names: ROLE_<NAME> = 1 << index. */
  readonly roles?: readonly string[];
  readonly sends?: readonly ResolvedSend[];
}


// send_<name>: appends to this message's outbox (the driver sets where it is, and
// publishes the count: 0 if the message fails).
function sendFunctions(sends: readonly ResolvedSend[], contextType: string): string {
  return sends
    .map((send) => {
      const struct = sendStructName(send.name);
      return [
        wgslStruct(struct, send.request),
        wgslStorer(`rs_store_send_${send.name}`, struct, send.request, 'rs_results'),
        `fn send_${send.name}(ctx: ptr<function, ${contextType}>, to: u32, msg: ${struct}) -> bool {`,
        '  if (!rs_sends_open || rs_send_count >= rs_send_limit) { return false; }',
        '  let at = rs_outbox_at + 1u + rs_send_count * RS_SEND_WORDS;',
        '  rs_results[at] = to;',
        `  rs_results[at + 1u] = ${send.kernelId}u; // kernel '${send.kernelName}'`,
        `  rs_store_send_${send.name}(at + 2u, msg);`,
        '  rs_send_count += 1u;',
        '  return true;',
        '}',
      ].join('\n');
    })
    .join('\n');
}

function generatedSection(kernel: Kernel, kernelId: number, layout: BatchLayout, options: AssembleOptions): string {
  const { state, userState, request, reply } = kernel.codecs;
  const roles = options.roles ?? [];
  const contextType = kernel.secure ? 'SecureRingContext' : 'RingContext';
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
    `const RS_OP_TIMER: u32 = ${Op.TIMER}u;`,
    `const RS_OP_SET_TIMER: u32 = ${Op.SET_TIMER}u;`,
    `const RS_OP_CLEAR_TIMER: u32 = ${Op.CLEAR_TIMER}u;`,
    '// The stored state: the State struct, then the timer table (src/layout/timer-table.ts).',
    `const RS_STATE_WORDS: u32 = ${state.words}u;`,
    `const RS_STATUS_TIMER_NOT_DUE: u32 = ${Status.TIMER_NOT_DUE}u;`,
    `const RS_STATUS_REJECTED: u32 = ${Status.REJECTED}u;`,
    `const RS_STATUS_BUDGET: u32 = ${Status.BUDGET}u;`,
    `const RS_MAX_USER_STATUS: u32 = ${MAX_USER_STATUS}u;`,
    `const RS_MAX_LOOP_ITERATIONS: u32 = ${options.maxLoopIterations ?? DEFAULT_MAX_LOOP_ITERATIONS}u;`,
    `const RS_STATUS_FORBIDDEN: u32 = ${Status.FORBIDDEN}u;`,
    '// Set (*ctx).status = STATUS_FORBIDDEN to refuse a message: its state changes and sends are discarded.',
    `const STATUS_FORBIDDEN: u32 = ${Status.FORBIDDEN}u;`,
    ...roles.map((role, i) => `const ${roleConstant(role)}: u32 = ${(1 << i) >>> 0}u; // role '${role}'`),
    wgslStruct('State', userState.layout),
    wgslStruct('Request', request.layout),
    wgslStruct('Reply', reply.layout),
    wgslLoader('rs_load_state', 'State', userState.layout, 'rs_states'),
    wgslStorer('rs_store_state', 'State', userState.layout, 'rs_states'),
    wgslStorer('rs_store_state_result', 'State', userState.layout, 'rs_results'),
    wgslLoader('rs_load_request', 'Request', request.layout, 'rs_records'),
    wgslStorer('rs_store_reply', 'Reply', reply.layout, 'rs_results'),
    sendFunctions(options.sends ?? [], contextType),
    timerFunctions(kernel.timers, userState.words, contextType),
  ].join('\n');
}

/** Loop iterations a message (or hook) may run before it fails with Status.BUDGET. */
export const DEFAULT_MAX_LOOP_ITERATIONS = 1 << 20;

export function assembleKernelModule(kernel: Kernel, kernelId: number, layout: BatchLayout, options: AssembleOptions = {}): AssembledModule {
  const head = `${PRELUDE.trimEnd()}\n\n${generatedSection(kernel, kernelId, layout, options)}\n\n// ---- kernel '${kernel.name}' ----\n`;
  const driver = DRIVER.replace('{{WORKGROUP_SIZE}}', String(WORKGROUP_SIZE))
    .replace('{{CONTEXT_TYPE}}', kernel.secure ? 'SecureRingContext' : 'RingContext')
    .replace('{{ROLES_ARG}}', kernel.secure ? '\n      rs_records[base + RS_REQ_ROLES],' : '')
    .replace('{{HANDLE_CALL}}', kernel.secure ? 'handle_secure' : 'handle')
    .replace('{{INIT_CALL}}', kernel.hasInit ? 'init(&ctx, &state);' : '')
    .replace('{{SHUTDOWN_CALL}}', kernel.hasShutdown ? 'shutdown(&ctx, &state);' : '');
  // Every loop of the kernel's code counts against the message's budget (same lines).
  const user = meterLoops(kernel.code.trimEnd());
  return {
    code: `${head}${user}\n\n// ---- driver (shaders/driver.wgsl) ----\n${driver}`,
    userLineOffset: head.split('\n').length,
    userLineCount: wgslLineCount(user),
  };
}
