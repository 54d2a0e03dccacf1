/**
 * DueIndex (the timer service's index, typed arrays): against a Map model under random
 * sets, re-arms, deletes and pops, with actor ids that collide in the hash and growth
 * past the initial capacity. The earliest entry is always the model's earliest, sizes
 * agree, and popping everything yields every entry once, in due order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DueIndex } from '../../src/coordinator/due-index.ts';

type Op = { kind: 'set'; actor: number; slot: number; timer: number; due: number } | { kind: 'delete'; actor: number; slot: number } | { kind: 'pop' };

const actorArb = fc.oneof(fc.integer({ min: 0, max: 400 }), fc.constantFrom(0xfffffffe, 0x80000000, 123456789));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), actor: actorArb, slot: fc.integer({ min: 0, max: 63 }), timer: fc.integer({ min: 0, max: 0xfffffffe }), due: fc.integer({ min: 0, max: 1_000_000 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), actor: actorArb, slot: fc.integer({ min: 0, max: 63 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'pop' as const }) },
);

test('property: DueIndex keeps the earliest due on top and every entry once, as a Map model does', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 200, maxLength: 2000 }), fc.integer({ min: 1, max: 8 }), (ops, initial) => {
      const index = new DueIndex(initial);
      const model = new Map<string, { actor: number; slot: number; timer: number; due: number }>();
      const earliest = () => Math.min(Infinity, ...[...model.values()].map((v) => v.due));
      for (const op of ops) {
        if (op.kind === 'set') {
          index.set(op.actor, op.slot, op.timer, op.due);
          model.set(`${op.actor}/${op.slot}`, { actor: op.actor, slot: op.slot, timer: op.timer, due: op.due });
        } else if (op.kind === 'delete') {
          assert.equal(index.delete(op.actor, op.slot), model.delete(`${op.actor}/${op.slot}`));
        } else if (model.size > 0) {
          const key = `${index.topActor}/${index.topSlot}`;
          const top = model.get(key);
          assert.ok(top, `top ${key} is in the model`);
          assert.equal(top.due, earliest());
          assert.equal(index.topTimer, top.timer);
          index.pop();
          model.delete(key);
        }
        assert.equal(index.size, model.size);
        assert.equal(index.nextDue, earliest());
      }
      // Everything left comes out once, in due order.
      let last = -1;
      while (index.size > 0) {
        const key = `${index.topActor}/${index.topSlot}`;
        const entry = model.get(key);
        assert.ok(entry, `${key} once`);
        assert.ok(index.nextDue >= last && index.nextDue === entry.due);
        last = index.nextDue;
        model.delete(key);
        index.pop();
      }
      assert.equal(model.size, 0);
    }),
    { numRuns: 100 },
  );
});
