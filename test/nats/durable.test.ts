/**
 * durable: true: the JetStream journal and snapshots. A node SIGKILLed under load loses
 * no acknowledged ask (its actors come back on the survivor from snapshot + journal, and
 * asks it had taken are answered once, from the replay); a whole cluster killed and
 * restarted, nats-server included, restores every actor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { counter } from '../../src/index.ts';
import { withNatsCluster } from '../helpers/nats-fixtures.ts';
import { parseExposition, valueOf } from '../helpers/exposition.ts';

test('durable: a node SIGKILLed under load loses no acknowledged ask; asks after failover succeed; states equal the model', { timeout: 120_000 }, () =>
  withNatsCluster(async ({ start, startChild, closedLoopAsks }) => {
    const child = await startChild({ node: 'victim', durable: true });
    const a = await start({ kernels: [counter], node: 'survivor', nats: { durable: true, snapshotEveryMs: 200 } });
    const keys = Array.from({ length: 24 }, (_, i) => `d${i}`);
    let killedAt = 0;
    let firstAfterKill = 0;
    const load = closedLoopAsks(
      keys.map((key) => a.actor(counter, key)),
      {
        // Bursts of 4 in flight per actor: some are always on their way when the kill comes.
        burst: 4,
        afterRound: (ref) => {
          if (killedAt > 0 && firstAfterKill === 0 && a.locate(ref).node === 'survivor') firstAfterKill = performance.now();
        },
      },
    );
    while (!keys.some((k) => a.locate(a.actor(counter, k)).node === 'victim')) await new Promise((r) => setTimeout(r, 20));
    const onVictim = keys.filter((k) => a.locate(a.actor(counter, k)).node === 'victim');
    assert.ok(onVictim.length > 0 && onVictim.length < keys.length, `victim owns ${onVictim.length} of ${keys.length}`);
    await new Promise((r) => setTimeout(r, 700)); // the victim's actors get messages, snapshots and journal
    killedAt = performance.now();
    await child.kill();
    // Until the survivor notices, asks to the victim's actors wait; then they go on there.
    while (a.members().length > 1) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 700));
    const { counts: perKey, failures } = await load.stop();
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
  }),
);

test('durable: the whole cluster (nodes SIGKILLed, nats-server restarted) restores every actor from JetStream', { timeout: 120_000 }, () =>
  withNatsCluster(async ({ startChild, restartServer }) => {
    const nodes = ['east', 'west'];
    const keys = Array.from({ length: 20 }, (_, i) => `r${i}`);
    let children = await Promise.all(nodes.map((node) => startChild({ node, durable: true })));
    // Asks from both nodes: one round, then another, so some actors have snapshots and some only journal.
    const first = await Promise.all(children.map((c) => c.asks(keys, 15)));
    for (const key of keys) {
      const all = first.flatMap((r) => r[key]!).sort((x, y) => x - y);
      assert.deepEqual(all, Array.from({ length: 30 }, (_, j) => j + 1), `actor ${key}`);
    }
    await Promise.all(children.map((c) => c.kill()));
    await restartServer();
    children = await Promise.all(nodes.map((node) => startChild({ node, durable: true })));
    const states = await children[0]!.snapshot(keys);
    for (const key of keys) assert.deepEqual(states[key], { total: 30, count: 30 }, `actor ${key} after the restart`);
    const next = await children[1]!.asks(keys, 1);
    for (const key of keys) assert.deepEqual(next[key], [31], `actor ${key} counts on`);
    await Promise.all(children.map((c) => c.shutdown()));
  }),
);
