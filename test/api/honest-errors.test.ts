/**
 * Issue 20 part 7, "honest errors": what an adversarial user found failing with the wrong
 * code, a bare TypeError/RangeError, or not at all; each case asserts the exact code and
 * that the message names the field or option.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Cluster, ErrorCode, defineKernel, type ClusterOptions } from '../../src/index.ts';
import { MAX_RING_BYTES_PER_SHARD } from '../../src/api/options.ts';
import { closest } from '../../src/options/unknown-keys.ts';
import { MAX_USER_STATUS, Status } from '../../src/layout/record.ts';
import { ENTRIES } from '../../src/kernels/reference-errors.ts';
import { gpuTest } from '../helpers/gpu.ts';
import { flaky, mixed } from '../helpers/kernels.ts';

const counter = defineKernel({
  name: 'counter',
  state: { n: 'u32' },
  request: { add: 'u32' },
  reply: { n: 'u32' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).n += msg.add;
  return Reply((*state).n);
}`,
  reference: (s, m) => ({ n: (s.n = (s.n + m.add) >>> 0) }),
});

function isError(code: string, pattern: RegExp) {
  return (error: unknown) => {
    const e = error as { code?: string; message?: string; name?: string };
    assert.equal(e.code, code, `expected ${code}, got ${e.code ?? e.name}: ${e.message}`);
    assert.match(e.message ?? '', pattern);
    return true;
  };
}

describe('options', () => {
  const start = (options: object) => Cluster.start({ kernels: [counter], backend: 'cpu', shards: 1, logger: false, ...options } as ClusterOptions);

  test('an unknown option is refused, with the nearest known one', async () => {
    await assert.rejects(start({ ringCapcity: 1024 }), isError(ErrorCode.INVALID_OPTION, /^options\.ringCapcity is not an option of Cluster\.start \(did you mean ringCapacity\?\)$/));
    await assert.rejects(start({ maxbatch: 16 }), isError(ErrorCode.INVALID_OPTION, /options\.maxbatch .*did you mean maxBatch\?/));
    await assert.rejects(start({ colour: 'red' }), isError(ErrorCode.INVALID_OPTION, /^options\.colour is not an option of Cluster\.start; its options: kernels, nats, persist, shards/));
    // A key set to undefined is still a typo.
    await assert.rejects(start({ askTimeoutMS: undefined }), isError(ErrorCode.INVALID_OPTION, /options\.askTimeoutMS .*did you mean askTimeoutMs\?/));
  });

  test('unknown keys of options.metrics and options.checkpointEvery are refused too', async () => {
    await assert.rejects(start({ metrics: { prot: 9464 } }), isError(ErrorCode.INVALID_OPTION, /^options\.metrics\.prot is not an option of Cluster\.start \(did you mean metrics\.port\?\)$/));
    await assert.rejects(start({ metrics: { verbose: true } }), isError(ErrorCode.INVALID_OPTION, /options\.metrics\.verbose .*; options\.metrics options: perActor, registry, port, host/));
    await assert.rejects(start({ checkpointEvery: { record: 100 } }), isError(ErrorCode.INVALID_OPTION, /options\.checkpointEvery\.record .*did you mean checkpointEvery\.records\?/));
  });

  test('did-you-mean finds case slips, swaps and small edits, and nothing far away', () => {
    const keys = ['ringCapacity', 'replyRingCapacity', 'maxBatch', 'port', 'ms'];
    assert.equal(closest('RINGCAPACITY', keys), 'ringCapacity');
    assert.equal(closest('ringCapaicty', keys), 'ringCapacity');
    assert.equal(closest('replyRingCapcity', keys), 'replyRingCapacity');
    assert.equal(closest('maxBatches', keys), 'maxBatch');
    assert.equal(closest('prot', keys), 'port');
    assert.equal(closest('shards', keys), undefined);
    assert.equal(closest('x', keys), undefined);
  });

  test('maxBatch above ringCapacity is INVALID_OPTION naming both (was a bare RangeError)', async () => {
    await assert.rejects(start({ ringCapacity: 64, maxBatch: 128 }), isError(ErrorCode.INVALID_OPTION, /^options\.maxBatch must be at most options\.ringCapacity \(64\).*got 128 \(number\)$/));
  });

  test('rings too large to allocate are refused up front with the bytes they need (was a bare RangeError)', async () => {
    await assert.rejects(start({ ringCapacity: 2 ** 30 }), isError(ErrorCode.INVALID_OPTION, /^options\.ringCapacity 1073741824 is too large: .* need \d+ bytes of SharedArrayBuffer .*more than the 2147483648 \(2 GiB\)/));
    await assert.rejects(start({ ringCapacity: 1024, replyRingCapacity: 2 ** 28 }), isError(ErrorCode.INVALID_OPTION, /^options\.replyRingCapacity 268435456 is too large/));
    // counter's request slot is 11 words and its reply slot 5: 64 bytes a slot pair, so
    // 2^25 slots take 2^31 bytes and the rings' control words one step over the limit.
    assert.equal(2 ** 25 * 64, MAX_RING_BYTES_PER_SHARD);
    await assert.rejects(start({ ringCapacity: 2 ** 25, maxBatch: 16 }), isError(ErrorCode.INVALID_OPTION, /too large: .* need 21474\d{5} bytes/));
  });

  test('every option error is a RingshardError with a code', async () => {
    const bad: object[] = [
      { shards: 0 }, { ringCapacity: 3 }, { replyRingCapacity: 'big' }, { maxBatch: 0 }, { framesInFlight: 99 }, { backpressure: 'drop' },
      { askTimeoutMs: 0 }, { logger: 'yes' }, { metrics: 5 }, { metrics: { perActor: -1 } }, { metrics: { registry: {} } }, { metrics: { host: 1 } },
      { placement: 'random' }, { maxLoopIterations: 2 ** 31 }, { checkpointEvery: { ms: -1 } }, { maxDispatchMs: -5 }, { maxRestartsPerMinute: 1.5 },
      { maxSendsPerMessage: 0 }, { roles: 'admin' }, { authorize: 1 }, { dawnFlags: [1] }, { adapterName: 5 }, { maxQueuedPerShard: -1 },
      { maxK2KQueuedPerShard: 2 ** 40 }, { initialActorsPerShard: 0 }, { maxActorsPerShard: 2 ** 30 },
    ];
    for (const options of bad) {
      await assert.rejects(start(options), (error: unknown) => {
        const e = error as { code?: string; message: string; name: string };
        assert.equal(e.name, 'RingshardError', `${JSON.stringify(options)}: ${e.name}: ${e.message}`);
        assert.equal(e.code, ErrorCode.INVALID_OPTION, JSON.stringify(options));
        assert.match(e.message, new RegExp(`options\\.${Object.keys(options)[0]}`), JSON.stringify(options));
        return true;
      });
    }
  });
});

describe('metric labels', () => {
  const KEYS = ['alice@example.com', 'bob@example.com'];
  const TENANT = 'acme-corp';

  async function scrapeAfterLoad(metrics: object): Promise<{ text: string; ids: string[] }> {
    const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 2, logger: false, metrics } as ClusterOptions);
    try {
      const refs = KEYS.map((key) => cluster.actor(counter, key, { tenant: TENANT }));
      await Promise.all(refs.map((r) => r.ask({ add: 1 })));
      return { text: await cluster.registry.metrics(), ids: refs.map((r) => String(r.id)) };
    } finally {
      await cluster.shutdown();
    }
  }

  test('by default a scrape shows no tenant name and no key, only actor ids', async () => {
    const { text, ids } = await scrapeAfterLoad({});
    for (const secret of [...KEYS, TENANT, 'example.com']) assert.ok(!text.includes(secret), `the scrape shows ${secret}`);
    assert.doesNotMatch(text, /\b(tenant|key)="/);
    for (const id of ids) assert.match(text, new RegExp(`ringshard_actor_messages_total\\{kernel="counter",actor="${id}",status="ok"\\} 1`));
  });

  test("metrics.labels ['tenant', 'key'] opts in to both labels", async () => {
    const { text, ids } = await scrapeAfterLoad({ labels: ['tenant', 'key'] });
    KEYS.forEach((key, i) => {
      assert.match(text, new RegExp(`ringshard_actor_messages_total\\{kernel="counter",actor="${ids[i]}",tenant="${TENANT}",key="${key}",status="ok"\\} 1`));
    });
    const onlyTenant = await scrapeAfterLoad({ labels: ['tenant'] });
    assert.ok(onlyTenant.text.includes(`tenant="${TENANT}"`) && !KEYS.some((k) => onlyTenant.text.includes(k)));
  });

  test('metrics.labels is checked', async () => {
    const start = (labels: unknown) => Cluster.start({ kernels: [counter], backend: 'cpu', logger: false, metrics: { labels } } as ClusterOptions);
    await assert.rejects(start('key'), isError(ErrorCode.INVALID_OPTION, /^options\.metrics\.labels must be an array of 'tenant', 'key', got "key" \(string\)$/));
    await assert.rejects(start(['key', 'email']), isError(ErrorCode.INVALID_OPTION, /^options\.metrics\.labels\[1\] must be 'tenant' or 'key', got "email" \(string\)$/));
  });
});

// ---------------------------------------------------------------- references (cpu backend)

const u32Wgsl = `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  return Reply((*state).n, (*state).f, (*state).v);
}`;

/** Its reference misbehaves in the way `how` asks for; how 0 counts the message in n. */
const picky = defineKernel({
  name: 'picky',
  state: { n: 'u32', f: 'f32', i: 'i32', v: ['u32', 2] },
  request: { how: 'u32' },
  reply: { n: 'u32', f: 'f32', v: ['u32', 2] },
  wgsl: u32Wgsl,
  reference: (s, m) => {
    const reply: any = { n: s.n, f: s.f, v: [s.v[0], s.v[1]] };
    switch (m.how) {
      case 0: s.n = (s.n + 1) >>> 0; reply.n = s.n; break;
      case 1: throw new Error('the reference gave up');
      case 2: reply.n = -5; break;
      case 3: reply.n = 'x'; break;
      case 4: delete reply.n; break;
      case 5: reply.v = [1]; break;
      case 6: reply.f = NaN; break;
      case 7: reply.f = 1e39; break;
      case 8: reply.n = 2 ** 32; break;
      case 9: s.n = (s.n + 1) >>> 0; s.i = 2 ** 31; break;
      case 10: s.n = (s.n + 1) >>> 0; reply.n = 1.5; break;
      case 11: throw 'a string';
      case 12: reply.v = [1, 5n]; break;
      case 13: s.n = (s.n + 1) >>> 0; throw new TypeError('typed');
      case 14: s.f = Math.fround(Math.fround(3e38) * 2); break;
      case 15: return 7;
    }
    return reply;
  },
});

