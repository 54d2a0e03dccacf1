/**
 * A lost connection: while the NATS server is away, a call to an actor on another node
 * waits and times out with ERR_RINGSHARD_TIMEOUT; the clients reconnect on their own once
 * it is back, and calls go on (counts continue: nothing was reset).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { counter, ErrorCode } from '../../src/index.ts';
import { withNatsCluster } from '../helpers/nats-fixtures.ts';

test('NATS server restarts: remote asks time out with a clear code meanwhile, and work again after', { timeout: 90_000 }, () =>
  withNatsCluster(async ({ server, start, restartServer }) => {
    // A long deadAfterMs: the outage is shorter, so nobody is taken for dead.
    const node = (name: string) => start({ kernels: [counter], node: name, nats: { heartbeatMs: 100, deadAfterMs: 30_000 } });
    const a = await node('up-a');
    await node('up-b');
    let i = 0;
    while (a.locate(a.actor(counter, `o${i}`)).node !== 'up-b') i++;
    const ref = a.actor(counter, `o${i}`);
    assert.deepEqual(await ref.ask({ add: 1 }), { total: 1, count: 1 });
    await server.stop();
    await assert.rejects(ref.ask({ add: 0 }, { timeoutMs: 800 }), (e: any) => e.code === ErrorCode.TIMEOUT && /another node/.test(e.message));
    await restartServer();
    // Back: the clients reconnect by themselves.
    const deadline = Date.now() + 30_000;
    let probe: { total: number; count: number } | undefined;
    while (!probe) {
      assert.ok(Date.now() < deadline, 'asks did not work again within 30 s of the server coming back');
      probe = await ref.ask({ add: 0 }, { timeoutMs: 1000 }).catch(() => undefined);
    }
    // Asks that timed out may have run after the reconnect (a timeout does not say they
    // did not), so the count is not known; they all added 0, and the state from before
    // the outage is there.
    assert.equal(probe.total, 1);
    const reply = await ref.ask({ add: 10 });
    assert.equal(reply.total, 11);
    assert.ok(reply.count > probe.count, `count ${reply.count} after ${probe.count}`);
    assert.deepEqual(a.members().map((m) => m.node), ['up-a', 'up-b']);
  }),
);
