/**
 * A synthetic kernel of K f32 operations per message (a multiply-add chain on the
 * actor's accumulator), for the crossover table: where do GPU actors start to win over
 * the same logic in a Map on this machine?
 */
import { defineKernel, type Kernel } from '../../src/kernels/define-kernel.ts';

export function synthetic(k: number): Kernel<{ acc: 'f32' }, { x: 'f32' }, { acc: 'f32' }> {
  return defineKernel({
    name: `synthetic-${k}`,
    state: { acc: 'f32' },
    request: { x: 'f32' },
    reply: { acc: 'f32' },
    wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  var acc = (*state).acc;
  for (var i = 0u; i < ${k}u; i++) { acc = acc * 0.999 + msg.x; }
  (*state).acc = acc;
  return Reply(acc);
}`,
    // The same chain, rounded to f32 after each step as the GPU computes it.
    reference: new Function(
      's',
      'm',
      `const f = Math.fround; let acc = s.acc; for (let i = 0; i < ${k}; i++) acc = f(f(acc * f(0.999)) + m.x); s.acc = acc; return { acc };`,
    ) as (s: { acc: number }, m: { x: number }) => { acc: number },
  });
}
