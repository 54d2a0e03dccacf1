/**
 * A shard worker's actor table: per state slot, the kernel (id + 1 while active, 0 when
 * not), tenant and id of the actor that holds it, whether it is quarantined, and the
 * grouper's per-batch marks (epoch, segment). The grouper checks every record against it;
 * a checkpoint reads its admission words and a replacement worker restores them.
 * Arrays grow in powers of two up to maxSlots; readers take them afresh after growth.
 */
import { ADMISSION_WORDS } from '../../recovery/checkpoint-store.ts';

export class ActorTable {
  slotKernel = new Int32Array(0); // kernel id + 1 while active, 0 when inactive
  slotTenant = new Uint32Array(0);
  slotActor = new Uint32Array(0); // the id of the actor that holds the slot
  slotEpoch = new Uint32Array(0);
  slotSegment = new Int32Array(0);
  /** Per slot: 1 while its actor is quarantined; null while no actor is. */
  slotQuarantined: Uint8Array | null = null;
  quarantinedIds: ReadonlySet<number> = new Set();

  constructor(private readonly maxSlots: number) {}

  /** Admission data of `count` slots (ADMISSION_WORDS each: kernel id + 1, tenant, actor id), for a checkpoint. */
  readAdmission(slots: Uint32Array, count: number, out: Uint32Array): void {
    const n = this.slotKernel.length;
    for (let i = 0; i < count; i++) {
      const slot = slots[i]!;
      const o = i * ADMISSION_WORDS;
      out[o] = slot < n ? this.slotKernel[slot]! : 0;
      out[o + 1] = slot < n ? this.slotTenant[slot]! : 0;
      out[o + 2] = slot < n ? this.slotActor[slot]! : 0;
    }
  }

  /** Takes the actor table of a checkpoint: slots [0, slots), ADMISSION_WORDS each. */
  restoreAdmission(admission: Uint32Array, slots: number): void {
    if (slots === 0) return;
    this.ensureSlots(slots - 1);
    for (let slot = 0; slot < slots; slot++) {
      const o = slot * ADMISSION_WORDS;
      this.slotKernel[slot] = admission[o]!;
      this.slotTenant[slot] = admission[o + 1]!;
      this.slotActor[slot] = admission[o + 2]!;
    }
  }

  /**
   * From now on every record for these actors is refused with QUARANTINED_MARK (their
   * messages hung the shard's dispatch). Call after restoreAdmission.
   */
  quarantine(actorIds: ReadonlySet<number>): void {
    this.quarantinedIds = actorIds;
    if (actorIds.size === 0) return;
    this.slotQuarantined = new Uint8Array(this.slotKernel.length);
    for (let slot = 0; slot < this.slotKernel.length; slot++) {
      if (this.slotKernel[slot] !== 0 && actorIds.has(this.slotActor[slot]!)) this.slotQuarantined[slot] = 1;
    }
  }

  ensureQuarantineFlags(): void {
    if (this.slotQuarantined === null || this.slotQuarantined.length < this.slotKernel.length) {
      const flags = new Uint8Array(this.slotKernel.length);
      if (this.slotQuarantined) flags.set(this.slotQuarantined);
      this.slotQuarantined = flags;
    }
  }

  ensureSlots(slot: number): void {
    if (slot < this.slotKernel.length) return;
    const size = Math.min(this.maxSlots, Math.max(64, 2 ** Math.ceil(Math.log2(slot + 1))));
    const grow = <T extends Int32Array | Uint32Array>(old: T, make: (n: number) => T): T => {
      const next = make(size);
      next.set(old);
      return next;
    };
    this.slotKernel = grow(this.slotKernel, (k) => new Int32Array(k));
    this.slotTenant = grow(this.slotTenant, (k) => new Uint32Array(k));
    this.slotActor = grow(this.slotActor, (k) => new Uint32Array(k));
    this.slotEpoch = grow(this.slotEpoch, (k) => new Uint32Array(k));
    this.slotSegment = grow(this.slotSegment, (k) => new Int32Array(k));
    if (this.slotQuarantined) this.ensureQuarantineFlags();
  }
}
