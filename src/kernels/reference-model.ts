/**
 * An in-process model of actors, for checking what a cluster answers: each kernel's TS
 * reference run by the same ReferenceRunner the CPU backend uses (so u32 wraps and f32
 * rounds as in GPU memory), one state slot per actor key, fed messages in the order they
 * were sent. The demo and the differential tests check every reply against it.
 */
import type { Kernel, ReferenceContext } from './define-kernel.ts';
import { ReferenceRunner, type ReferenceKernel } from './reference-runner.ts';
import { NO_ACTOR, Op, Status } from '../layout/record.ts';
import type { FieldType, Schema } from '../layout/schema.ts';

export type Message = Record<string, number | number[]>;

export class KernelModel {
  private readonly runner: ReferenceRunner;
  private readonly slots = new Map<string, number>();
  private readonly freeSlots: number[] = [];
  private readonly input: Uint32Array;
  private readonly inputFloats: Float32Array;
  private readonly output: Uint32Array;
  private readonly outputFloats: Float32Array;

  constructor(readonly kernel: Kernel<any, any, any>) {
    const ref = kernel.reference;
    if (!ref) throw new Error(`kernel '${kernel.name}' has no reference to model it with`);
    const rk: ReferenceKernel = {
      name: kernel.name,
      codecs: kernel.codecs,
      handle: ref.handle as ReferenceKernel['handle'],
      ...(ref.init ? { init: ref.init as ReferenceKernel['init'] } : {}),
      ...(ref.shutdown ? { shutdown: ref.shutdown as ReferenceKernel['shutdown'] } : {}),
    };
    this.runner = new ReferenceRunner([rk], kernel.codecs.state.words);
    this.input = new Uint32Array(kernel.codecs.request.words);
    this.inputFloats = new Float32Array(this.input.buffer);
    this.output = new Uint32Array(Math.max(kernel.codecs.reply.words, kernel.codecs.state.words));
    this.outputFloats = new Float32Array(this.output.buffer);
  }

  private slot(key: string, actor: number): number {
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = this.freeSlots.pop() ?? this.slots.size + this.freeSlots.length;
      this.slots.set(key, slot);
      this.run(Op.INIT, slot, actor);
    }
    return slot;
  }

  private run(op: Op, slot: number, actor: number, messageId = 0): number {
    const ctx: ReferenceContext = { actor, messageId, correlation: 0, source: NO_ACTOR, tenant: 0, principal: 0, hlc: [0, 0], status: 0 };
    return this.runner.run(0, op, slot, ctx, this.input, this.inputFloats, 0, this.output, this.outputFloats, 0).status;
  }

  /** Applies `msg` to actor `key` and returns the reply the cluster should give. */
  message(key: string, msg: Message, actor = 0, messageId = 0): Message {
    const slot = this.slot(key, actor);
    this.kernel.codecs.request.encode(msg, this.input, this.inputFloats, 0);
    const status = this.run(Op.MESSAGE, slot, actor, messageId);
    if (status !== Status.OK) throw new Error(`the reference of kernel '${this.kernel.name}' failed with status ${status}`);
    return this.kernel.codecs.reply.decode(this.output, this.outputFloats, 0);
  }

  /** The state actor `key` should have now. */
  state(key: string): Message {
    return this.runner.peek(0, this.slot(key, 0));
  }

  /** Runs shutdown for `key` and returns its final state; the key starts afresh after. */
  terminate(key: string): Message | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    this.run(Op.SHUTDOWN, slot, 0);
    const state = this.kernel.codecs.state.decode(this.output, this.outputFloats, 0);
    this.slots.delete(key);
    this.freeSlots.push(slot);
    return state;
  }
}

/**
 * Where `actual` differs from `expected` (undefined when it does not): integers must be
 * equal, f32 within a relative 1e-5 (the GPU may fuse a multiply-add the reference
 * rounds twice). Fields in `skip` are not compared.
 */
export function compareMessage(actual: unknown, expected: Message, schema: Schema, skip: readonly string[] = []): string | undefined {
  if (actual === null || typeof actual !== 'object') return `expected an object, got ${String(actual)}`;
  const got = actual as Message;
  const names = Object.keys(expected).sort().join(',');
  if (Object.keys(got).sort().join(',') !== names) return `fields are ${Object.keys(got).join(', ')}, expected ${names}`;
  for (const [name, type] of Object.entries(schema) as Array<[string, FieldType]>) {
    if (skip.includes(name)) continue;
    const scalar = typeof type === 'string' ? type : type[0];
    const a = ([] as number[]).concat(got[name]!);
    const e = ([] as number[]).concat(expected[name]!);
    if (a.length !== e.length) return `${name} has ${a.length} elements, expected ${e.length}`;
    for (let i = 0; i < e.length; i++) {
      const ok = scalar === 'f32' ? Math.abs(a[i]! - e[i]!) <= 1e-5 * Math.max(1, Math.abs(e[i]!)) : a[i] === e[i];
      if (!ok) return `${name}${typeof type === 'string' ? '' : `[${i}]`} is ${a[i]}, expected ${e[i]}`;
    }
  }
  return undefined;
}
