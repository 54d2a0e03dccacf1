/** Kernels that tests use to provoke failures and delays. */
import { defineKernel } from '../../src/kernels/define-kernel.ts';

/** Fails a message with status `fail` when it is non-zero; counts messages in `n`. */
export const flaky = defineKernel({
  name: 'flaky',
  state: { n: 'u32' },
  request: { fail: 'u32' },
  reply: { n: 'u32' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).n += 1u;
  (*ctx).status = msg.fail;
  return Reply((*state).n);
}`,
  reference: (s, m, ctx) => {
    s.n += 1;
    ctx.status = m.fail;
    return { n: s.n };
  },
});

/**
 * Busy for `ms` per message on the cpu backend (its reference spins), which keeps the
 * shard's worker occupied and its ring slots taken; counts messages in `n`.
 */
export const busy = defineKernel({
  name: 'busy',
  state: { n: 'u32' },
  request: { ms: 'u32' },
  reply: { n: 'u32' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).n += 1u;
  return Reply((*state).n);
}`,
  reference: (s, m) => {
    const until = Date.now() + m.ms;
    while (Date.now() < until) {
      // spin
    }
    s.n = (s.n + 1) >>> 0;
    return { n: s.n };
  },
});

/**
 * Counts to `y` in a loop before it counts the message in `n`: with y = 2^31 it would
 * block its shard for good without a loop budget. (Its TS reference, for the model,
 * skips the loop.)
 */
export const spin = defineKernel({
  name: 'spin',
  state: { n: 'u32', last: 'u32' },
  request: { y: 'u32' },
  reply: { n: 'u32', i: 'u32' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).last = msg.y;
  var i = 0u;
  loop {
    if (i == msg.y) { break; }
    i = i + 1u;
  }
  (*state).n += 1u;
  return Reply((*state).n, i);
}`,
  reference: (s, m) => {
    s.last = m.y;
    s.n = (s.n + 1) >>> 0;
    return { n: s.n, i: m.y };
  },
});

/**
 * Hangs its shard's dispatch on a message with `spins` > 0: the TS reference (cpu
 * backend) then loops forever; the WGSL loops `spins` times (2^29 takes about 3 s on
 * llvmpipe, given a maxLoopIterations that allows it). Counts messages in `n`.
 */
export const hang = defineKernel({
  name: 'hang',
  state: { n: 'u32' },
  request: { spins: 'u32' },
  reply: { n: 'u32' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  var i = 0u;
  var x = (*state).n;
  loop {
    if (i >= msg.spins) { break; }
    x = x * 1664525u + 1013904223u;
    i = i + 1u;
  }
  (*state).n += 1u + (x & 0u);
  return Reply((*state).n);
}`,
  reference: (s, m) => {
    while (m.spins > 0) {
      // never returns: the watchdog's business
    }
    s.n = (s.n + 1) >>> 0;
    return { n: s.n };
  },
});

/** An f32, an i32 and a u32 array: message values of every type (schema checks). */
export const mixed = defineKernel({
  name: 'mixed',
  state: { f: 'f32', i: 'i32', v: ['u32', 3] },
  request: { f: 'f32', i: 'i32', v: ['u32', 3] },
  reply: { f: 'f32' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).f += msg.f;
  (*state).i += msg.i;
  return Reply((*state).f);
}`,
  reference: (s, m) => {
    s.f = Math.fround(s.f + m.f);
    s.i = (s.i + m.i) | 0;
    return { f: s.f };
  },
});