const hooks = defineKernel({
  name: 'hooks',
  state: { n: 'u32' },
  request: { add: 'u32' },
  reply: { n: 'u32' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  return Reply((*state).n);
}`,
  reference: {
    init: () => {
      throw new Error('no init for you');
    },
    handle: (s, m) => ({ n: (s.n = (s.n + m.add) >>> 0) }),
    shutdown: (s) => {
      s.n = -1;
    },
  },
});

describe('references that fail (cpu backend)', () => {
  const HANDLER = ErrorCode.HANDLER;
  const cases: Array<[number, RegExp]> = [
    [1, /^ask to kernel 'picky' actor 'p' failed: kernel 'picky' reference threw: the reference gave up; the actor's state is as it was before the message$/],
    [2, /: kernel 'picky' reference returned reply\.n = -5, not a u32;/],
    [3, /: kernel 'picky' reference returned reply\.n = "x", not a u32;/],
    [4, /: kernel 'picky' reference returned reply\.n is missing \(a u32\);/],
    [5, /: kernel 'picky' reference returned reply\.v = an array of length 1, not an array of 2 u32;/],
    [6, /: kernel 'picky' reference returned reply\.f = NaN, not a finite f32;/],
    [7, /: kernel 'picky' reference returned reply\.f = 1e\+39, not a finite f32;/],
    [8, /: kernel 'picky' reference returned reply\.n = 4294967296, not a u32;/],
    [9, /: kernel 'picky' reference left state\.i = 2147483648, not an i32;/],
    [10, /: kernel 'picky' reference returned reply\.n = 1\.5, not a u32;/],
    [11, /: kernel 'picky' reference threw: a string \(thrown, not an Error\);/],
    [12, /: kernel 'picky' reference returned reply\.v\[1\] = 5n, not a u32;/],
    [13, /: kernel 'picky' reference threw: TypeError: typed;/],
    [14, /: kernel 'picky' reference left state\.f = Infinity, not a finite f32;/],
    [15, /: kernel 'picky' reference returned reply = 7, not an object with fields n: u32, f: f32, v: u32\[2\];/],
  ];

  test('each is ERR_RINGSHARD_HANDLER saying why, naming the field; the state is left as it was', async () => {
    const cluster = await Cluster.start({ kernels: [picky], backend: 'cpu', shards: 1, logger: false });
    try {
      const p = cluster.actor(picky, 'p');
      assert.deepEqual(await p.ask({ how: 0 }), { n: 1, f: 0, v: [0, 0] });
      for (const [how, pattern] of cases) await assert.rejects(p.ask({ how }), isError(HANDLER, pattern), `how ${how}`);
      // No failed message changed the state (9, 10, 13 and 14 changed it before failing).
      assert.deepEqual(await p.snapshot(), { n: 1, f: 0, i: 0, v: [0, 0] });
      assert.deepEqual(await p.ask({ how: 0 }), { n: 2, f: 0, v: [0, 0] });
    } finally {
      await cluster.shutdown();
    }
  });

  test('askMany: error.failures carry each reason; only the first ENTRIES recent reasons per shard are kept', async () => {
    const cluster = await Cluster.start({ kernels: [picky], backend: 'cpu', shards: 1, logger: false });
    try {
      const p = cluster.actor(picky, 'p');
      const error = await p.askMany([{ how: 0 }, { how: 2 }, { how: 0 }, { how: 1 }]).then(
        () => assert.fail('askMany resolved'),
        (e: { code: string; message: string; failures: Array<{ index: number; reason?: string }>; replies: unknown[] }) => e,
      );
      assert.equal(error.code, HANDLER);
      assert.match(error.message, /^askMany to kernel 'picky' actor 'p' \(message 1\) failed: kernel 'picky' reference returned reply\.n = -5, not a u32;.*\(2 of 4 messages failed; see error\.failures\)$/);
      assert.deepEqual(error.failures.map((f) => [f.index, f.reason]), [
        [1, "kernel 'picky' reference returned reply.n = -5, not a u32"],
        [3, "kernel 'picky' reference threw: the reference gave up"],
      ]);
      assert.deepEqual(error.replies[2], { n: 2, f: 0, v: [0, 0] });
      // A flood: an entry is overwritten after ENTRIES more failures on the shard. The
      // last failures are always explained; one whose reason is gone says so.
      const flood = await p.askMany(Array.from({ length: 3 * ENTRIES }, () => ({ how: 1 }))).then(
        () => assert.fail('askMany resolved'),
        (e: typeof error) => e,
      );
      assert.equal(flood.failures.length, 3 * ENTRIES);
      assert.match(flood.failures.at(-1)!.reason ?? '', /the reference gave up/);
      if (flood.failures[0]!.reason === undefined) assert.match(flood.message, /why was not kept: more failures followed on its shard/);
    } finally {
      await cluster.shutdown();
    }
  });

  test('hooks: a throwing init is logged, a shutdown leaving a bad state fails terminate()', async () => {
    const lines: string[] = [];
    const cluster = await Cluster.start({ kernels: [hooks], backend: 'cpu', shards: 1, logger: (line) => lines.push(line) });
    try {
      const h = cluster.actor(hooks, 'h');
      assert.deepEqual(await h.ask({ add: 2 }), { n: 2 });
      await assert.rejects(h.terminate(), isError(HANDLER, /^terminate of kernel 'hooks' actor 'h' failed: kernel 'hooks' reference shutdown left state\.n = -1, not a u32;|kernel 'hooks' reference shutdown left state\.n = -1, not a u32/));
      await waitFor(() => lines.some((l) => l.includes('init threw')), 'the log line');
      assert.ok(lines.includes("ringshard: shard 0: kernel 'hooks' reference init threw: no init for you (the message failed with ERR_RINGSHARD_HANDLER; later failures of this kernel are not logged)"), lines.join('\n'));
    } finally {
      await cluster.shutdown();
    }
  });
});

async function waitFor(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test("logger: false: nothing is printed, though references throw (tell, ask, init); a logger gets each kernel's first failure", async () => {
  const captured: string[] = [];
  const streams = [process.stdout, process.stderr] as const;
  const writes = streams.map((s) => s.write);
  const consoles = (['error', 'warn', 'log', 'info', 'debug'] as const).map((k) => [k, console[k]] as const);
  // Under `node --test` this file runs in a child whose stdout carries the runner's own
  // events, v8-serialized (their first byte is the serializer's 0xFF): those are not ours.
  const runnerEvent = (chunk: unknown) => chunk instanceof Uint8Array && chunk[0] === 0xff;
  streams.forEach((s) => {
    s.write = ((chunk: unknown) => (runnerEvent(chunk) || captured.push(String(chunk)), true)) as typeof s.write;
  });
  for (const [k] of consoles) console[k] = (...args: unknown[]) => void captured.push(args.map(String).join(' '));
  const lines: string[] = [];
  try {
    for (const logger of [false, (line: string) => void lines.push(line)] as const) {
      const cluster = await Cluster.start({ kernels: [picky, hooks], backend: 'cpu', shards: 2, logger });
      try {
        const refs = ['a', 'b', 'c'].map((k) => cluster.actor(picky, k));
        await Promise.all(refs.map((r) => r.tell({ how: 1 })));
        await Promise.all(refs.map((r) => assert.rejects(r.ask({ how: 2 }))));
        await cluster.actor(hooks, 'h').ask({ add: 1 });
        await Promise.all(refs.map((r) => r.snapshot()));
      } finally {
        await cluster.shutdown();
      }
    }
  } finally {
    streams.forEach((s, i) => (s.write = writes[i]!));
    for (const [k, f] of consoles) console[k] = f;
  }
  assert.deepEqual(captured, []);
  // The logger got one line per kernel and shard that failed (shards: 2), and no more.
  assert.ok(lines.some((l) => /^ringshard: shard \d: kernel 'picky' reference threw: the reference gave up \(/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /kernel 'hooks' reference init threw: no init for you/.test(l)), lines.join('\n'));
  assert.ok(lines.filter((l) => l.includes("'picky'")).length <= 2, lines.join('\n'));
});

// ---------------------------------------------------------------- the reference sandbox

/**
 * how 1 tries to leave `secret` where another actor could read it; how 2 looks in the
 * same places. Reply: what it found (0: nothing), and how many writes threw.
 */
const leaky = defineKernel({
  name: 'leaky',
  state: { n: 'u32' },
  request: { how: 'u32', secret: 'u32' },
  reply: { found: 'u32', threw: 'u32', tried: 'u32' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  return Reply(0u, 0u, 0u);
}`,
  reference: function leak(s, m, ctx) {
    const g: any = globalThis;
    const c: any = ctx;
    const self: any = leak;
    const places: Array<[() => void, () => unknown]> = [
      [() => { g.stash = m.secret; }, () => g.stash],
      [() => { (Math as any).stash = m.secret; }, () => (Math as any).stash],
      [() => { (Object.prototype as any).stash = m.secret; }, () => ({} as any).stash],
      [() => { (Array.prototype as any).stash = m.secret; }, () => ([] as any).stash],
      [() => { (JSON as any).stash = m.secret; }, () => (JSON as any).stash],
      [() => { c.stash = m.secret; }, () => c.stash],
      [() => { c.hlc.stash = m.secret; }, () => c.hlc.stash],
      [() => { c.hlc.push(m.secret); }, () => c.hlc[2]],
      [() => { self.stash = m.secret; }, () => self.stash],
      [() => { (s as any).constructor.stash = m.secret; }, () => ({} as any).constructor.stash],
      [() => { (s as any).constructor.constructor('globalThis.stash = 1')(); }, () => 0],
      [() => { (0, eval)('globalThis.stash2 = 1'); }, () => 0],
      [() => { (Math as any) = { stash: m.secret }; }, () => (Math as any).stash],
      [() => { /x(\d+)/.exec(`x${m.secret}`); }, () => Number((RegExp as any).$1 ?? 0)],
      [() => { (Error.prototype as any).stash = m.secret; }, () => (new Error() as any).stash],
      [() => { (Function.prototype as any).stash = m.secret; }, () => (leak as any).stash],
    ];
    let threw = 0;
    let found = 0;
    for (const [write, read] of places) {
      if (m.how === 1) {
        try {
          write();
        } catch {
          threw++;
        }
      } else {
        const v = Number(read() ?? 0);
        if (v !== 0 && found === 0) found = v;
      }
    }
    return { found, threw, tried: places.length };
  },
});

