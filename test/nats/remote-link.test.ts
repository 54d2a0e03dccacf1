/**
 * RemoteLink without a server: a fake connection that takes frames and never answers, so
 * K2K deliveries to another node pile up; past the bound they are dead letters at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { ErrorCode } from '../../src/errors.ts';
import { RemoteLink, type RemoteRouting } from '../../src/nats/remote-link.ts';
import { NO_ACTOR } from '../../src/layout/record.ts';

test('K2K to other nodes is bounded: past maxK2K waiting for answers, a delivery is refused with RING_FULL (dead letter overflow)', async () => {
  let published = 0;
  const nc = { subscribe: () => ({ unsubscribe() {} }), publish: () => void published++ } as unknown as NatsConnection;
  const routing: RemoteRouting = {
    self: 'me',
    incarnation: 'me#1',
    subjectPrefix: 'rs',
    ownerNode: () => 'other',
    principalName: () => '',
    runLocally: () => Promise.reject(new Error('not here')),
    incarnationOf: () => 'other#1',
    sign: undefined,
  };
  const link = new RemoteLink(nc, routing, 60_000, 3);
  const dead: string[] = [];
  const to = { identity: 'k\u0000\u0000x', kernelName: 'k', tenant: '', key: 'x' };
  for (let i = 0; i < 5; i++) link.deliver(to, { principalId: 0, roles: 0, sourceId: NO_ACTOR }, new Uint32Array(1), 0, 0, (e) => dead.push((e as { code?: string }).code ?? '?'));
  assert.deepEqual(dead, [ErrorCode.RING_FULL, ErrorCode.RING_FULL]);
  assert.equal(link.pending, 3);
  await new Promise((r) => setImmediate(r));
  assert.equal(published, 1, 'the three went out in one frame');
  link.close(new Error('done'));
  assert.equal(dead.length, 5, 'closing fails the three that waited');
});
