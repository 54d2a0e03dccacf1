/**
 * Every kind of bad input ringshard must answer with a clear error and a stable code, and
 * nothing else harmed. One row per kind: what it is (the README's "Bad input" table lists
 * the same kinds and codes, checked by bad-inputs.test.ts), the code, the backends it
 * applies to, and a function that must throw or reject with that code.
 */
import { Cluster, ErrorCode, defineKernel, type ClusterOptions } from '../../src/index.ts';
import type { Kernel } from '../../src/kernels/define-kernel.ts';
import { flaky, mixed } from '../helpers/kernels.ts';

export type Backend = 'cpu' | 'webgpu';

export interface Env {
  readonly backend: Backend;
  /** A started cluster shared by the rows (kernels: `kernels` below; roles teller, auditor; policy refuses 'mallory'). */
  readonly cluster: Cluster;
  /** Cluster.start with this backend, logger off, the row's options over the shared defaults (the cluster is shut down after the row). */
  start(options: Partial<ClusterOptions>): Promise<Cluster>;
}

export interface BadInput {
  readonly kind: string;
  readonly code: string;
  /** Where it applies. @default both */
  readonly backends?: readonly Backend[];
  readonly run: (env: Env) => unknown;
}

const u32Handler = `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).n += msg.add;
  return Reply((*state).n);
}`;

function kernel(wgsl: string, name = 'bad'): Kernel {
  return defineKernel({ name, state: { n: 'u32' }, request: { add: 'u32' }, reply: { n: 'u32' }, wgsl, reference: (s, m) => ({ n: (s.n = (s.n + m.add) >>> 0) }) }) as Kernel;
}

function wgslWith(body: string): string {
  return `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  ${body}
  return Reply((*state).n);
}`;
}

export const counter = defineKernel({
  name: 'counter',
  state: { n: 'u32' },
  request: { add: 'u32' },
  reply: { n: 'u32' },
  wgsl: u32Handler,
  reference: (s, m) => ({ n: (s.n = (s.n + m.add) >>> 0) }),
});

/** Only tellers may withdraw (op 1). */
export const guarded = defineKernel({
  name: 'guarded',
  state: { balance: 'u32' },
  request: { op: 'u32', amount: 'u32' },
  reply: { balance: 'u32' },
  wgsl: `fn handle_secure(ctx: ptr<function, SecureRingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  if (msg.op == 1u && ((*ctx).roles & ROLE_TELLER) == 0u) { (*ctx).status = STATUS_FORBIDDEN; }
  return Reply((*state).balance);
}`,
  reference: {
    handleSecure: (s, m, ctx) => {
      if (m.op === 1 && (ctx.roles & ctx.ROLE_TELLER!) === 0) ctx.status = ctx.FORBIDDEN;
      return { balance: s.balance };
    },
  },
});

