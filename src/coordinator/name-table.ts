/**
 * Small ids for tenant and principal names (records carry u32 ids, not strings), with a
 * bound on memory: a name is kept while something holds it (an ActorRef, an active
 * actor), and after that among the `keepIdle` names released most recently (so a burst
 * of short-lived refs does not churn ids, and a K2K message still in flight can name its
 * principal); older idle names are forgotten.
 *
 * Ids are never reused while the table could still be asked about them: a forgotten
 * name comes back with a new id, and ids count up (wrapping past 2^32 - 2, skipping ids
 * in use). So a stale id in a record in flight can never stand for another tenant. ''
 * is id 0 for ever (the default tenant and the anonymous principal).
 */

interface Row {
  readonly name: string;
  readonly id: number;
  holds: number;
}

/** Ids stop short of 0xffffffff (NO_ACTOR and friends are never names). */
const LAST_ID = 0xfffffffe;

export class NameTable {
  private readonly byName = new Map<string, Row>();
  private readonly byId = new Map<number, Row>();
  /** Rows with no holds, least recently released first. */
  private readonly idle = new Map<string, Row>();
  private nextId = 1;

  constructor(
    /** Idle names kept (see the file comment). @default 4096 */
    private readonly keepIdle = 4096,
  ) {}

  /** Names known now (held or idle), '' not counted. */
  get size(): number {
    return this.byName.size;
  }

  /** The name's id, held once more: release(id) once for every hold. */
  hold(name: string): number {
    if (name === '') return 0;
    let row = this.byName.get(name);
    if (row === undefined) {
      row = { name, id: this.takeId(), holds: 0 };
      this.byName.set(name, row);
      this.byId.set(row.id, row);
    } else if (row.holds === 0) {
      this.idle.delete(name);
    }
    row.holds++;
    return row.id;
  }

  /** One more hold on a known id (an actor that activates takes its ref's tenant). */
  holdId(id: number): void {
    if (id === 0) return;
    const row = this.byId.get(id);
    if (row === undefined) return;
    if (row.holds === 0) this.idle.delete(row.name);
    row.holds++;
  }

  /** The name's id without holding it: the name is kept as a recently released one. */
  idOf(name: string): number {
    const id = this.hold(name);
    this.release(id);
    return id;
  }

  release(id: number): void {
    if (id === 0) return;
    const row = this.byId.get(id);
    if (row === undefined || row.holds === 0) return;
    if (--row.holds > 0) return;
    this.idle.set(row.name, row);
    if (this.idle.size > this.keepIdle) {
      const oldest = this.idle.values().next().value as Row;
      this.idle.delete(oldest.name);
      this.byName.delete(oldest.name);
      this.byId.delete(oldest.id);
    }
  }

  /** The name of `id`, undefined when it was never given or has been forgotten. */
  name(id: number): string | undefined {
    if (id === 0) return '';
    return this.byId.get(id)?.name;
  }

  private takeId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = id >= LAST_ID ? 1 : id + 1;
      if (!this.byId.has(id)) return id;
    }
  }
}
