/**
 * Nodes on NATS (a real nats-server per test, started here): placement over live
 * members, remote calls, order and exactly-once counts across callers on two nodes, in
 * one process and in two. Counter asks reply with the actor's message count, so the
 * replies of all callers to one actor must be exactly 1..n, each once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, counter, ErrorCode } from '../../src/index.ts';
import { withNatsCluster } from '../helpers/nats-fixtures.ts';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { CHANNEL_NAMES } from '../../src/diagnostics.ts';
import { gpuOrSkip, NO_GPU } from '../helpers/gpu.ts';
import { parseExposition, sumOf, valueOf } from '../helpers/exposition.ts';

/** Every key's replies (counts) from all callers together are exactly 1..n. */
function assertExactlyOnce(byKey: Map<string, number[]>, n: number): void {
  for (const [key, counts] of byKey) {
    const sorted = [...counts].sort((a, b) => a - b);
    assert.deepEqual(sorted, Array.from({ length: n }, (_, i) => i + 1), `actor ${key}: replies ${sorted.slice(0, 8).join(',')}...`);
  }
}

function collect(into: Map<string, number[]>, key: string, counts: number[]): void {
  const list = into.get(key) ?? [];
  list.push(...counts);
  into.set(key, list);
}

/** Asserts each caller's own replies to an actor rise: per-sender order. */
function assertRising(counts: number[], what: string): void {
  for (let i = 1; i < counts.length; i++) assert.ok(counts[i]! > counts[i - 1]!, `${what}: reply ${i} (${counts[i]}) after ${counts[i - 1]}`);
}

for (const backend of ['cpu', 'webgpu'] as const) {
  test(`two nodes in one process (${backend}): asks from both reach each actor once, in order per caller`, { timeout: 120_000 }, async (t) => {
    if (backend === 'webgpu' && !(await gpuOrSkip())) return t.skip(NO_GPU);
    await withNatsCluster(async ({ start: startNode }) => {
      const start = (node: string) => startNode({ kernels: [counter], backend, node });
      const a = await start('node-a');
      const b = await start('node-b');
      assert.deepEqual(a.members().map((m) => [m.node, m.shards, m.self]), [['node-a', 1, true], ['node-b', 1, false]]);
      assert.deepEqual(b.members().map((m) => [m.node, m.self]), [['node-a', false], ['node-b', true]]);
      const keys = Array.from({ length: 24 }, (_, i) => `user-${i}`);
      // Both nodes agree where each actor lives, and both nodes own some.
      const placed = keys.map((k) => a.locate(a.actor(counter, k)));
      assert.deepEqual(keys.map((k) => b.locate(b.actor(counter, k))), placed);
      assert.ok(placed.some((p) => p.node === 'node-a') && placed.some((p) => p.node === 'node-b'), JSON.stringify(placed));
      const n = 40;
      const replies = new Map<string, number[]>();
      await Promise.all(
        keys.flatMap((key) =>
          [a, b].map(async (c) => {
            const ref = c.actor(counter, key);
            const got = await Promise.all(Array.from({ length: n }, () => ref.ask({ add: 2 })));
            const counts = got.map((r) => r.count);
            assertRising(counts, `${c.nodeName} -> ${key}`);
            collect(replies, key, counts);
          }),
        ),
      );
      assertExactlyOnce(replies, 2 * n);
      // The node metrics agree with each other and with the load: every ask to an actor
      // on the other node is one call sent there and one served there.
      const [ma, mb] = await Promise.all([a.registry.metrics(), b.registry.metrics()].map(async (t) => parseExposition(await t)));
      const remoteOf = (node: string) => placed.filter((p) => p.node !== node).length * n;
      assert.equal(valueOf(ma!, 'ringshard_node_calls_total', { direction: 'sent', result: 'ok' }), remoteOf('node-a'));
      assert.equal(valueOf(mb!, 'ringshard_node_calls_total', { direction: 'served', result: 'ok' }), remoteOf('node-a'));
      assert.equal(valueOf(mb!, 'ringshard_node_calls_total', { direction: 'sent', result: 'ok' }), remoteOf('node-b'));
      assert.equal(valueOf(ma!, 'ringshard_node_calls_total', { direction: 'served', result: 'ok' }), remoteOf('node-b'));
      assert.equal(valueOf(ma!, 'ringshard_node_members'), 2);
      assert.equal(sumOf(ma!, 'ringshard_node_takeovers_total') + sumOf(mb!, 'ringshard_node_takeovers_total'), keys.length, 'each actor taken over once, by its owner');
      assert.equal(valueOf(ma!, 'ringshard_node_takeovers_total', { from: 'free' }) + valueOf(mb!, 'ringshard_node_takeovers_total', { from: 'free' }), keys.length);
      for (const key of keys) {
        assert.deepEqual(await a.actor(counter, key).snapshot(), { total: 4 * n, count: 2 * n });
        assert.deepEqual(await b.actor(counter, key).snapshot(), { total: 4 * n, count: 2 * n });
      }
      // askMany and tellMany with columns cross nodes too.
      const remoteKey = keys.find((k) => a.locate(a.actor(counter, k)).node === 'node-b')!;
      const ref = a.actor(counter, remoteKey);
      await ref.tellMany({ add: new Uint32Array([1, 1, 1]) });
      const cols = await ref.askMany({ add: new Uint32Array([0, 0]) });
      assert.deepEqual([...cols.count], [2 * n + 4, 2 * n + 5]);
      assert.deepEqual(await ref.askMany([{ add: 0 }]), [{ total: 4 * n + 3, count: 2 * n + 6 }]);
      // A bad message fails on the calling node with the schema error, nothing sent.
      await assert.rejects(ref.ask({ add: 'x' as never }), { code: ErrorCode.SCHEMA });
    });
  });
}

