/**
 * Bad input gets a clear error that names the culprit, and harms nothing else: the
 * actor and its neighbours keep working with their state intact.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Cluster, counter, defineKernel, stats, type RingshardError } from '../../src/index.ts';
import { MAX_PAYLOAD_WORDS } from '../../src/layout/record.ts';
import { NO_GPU, gpuOrSkip, gpuTest } from '../helpers/gpu.ts';

const isError = (code: string, pattern: RegExp) => (err: unknown) => {
  const e = err as RingshardError;
  assert.equal(e.code, code, `code of: ${e.message}`);
  assert.match(e.message, pattern);
  return true;
};

// A handler that spins for msg.spins iterations (to outlast a timeout) or fails on demand.
const slow = defineKernel({
  name: 'slow',
  state: { n: 'u32' },
  request: { spins: 'u32', fail: 'u32' },
  reply: { acc: 'u32', n: 'u32' },
  wgsl: `
fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  var acc = 1u;
  for (var i = 0u; i < msg.spins; i++) { acc = acc * 1664525u + 1013904223u; }
  (*state).n += 1u;
  if (msg.fail != 0u) { (*ctx).status = msg.fail; }
  return Reply(acc, (*state).n);
}`,
  reference: (s, m, ctx) => {
    let acc = 1;
    for (let i = 0; i < m.spins; i++) acc = (Math.imul(acc, 1664525) + 1013904223) >>> 0;
    s.n += 1;
    if (m.fail !== 0) ctx.status = m.fail;
    return { acc, n: s.n };
  },
});

for (const backend of ['webgpu', 'cpu'] as const) {
  describe(`errors (${backend})`, () => {
    let cluster: Cluster | undefined;
    let available = true;
    before(async () => {
      if (backend === 'webgpu' && !(await gpuOrSkip())) {
        available = false;
        return;
      }
      cluster = await Cluster.start({ kernels: [counter, stats, slow], shards: 2, backend, logger: false, maxLoopIterations: 2 ** 30 }); // 'slow' loops on purpose
    });
    after(() => cluster?.shutdown());
    const it = (name: string, fn: (c: Cluster) => Promise<void>) =>
      test(name, async (t) => {
        if (!available) return t.skip(NO_GPU);
        await fn(cluster!);
      });

    it('unknown kernel names the kernel and lists the known ones', async (c) => {
      const other = defineKernel({ ...slowSpec(), name: 'unregistered' });
      assert.throws(() => c.actor(other, 'x'), isError('ERR_RINGSHARD_UNKNOWN_KERNEL', /unknown kernel "unregistered" \(string\): this cluster runs 'counter', 'stats', 'slow'/));
      assert.throws(() => c.actor('nope', 'x'), isError('ERR_RINGSHARD_UNKNOWN_KERNEL', /"nope"/));
    });

    it('messages that do not fit the schema are refused and change nothing', async (c) => {
      const a = c.actor(counter, 'schema-victim');
      await a.ask({ add: 10 });
      const bad: Array<[unknown, RegExp]> = [
        [{}, /kernel 'counter' request: missing field 'add'/],
        [{ add: 1, sub: 2 }, /unknown field 'sub'/],
        [{ add: 'one' }, /field 'add' must be a u32.*got "one" \(string\)/],
        [{ add: -5 }, /field 'add' must be a u32.*got -5/],
        [null, /message must be an object/],
      ];
      for (const [msg, pattern] of bad) {
        await assert.rejects(a.ask(msg as never), isError('ERR_RINGSHARD_SCHEMA', pattern));
        await assert.rejects(a.tell(msg as never), isError('ERR_RINGSHARD_SCHEMA', pattern));
      }
      const s = c.actor(stats, 'schema-stats');
      await assert.rejects(s.ask({ samples: [1, 2, 3], n: 3 } as never), isError('ERR_RINGSHARD_SCHEMA', /field 'samples' must be an array of 8 f32, got an array of length 3/));
      await assert.rejects(s.ask({ samples: new Array(8).fill(Infinity), n: 1 } as never), isError('ERR_RINGSHARD_SCHEMA', /field 'samples\[0\]' must be an f32/));
      // askMany checks every message before sending any.
      await assert.rejects(a.askMany([{ add: 1 }, { add: 2 }, { add: 1.5 }] as never), isError('ERR_RINGSHARD_SCHEMA', /message 2: .*field 'add' must be a u32.*got 1.5/));
      assert.deepEqual(await a.ask({ add: 1 }), { total: 11, count: 2 });
    });

    it('a handler status fails that message only', async (c) => {
      const a = c.actor(slow, 'status');
      await assert.rejects(a.ask({ spins: 0, fail: 42 }), isError('ERR_RINGSHARD_HANDLER', /ask to kernel 'slow' actor 'status' failed: the handler set status 42/));
      const replies = a.askMany([{ spins: 0, fail: 0 }, { spins: 0, fail: 7 }, { spins: 0, fail: 0 }]);
      await assert.rejects(replies, (err: any) => {
        assert.deepEqual(err.failures, [{ index: 1, status: 7 }]);
        assert.equal(err.replies[2].n, 4);
        return /message 1.*status 7.*1 of 3 messages failed/.test(err.message);
      });
      assert.equal((await a.ask({ spins: 0, fail: 0 })).n, 5);
    });

    it('an ask past its timeout rejects; later asks are unaffected', async (c) => {
      const a = c.actor(slow, 'timeout');
      const spins = backend === 'webgpu' ? 30_000_000 : 20_000_000;
      const start = performance.now();
      await assert.rejects(a.ask({ spins, fail: 0 }, { timeoutMs: 5 }), isError('ERR_RINGSHARD_TIMEOUT', /ask to kernel 'slow' actor 'timeout' timed out after 5 ms/));
      assert.ok(performance.now() - start < 5000);
      // The slow message still ran (state counts it) and the next ask gets its own reply.
      assert.equal((await a.ask({ spins: 0, fail: 0 })).n, 2);
    });

    it('a bad timeout option is refused with its value', async (c) => {
      await assert.rejects(c.actor(slow, 't2').ask({ spins: 0, fail: 0 }, { timeoutMs: -1 }), isError('ERR_RINGSHARD_INVALID_OPTION', /options.timeoutMs must be a number > 0, got -1 \(number\)/));
    });

    it('tenants never share an actor', async (c) => {
      const a = c.actor(counter, 'shared-key', { tenant: 'acme' });
      const b = c.actor(counter, 'shared-key', { tenant: 'globex' });
      await a.ask({ add: 5 });
      await b.ask({ add: 7 });
      assert.deepEqual(await a.snapshot(), { total: 5, count: 1 });
      assert.deepEqual(await b.snapshot(), { total: 7, count: 1 });
    });
  });
}

function slowSpec() {
  return {
    name: 'x',
    state: { n: 'u32' },
    request: { spins: 'u32' },
    reply: { n: 'u32' },
    wgsl: 'fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply { return Reply(0u); }',
  } as const;
}

describe('kernel definition errors', () => {
  const base = slowSpec();
  test('a state too large for a slot names the kernel and its size', () => {
    assert.throws(() => defineKernel({ ...base, state: { big: ['u32', MAX_PAYLOAD_WORDS + 1] } }), isError('ERR_RINGSHARD_TOO_LARGE', /kernel 'x' state schema is \d+ words/));
  });
  test('a request payload too large for a slot is refused', () => {
    assert.throws(() => defineKernel({ ...base, request: { big: ['f32', 1000] } }), isError('ERR_RINGSHARD_TOO_LARGE', /kernel 'x' request schema is 1000 words/));
  });
  test('a schema with an unknown type names the field', () => {
    assert.throws(() => defineKernel({ ...base, reply: { n: 'u64' } as never }), isError('ERR_RINGSHARD_SCHEMA', /kernel 'x' reply field 'n' has unknown type "u64"/));
  });
  test('WGSL without fn handle is refused', () => {
    assert.throws(() => defineKernel({ ...base, wgsl: 'fn other() {}' }), isError('ERR_RINGSHARD_INVALID_KERNEL', /kernel 'x': the WGSL defines no handler/));
  });
  test('WGSL that names ringshard internals is refused with line and column', () => {
    const wgsl = `${base.wgsl}\nfn peek() -> u32 {\n  return rs_states[0];\n}`;
    assert.throws(() => defineKernel({ ...base, wgsl }), isError('ERR_RINGSHARD_INVALID_KERNEL', /line 3, column 10: 'rs_states' is not allowed/));
  });
  test('WGSL that declares its own bindings is refused', () => {
    const wgsl = `@group(0) @binding(9) var<storage, read_write> mine: array<u32>;\n${base.wgsl}`;
    assert.throws(() => defineKernel({ ...base, wgsl }), isError('ERR_RINGSHARD_INVALID_KERNEL', /line 1, column 1: '@group' is not allowed/));
  });
  test('a reference that captures variables cannot be sent to workers, but a plain one can', () => {
    assert.throws(() => defineKernel({ ...base, reference: 5 as never }), isError('ERR_RINGSHARD_INVALID_KERNEL', /reference must be a function/));
    assert.throws(() => defineKernel({ ...base, reference: (async () => ({ n: 0 })) as never }), isError('ERR_RINGSHARD_INVALID_KERNEL', /plain synchronous function/));
    assert.ok(defineKernel({ ...base, reference: () => ({ n: 0 }) }).referenceWire);
  });
  test('a bad kernel name is refused with the value', () => {
    assert.throws(() => defineKernel({ ...base, name: 'has space' }), isError('ERR_RINGSHARD_INVALID_KERNEL', /got "has space"/));
  });
});

gpuTest('WGSL that does not compile fails Cluster.start with kernel, line, column and source line', async () => {
  const broken = defineKernel({
    ...slowSpec(),
    name: 'broken',
    wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  let x: u32 = 1.5;
  return Reply(x);
}`,
  });
  await assert.rejects(
    Cluster.start({ kernels: [counter, broken], backend: 'webgpu', logger: false }),
    isError('ERR_RINGSHARD_SHADER_COMPILE', /kernel 'broken': WGSL error at line 2, column \d+: .*\n\s+let x: u32 = 1.5;/),
  );
});

gpuTest('a compile error after lines ended by \\r and U+2028 names the line as WGSL counts it (regression: lines were split at \\n only)', async () => {
  const broken = defineKernel({
    ...slowSpec(),
    name: 'broken-lines',
    wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {\r  let a = 1u;\u2028  let x: u32 = 1.5;\n  return Reply(x);\n}`,
  });
  await assert.rejects(
    Cluster.start({ kernels: [counter, broken], backend: 'webgpu', logger: false }),
    isError('ERR_RINGSHARD_SHADER_COMPILE', /kernel 'broken-lines': WGSL error at line 3, column \d+: .*\n\s+let x: u32 = 1.5;/),
  );
});

gpuTest('a handler with the wrong signature is reported against the kernel', async () => {
  const wrong = defineKernel({
    ...slowSpec(),
    name: 'wrong-sig',
    wgsl: 'fn handle(msg: Request) -> Reply { return Reply(1u); }',
  });
  await assert.rejects(Cluster.start({ kernels: [wrong], backend: 'webgpu', logger: false }), isError('ERR_RINGSHARD_SHADER_COMPILE', /kernel 'wrong-sig'/));
});

test('options are checked one by one, with the path and the value', async () => {
  await assert.rejects(Cluster.start({ kernels: [] }), isError('ERR_RINGSHARD_INVALID_OPTION', /options.kernels must be a non-empty array/));
  await assert.rejects(Cluster.start({ kernels: [counter], shards: 0 }), isError('ERR_RINGSHARD_INVALID_OPTION', /options.shards must be an integer from 1 to 256, got 0 \(number\)/));
  await assert.rejects(Cluster.start({ kernels: [counter], ringCapacity: 1000 }), isError('ERR_RINGSHARD_INVALID_OPTION', /options.ringCapacity must be a power of two.*got 1000/));
  await assert.rejects(Cluster.start({ kernels: [counter], backend: 'gpu' as never }), isError('ERR_RINGSHARD_INVALID_OPTION', /options.backend must be 'auto' or 'webgpu' or 'cpu', got "gpu"/));
  await assert.rejects(Cluster.start({ kernels: [counter, counter] }), isError('ERR_RINGSHARD_INVALID_OPTION', /'counter' appears twice/));
  await assert.rejects(Cluster.start({ kernels: [counter], maxBatch: 512, ringCapacity: 256 }), isError('ERR_RINGSHARD_INVALID_OPTION', /options.maxBatch must be at most options.ringCapacity \(256\).*got 512 \(number\)/));
  const noRef = defineKernel(slowSpec());
  await assert.rejects(Cluster.start({ kernels: [noRef], backend: 'cpu' }), isError('ERR_RINGSHARD_INVALID_KERNEL', /kernel 'x' has none/));
});

test('use after shutdown is refused with ERR_RINGSHARD_CLOSED', async () => {
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', logger: false });
  const a = cluster.actor(counter, 'k');
  assert.deepEqual(await a.ask({ add: 3 }), { total: 3, count: 1 });
  await cluster.shutdown();
  await cluster.shutdown(); // idempotent
  await assert.rejects(a.tell({ add: 1 }), isError('ERR_RINGSHARD_CLOSED', /shut down/));
  await assert.rejects(a.ask({ add: 1 }), isError('ERR_RINGSHARD_CLOSED', /shut down/));
  await assert.rejects(cluster.actor(counter, 'new').tell({ add: 1 }), isError('ERR_RINGSHARD_CLOSED', /shut down/));
});
