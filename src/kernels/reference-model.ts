/**
 * An in-process model of actors, for checking what a cluster answers: each kernel's TS
 * reference run by the same ReferenceRunner the CPU backend uses (so u32 wraps and f32
 * rounds as in GPU memory), one state slot per actor key, fed messages in the order they
 * were sent. The demo and the differential tests check every reply against it.
 */
import type { Kernel } from './define-kernel.ts';
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
      handle: (kernel.secure ? ref.handleSecure : ref.handle) as ReferenceKernel['handle'],
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
    const ctx = this.runner.ctx;
    ctx.actor = actor;
    ctx.messageId = messageId;
    ctx.source = NO_ACTOR;
    ctx.roles = this.roles;
    return this.runner.run(0, op, slot, this.input, this.inputFloats, 0, this.output, this.outputFloats, 0).status;
  }

  /** Role bits the model's messages carry (ctx.roles), for kernels with handleSecure. */
  roles = 0;

  /** Whether actor `key` has taken a message (or its init) in the model. */
  has(key: string): boolean {
    return this.slots.has(key);
  }

  /** Applies `msg` to actor `key` and returns the reply the cluster should give. */
  message(key: string, msg: Message, actor = 0, messageId = 0): Message {
    this.apply(key, msg, actor, messageId);
    return this.kernel.codecs.reply.decode(this.output, this.outputFloats, 0);
  }

  /** Applies `msg` to actor `key` (a tell: the reply is not needed). */
  apply(key: string, msg: Message, actor = 0, messageId = 0): void {
    const slot = this.slot(key, actor);
    this.kernel.codecs.request.encode(msg, this.input, this.inputFloats, 0);
    const status = this.run(Op.MESSAGE, slot, actor, messageId);
    if (status !== Status.OK) {
      throw new Error(status === Status.REFERENCE_FAILED ? this.runner.failure : `the reference of kernel '${this.kernel.name}' failed with status ${status}`);
    }
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

interface FieldCheck {
  readonly name: string;
  readonly float: boolean;
  /** Elements of an array field; -1 for a scalar. */
  readonly length: number;
}

// Schemas are frozen definitions: their checks are worked out once (the demo compares
// every reply, so this is on its hot path).
const checks = new WeakMap<Schema, readonly FieldCheck[]>();

function checksOf(schema: Schema): readonly FieldCheck[] {
  let c = checks.get(schema);
  if (!c) {
    c = (Object.entries(schema) as Array<[string, FieldType]>).map(([name, type]) => ({
      name,
      float: (typeof type === 'string' ? type : type[0]) === 'f32',
      length: typeof type === 'string' ? -1 : type[1],
    }));
    checks.set(schema, c);
  }
  return c;
}

const sameNumber = (a: unknown, e: number, float: boolean) =>
  typeof a === 'number' && (float ? Math.abs(a - e) <= 1e-5 * Math.max(1, Math.abs(e)) : a === e);

/**
 * Where `actual` differs from `expected` (undefined when it does not): the schema's
 * fields and no others, integers equal, f32 within a relative 1e-5 (the GPU may fuse a
 * multiply-add the reference rounds twice). Fields in `skip` are not compared.
 */
export function compareMessage(actual: unknown, expected: Message, schema: Schema, skip: readonly string[] = []): string | undefined {
  if (actual === null || typeof actual !== 'object') return `expected an object, got ${String(actual)}`;
  const got = actual as Record<string, unknown>;
  const fields = checksOf(schema);
  let keys = 0;
  for (const _ in got) keys++;
  if (keys !== fields.length || fields.some((f) => !(f.name in got))) {
    return `fields are ${Object.keys(got).join(', ')}, expected ${fields.map((f) => f.name).join(', ')}`;
  }
  for (const f of fields) {
    if (skip.length > 0 && skip.includes(f.name)) continue;
    const a = got[f.name];
    const e = expected[f.name]!;
    if (f.length < 0) {
      if (!sameNumber(a, e as number, f.float)) return `${f.name} is ${String(a)}, expected ${String(e)}`;
      continue;
    }
    const ea = e as number[];
    if (!Array.isArray(a) || a.length !== ea.length) return `${f.name} has ${Array.isArray(a) ? a.length : 'no'} elements, expected ${ea.length}`;
    for (let i = 0; i < ea.length; i++) {
      if (!sameNumber(a[i], ea[i]!, f.float)) return `${f.name}[${i}] is ${String(a[i])}, expected ${ea[i]}`;
    }
  }
  return undefined;
}
