/**
 * diagnostics_channel events: activation (new, reactivated), deactivation, migration,
 * recovery and K2K dead letters reach a subscriber with the actor's names, once each, in
 * the order they happened; with no subscriber nothing is published. (Quarantine:
 * test/api/watchdog.test.ts; node membership: test/nats/membership.test.ts.)
 */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe, channel } from 'node:diagnostics_channel';
import { test } from 'node:test';
import { Cluster, counter } from '../../src/index.ts';
import { CHANNEL_NAMES } from '../../src/diagnostics.ts';
import { fwd, sink } from '../helpers/k2k-kernels.ts';

test('diagnostics_channel: activation, deactivation, migration, recovery and dead letters, each once, with the actor named', async () => {
  const events: Array<[string, Record<string, unknown>]> = [];
  const listeners = Object.entries(CHANNEL_NAMES).map(([kind, name]) => {
    const listener = (message: unknown) => events.push([kind, message as Record<string, unknown>]);
    subscribe(name, listener);
    return [name, listener] as const;
  });
  const cluster = await Cluster.start({ kernels: [counter, fwd, sink], backend: 'cpu', shards: 2, logger: false, idleAfterMs: 60_000 });
  try {
    const a = cluster.actor(counter, 'a', { shard: 0 });
    await a.ask({ add: 1 });
    const id = a.id;
    assert.deepEqual(events, [['activation', { kernel: 'counter', tenant: '', key: 'a', actorId: id, shard: 0, cause: 'new' }]]);

    events.length = 0;
    await cluster.migrate(a, 1);
    assert.deepEqual(events, [['migration', { kernel: 'counter', tenant: '', key: 'a', actorId: id, from: 0, to: 1 }]]);

    // Sweeps without a message (two after its last activity): the actor is deactivated; its next message brings it back.
    events.length = 0;
    for (let sweep = 0; sweep < 4 && events.length === 0; sweep++) await cluster.sweepIdle();
    assert.deepEqual(events, [['deactivation', { kernel: 'counter', tenant: '', key: 'a', actorId: id, shard: 1, cause: 'idle' }]]);
    events.length = 0;
    assert.deepEqual(await a.ask({ add: 1 }), { total: 2, count: 2 });
    assert.equal(events.length, 1);
    assert.deepEqual({ ...events[0]![1], shard: undefined }, { kernel: 'counter', tenant: '', key: 'a', actorId: id, shard: undefined, cause: 'reactivated' });

    // A K2K send to an id no actor has: one dead letter.
    events.length = 0;
    const f = cluster.actor(fwd, 'f');
    await f.ask({ to: 0x7ffffff0, amount: 1, sink: 0, me: 0 });
    await cluster.drain();
    assert.deepEqual(events.filter(([kind]) => kind === 'deadLetter'), [['deadLetter', { reason: 'no-such-actor' }]]);
    assert.deepEqual(cluster.deadLetterCounts()['no-such-actor'], 1);

    // A worker that dies is recovered from its checkpoint: one event, with its cause.
    events.length = 0;
    await cluster.injectFault(f.shard, 'worker-exit');
    assert.deepEqual(await f.ask({ to: 0x7ffffff0, amount: 0, sink: 0, me: 0 }), { sent: 2 });
    const recoveries = events.filter(([kind]) => kind === 'recovery');
    assert.equal(recoveries.length, 1, JSON.stringify(events));
    assert.equal(recoveries[0]![1].shard, f.shard);
    assert.equal(recoveries[0]![1].cause, 'worker-exit');
    assert.equal(typeof recoveries[0]![1].reason, 'string');
  } finally {
    await cluster.shutdown();
    for (const [name, listener] of listeners) unsubscribe(name, listener);
  }
});

test('diagnostics_channel: with no subscriber, nothing is published', async () => {
  // A channel with no subscriber: publish() would be a no-op, and ringshard does not even call it.
  for (const name of Object.values(CHANNEL_NAMES)) assert.equal(channel(name).hasSubscribers, false, name);
  const published: string[] = [];
  const original = Object.values(CHANNEL_NAMES).map((name) => {
    const ch = channel(name);
    const publish = ch.publish.bind(ch);
    ch.publish = (message: unknown) => {
      published.push(name);
      publish(message);
    };
    return [ch, publish] as const;
  });
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 2, logger: false, idleAfterMs: 60_000 });
  try {
    const a = cluster.actor(counter, 'a', { shard: 0 });
    await a.ask({ add: 1 });
    await cluster.migrate(a, 1);
    for (let sweep = 0; sweep < 4; sweep++) await cluster.sweepIdle();
    assert.equal(cluster.info().deactivated, 1, 'the actor was deactivated');
    await a.ask({ add: 1 });
    assert.deepEqual(published, []);
  } finally {
    await cluster.shutdown();
    for (const [ch, publish] of original) ch.publish = publish;
  }
});