test('two nodes in two processes: asks from both to the same actors, exactly once', { timeout: 120_000 }, () =>
  withNatsCluster(async ({ start, startChild }) => {
    const child = await startChild({ node: 'proc-b' });
    const a = await start({ kernels: [counter], node: 'proc-a' });
    assert.deepEqual(a.members().map((m) => m.node), ['proc-a', 'proc-b']);
    const keys = Array.from({ length: 16 }, (_, i) => `k${i}`);
    const n = 50;
    const replies = new Map<string, number[]>();
    const [fromChild] = await Promise.all([
      child.asks(keys, n),
      ...keys.map(async (key) => {
        const ref = a.actor(counter, key);
        const counts = (await Promise.all(Array.from({ length: n }, () => ref.ask({ add: 1 })))).map((r) => r.count);
        assertRising(counts, `proc-a -> ${key}`);
        collect(replies, key, counts);
      }),
    ]);
    for (const [key, counts] of Object.entries(fromChild)) {
      assertRising(counts, `proc-b -> ${key}`);
      collect(replies, key, counts);
    }
    assertExactlyOnce(replies, 2 * n);
    const states = await child.snapshot(keys);
    for (const key of keys) assert.deepEqual(states[key], { total: 2 * n, count: 2 * n });
  }),
);

