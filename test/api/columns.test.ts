/**
 * Typed columns for tellMany / askMany: the same messages as columns and as objects give
 * the same replies and states (checked against the TS model on random inputs, both
 * backends); replies come back as columns; a bad column is a clear error naming the
 * field (and the index, for a bad value) and sends nothing; order holds between columns
 * and object messages to one actor.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Cluster, ErrorCode, counter, echo, stats, type ColumnsOf } from '../../src/index.ts';
import { gpuOrSkip, NO_GPU } from '../helpers/gpu.ts';
import { KernelModel, assertMatches } from '../helpers/model.ts';
import { seededRng } from '../helpers/random.ts';
import { flaky } from '../helpers/kernels.ts';

const BACKENDS = ['cpu', 'webgpu'] as const;

async function start(t: TestContext, backend: 'cpu' | 'webgpu'): Promise<Cluster | undefined> {
  if (backend === 'webgpu' && !(await gpuOrSkip())) {
    t.skip(NO_GPU);
    return undefined;
  }
  const cluster = await Cluster.start({ kernels: [counter, echo, stats, flaky], backend, shards: 2, logger: false });
  t.after(() => cluster.shutdown());
  return cluster;
}

const isSchema = (pattern: RegExp) => (e: { code?: string; message?: string }) => e.code === ErrorCode.SCHEMA && pattern.test(e.message ?? '');

for (const backend of BACKENDS) {
  test(`${backend}: stats and echo askMany with columns answer as the TS model does, as columns`, async (t) => {
    const cluster = await start(t, backend);
    if (!cluster) return;
    const rng = seededRng(t);
    const statsModel = new KernelModel(stats);
    const echoModel = new KernelModel(echo);
    for (let round = 0; round < 20; round++) {
      const n = rng.int(1, 300);
      const key = `s${rng.int(0, 5)}`;
      const samples = new Float32Array(n * 8);
      const counts = new Uint32Array(n);
      const expected: Array<Record<string, number | number[]>> = [];
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < 8; j++) samples[i * 8 + j] = Math.fround(rng.float() * 200 - 100);
        counts[i] = rng.int(0, 8);
        expected.push(statsModel.message(key, { samples: Array.from(samples.subarray(i * 8, i * 8 + 8)), n: counts[i]! }));
      }
      const replies: ColumnsOf<typeof stats.reply> = await cluster.actor(stats, key).askMany({ samples, n: counts });
      assert.ok(replies.mean instanceof Float32Array && replies.count instanceof Uint32Array);
      assert.equal(replies.count.length, n);
      for (let i = 0; i < n; i++) {
        const got = { count: replies.count[i]!, mean: replies.mean[i]!, variance: replies.variance[i]!, min: replies.min[i]!, max: replies.max[i]! };
        assertMatches(got, expected[i]!, stats.reply, `stats ${key} round ${round} message ${i}`);
      }
    }
    // echo: i32 (negative too) and an f32 array field, and the per-actor count.
    const n = 500;
    const seq = Uint32Array.from({ length: n }, (_, i) => i * 7 + 1);
    const value = Int32Array.from({ length: n }, () => rng.int(-(2 ** 31), 2 ** 31 - 1));
    const data = Float32Array.from({ length: n * 4 }, () => Math.fround(rng.float() - 0.5));
    const ref = cluster.actor(echo, 'e');
    const replies = await ref.askMany({ seq, value, data });
    for (let i = 0; i < n; i++) {
      const expected = echoModel.message('e', { seq: seq[i]!, value: value[i]!, data: Array.from(data.subarray(i * 4, i * 4 + 4)) }, ref.id);
      const got = { seq: replies.seq[i]!, value: replies.value[i]!, data: Array.from(replies.data.subarray(i * 4, i * 4 + 4)), count: replies.count[i]!, actor: replies.actor[i]!, messageId: replies.messageId[i]! };
      assertMatches(got, expected, echo.reply, `echo message ${i}`, ['messageId']);
    }
  });

  test(`${backend}: tellMany with columns, interleaved with object messages, keeps per-actor order`, async (t) => {
    const cluster = await start(t, backend);
    if (!cluster) return;
    const rng = seededRng(t);
    const model = new KernelModel(counter);
    const ref = cluster.actor(counter, 'c');
    const checks: Array<Promise<void>> = [];
    for (let round = 0; round < 50; round++) {
      const kind = rng.int(0, 2);
      if (kind === 0) {
        const add = Uint32Array.from({ length: rng.int(1, 200) }, () => rng.int(0, 1000));
        for (const a of add) model.apply('c', { add: a });
        checks.push(ref.tellMany({ add }));
      } else if (kind === 1) {
        const msgs = Array.from({ length: rng.int(1, 50) }, () => ({ add: rng.int(0, 1000) }));
        for (const m of msgs) model.apply('c', m);
        checks.push(ref.tellMany(msgs));
      } else {
        const msg = { add: rng.int(0, 1000) };
        const expected = model.message('c', msg);
        checks.push(ref.ask(msg).then((r) => assertMatches(r, expected, counter.reply, `ask in round ${round}`)));
      }
    }
    await Promise.all(checks);
    assert.deepEqual(await ref.snapshot(), model.state('c'));
  });

  test(`${backend}: an askMany with columns where some messages fail rejects with failures and the replies as columns`, async (t) => {
    const cluster = await start(t, backend);
    if (!cluster) return;
    const fail = Uint32Array.from([0, 0, 5, 0, 9, 0]);
    const error = await cluster.actor(flaky, 'f').askMany({ fail }).then(
      () => assert.fail('expected a rejection'),
      (e: { code: string; failures: Array<{ index: number; status: number }>; replies: { n: Uint32Array } }) => e,
    );
    assert.equal(error.code, ErrorCode.HANDLER);
    assert.deepEqual(error.failures, [{ index: 2, status: 5 }, { index: 4, status: 9 }]);
    assert.deepEqual(Array.from(error.replies.n), [1, 2, 0, 4, 0, 6], 'the replies that came, in their columns');
  });
}

test('bad columns are clear errors naming the field (and index), and send nothing', async (t) => {
  const cluster = await start(t, 'cpu');
  if (!cluster) return;
  const ref = cluster.actor(stats, 'x');
  const cases: Array<[unknown, RegExp]> = [
    [{ samples: new Float32Array(16) }, /column 'n' is missing/],
    [{ samples: new Float64Array(16), n: new Uint32Array(2) }, /column 'samples' must be a Float32Array \(field type f32\)/],
    [{ samples: new Float32Array(15), n: new Uint32Array(2) }, /column 'samples' has 15 values, not a multiple of its 8 per message/],
    [{ samples: new Float32Array(24), n: new Uint32Array(2) }, /column 'n' holds 2 messages where the columns before it hold 3/],
    [{ samples: new Float32Array(16), n: new Uint32Array(2), extra: new Uint32Array(2) }, /column 'extra' is not a field of the schema/],
    [{ samples: Float32Array.from({ length: 16 }, (_, i) => (i === 11 ? NaN : 1)), n: new Uint32Array(2) }, /column 'samples' message 1 element 3: NaN is not a finite f32/],
    ['nope', /expects an array of messages or columns/],
  ];
  for (const [cols, pattern] of cases) {
    await assert.rejects(ref.askMany(cols as never), isSchema(pattern), String(pattern));
    await assert.rejects(ref.tellMany(cols as never), isSchema(pattern), String(pattern));
  }
  assert.equal((await ref.snapshot()).count, 0, 'nothing was sent');
  // A bad run between good sends of the same tick (claimed, not yet published) gives back
  // its own slots only: the sends around it arrive, once each.
  const good = { samples: [1, 1, 1, 1, 1, 1, 1, 1], n: 1 };
  const bad = { samples: Float32Array.from({ length: 24 }, (_, i) => (i === 20 ? Infinity : 1)), n: new Uint32Array(3) };
  const sent = [ref.tell(good), ref.tellMany(bad), ref.tellMany({ samples: new Float32Array(16).fill(1), n: Uint32Array.of(1, 1) }), ref.tell(good)];
  await assert.rejects(sent[1]!, isSchema(/column 'samples' message 2 element 4: Infinity is not a finite f32/));
  await Promise.all([sent[0], sent[2], sent[3]]);
  assert.equal((await ref.snapshot()).count, 4, 'the four good messages, each once');
  // Empty columns are an empty askMany.
  const none = await ref.askMany({ samples: new Float32Array(0), n: new Uint32Array(0) });
  assert.equal(none.count.length, 0);
});