test('references cannot share mutable state across actors and tenants (globals, built-ins, ctx, the function)', async () => {
  // One shard: both actors' references run in the same worker.
  const cluster = await Cluster.start({ kernels: [leaky], backend: 'cpu', shards: 1, logger: false });
  try {
    const writer = cluster.actor(leaky, 'alice@example.com', { tenant: 'acme' });
    const reader = cluster.actor(leaky, 'bob@example.com', { tenant: 'globex' });
    const wrote = await writer.ask({ how: 1, secret: 4242 });
    // Every write threw but the RegExp match, which leaves nothing (RegExp.$1 is gone).
    assert.equal(wrote.threw, wrote.tried - 1, `${wrote.threw} of ${wrote.tried} writes threw`);
    assert.deepEqual(await reader.ask({ how: 2, secret: 0 }), { found: 0, threw: 0, tried: wrote.tried });
    // And the writer's own next message sees nothing either.
    assert.equal((await writer.ask({ how: 2, secret: 0 })).found, 0);
  } finally {
    await cluster.shutdown();
  }
});

// ---------------------------------------------------------------- message values, both backends

async function messageValues(backend: 'cpu' | 'webgpu'): Promise<void> {
  const cluster = await Cluster.start({ kernels: [mixed, flaky], backend, shards: 1, logger: false });
  try {
    const m = cluster.actor(mixed, 'm');
    const ok = { f: 1, i: 1, v: [1, 2, 3] };
    const SCHEMA = ErrorCode.SCHEMA;
    await assert.rejects(m.tell({ ...ok, f: 1e39 }), isError(SCHEMA, /^kernel 'mixed' request: field 'f' must be an f32 \(a finite number from -3\.4028234663852886e\+38 to 3\.4028234663852886e\+38\), got 1e\+39 \(number\)$/));
    await assert.rejects(m.tell({ ...ok, f: -Infinity }), isError(SCHEMA, /field 'f' must be an f32 .*got -Infinity/));
    await assert.rejects(m.ask({ ...ok, f: NaN }), isError(SCHEMA, /field 'f' must be an f32 .*got NaN/));
    await assert.rejects(m.ask({ ...ok, i: 5n as unknown as number }), isError(SCHEMA, /field 'i' must be an i32 .*got 5 \(bigint\)/));
    await assert.rejects(m.tell({ ...ok, v: [1, Symbol('s') as unknown as number, 3] }), isError(SCHEMA, /field 'v\[1\]' must be a u32 .*got Symbol\(s\) \(symbol\)/));
    // askMany and tellMany check every message before any is sent.
    await assert.rejects(m.askMany([ok, ok, { ...ok, f: 3.5e38 }]), isError(SCHEMA, /^message 2: kernel 'mixed' request: field 'f' must be an f32/));
    await assert.rejects(m.tellMany([ok, { ...ok, i: 1n as unknown as number }]), isError(SCHEMA, /^message 1: .*field 'i' must be an i32 .*bigint/));
    const columns = { f: new Float32Array([1, Infinity]), i: new Int32Array(2), v: new Uint32Array(6) };
    await assert.rejects(m.tellMany(columns), isError(SCHEMA, /column 'f' message 1: Infinity is not a finite f32/));
    await assert.rejects(m.askMany({ ...columns, f: new Float32Array(2), i: new BigInt64Array(2) as unknown as Int32Array }), isError(SCHEMA, /column 'i' must be a Int32Array \(field type i32\)/));
    // Nothing of it was sent: the actor's state is untouched, and it still works.
    assert.deepEqual(await m.snapshot(), { f: 0, i: 0, v: [0, 0, 0] });
    assert.deepEqual(await m.ask({ ...ok, f: 3.4028234663852886e38 }), { f: 3.4028234663852886e38 });

    // A handler's own status never reads as a reference failure: above MAX_USER_STATUS it is clamped.
    const st = cluster.actor(flaky, 's');
    await assert.rejects(st.ask({ fail: Status.REFERENCE_FAILED }), isError(ErrorCode.HANDLER, new RegExp(`failed: the handler set status ${MAX_USER_STATUS}$`)));
    await assert.rejects(st.ask({ fail: Status.BUDGET }), isError(ErrorCode.HANDLER, new RegExp(`failed: the handler set status ${MAX_USER_STATUS}$`)));

    // Options are checked before any backend work.
    await assert.rejects(Cluster.start({ kernels: [mixed], backend, ringCapcity: 64 } as ClusterOptions), isError(ErrorCode.INVALID_OPTION, /did you mean ringCapacity\?/));
  } finally {
    await cluster.shutdown();
  }
}

test('status codes: ringshard\'s are distinct and above every handler\'s', () => {
  const ours = Object.entries(Status).filter(([name]) => name !== 'OK').map(([, v]) => v);
  assert.equal(new Set(ours).size, ours.length);
  for (const v of ours) assert.ok(v > MAX_USER_STATUS && v <= 0xffffffff, String(v));
});

test('message values: BigInt, Symbol, out-of-range f32 are ERR_RINGSHARD_SCHEMA, nothing sent (cpu)', () => messageValues('cpu'));
gpuTest('message values: BigInt, Symbol, out-of-range f32 are ERR_RINGSHARD_SCHEMA, nothing sent (webgpu)', () => messageValues('webgpu'));
