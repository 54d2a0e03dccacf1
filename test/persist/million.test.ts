/**
 * A store of 1,000,000 actors opens as fast as an empty one (restores are lazy: a start
 * reads nothing per actor) and serves the first message of any stored actor from its
 * stored state, with its stored id. The store is filled through LmdbStore directly, as
 * a cluster would have left it (snapshots, ids from the persisted permutation).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Cluster, counter } from '../../src/index.ts';
import { actorIdentity } from '../../src/coordinator/actor-directory.ts';
import { LmdbStore } from '../../src/persist/lmdb-store.ts';
import { NEXT_ORDINAL, persistedIds } from '../../src/persist/persistent-locator.ts';
import { schemaHash } from '../../src/persist/schemas.ts';
import { storeKey } from '../../src/recovery/state-store.ts';
import { seededRng } from '../helpers/random.ts';

const ACTORS = 1_000_000;
const CHUNK = 20_000;

async function timedStart(path: string): Promise<{ cluster: Cluster; ms: number }> {
  const t0 = performance.now();
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 1, logger: false, persist: { path } });
  return { cluster, ms: performance.now() - t0 };
}

test(`a store of ${ACTORS.toLocaleString('en-US')} actors starts like an empty one and serves any of them`, { timeout: 300_000 }, async (t) => {
  const rng = seededRng(t);
  const empty = mkdtempSync(join(tmpdir(), 'ringshard-empty-'));
  const full = mkdtempSync(join(tmpdir(), 'ringshard-million-'));
  try {
    const store = LmdbStore.open(full);
    const { ids } = await persistedIds(store);
    const hash = schemaHash(counter.state);
    for (let base = 0; base < ACTORS; base += CHUNK) {
      const writes: Array<Promise<unknown>> = [];
      for (let i = base; i < base + CHUNK; i++) {
        const identity = actorIdentity('counter', '', `a${i}`);
        writes.push(store.writeSnapshot(storeKey(identity), 0, new Uint32Array([i, 1]), hash), store.registerId(ids.idFor(i + 1), identity));
      }
      await Promise.all(writes);
    }
    await store.putMeta(NEXT_ORDINAL, ACTORS + 1);
    assert.equal(store.storedActors, ACTORS);
    await store.close();

    // Each side twice, alternating: the faster start of each counts (the machine is noisy).
    const times = { empty: Infinity, full: Infinity };
    for (let round = 0; round < 2; round++) {
      for (const [side, path] of [['empty', empty], ['full', full]] as const) {
        const { cluster, ms } = await timedStart(path);
        times[side] = Math.min(times[side], ms);
        await cluster.shutdown();
      }
    }
    t.diagnostic(`start: empty store ${times.empty.toFixed(0)} ms, ${ACTORS} actors ${times.full.toFixed(0)} ms`);
    assert.ok(times.full < 2 * times.empty + 1000, `a start with ${ACTORS} stored actors took ${times.full.toFixed(0)} ms, an empty one ${times.empty.toFixed(0)} ms`);

    const { cluster } = await timedStart(full);
    try {
      assert.equal(cluster.info().actors, 0);
      for (let k = 0; k < 20; k++) {
        const i = rng.int(0, ACTORS - 1);
        const ref = cluster.actor(counter, `a${i}`);
        assert.deepEqual(await ref.ask({ add: 1 }), { total: i + 1, count: 2 }, `stored actor a${i}`);
        assert.equal(ref.id, ids.idFor(i + 1), `a${i} keeps its id`);
      }
      // A new actor gets an id no stored actor has (the sequence resumes past them).
      const fresh = cluster.actor(counter, 'new-one');
      assert.deepEqual(await fresh.ask({ add: 3 }), { total: 3, count: 1 });
      assert.equal(ids.ordinalOf(fresh.id), ACTORS + 1);
    } finally {
      await cluster.shutdown();
    }
  } finally {
    rmSync(empty, { recursive: true, force: true });
    rmSync(full, { recursive: true, force: true });
  }
});
