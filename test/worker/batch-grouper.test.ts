import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchLayout } from '../../src/layout/batch.ts';
import { Op, RequestHeader, actorLocation, kernelOp } from '../../src/layout/record.ts';
import { BatchGrouper } from '../../src/worker/runtime/batch-grouper.ts';
import { seededRng } from '../helpers/random.ts';

const SHARD = 1;

for (const kernels of [1, 3]) test(`grouping keeps each actor’s records in arrival order, kernels in ranges, rejects what is not active, gives the GPU each actor's id (${kernels} kernels)`, (t) => {
  const rng = seededRng(t);
  const layout = batchLayout({ kernels, maxBatch: 512, recordWords: 10, resultWords: 2, stateStride: 2 });
  const grouper = new BatchGrouper(layout, SHARD, 1000);
  const records = new Uint32Array(layout.recordsWords);
  const index = new Uint32Array(layout.indexWords);
  // The model: which kernel and tenant each slot is active for.
  const active = new Map<number, { kernel: number; tenant: number; actor: number }>();
  let nextId = 1;
  let baseId = 0;
  for (let round = 0; round < 300; round++) {
    const n = rng.int(1, layout.maxBatch);
    const expectedRejected: boolean[] = [];
    const seen = new Map<number, number>(); // slot -> kernel within this batch
    const expectedActor: number[] = []; // per record: the id the GPU must see, -1 if rejected
    let cut = n;
    const modelActive = new Map(active);
    let previousSlot = 0;
    // A third of the batches keep each actor's records together (tellMany, askMany: the
    // grouper's order is then 0, 1, 2, ... without a scatter); the rest interleave.
    const together = rng.float() < 0.33;
    const used = new Set<number>();
    for (let i = 0; i < n; i++) {
      // Runs for one actor (tellMany, askMany) take the grouper's run path: half the time.
      let slot = i > 0 && rng.float() < 0.5 ? previousSlot : rng.int(0, 60);
      if (together && slot !== previousSlot && used.has(slot)) slot = previousSlot;
      used.add(slot);
      previousSlot = slot;
      const cur = modelActive.get(slot);
      let kernel = cur?.kernel ?? rng.int(0, kernels - 1);
      let tenant = cur?.tenant ?? rng.int(0, 2);
      // The id of the actor in the slot; a new actor gets a new one.
      const actor = cur?.actor ?? nextId;
      let op: number = Op.MESSAGE;
      const roll = rng.float();
      if (!cur) op = roll < 0.6 ? Op.INIT : roll < 0.8 ? Op.IMPORT : Op.MESSAGE;
      else if (roll < 0.04) op = Op.SHUTDOWN;
      else if (roll < 0.07) op = Op.EXPORT;
      else if (roll < 0.1) op = Op.SNAPSHOT;
      else if (roll < 0.13) tenant = (tenant + 1) % 3; // wrong tenant
      else if (roll < 0.15) kernel = (kernel + 1) % kernels; // wrong kernel
      else if (roll < 0.18) op = 9; // unknown op
      else if (roll < 0.2) op = Op.IMPORT; // a later part of an arriving state (offset > 0)
      const part = op === Op.IMPORT && cur ? 2 : 0;
      const shard = rng.float() < 0.01 ? 0 : SHARD;
      const o = i * layout.recordWords;
      records[o + RequestHeader.target] = actorLocation(shard, slot);
      // An arriving actor's INIT or IMPORT carries its id where a sender's would be.
      records[o + RequestHeader.source] = op === Op.INIT || (op === Op.IMPORT && part === 0) ? actor : 7;
      records[o + RequestHeader.kernelOp] = kernelOp(kernel, op as Op);
      records[o + RequestHeader.tenant] = tenant;
      records[o + RequestHeader.correlation] = rng.float() < 0.3 ? i + 1 : 0;
      records[o + RequestHeader.principal] = part; // IMPORT: the part's offset
      if (cut < n) continue;
      const arrives = op === Op.INIT || (op === Op.IMPORT && part === 0);
      const valid = shard === SHARD && kernel < kernels && op <= Op.IMPORT;
      // A slot another actor takes inside the batch ends it.
      if (valid && seen.has(slot) && arrives) {
        cut = i;
        continue;
      }
      let ok = valid;
      if (ok && arrives) {
        ok = cur === undefined;
        if (ok) modelActive.set(slot, { kernel, tenant, actor: nextId++ });
      } else if (ok) {
        ok = cur !== undefined && cur.kernel === kernel && cur.tenant === tenant;
        if (ok && (op === Op.SHUTDOWN || op === Op.EXPORT)) modelActive.delete(slot);
      }
      expectedRejected.push(!ok);
      expectedActor.push(ok ? (arrives ? actor : cur!.actor) : -1);
      if (ok) seen.set(slot, kernel);
    }
    const slotOf = new Map<number, number>();
    for (let i = 0; i < n; i++) slotOf.set(i, records[i * layout.recordWords + RequestHeader.target]! & 0xffffff);
    const batch = grouper.group(records, n, baseId, index);
    assert.equal(batch.count, cut, `round ${round}: batch cut`);
    // Commit the model up to the cut (recompute: replay the accepted prefix).
    active.clear();
    for (const [k, v] of modelActive) active.set(k, v);
    assert.deepEqual(Array.from(batch.rejected.subarray(0, batch.count), (b) => b === 1), expectedRejected, `round ${round}: rejections`);
    assert.equal(index[layout.baseIdWord], baseId);
    assert.equal(index[layout.countWord], batch.count);
    // Every accepted record exactly once; per segment: one slot, one kernel, ascending order.
    const placed = new Set<number>();
    let segStart = 0;
    for (let k = 0; k < kernels; k++) {
      assert.equal(index[layout.rangesWord + 2 * k], segStart, `round ${round}: kernel ${k} range start`);
      const count = index[layout.rangesWord + 2 * k + 1]!;
      for (let s = segStart; s < segStart + count; s++) {
        const w = layout.segmentsWord + 3 * s;
        const slot = index[w]!;
        const first = index[w + 1]!;
        const len = index[w + 2]!;
        let prev = -1;
        for (let j = first; j < first + len; j++) {
          const rec = index[layout.orderWord + j]!;
          assert.ok(rec > prev, 'arrival order inside a segment');
          prev = rec;
          assert.equal(slotOf.get(rec), slot, 'the record went to its slot');
          // The GPU sees the actor's id where the ring had the location (ctx.actor).
          assert.equal(records[rec * layout.recordWords + RequestHeader.target], expectedActor[rec], 'the actor id for ctx.actor');
          assert.equal(records[rec * layout.recordWords + RequestHeader.kernelOp]! >>> 16, k);
          assert.ok(!placed.has(rec));
          placed.add(rec);
        }
      }
      segStart += count;
    }
    assert.equal(segStart, batch.segments);
    assert.equal(placed.size, batch.count - batch.rejectedCount);
    baseId += batch.count;
  }
});
