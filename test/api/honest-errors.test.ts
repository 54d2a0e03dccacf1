/**
 * Issue 20 part 7, "honest errors": what an adversarial user found failing with the wrong
 * code, a bare TypeError/RangeError, or not at all; each case asserts the exact code and
 * that the message names the field or option.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Cluster, ErrorCode, defineKernel, type ClusterOptions } from '../../src/index.ts';
import { MAX_RING_BYTES_PER_SHARD } from '../../src/api/options.ts';
import { closest } from '../../src/api/unknown-keys.ts';

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
    await assert.rejects(start({ colour: 'red' }), isError(ErrorCode.INVALID_OPTION, /^options\.colour is not an option of Cluster\.start; its options: kernels, nats, shards/));
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
