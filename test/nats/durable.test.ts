/**
 * durable: true: the JetStream journal and snapshots. A node SIGKILLed under load loses
 * no acknowledged ask (its actors come back on the survivor from snapshot + journal, and
 * asks it had taken are answered once, from the replay); a whole cluster killed and
 * restarted, nats-server included, restores every actor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, counter } from '../../src/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { startChildNode } from '../helpers/nats-node.ts';
import { parseExposition, valueOf } from '../helpers/exposition.ts';

const FAST = { heartbeatMs: 100, deadAfterMs: 600 };

test('durable: a node SIGKILLed under load loses no acknowledged ask; asks after failover succeed; states equal the model', { timeout: 120_000 }, async () => {
  const server = await startNatsServer();
  const child = await startChildNode({ servers: server.url, node: 'victim', durable: true, ...FAST });
  const a = await Cluster.start({
    kernels: [counter],
    shards: 1,
    backend: 'cpu',
    logger: false,
    nats: { servers: server.url, node: 'survivor', durable: true, snapshotEveryMs: 200, ...FAST },
  });
  const keys = Array.from({ length: 24 }, (_, i) => `d${i}`);
  let stop = false;
  let failures = 0;
  let killedAt = 0;
  let firstAfterKill = 0;
  const load = Promise.all(
    keys.map(async (key) => {
      const ref = a.actor(counter, key);
      const counts: number[] = [];
      while (!stop) {
        try {
          // Bursts of 4 in flight per actor: some are always on their way when the kill comes.
          const got = await Promise.all([1, 2, 3, 4].map(() => ref.ask({ add: 1 })));
          counts.push(...got.map((r) => r.count));
          if (killedAt > 0 && firstAfterKill === 0 && a.locate(ref).node === 'survivor') firstAfterKill = performance.now();
        } catch {
          failures++;
        }
      }
      return counts;
    }),
  );
  try {
    while (!keys.some((k) => a.locate(a.actor(counter, k)).node === 'victim')) await new Promise((r) => setTimeout(r, 20));
    const onVictim = keys.filter((k) => a.locate(a.actor(counter, k)).node === 'victim');
    assert.ok(onVictim.length > 0 && onVictim.length < keys.length, `victim owns ${onVictim.length} of ${keys.length}`);
    await new Promise((r) => setTimeout(r, 700)); // the victim's actors get messages, snapshots and journal
    killedAt = performance.now();
    await child.kill();
    // Until the survivor notices, asks to the victim's actors wait; then they go on there.
    while (a.members().length > 1) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 700));
    stop = true;
    const perKey = await load;
    assert.equal(failures, 0, 'no ask may fail across the failover');
    for (const [i, key] of keys.entries()) {
      const counts = perKey[i]!;
      const n = counts.length;
      assert.deepEqual([...counts].sort((x, y) => x - y), Array.from({ length: n }, (_, j) => j + 1), `actor ${key}: every acknowledged ask exactly once`);
      assert.deepEqual(await a.actor(counter, key).snapshot(), { total: n, count: n }, `actor ${key}: state equals the model`);
    }
    for (const key of onVictim) assert.equal(a.locate(a.actor(counter, key)).node, 'survivor');
    const m = parseExposition(await a.registry.metrics());
    assert.equal(valueOf(m, 'ringshard_node_takeovers_total', { from: 'dead' }), onVictim.length, "the victim's actors were taken from a dead node");
    assert.ok(valueOf(m, 'ringshard_node_replayed_calls_total') > 0, 'the takeover replayed the journal');
    assert.ok(valueOf(m, 'ringshard_node_journal_entries_total') > 0 && valueOf(m, 'ringshard_node_snapshots_total') > 0);
    assert.ok(firstAfterKill > killedAt, 'asks went on after the failover');
  } finally {
    stop = true;
    await load.catch(() => {});
    await child.kill().catch(() => {});
    await a.shutdown();
    await server.stop();
  }
});

test('durable: the whole cluster (nodes SIGKILLed, nats-server restarted) restores every actor from JetStream', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringshard-js-'));
  let server = await startNatsServer({ storeDir: dir });
  const port = server.port;
  const nodes = ['east', 'west'];
  const keys = Array.from({ length: 20 }, (_, i) => `r${i}`);
  try {
    let children = await Promise.all(nodes.map((node) => startChildNode({ servers: server.url, node, durable: true, ...FAST })));
    // Asks from both nodes: one round, then another, so some actors have snapshots and some only journal.
    const first = await Promise.all(children.map((c) => c.asks(keys, 15)));
    for (const key of keys) {
      const all = first.flatMap((r) => r[key]!).sort((x, y) => x - y);
      assert.deepEqual(all, Array.from({ length: 30 }, (_, j) => j + 1), `actor ${key}`);
    }
    await Promise.all(children.map((c) => c.kill()));
    await server.stop();
    server = await startNatsServer({ storeDir: dir, port });
    children = await Promise.all(nodes.map((node) => startChildNode({ servers: server.url, node, durable: true, ...FAST })));
    const states = await children[0]!.snapshot(keys);
    for (const key of keys) assert.deepEqual(states[key], { total: 30, count: 30 }, `actor ${key} after the restart`);
    const next = await children[1]!.asks(keys, 1);
    for (const key of keys) assert.deepEqual(next[key], [31], `actor ${key} counts on`);
    await Promise.all(children.map((c) => c.shutdown()));
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
