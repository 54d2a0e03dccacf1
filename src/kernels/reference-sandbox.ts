/**
 * Where a cpu shard worker runs kernels' TS references: a node:vm context of its own,
 * locked down before any reference is compiled in it, so that references cannot keep
 * state outside an actor's state and message, and so cannot pass one actor's (or one
 * tenant's) data to another through a global, a built-in or the ctx object.
 *
 *   - every built-in (Object, Array, Math, JSON, their prototypes, ...) is frozen, and
 *     every property of the global object is read-only: `Math.x = 1`, `Array.prototype.f
 *     = ...` and `Math = {}` throw (references are compiled in strict mode);
 *   - a new global cannot be made: an undeclared assignment throws (strict mode), and
 *     `globalThis` in a reference is a frozen copy of the global's properties (V8 lets
 *     no one freeze a vm context's real global object, so references never see it);
 *   - eval, Function('...') and WebAssembly compilation throw (codeGeneration off), so
 *     no sloppy-mode function can exist to reach a caller through `.caller`;
 *   - RegExp's legacy statics (RegExp.$1, lastMatch, ...), which hold the last match of
 *     any regular expression, are deleted;
 *   - the reference functions are frozen (no `handle.cache = ...`), and called with
 *     `this` undefined;
 *   - state, message and reply objects are built by decoders compiled in the context,
 *     and ctx is a sealed object of the context whose fields the worker sets before each
 *     message: nothing a reference touches leads back to the worker's own realm;
 *   - assigning an own property that a frozen prototype has (`o.toString = f`,
 *     `err.message = m`) works as in plain JavaScript (Object.prototype's and
 *     Error.prototype's data properties become accessors that define the own property).
 *
 * What stays shared by all references of a shard worker: Math.random's generator (its
 * sequence), the clock (Date.now), and V8's `console`, which in a vm context writes to
 * an attached inspector only (nothing is printed). This is a guard for the application's
 * own code against accidental sharing, not a boundary against hostile code: Node's vm
 * module does not claim to be one, and a reference can always loop for ever.
 */
import vm from 'node:vm';
import { decoderSource, type Codec } from '../layout/codec.ts';
import type { SchemaLayout } from '../layout/schema.ts';

/** The ctx fields a reference reads, which the worker sets before every record. */
export interface RunnerCtx {
  actor: number;
  messageId: number;
  correlation: number;
  source: number;
  tenant: number;
  principal: number;
  readonly hlc: [number, number];
  roles: number;
  status: number;
  timerLateMs: number;
}

/**
 * Sends a reference's ctx.send(name, to, msg) on (the worker's side of it): true when
 * sent, false when the outbox is full, or the error's message when it failed.
 */
export type HostSend = (name: string, to: number, msg: unknown) => boolean | string;

/** ctx.setTimer / ctx.clearTimer on the worker's side: the result, or the error's message. */
export type HostTimer = (clear: boolean, id: number, dueMs: number, everyMs: number) => boolean | string;

// Runs once in the fresh context, before any other code. Plain JavaScript (this text is
// not compiled by TypeScript or tsx).
const LOCKDOWN = String.raw`'use strict';
(() => {
  for (const name of ['input', '$_', 'lastMatch', '$&', 'lastParen', '$+', 'leftContext', '$\u0060', 'rightContext', "$'",
    '$1', '$2', '$3', '$4', '$5', '$6', '$7', '$8', '$9']) delete RegExp[name];
  // The "override mistake": with a frozen prototype, o.toString = f would throw on an
  // ordinary object. Such data properties become accessors that define the own property.
  const tame = (proto, names) => {
    for (const name of names) {
      const d = Object.getOwnPropertyDescriptor(proto, name);
      if (!d || !('value' in d)) continue;
      const value = d.value;
      Object.defineProperty(proto, name, {
        get() { return value; },
        set(v) {
          if (this === proto) throw new TypeError('Cannot assign to read only property ' + String(name) + ' of a frozen prototype');
          Object.defineProperty(this, name, { value: v, writable: true, enumerable: true, configurable: true });
        },
        enumerable: d.enumerable,
        configurable: false,
      });
    }
  };
  tame(Object.prototype, Reflect.ownKeys(Object.prototype));
  tame(Error.prototype, ['name', 'message']);
  const seen = new Set();
  const freeze = (o) => {
    if ((typeof o !== 'object' && typeof o !== 'function') || o === null || seen.has(o)) return;
    seen.add(o);
    for (const key of Reflect.ownKeys(o)) {
      const d = Reflect.getOwnPropertyDescriptor(o, key);
      if (d === undefined) continue;
      if ('value' in d) freeze(d.value);
      else { freeze(d.get); freeze(d.set); }
    }
    freeze(Reflect.getPrototypeOf(o));
    if (o === globalThis) return;
    // Object.prototype and Array.prototype are frozen by hand (every own property locked,
    // then no new ones): the same result as Object.freeze, which instead moved them to
    // frozen elements and so halved the cpu backend's throughput, for V8 then took slow
    // paths for every object and array of the worker's isolate (4-6 M tells/s against
    // 8-9 M, measured 2026-12-05).
    if (o === Object.prototype || o === Array.prototype) {
      for (const key of Reflect.ownKeys(o)) {
        const d = Reflect.getOwnPropertyDescriptor(o, key);
        Object.defineProperty(o, key, 'value' in d ? { writable: false, configurable: false } : { configurable: false });
      }
      Object.preventExtensions(o);
      return;
    }
    Object.freeze(o);
  };
  freeze(globalThis);
  // A vm context's global forwards to its contextified object: a descriptor without a
  // value would define the property as undefined there, so each one is given in full.
  const { defineProperty, freeze: freezeObject } = Object;
  const view = Object.create(null);
  for (const key of Reflect.ownKeys(globalThis)) {
    const d = Reflect.getOwnPropertyDescriptor(globalThis, key);
    if ('value' in d) defineProperty(globalThis, key, { value: d.value, writable: false, enumerable: d.enumerable, configurable: false });
    else defineProperty(globalThis, key, { get: d.get, set: d.set, enumerable: d.enumerable, configurable: false });
    if (key !== 'globalThis') defineProperty(view, key, { value: 'value' in d ? d.value : undefined, enumerable: d.enumerable });
  }
  defineProperty(view, 'globalThis', { value: view });
  return freezeObject(view);
})()`;

