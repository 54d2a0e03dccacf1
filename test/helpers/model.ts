/**
 * The in-process model GPU results are checked against: each kernel's TS reference run
 * by the same ReferenceRunner the CPU backend uses, one state slot per actor key, fed
 * messages in the order the test sends them.
 */
import assert from 'node:assert/strict';
import type { Kernel, ReferenceContext } from '../../src/kernels/define-kernel.ts';
import { ReferenceRunner, type ReferenceKernel } from '../../src/kernels/reference-runner.ts';
import { NO_ACTOR, Op, Status } from '../../src/layout/record.ts';
import type { FieldType, Schema } from '../../src/layout/schema.ts';
import type { Rng } from './random.ts';

type Message = Record<string, number | number[]>;

export class KernelModel {
  private readonly runner: ReferenceRunner;
  private readonly slots = new Map<string, number>();
  private readonly input: Uint32Array;
  private readonly inputFloats: Float32Array;
  private readonly output: Uint32Array;
  private readonly outputFloats: Float32Array;

  constructor(readonly kernel: Kernel<any, any, any>) {
    const ref = kernel.reference;
    if (!ref) throw new Error(`kernel ${kernel.name} has no reference`);
    const rk: ReferenceKernel = { name: kernel.name, codecs: kernel.codecs, handle: ref.handle as ReferenceKernel['handle'], ...(ref.init ? { init: ref.init as ReferenceKernel['init'] } : {}), ...(ref.shutdown ? { shutdown: ref.shutdown as ReferenceKernel['shutdown'] } : {}) };
    this.runner = new ReferenceRunner([rk], kernel.codecs.state.words);
    this.input = new Uint32Array(kernel.codecs.request.words);
    this.inputFloats = new Float32Array(this.input.buffer);
    this.output = new Uint32Array(Math.max(kernel.codecs.reply.words, kernel.codecs.state.words));
    this.outputFloats = new Float32Array(this.output.buffer);
  }

  private slot(key: string, actor: number): number {
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = this.slots.size;
      this.slots.set(key, slot);
      this.run(Op.INIT, slot, actor);
    }
    return slot;
  }

  private run(op: Op, slot: number, actor: number, messageId = 0): { status: number } {
    const ctx: ReferenceContext = { actor, messageId, correlation: 0, source: NO_ACTOR, tenant: 0, principal: 0, hlc: [0, 0], status: 0 };
    return this.runner.run(0, op, slot, ctx, this.input, this.inputFloats, 0, this.output, this.outputFloats, 0);
  }

  /** Applies `msg` to actor `key` and returns the reply the GPU should give. */
  message(key: string, msg: Message, actor = 0, messageId = 0): Message {
    const slot = this.slot(key, actor);
    this.kernel.codecs.request.encode(msg, this.input, this.inputFloats, 0);
    const { status } = this.run(Op.MESSAGE, slot, actor, messageId);
    assert.equal(status, Status.OK, `reference of ${this.kernel.name} failed`);
    return this.kernel.codecs.reply.decode(this.output, this.outputFloats, 0);
  }

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
    return state;
  }
}

function randomScalar(type: string, rng: Rng): number {
  if (type === 'u32') return rng.u32();
  if (type === 'i32') return rng.u32() | 0;
  return Math.fround((rng.float() - 0.5) * 2000);
}

/** A random message for `schema` (f32 values in [-1000, 1000)). */
export function randomMessage(schema: Schema, rng: Rng): Message {
  const out: Message = {};
  for (const [name, type] of Object.entries(schema) as Array<[string, FieldType]>) {
    out[name] = typeof type === 'string' ? randomScalar(type, rng) : Array.from({ length: type[1] }, () => randomScalar(type[0], rng));
  }
  return out;
}

/**
 * Asserts `actual` equals `expected` field by field: integers exactly, f32 within a
 * relative 1e-5 (the GPU may fuse a multiply-add where the reference rounds twice).
 */
export function assertMatches(actual: unknown, expected: Message, schema: Schema, what: string, skip: readonly string[] = []): void {
  assert.ok(actual !== null && typeof actual === 'object', `${what}: expected an object, got ${String(actual)}`);
  const got = actual as Message;
  assert.deepEqual(Object.keys(got).sort(), Object.keys(expected).sort(), `${what}: fields differ`);
  for (const [name, type] of Object.entries(schema) as Array<[string, FieldType]>) {
    if (skip.includes(name)) continue;
    const scalar = typeof type === 'string' ? type : type[0];
    const a = ([] as number[]).concat(got[name]!);
    const e = ([] as number[]).concat(expected[name]!);
    assert.equal(a.length, e.length, `${what}: ${name} length`);
    for (let i = 0; i < e.length; i++) {
      if (scalar === 'f32') {
        const tolerance = 1e-5 * Math.max(1, Math.abs(e[i]!));
        assert.ok(Math.abs(a[i]! - e[i]!) <= tolerance, `${what}: ${name}[${i}] is ${a[i]}, expected ${e[i]}`);
      } else {
        assert.equal(a[i], e[i], `${what}: ${name}[${i}]`);
      }
    }
  }
}