/** Loops `n` times (WGSL: under the loop budget). */
export const spinner = defineKernel({
  name: 'spinner',
  state: { n: 'u32' },
  request: { n: 'u32' },
  reply: { n: 'u32' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  var i = 0u;
  loop { if (i >= msg.n) { break; } i += 1u; }
  (*state).n = i;
  return Reply(i);
}`,
  reference: (s, m) => ({ n: (s.n = m.n) }),
});

/** A reference that throws, and one whose reply does not fit its schema (cpu backend). */
export const throwing = defineKernel({
  name: 'throwing',
  state: { n: 'u32' },
  request: { how: 'u32' },
  reply: { n: 'u32' },
  wgsl: u32Handler.replace('msg.add', 'msg.how'),
  reference: (s, m) => {
    if (m.how === 1) throw new Error('the reference gave up');
    if (m.how === 2) return { n: -5 };
    if (m.how === 3) return { n: 'x' as unknown as number };
    return { n: s.n };
  },
});

/** One timer at a time (maxTimers 1); a fire counts. */
export const alarmed = defineKernel({
  name: 'alarmed',
  state: { n: 'u32' },
  request: { add: 'u32' },
  reply: { n: 'u32' },
  maxTimers: 1,
  wgsl: `${u32Handler}
fn on_timer(ctx: ptr<function, RingContext>, state: ptr<function, State>, timer: u32) {
  (*state).n += 1u;
}`,
  reference: {
    handle: (s, m) => ({ n: (s.n = (s.n + m.add) >>> 0) }),
    onTimer: (s) => {
      s.n = (s.n + 1) >>> 0;
    },
  },
});

export const kernels = [counter, mixed, flaky, guarded, spinner, throwing, alarmed];

const call = (fn: () => unknown) => async () => fn();

/** The table (README: "Bad input, and what it gets"). */
export const BAD_INPUTS: readonly BadInput[] = [
  // ---- kernel definitions
  { kind: 'kernel name that is not an identifier', code: ErrorCode.INVALID_KERNEL, run: call(() => kernel(u32Handler, '1-bad')) },
  { kind: 'WGSL without handle or handle_secure', code: ErrorCode.INVALID_KERNEL, run: call(() => kernel('fn other() {}')) },
  { kind: "WGSL naming ringshard's bindings (rs_states)", code: ErrorCode.INVALID_KERNEL, run: call(() => kernel(wgslWith('let v = rs_states[0];'))) },
  { kind: 'WGSL hiding code after a line comment ended by \\r', code: ErrorCode.INVALID_KERNEL, run: call(() => kernel(wgslWith('// x\r let v = rs_states[0]; rs_states[0] = 0u;'))) },
  { kind: 'WGSL hiding code after a line comment ended by U+2028', code: ErrorCode.INVALID_KERNEL, run: call(() => kernel(wgslWith('//\u2028 let v = rs_states[0];'))) },
  { kind: 'WGSL workgroup variable spelled with U+200E', code: ErrorCode.INVALID_KERNEL, run: call(() => kernel(`var<\u200Eworkgroup> box: u32;\n${u32Handler}`)) },
  { kind: 'WGSL resource binding (@group/@binding, any spacing)', code: ErrorCode.INVALID_KERNEL, run: call(() => kernel(`@\u200Egroup(0) @binding(9) var<storage, read_write> b: array<u32>;\n${u32Handler}`)) },
  { kind: 'WGSL entry point (@compute)', code: ErrorCode.INVALID_KERNEL, run: call(() => kernel(`@compute @workgroup_size(1) fn main() {}\n${u32Handler}`)) },
  { kind: 'WGSL pointer into storage memory', code: ErrorCode.INVALID_KERNEL, run: call(() => kernel(`fn f(p: ptr<storage, u32, read_write>) {}\n${u32Handler}`)) },
  { kind: 'WGSL with an unterminated block comment', code: ErrorCode.INVALID_KERNEL, run: call(() => kernel(`${u32Handler}\n/* never closed`)) },
  { kind: 'schema field of an unknown type', code: ErrorCode.SCHEMA, run: call(() => defineKernel({ name: 'k', state: { n: 'u64' as 'u32' }, request: { a: 'u32' }, reply: { n: 'u32' }, wgsl: u32Handler })) },
  { kind: 'empty schema', code: ErrorCode.SCHEMA, run: call(() => defineKernel({ name: 'k', state: {}, request: { a: 'u32' }, reply: { n: 'u32' }, wgsl: u32Handler })) },
  { kind: 'request schema too large for a ring slot', code: ErrorCode.TOO_LARGE, run: call(() => defineKernel({ name: 'k', state: { n: 'u32' }, request: { a: ['u32', 100_000] }, reply: { n: 'u32' }, wgsl: u32Handler })) },
  { kind: 'sends entry naming a kernel the cluster does not run', code: ErrorCode.UNKNOWN_KERNEL, run: (env) => env.start({ kernels: [defineKernel({ name: 's', state: { n: 'u32' }, request: { a: 'u32' }, reply: { n: 'u32' }, sends: { x: 'nowhere' }, wgsl: u32Handler.replace('msg.add', 'msg.a'), reference: (s) => ({ n: s.n }) }) as Kernel] }) },
  { kind: 'WGSL that does not compile', code: ErrorCode.SHADER_COMPILE, backends: ['webgpu'], run: (env) => env.start({ kernels: [kernel(wgslWith('let x: u32 = undefined_name;'))] }) },
  { kind: 'cpu backend with a kernel without a reference', code: ErrorCode.INVALID_KERNEL, backends: ['cpu'], run: (env) => env.start({ kernels: [defineKernel({ name: 'k', state: { n: 'u32' }, request: { add: 'u32' }, reply: { n: 'u32' }, wgsl: u32Handler }) as Kernel] }) },

  // ---- Cluster.start options
  { kind: 'options that are not an object', code: ErrorCode.INVALID_OPTION, run: () => Cluster.start(null as unknown as ClusterOptions) },
  { kind: 'no kernels', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ kernels: [] }) },
  { kind: 'two kernels of one name', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ kernels: [counter, counter] }) },
  { kind: 'an unknown option (a typo)', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ ringCapcity: 1024 } as Partial<ClusterOptions>) },
  { kind: 'shards: 0', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ shards: 0 }) },
  { kind: 'ringCapacity not a power of two', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ ringCapacity: 1000 }) },
  { kind: 'ringCapacity too large to allocate (2^30)', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ ringCapacity: 2 ** 30 }) },
  { kind: 'maxActorsPerShard too large to reserve shared memory for', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ kernels: [defineKernel({ name: 'wide', state: { v: ['u32', 200] }, request: { add: 'u32' }, reply: { n: 'u32' }, wgsl: u32Handler.replace('(*state).n += msg.add;\n  return Reply((*state).n);', 'return Reply(msg.add);'), reference: (_s, m) => ({ n: m.add }) }) as Kernel], shards: 1, maxActorsPerShard: 2 ** 24 }) },
  { kind: 'maxBatch larger than ringCapacity', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ ringCapacity: 64, maxBatch: 128 }) },
  { kind: "backend that is not 'auto', 'webgpu' or 'cpu'", code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ backend: 'tpu' as 'cpu' }) },
  { kind: 'logger that is not a function or false', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ logger: 'stderr' as unknown as false }) },
  { kind: 'maxLoopIterations of 2^31', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ maxLoopIterations: 2 ** 31 }) },
  { kind: 'role name that is not an identifier', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ roles: ['bad role'] }) },
  { kind: 'two roles giving one constant', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ roles: ['teller', 'TELLER'] }) },
  { kind: 'authorize that is not a function', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ authorize: true as unknown as () => boolean }) },
  { kind: 'checkpointEvery with neither records nor ms', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ checkpointEvery: { records: 0, ms: 0 } }) },
  { kind: 'metrics.port out of range', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ metrics: { port: 70_000 } }) },
  { kind: 'metrics.perActor negative', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ metrics: { perActor: -1 } }) },
  { kind: 'maxK2KQueuedPerShard negative', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ maxK2KQueuedPerShard: -1 }) },
  { kind: 'idleAfterMs negative', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ idleAfterMs: -1 }) },
  { kind: 'idleAfterMs with nats', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ idleAfterMs: 1000, nats: { servers: 'nats://127.0.0.1:1' } }) },
  { kind: 'a kernel idleAfterMs that is not milliseconds', code: ErrorCode.INVALID_KERNEL, run: () => defineKernel({ name: 'idle', state: { n: 'u32' }, request: { add: 'u32' }, reply: { n: 'u32' }, idleAfterMs: 0.5, wgsl: u32Handler }) },
  { kind: 'placement that is not a strategy', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ placement: 'random' as 'hash' }) },
  { kind: 'nats.servers empty', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ nats: { servers: [] } }) },
  { kind: 'nats.user without nats.pass', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ nats: { servers: 'nats://127.0.0.1:1', user: 'node-a' } as never }) },
  { kind: 'nats.credsFile that cannot be read', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ nats: { servers: 'nats://127.0.0.1:1', credsFile: '/nonexistent/node.creds' } as never }) },
  { kind: 'nats.tls.caFile that cannot be read', code: ErrorCode.INVALID_OPTION, run: (env) => env.start({ nats: { servers: 'tls://127.0.0.1:1', tls: { caFile: '/nonexistent/ca.pem' } } as never }) },
  { kind: 'an adapter name no adapter has', code: ErrorCode.NO_ADAPTER, backends: ['webgpu'], run: (env) => env.start({ adapterName: 'no-such-gpu-anywhere' }) },

  // ---- cluster.actor
  { kind: 'a kernel name the cluster does not run', code: ErrorCode.UNKNOWN_KERNEL, run: (env) => env.cluster.actor('nope', 'k') },
  { kind: 'an empty key', code: ErrorCode.INVALID_OPTION, run: (env) => env.cluster.actor(counter, '') },
  { kind: 'a key that is an object', code: ErrorCode.INVALID_OPTION, run: (env) => env.cluster.actor(counter, {} as string) },
  { kind: 'a tenant holding NUL', code: ErrorCode.INVALID_OPTION, run: (env) => env.cluster.actor(counter, 'k', { tenant: 'a\u0000b' }) },
  { kind: 'a tenant that is not a string', code: ErrorCode.INVALID_OPTION, run: (env) => env.cluster.actor(counter, 'k', { tenant: 5 as unknown as string }) },
  { kind: 'a principal that is not a string', code: ErrorCode.INVALID_OPTION, run: (env) => env.cluster.actor(counter, 'k', { principal: {} as string }) },
  { kind: 'a role the cluster does not have', code: ErrorCode.INVALID_OPTION, run: (env) => env.cluster.actor(counter, 'k', { roles: ['admin'] }) },
  { kind: 'a shard index out of range', code: ErrorCode.INVALID_OPTION, run: (env) => env.cluster.actor(counter, 'k', { shard: 99 }) },

  // ---- messages
  { kind: 'a message missing a field', code: ErrorCode.SCHEMA, run: (env) => env.cluster.actor(counter, 'm').ask({} as { add: number }) },
  { kind: 'a negative u32', code: ErrorCode.SCHEMA, run: (env) => env.cluster.actor(counter, 'm').ask({ add: -5 }) },
  { kind: 'a u32 that is not an integer', code: ErrorCode.SCHEMA, run: (env) => env.cluster.actor(counter, 'm').ask({ add: 1.5 }) },
  { kind: 'a u32 past 2^32 - 1', code: ErrorCode.SCHEMA, run: (env) => env.cluster.actor(counter, 'm').ask({ add: 2 ** 32 }) },
  { kind: 'a string where a number goes', code: ErrorCode.SCHEMA, run: (env) => env.cluster.actor(counter, 'm').tell({ add: '5' as unknown as number }) },
  { kind: 'a BigInt where a number goes', code: ErrorCode.SCHEMA, run: (env) => env.cluster.actor(counter, 'm').tell({ add: 5n as unknown as number }) },
  { kind: 'a Symbol where a number goes', code: ErrorCode.SCHEMA, run: (env) => env.cluster.actor(counter, 'm').tell({ add: Symbol('x') as unknown as number }) },
  { kind: 'an f32 out of range (1e39)', code: ErrorCode.SCHEMA, run: (env) => env.cluster.actor(mixed, 'm').ask({ f: 1e39, i: 0, v: [0, 0, 0] }) },
  { kind: 'an f32 that is NaN', code: ErrorCode.SCHEMA, run: (env) => env.cluster.actor(mixed, 'm').ask({ f: NaN, i: 0, v: [0, 0, 0] }) },
  { kind: 'an i32 past 2^31 - 1', code: ErrorCode.SCHEMA, run: (env) => env.cluster.actor(mixed, 'm').ask({ f: 0, i: 2 ** 31, v: [0, 0, 0] }) },
  { kind: 'an array field of the wrong length', code: ErrorCode.SCHEMA, run: (env) => env.cluster.actor(mixed, 'm').ask({ f: 0, i: 0, v: [1, 2] }) },
  { kind: 'tellMany given neither an array nor columns', code: ErrorCode.SCHEMA, run: (env) => env.cluster.actor(counter, 'm').tellMany(42 as never) },
  { kind: 'columns of unequal lengths', code: ErrorCode.SCHEMA, run: (env) => env.cluster.actor(mixed, 'm').askMany({ f: new Float32Array(4), i: new Int32Array(3), v: new Uint32Array(12) }) },
  { kind: 'askMany of more messages than can ever fit', code: ErrorCode.TOO_LARGE, run: async (env) => {
    const c = await env.start({ ringCapacity: 16, maxBatch: 16, backpressure: 'reject' });
    return c.actor(counter, 'm').askMany(Array.from({ length: 64 }, () => ({ add: 1 })));
  } },
  { kind: 'a full ring under backpressure reject', code: ErrorCode.RING_FULL, run: async (env) => {
    const c = await env.start({ ringCapacity: 4, maxBatch: 4, backpressure: 'reject' });
    const ref = c.actor(counter, 'm');
    const sent = Array.from({ length: 64 }, () => ref.tell({ add: 1 }));
    return Promise.all(sent);
  } },
  { kind: 'an ask timeout that is not a number > 0', code: ErrorCode.INVALID_OPTION, run: (env) => env.cluster.actor(counter, 'm').ask({ add: 1 }, { timeoutMs: -1 }) },
  { kind: 'more actors than maxActorsPerShard', code: ErrorCode.TOO_LARGE, run: async (env) => {
    const c = await env.start({ shards: 1, maxActorsPerShard: 2 });
    for (let i = 0; i < 3; i++) await c.actor(counter, `a${i}`).tell({ add: 1 });
  } },

  // ---- handlers and policy
  { kind: 'a handler that sets a status', code: ErrorCode.HANDLER, run: (env) => env.cluster.actor(flaky, 'f').ask({ fail: 7 }) },
  { kind: 'handle_secure refusing a principal without the role', code: ErrorCode.FORBIDDEN, run: (env) => env.cluster.actor(guarded, 'g', { principal: 'bob' }).ask({ op: 1, amount: 1 }) },
  { kind: 'a ref the authorize policy refuses', code: ErrorCode.FORBIDDEN, run: (env) => env.cluster.actor(counter, 'p', { principal: 'mallory' }).tell({ add: 1 }) },
  { kind: "a refused ref's id, locate or migrate", code: ErrorCode.FORBIDDEN, run: (env) => env.cluster.locate(env.cluster.actor(counter, 'p', { principal: 'mallory' })) },
  { kind: 'a handler past its loop budget', code: ErrorCode.BUDGET, backends: ['webgpu'], run: (env) => env.cluster.actor(spinner, 's').ask({ n: 1_000_000 }) },
  { kind: 'a reference that throws', code: ErrorCode.HANDLER, backends: ['cpu'], run: (env) => env.cluster.actor(throwing, 't').ask({ how: 1 }) },
  { kind: 'a reference reply of -5 for a u32', code: ErrorCode.HANDLER, backends: ['cpu'], run: (env) => env.cluster.actor(throwing, 't').ask({ how: 2 }) },
  { kind: "a reference reply of 'x' for a u32", code: ErrorCode.HANDLER, backends: ['cpu'], run: (env) => env.cluster.actor(throwing, 't').ask({ how: 3 }) },

  // ---- timers
  { kind: 'WGSL calling set_timer without fn on_timer', code: ErrorCode.INVALID_KERNEL, run: () => kernel(wgslWith('set_timer(ctx, 1u, 10u, 0u);')) },
  { kind: 'a kernel maxTimers out of range', code: ErrorCode.INVALID_KERNEL, run: () => defineKernel({ name: 'timed', state: { n: 'u32' }, request: { add: 'u32' }, reply: { n: 'u32' }, maxTimers: 65, wgsl: `${u32Handler}\nfn on_timer(ctx: ptr<function, RingContext>, state: ptr<function, State>, timer: u32) {}` }) },
  { kind: 'setTimer on a kernel without on_timer', code: ErrorCode.TIMER, run: (env) => env.cluster.actor(counter, 't').setTimer(1, { dueMs: 10 }) },
  { kind: 'a timer id that is not a u32 below 0xffffffff', code: ErrorCode.TIMER, run: (env) => env.cluster.actor(alarmed, 't').setTimer(0xffffffff, { dueMs: 10 }) },
  { kind: 'a timer due in the past', code: ErrorCode.TIMER, run: (env) => env.cluster.actor(alarmed, 't').setTimer(1, { dueMs: -1000 }) },
  { kind: 'a timer period that is not milliseconds', code: ErrorCode.TIMER, run: (env) => env.cluster.actor(alarmed, 't').setTimer(1, { dueMs: 10, everyMs: 0.5 }) },
  { kind: 'more timers than maxTimers', code: ErrorCode.TIMER, run: async (env) => {
    const ref = env.cluster.actor(alarmed, 'full');
    await ref.setTimer(1, { dueMs: 600_000 });
    return ref.setTimer(2, { dueMs: 600_000 });
  } },

  // ---- operations
  { kind: 'migrate to a shard that does not exist', code: ErrorCode.INVALID_OPTION, run: (env) => env.cluster.migrate(env.cluster.actor(counter, 'x'), 99) },
  { kind: 'migrate an actor that is not active', code: ErrorCode.UNKNOWN_ACTOR, run: (env) => env.cluster.migrate(env.cluster.actor(counter, 'never-used'), 1) },
  { kind: 'injectFault of an unknown kind', code: ErrorCode.INVALID_OPTION, run: (env) => env.cluster.injectFault(0, 'meteor' as 'worker-exit') },
  { kind: 'restartShard of a shard that does not exist', code: ErrorCode.INVALID_OPTION, run: (env) => env.cluster.restartShard(-1) },
  { kind: 'a message after shutdown', code: ErrorCode.CLOSED, run: async (env) => {
    const c = await env.start({});
    const ref = c.actor(counter, 'late');
    await ref.tell({ add: 1 });
    await c.shutdown();
    return ref.tell({ add: 1 });
  } },
];
