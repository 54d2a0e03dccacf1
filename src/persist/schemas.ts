/**
 * Kernel schemas against what a store holds. A store remembers, per kernel, the state and
 * request schemas it was written with, and every state schema it has held by hash;
 * each snapshot carries its state schema's hash. At start: a kernel whose state schema
 * changed needs a `migrate` (each stored state is migrated as its actor is restored); a
 * request schema that changed while journaled messages wait is refused (they would be
 * read in the new layout). Both fail with ERR_RINGSHARD_SCHEMA naming the kernel.
 */
import { TIMERS_FIELD, TIMER_ENTRY_WORDS } from '../layout/timer-table.ts';
import { createHash } from 'node:crypto';
import { ErrorCode, RingshardError } from '../errors.ts';
import type { Kernel } from '../kernels/define-kernel.ts';
import { compileCodec } from '../layout/codec.ts';
import type { Schema } from '../layout/schema.ts';
import type { Snapshot } from '../recovery/state-store.ts';
import type { LmdbStore } from './lmdb-store.ts';

interface StoredKernel {
  readonly state: string;
  readonly request: string;
}

/** A schema as stored and compared: its fields in declaration order (the layout follows it). */
function schemaText(schema: Schema): string {
  return JSON.stringify(Object.entries(schema));
}

/** Hashes made so far, per schema object: every snapshot write and restore asks. */
const hashes = new WeakMap<Schema, string>();

/** The hash a snapshot carries for its kernel's state schema. */
export function schemaHash(schema: Schema): string {
  let hash = hashes.get(schema);
  if (hash === undefined) hashes.set(schema, (hash = createHash('sha256').update(schemaText(schema)).digest('hex').slice(0, 16)));
  return hash;
}

/** Checks the kernels against the store and records their schemas (see the module comment). */
export async function checkSchemas(store: LmdbStore, kernels: readonly Kernel<any, any, any>[]): Promise<void> {
  const writes: Array<Promise<unknown>> = [];
  for (const kernel of kernels) {
    const now: StoredKernel = { state: schemaText(kernel.storedState), request: schemaText(kernel.request) };
    const before = store.getMeta<StoredKernel>(`kernel:${kernel.name}`);
    if (before && before.state !== now.state && !kernel.migrate) {
      throw new RingshardError(
        ErrorCode.SCHEMA,
        `kernel '${kernel.name}': its state schema is ${now.state} now, and the store at options.persist.path holds states of ${before.state}; declare migrate(oldState, fromSchema) in defineKernel to carry them over, or use another path`,
      );
    }
    if (before && before.request !== now.request && store.journalLength > 0) {
      throw new RingshardError(
        ErrorCode.SCHEMA,
        `kernel '${kernel.name}': its request schema is ${now.request} now, and ${store.journalLength} journal entries in the store may hold messages of ${before.request}; start the version that wrote them once and shut it down (a clean shutdown snapshots every actor and leaves no journal), then change the schema`,
      );
    }
    writes.push(store.putMeta(`kernel:${kernel.name}`, now), store.putMeta(`state:${schemaHash(kernel.storedState)}`, now.state));
  }
  await Promise.all(writes);
}

/** A snapshot's state in the kernel's state schema now: migrated when it was stored in another. */
export function upgradeState(store: LmdbStore, kernel: Kernel<any, any, any>, snapshot: Snapshot): Uint32Array {
  const hash = schemaHash(kernel.storedState);
  if (snapshot.schema === undefined || snapshot.schema === hash) return snapshot.state;
  const text = store.getMeta<string>(`state:${snapshot.schema}`);
  if (text === undefined || !kernel.migrate) {
    throw new RingshardError(ErrorCode.SCHEMA, `kernel '${kernel.name}': a stored state is of a schema this store does not know (${snapshot.schema}), and it cannot be migrated`);
  }
  const from = Object.fromEntries(JSON.parse(text) as Array<[string, unknown]>) as Schema;
  const old = compileCodec(from, `kernel '${kernel.name}' stored state`, true);
  const oldState = old.decode(snapshot.state, new Float32Array(snapshot.state.buffer, snapshot.state.byteOffset, snapshot.state.length), 0) as Record<string, number | number[]>;
  const oldTimers = oldState[TIMERS_FIELD];
  delete oldState[TIMERS_FIELD];
  const { [TIMERS_FIELD]: _, ...userFrom } = from as Record<string, Schema[string]>;
  const state = kernel.migrate(oldState, userFrom as Schema) as Record<string, unknown>;
  // The timers go on as they were when the table keeps its size; else they are dropped.
  if (kernel.timers > 0) {
    const words = kernel.timers * TIMER_ENTRY_WORDS;
    state[TIMERS_FIELD] = Array.isArray(oldTimers) && oldTimers.length === words ? oldTimers : new Array<number>(words).fill(0);
  }
  const words = new Uint32Array(kernel.codecs.state.words);
  // The new state goes through the kernel's codec: a migrate that returns a bad state is ERR_RINGSHARD_SCHEMA.
  kernel.codecs.state.encode(state as never, words, new Float32Array(words.buffer), 0);
  return words;
}
