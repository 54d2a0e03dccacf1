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
