/** A kernel for the NATS security tests: an account whose balance a withdrawal lowers. */
import { defineKernel } from '../../src/kernels/define-kernel.ts';

/** `amount` withdrawn (negative: deposited); replies with the balance and how many operations ran. */
export const wallet = defineKernel({
  name: 'wallet',
  state: { balance: 'f32', ops: 'u32' },
  request: { amount: 'f32' },
  reply: { balance: 'f32', ops: 'u32' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).balance -= msg.amount;
  (*state).ops += 1u;
  return Reply((*state).balance, (*state).ops);
}`,
  reference: (s, m) => {
    s.balance = Math.fround(s.balance - m.amount);
    s.ops = (s.ops + 1) >>> 0;
    return { balance: s.balance, ops: s.ops };
  },
});