test('a node joins and leaves under load: no ask lost or refused, every count exact', { timeout: 120_000 }, () =>
  withNatsCluster(async ({ start, startChild, closedLoopAsks }) => {
    // What an APM tool sees of the membership (diagnostics_channel), from the staying node.
    const changes: Array<{ members: readonly string[]; joined: readonly string[]; left: readonly string[] }> = [];
    const onMembers = (m: unknown) => {
      const e = m as { node: string; members: string[]; joined: string[]; left: string[] };
      if (e.node === 'stay') changes.push({ members: e.members, joined: e.joined, left: e.left });
    };
    subscribe(CHANNEL_NAMES.membership, onMembers);
    const a = await start({ kernels: [counter], node: 'stay' });
    const keys = Array.from({ length: 32 }, (_, i) => `j${i}`);
    // Closed-loop asks from the staying node to every actor, while the other node comes and goes.
    const load = closedLoopAsks(keys.map((key) => a.actor(counter, key)));
    await new Promise((r) => setTimeout(r, 300));
    const child = await startChild({ node: 'visitor' });
    // Wait until the visitor owns some of the actors (the handover happened).
    while (!keys.some((k) => a.locate(a.actor(counter, k)).node === 'visitor')) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 500));
    const movedAway = keys.filter((k) => a.locate(a.actor(counter, k)).node === 'visitor');
    assert.ok(movedAway.length > 0 && movedAway.length < keys.length, `visitor owns ${movedAway.length} of ${keys.length}`);
    await child.shutdown();
    await new Promise((r) => setTimeout(r, 300));
    const { counts: perKey, failures } = await load.stop();
    assert.equal(failures, 0, 'asks failed during the membership changes');
    perKey.forEach((counts, i) => assertRising(counts, `stay -> ${keys[i]}`));
    const total = perKey.reduce((s, c) => s + c.length, 0);
    assert.ok(total > keys.length * 5, `only ${total} asks ran`);
    for (const [i, key] of keys.entries()) {
      const n = perKey[i]!.length;
      assert.deepEqual([...perKey[i]!].sort((x, y) => x - y), Array.from({ length: n }, (_, j) => j + 1), `actor ${key}`);
      assert.deepEqual(await a.actor(counter, key).snapshot(), { total: n, count: n }, `actor ${key} after the visitor left`);
    }
    assert.deepEqual(a.members().map((m) => m.node), ['stay']);
    unsubscribe(CHANNEL_NAMES.membership, onMembers);
    assert.deepEqual(changes, [
      { members: ['stay'], joined: ['stay'], left: [] },
      { members: ['stay', 'visitor'], joined: ['visitor'], left: [] },
      { members: ['stay'], joined: [], left: ['visitor'] },
    ]);
  }),
);

test('bad input: unreachable server, duplicate node name, bad options', { timeout: 60_000 }, async () => {
  await assert.rejects(
    Cluster.start({ kernels: [counter], shards: 1, backend: 'cpu', logger: false, nats: { servers: 'nats://127.0.0.1:1' } }),
    (e: any) => e.code === ErrorCode.NATS_UNREACHABLE && /127\.0\.0\.1:1/.test(e.message),
  );
  await assert.rejects(Cluster.start({ kernels: [counter], backend: 'cpu', nats: { servers: [] as never } }), { code: ErrorCode.INVALID_OPTION, message: /options\.nats\.servers/ });
  await assert.rejects(Cluster.start({ kernels: [counter], backend: 'cpu', nats: { servers: 'nats://x', node: 'bad name' } }), { code: ErrorCode.INVALID_OPTION, message: /options\.nats\.node/ });
  await assert.rejects(Cluster.start({ kernels: [counter], backend: 'cpu', nats: { servers: 'nats://x', heartbeatMs: 500, deadAfterMs: 600 } }), { code: ErrorCode.INVALID_OPTION, message: /deadAfterMs/ });
  await withNatsCluster(async ({ start }) => {
    const a = await start({ kernels: [counter], node: 'twin' });
    await assert.rejects(start({ kernels: [counter], node: 'twin' }), (e: any) => e.code === ErrorCode.DUPLICATE_NODE && /'twin'/.test(e.message));
    // The first node is unharmed.
    assert.deepEqual(await a.actor(counter, 'x').ask({ add: 5 }), { total: 5, count: 1 });
    assert.deepEqual(a.members().map((m) => m.node), ['twin']);
  });
});

// The server goes away mid-test: after it, each node gets 8 s at most to shut down.
test('local fast path: an actor this node owns needs no NATS per message (asks go on with the server gone)', { timeout: 60_000 }, () =>
  withNatsCluster({ shutdownWithinMs: 8000 }, async ({ server, start }) => {
    const a = await start({ kernels: [counter], node: 'solo' });
    const ref = a.actor(counter, 'here');
    assert.equal(a.locate(ref).node, 'solo');
    await ref.ask({ add: 1 }); // activation takes the lease (NATS)
    await server.stop();
    const replies = await Promise.all(Array.from({ length: 100 }, () => ref.ask({ add: 1 })));
    assert.deepEqual(replies.map((r) => r.count), Array.from({ length: 100 }, (_, i) => i + 2));
  }),
);
