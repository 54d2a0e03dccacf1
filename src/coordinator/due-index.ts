/**
 * The timer service's index: one entry per (actor, timer table entry), ordered by due
 * time. Everything lives in typed arrays (a binary min-heap of entry numbers, and an
 * open-addressing hash from (actor, table entry) to its entry), so a million armed timers
 * are a few flat arrays, not a million objects for every major GC to walk: ~40 bytes each
 * against ~160 for objects in a Map (measured in bench/timers.ts).
 */

const EMPTY = -1;

export class DueIndex {
  private capacity = 0;
  // Per entry.
  private actor = new Uint32Array(0);
  private slot = new Uint8Array(0);
  private timer = new Uint32Array(0);
  private due = new Float64Array(0);
  private at = new Int32Array(0); // its place in the heap
  // Entries not in use.
  private free = new Int32Array(0);
  private frees = 0;
  // Min-heap of entries by due time.
  private heap = new Int32Array(0);
  private count = 0;
  // (actor, slot) -> entry: linear probing, power-of-two size, at most half full.
  private table = new Int32Array(0);
  private mask = 0;

  constructor(initial = 1024) {
    this.grow(initial);
  }

  get size(): number {
    return this.count;
  }

  /** The earliest due time, or Infinity. */
  get nextDue(): number {
    return this.count > 0 ? this.due[this.heap[0]!]! : Infinity;
  }

  /** The earliest entry's actor, table slot, timer id (valid while size > 0). */
  get topActor(): number {
    return this.actor[this.heap[0]!]!;
  }
  get topSlot(): number {
    return this.slot[this.heap[0]!]!;
  }
  get topTimer(): number {
    return this.timer[this.heap[0]!]!;
  }

  /** Sets (actor, slot) to timer `timer` due at `due`, adding the entry or moving it. */
  set(actor: number, slot: number, timer: number, due: number): void {
    let e = this.find(actor, slot);
    if (e === EMPTY) {
      if (this.frees === 0) this.grow(this.capacity * 2);
      e = this.free[--this.frees]!;
      this.actor[e] = actor;
      this.slot[e] = slot;
      this.timer[e] = timer;
      this.due[e] = due;
      this.heap[this.count] = e;
      this.at[e] = this.count++;
      this.insertKey(e);
      this.up(this.at[e]!);
      return;
    }
    const earlier = due < this.due[e]!;
    this.timer[e] = timer;
    this.due[e] = due;
    if (earlier) this.up(this.at[e]!);
    else this.down(this.at[e]!);
  }

  /** Removes (actor, slot); false when it is not there. */
  delete(actor: number, slot: number): boolean {
    const e = this.find(actor, slot);
    if (e === EMPTY) return false;
    this.removeEntry(e);
    return true;
  }

  /** Removes the earliest entry. */
  pop(): void {
    if (this.count > 0) this.removeEntry(this.heap[0]!);
  }

  clear(): void {
    this.count = 0;
    this.table.fill(EMPTY);
    this.frees = 0;
    for (let e = this.capacity - 1; e >= 0; e--) this.free[this.frees++] = e;
  }

  private removeEntry(e: number): void {
    this.deleteKey(e);
    const i = this.at[e]!;
    const last = this.heap[--this.count]!;
    if (last !== e) {
      this.heap[i] = last;
      this.at[last] = i;
      this.up(i);
      this.down(this.at[last]!);
    }
    this.free[this.frees++] = e;
  }

  // ---- the hash: (actor, slot) -> entry

  private hash(actor: number, slot: number): number {
    // murmur3's finalizer: actor ids are spread already, slots are small.
    let h = (actor ^ Math.imul(slot + 1, 0x9e3779b1)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) & this.mask;
  }

  private find(actor: number, slot: number): number {
    const table = this.table;
    for (let i = this.hash(actor, slot); ; i = (i + 1) & this.mask) {
      const e = table[i]!;
      if (e === EMPTY) return EMPTY;
      if (this.actor[e] === actor && this.slot[e] === slot) return e;
    }
  }

  private insertKey(e: number): void {
    const table = this.table;
    let i = this.hash(this.actor[e]!, this.slot[e]!);
    while (table[i] !== EMPTY) i = (i + 1) & this.mask;
    table[i] = e;
  }

  /** Removes entry e's key, moving later keys of its probe run back (no tombstones). */
  private deleteKey(e: number): void {
    const table = this.table;
    const mask = this.mask;
    let i = this.hash(this.actor[e]!, this.slot[e]!);
    while (table[i] !== e) i = (i + 1) & mask;
    let hole = i;
    for (let j = (i + 1) & mask; table[j] !== EMPTY; j = (j + 1) & mask) {
      const k = table[j]!;
      const home = this.hash(this.actor[k]!, this.slot[k]!);
      // k may fill the hole when its home is not in (hole, j] (cyclically).
      if (hole <= j ? home <= hole || home > j : home <= hole && home > j) {
        table[hole] = k;
        hole = j;
      }
    }
    table[hole] = EMPTY;
  }

  private grow(capacity: number): void {
    const old = this.capacity;
    const copy = <T extends Uint32Array | Uint8Array | Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(capacity);
      b.set(a);
      return b;
    };
    this.actor = copy(this.actor, (n) => new Uint32Array(n));
    this.slot = copy(this.slot, (n) => new Uint8Array(n));
    this.timer = copy(this.timer, (n) => new Uint32Array(n));
    this.due = copy(this.due, (n) => new Float64Array(n));
    this.at = copy(this.at, (n) => new Int32Array(n));
    this.heap = copy(this.heap, (n) => new Int32Array(n));
    const free = new Int32Array(capacity);
    free.set(this.free.subarray(0, this.frees));
    this.free = free;
    for (let e = capacity - 1; e >= old; e--) this.free[this.frees++] = e;
    this.capacity = capacity;
    // The hash at most half full: rebuilt at twice the capacity.
    let size = 1;
    while (size < capacity * 2) size *= 2;
    this.table = new Int32Array(size).fill(EMPTY);
    this.mask = size - 1;
    for (let i = 0; i < this.count; i++) this.insertKey(this.heap[i]!);
  }

  private up(i: number): void {
    const heap = this.heap;
    const due = this.due;
    const e = heap[i]!;
    const d = due[e]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (due[p]! <= d) break;
      heap[i] = p;
      this.at[p] = i;
      i = parent;
    }
    heap[i] = e;
    this.at[e] = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const due = this.due;
    const n = this.count;
    const e = heap[i]!;
    const d = due[e]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && due[heap[child + 1]!]! < due[heap[child]!]!) child++;
      const c = heap[child]!;
      if (due[c]! >= d) break;
      heap[i] = c;
      this.at[c] = i;
      i = child;
    }
    heap[i] = e;
    this.at[e] = i;
  }
}
