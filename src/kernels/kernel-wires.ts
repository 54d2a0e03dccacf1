/**
 * What a cluster's kernels become before any shard starts: each kernel's sends resolved
 * to the cluster's kernels, the batch shape every shard shares, and one WGSL module per
 * kernel (the wire a shard worker compiles). Compile diagnostics come back formatted here.
 */
import { ErrorCode, RingshardError } from '../errors.ts';
import { SEND_ENTRY_HEADER, batchLayout, type BatchShape } from '../layout/batch.ts';
import { requestSlotWords } from '../layout/record.ts';
import type { CompileDiagnostic, KernelWire } from '../protocol.ts';
import { assembleKernelModule, type ResolvedSend } from './assemble.ts';
import type { Kernel } from './define-kernel.ts';
import { sendStructName } from './generated-names.ts';
import { TIMER_NOTICE_WORDS, TIMER_RECORD_WORDS } from '../layout/timer-table.ts';

export interface KernelWireOptions {
  readonly maxBatch: number;
  readonly maxSendsPerMessage: number;
  readonly maxLoopIterations: number;
  readonly roles: readonly string[];
}

export interface KernelWires {
  readonly shape: BatchShape;
  readonly wires: KernelWire[];
  /** Payload words a K2K send carries (the largest request of a sends target). */
  readonly sendPayloadWords: number;
  /** Some kernel sends, or has timers (the reply ring's slots hold send records then). */
  readonly anySends: boolean;
}

/** The batch shape and each kernel's module, for these kernels and options. */
export function kernelWires(kernels: readonly Kernel[], options: KernelWireOptions): KernelWires {
  const sends = resolveSends(kernels);
  const anyTimers = kernels.some((k) => k.timers > 0);
  // Timer notices travel as outbox entries and send records, fires as records with a payload of their own.
  const sendPayloadWords = Math.max(anyTimers ? TIMER_NOTICE_WORDS : 0, ...sends.flat().map((s) => s.request.words));
  const anySends = sends.some((s) => s.length > 0) || anyTimers;
  const shape: BatchShape = {
    kernels: kernels.length,
    maxBatch: options.maxBatch,
    // A state on its way into a shard (IMPORT) travels in as many slots as it needs.
    recordWords: requestSlotWords(Math.max(anyTimers ? TIMER_RECORD_WORDS : 0, ...kernels.map((k) => k.codecs.request.words))),
    resultWords: Math.max(...kernels.map((k) => Math.max(k.codecs.reply.words, k.codecs.state.words))),
    stateStride: Math.max(...kernels.map((k) => k.codecs.state.words)),
    maxSends: anySends ? options.maxSendsPerMessage : 0,
    sendWords: SEND_ENTRY_HEADER + sendPayloadWords,
  };
  const layout = batchLayout(shape);
  const wires: KernelWire[] = kernels.map((k, id) => {
    const module = assembleKernelModule(k, id, layout, { maxLoopIterations: options.maxLoopIterations, roles: options.roles, sends: sends[id]! });
    return {
      id,
      name: k.name,
      state: k.state,
      timers: k.timers,
      request: k.request,
      reply: k.reply,
      module: module.code,
      userLineOffset: module.userLineOffset,
      userLineCount: module.userLineCount,
      ...(k.referenceWire ? { reference: k.referenceWire } : {}),
      ...(sends[id]!.length > 0 ? { sends: sends[id]!.map((s) => ({ name: s.name, kernel: s.kernelId })) } : {}),
    };
  });
  return { shape, wires, sendPayloadWords, anySends };
}

/** ERR_RINGSHARD_SHADER_COMPILE with every diagnostic, each at its line in the user's WGSL. */
export function compileError(diagnostics: readonly CompileDiagnostic[]): RingshardError {
  return new RingshardError(ErrorCode.SHADER_COMPILE, `WGSL did not compile:\n${formatDiagnostics(diagnostics)}`, { cause: diagnostics });
}

function formatDiagnostics(diagnostics: readonly CompileDiagnostic[]): string {
  return diagnostics
    .map((d) => {
      const where = d.line > 0 ? `line ${d.line}, column ${d.column}` : 'in the generated module';
      const hint = d.line === 0 && /handle|State|Request|Reply/.test(d.message) ? ' (check the signature of fn handle and its types)' : '';
      return `kernel '${d.kernel}': WGSL ${d.type} at ${where}: ${d.message}${hint}${d.source !== undefined ? `\n    ${d.source.trim()}` : ''}`;
    })
    .join('\n');
}

/**
 * Each kernel's sends entries, resolved to the cluster's kernels (a kernel object or a
 * kernel name, the sender's own name included).
 */
function resolveSends(kernels: readonly Kernel[]): ResolvedSend[][] {
  const byName = new Map(kernels.map((k, i) => [k.name, i]));
  return kernels.map((k) => {
    const structs = new Set<string>();
    return k.sends.map((entry) => {
      const name = typeof entry.to === 'string' ? entry.to : entry.to.name;
      const id = byName.get(name);
      if (id === undefined || (typeof entry.to !== 'string' && kernels[id] !== entry.to)) {
        throw new RingshardError(
          ErrorCode.UNKNOWN_KERNEL,
          `kernel '${k.name}': sends.${entry.name} names kernel '${name}', which this cluster does not run${id !== undefined ? ' (it runs another kernel of that name)' : ''}; its kernels: ${kernels.map((x) => `'${x.name}'`).join(', ')}`,
        );
      }
      const struct = sendStructName(entry.name);
      if (structs.has(struct)) throw new RingshardError(ErrorCode.INVALID_KERNEL, `kernel '${k.name}': two sends entries give the struct ${struct}; rename one`);
      structs.add(struct);
      return { name: entry.name, kernelId: id, kernelName: name, request: kernels[id]!.codecs.request.layout };
    });
  });
}