// Compiles a reference's source in the locked-down context. __name: tsx/esbuild's
// keepNames wraps nested named functions in __name(fn, "name") (see serialize-function.ts).
const WRAP = (source: string) => `(function (globalThis) {
  'use strict';
  const __name = (target) => target;
  const fn = (${source}
  );
  if (typeof fn !== 'function') throw new TypeError('source does not evaluate to a function');
  if (fn.prototype !== undefined) Object.freeze(fn.prototype);
  return Object.freeze(fn);
})`;

const MAKE_CONTEXT = `(function (roleNames, roleBits, FORBIDDEN, hostSend, hostTimer) {
  'use strict';
  const hlc = Object.seal([0, 0]);
  const ctx = { actor: 0, messageId: 0, correlation: 0, source: 0, tenant: 0, principal: 0, roles: 0, status: 0, timerLateMs: 0 };
  Object.defineProperty(ctx, 'hlc', { value: hlc, enumerable: true });
  Object.defineProperty(ctx, 'FORBIDDEN', { value: FORBIDDEN, enumerable: true });
  for (let i = 0; i < roleNames.length; i++) Object.defineProperty(ctx, String(roleNames[i]), { value: roleBits[i] >>> 0, enumerable: true });
  const send = function send(name, to, msg) {
    const sent = hostSend(name, to, msg);
    if (typeof sent === 'string') throw new Error(sent);
    return sent === true;
  };
  Object.defineProperty(ctx, 'send', { value: Object.freeze(send) });
  const timer = (clear, id, dueMs, everyMs) => {
    const done = hostTimer(clear, id, dueMs, everyMs);
    if (typeof done === 'string') throw new Error(done);
    return done === true;
  };
  Object.defineProperty(ctx, 'setTimer', { value: Object.freeze(function setTimer(id, dueMs, everyMs) { return timer(false, id, dueMs, everyMs); }) });
  Object.defineProperty(ctx, 'clearTimer', { value: Object.freeze(function clearTimer(id) { return timer(true, id, 0, 0); }) });
  return Object.seal(ctx);
})`;

export class ReferenceSandbox {
  private readonly realm: vm.Context;
  /** The frozen view references see as `globalThis`. */
  private readonly globalView: object;

  constructor() {
    this.realm = vm.createContext(Object.create(null), {
      name: 'ringshard references',
      codeGeneration: { strings: false, wasm: false },
    });
    this.globalView = vm.runInContext(LOCKDOWN, this.realm) as object;
  }

  /** Rebuilds a reference from its source text (serializeFunction's) as a frozen strict function of the sandbox. */
  compile<T extends (...args: never[]) => unknown>(source: string, filename: string): T {
    const wrap = vm.runInContext(WRAP(source), this.realm, { filename }) as (view: object) => T;
    return wrap(this.globalView);
  }

  /** A decoder for the layout whose objects (and arrays) are the sandbox's. */
  decoder(layout: SchemaLayout): Codec['decode'] {
    const make = vm.runInContext(`(function () { 'use strict';\n${decoderSource(layout)}\n})`, this.realm) as () => Codec['decode'];
    return make();
  }

  /** The sealed ctx references get: `roles` gives ROLE_<NAME> constants (name, bit), `send` carries ctx.send out. */
  context(roles: readonly (readonly [string, number])[], forbidden: number, send: HostSend, timer: HostTimer): RunnerCtx {
    const make = vm.runInContext(MAKE_CONTEXT, this.realm) as (names: string[], bits: number[], forbidden: number, send: HostSend, timer: HostTimer) => RunnerCtx;
    return make(
      roles.map(([name]) => name),
      roles.map(([, bit]) => bit),
      forbidden,
      send,
      timer,
    );
  }
}
