/**
 * The dispatch watchdog: a batch that stays on the GPU longer than maxDispatchMs gets its
 * shard's worker replaced (recovering from the checkpoint, so nothing is lost), the hung
 * batch is replayed one actor at a time, and the actor whose message hangs it again is
 * quarantined: its asks reject with ERR_RINGSHARD_QUARANTINED, everyone else is served,
 * and shutdown finishes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster, counter } from '../../src/index.ts';
import { hang } from '../helpers/kernels.ts';
import { parseExposition, valueOf } from '../helpers/exposition.ts';
import { gpuTest } from '../helpers/gpu.ts';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { CHANNEL_NAMES } from '../../src/diagnostics.ts';

async function quarantineDrill(backend: 'cpu' | 'webgpu', spins: number, maxDispatchMs: number): Promise<void> {
  const lines: string[] = [];
  // What an APM tool sees (diagnostics_channel): the two recoveries and the quarantine.
  const seen: Array<[string, Record<string, unknown>]> = [];
  const onRecover = (m: unknown) => seen.push(['recover', m as Record<string, unknown>]);
  const onQuarantine = (m: unknown) => seen.push(['quarantine', m as Record<string, unknown>]);
  subscribe(CHANNEL_NAMES.recovery, onRecover);
  subscribe(CHANNEL_NAMES.quarantine, onQuarantine);
  const cluster = await Cluster.start({
    kernels: [counter, hang],
    backend,
    shards: 1,
    maxDispatchMs,
    maxLoopIterations: 0x7fffffff,
    askTimeoutMs: 60_000,
    logger: (line) => lines.push(line),
  });
  try {
    const a = cluster.actor(counter, 'a');
    const h = cluster.actor(hang, 'h');
    assert.deepEqual(await h.ask({ spins: 0 }), { n: 1 });
    await a.askMany(Array.from({ length: 10 }, () => ({ add: 1 })));
    // In one batch: the hanging message between messages of another actor.
    const before = a.askMany(Array.from({ length: 20 }, () => ({ add: 1 })));
    const hung = h.ask({ spins });
    const after = a.askMany(Array.from({ length: 20 }, () => ({ add: 2 })));
    await assert.rejects(hung, (err: any) => err.code === 'ERR_RINGSHARD_QUARANTINED' && /quarantined/.test(err.message));
    assert.deepEqual((await before).map((r) => r.count), Array.from({ length: 20 }, (_, i) => 11 + i));
    assert.deepEqual((await after).map((r) => r.total), Array.from({ length: 20 }, (_, i) => 30 + 2 * (i + 1)));
    // From now on the quarantined actor is refused at once; the others go on.
    await assert.rejects(h.ask({ spins: 0 }), (err: any) => err.code === 'ERR_RINGSHARD_QUARANTINED');
    assert.deepEqual(await a.ask({ add: 0 }), { total: 70, count: 51 });
    const families = parseExposition(await cluster.registry.metrics());
    assert.equal(valueOf(families, 'ringshard_recoveries_total', { shard: '0', cause: 'watchdog' }), 2, lines.join('\n'));
    assert.ok(lines.some((l) => /quarantined kernel 'hang' actor 'h' on shard 0/.test(l)), lines.join('\n'));
    assert.equal(seen.filter(([kind, m]) => kind === 'recover' && m.cause === 'watchdog' && m.shard === 0).length, 2, JSON.stringify(seen));
    const quarantined = seen.filter(([kind]) => kind === 'quarantine');
    assert.equal(quarantined.length, 1, JSON.stringify(seen));
    assert.equal(quarantined[0]![1].actorId, h.actorId);
    assert.deepEqual(quarantined[0]![1].actor, { kernel: 'hang', tenant: '', key: 'h', actorId: h.actorId });
  } finally {
    unsubscribe(CHANNEL_NAMES.recovery, onRecover);
    unsubscribe(CHANNEL_NAMES.quarantine, onQuarantine);
    await cluster.shutdown();
  }
}

test('a handler that never returns (cpu: a TS reference stuck in a loop) is quarantined; others are served; shutdown finishes', { timeout: 60_000 }, () =>
  quarantineDrill('cpu', 1, 300));

gpuTest('a WGSL handler that hangs the dispatch longer than maxDispatchMs is quarantined; others are served; shutdown finishes', () =>
  // The hang (~3 s here) must outlast maxDispatchMs well, and a normal batch must stay
  // far below it even while a parked worker's hung loop still takes a core (at 150 ms
  // batches of a few records were seen to cross it then).
  quarantineDrill('webgpu', 1 << 29, 800), { timeout: 120_000 });
