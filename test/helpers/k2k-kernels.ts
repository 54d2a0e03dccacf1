/**
 * Kernels that talk to each other (K2K) and a secure one, each with its TS twin, so the
 * same tests run on both backends and check the GPU against the reference.
 */
import { defineKernel } from '../../src/kernels/define-kernel.ts';

/** Largest sender index a sink keeps a sequence number for. */
export const SENDERS = 8;

/**
 * Receives numbered messages. Per sender index (`me`), the last sequence number seen;
 * `disorder` counts messages that did not come right after the previous one from that
 * sender (FIFO per sender -> receiver), `early` those whose clock was not after the
 * sender's (the HLC merge), `source` is the last sender's actor id (ctx.source).
 */
export const sink = defineKernel({
  name: 'sink',
  state: { total: 'u32', count: 'u32', disorder: 'u32', early: 'u32', source: 'u32', last: ['u32', SENDERS] },
  request: { amount: 'u32', seq: 'u32', me: 'u32', hlcHi: 'u32', hlcLo: 'u32' },
  reply: { total: 'u32', count: 'u32' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).total += msg.amount;
  (*state).count += 1u;
  let me = min(msg.me, ${SENDERS - 1}u);
  if (msg.seq != (*state).last[me] + 1u) { (*state).disorder += 1u; }
  (*state).last[me] = msg.seq;
  let t = (*ctx).hlc;
  if (!(t.x > msg.hlcHi || (t.x == msg.hlcHi && t.y > msg.hlcLo))) { (*state).early += 1u; }
  (*state).source = (*ctx).source;
  return Reply((*state).total, (*state).count);
}`,
  reference: (s, m, ctx) => {
    s.total = (s.total + m.amount) >>> 0;
    s.count = (s.count + 1) >>> 0;
    const me = Math.min(m.me, 7);
    const last = s.last as number[];
    if (m.seq !== ((last[me]! + 1) >>> 0)) s.disorder = (s.disorder + 1) >>> 0;
    last[me] = m.seq;
    const [hi, lo] = ctx.hlc;
    if (!(hi > m.hlcHi || (hi === m.hlcHi && lo > m.hlcLo))) s.early = (s.early + 1) >>> 0;
    s.source = ctx.source;
    return { total: s.total, count: s.count };
  },
});

/**
 * Forwards `amount` to the sink `to`, numbering its messages per sink index `sink`;
 * `me` is its own sender index. Counts what it sent and what its outbox refused.
 */
export const fwd = defineKernel({
  name: 'fwd',
  state: { sent: 'u32', refused: 'u32', seqs: ['u32', 64] },
  request: { to: 'u32', amount: 'u32', sink: 'u32', me: 'u32' },
  reply: { sent: 'u32' },
  sends: { sink },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  let k = min(msg.sink, 63u);
  let seq = (*state).seqs[k] + 1u;
  let ok = send_sink(ctx, msg.to, SinkRequest(msg.amount, seq, msg.me, (*ctx).hlc.x, (*ctx).hlc.y));
  if (ok) {
    (*state).seqs[k] = seq;
    (*state).sent += 1u;
  } else {
    (*state).refused += 1u;
  }
  return Reply((*state).sent);
}`,
  reference: (s, m, ctx) => {
    const k = Math.min(m.sink, 63);
    const seqs = s.seqs as number[];
    const seq = (seqs[k]! + 1) >>> 0;
    const ok = ctx.send('sink', m.to, { amount: m.amount, seq, me: m.me, hlcHi: ctx.hlc[0], hlcLo: ctx.hlc[1] });
    if (ok) {
      seqs[k] = seq;
      s.sent = (s.sent + 1) >>> 0;
    } else {
      s.refused = (s.refused + 1) >>> 0;
    }
    return { sent: s.sent };
  },
});

/**
 * Sends `n` messages of `amount` to the sink `to` in one handler (the outbox limit), then
 * fails with status `fail` when it is non-zero (its sends are then discarded).
 */
export const fanout = defineKernel({
  name: 'fanout',
  state: { ok: 'u32', refused: 'u32' },
  request: { to: 'u32', n: 'u32', amount: 'u32', fail: 'u32' },
  reply: { ok: 'u32', refused: 'u32' },
  sends: { sink },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  var ok = 0u;
  var refused = 0u;
  for (var i = 0u; i < msg.n; i++) {
    if (send_sink(ctx, msg.to, SinkRequest(msg.amount, i + 1u, 7u, 0u, 0u))) { ok += 1u; } else { refused += 1u; }
  }
  (*state).ok += ok;
  (*state).refused += refused;
  (*ctx).status = msg.fail;
  return Reply(ok, refused);
}`,
  reference: (s, m, ctx) => {
    let ok = 0;
    let refused = 0;
    for (let i = 0; i < m.n; i++) {
      if (ctx.send('sink', m.to, { amount: m.amount, seq: i + 1, me: 7, hlcHi: 0, hlcLo: 0 })) ok++;
      else refused++;
    }
    s.ok = (s.ok + ok) >>> 0;
    s.refused = (s.refused + refused) >>> 0;
    ctx.status = m.fail;
    return { ok, refused };
  },
});

/**
 * Ping-pong over ctx.source: counts its hops and, while `left` > 0, sends `left - 1` to
 * `to` (or, when `to` is 0xffffffff, back to whoever sent this one). Talks to its own kind.
 */
export const pingpong = defineKernel({
  name: 'pingpong',
  state: { hops: 'u32', lost: 'u32' },
  request: { left: 'u32', to: 'u32' },
  reply: { hops: 'u32' },
  sends: { ping: 'pingpong' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).hops += 1u;
  if (msg.left > 0u) {
    let to = select(msg.to, (*ctx).source, msg.to == 0xffffffffu);
    if (!send_ping(ctx, to, PingRequest(msg.left - 1u, 0xffffffffu))) { (*state).lost += 1u; }
  }
  return Reply((*state).hops);
}`,
  reference: (s, m, ctx) => {
    s.hops = (s.hops + 1) >>> 0;
    if (m.left > 0) {
      const to = m.to === 0xffffffff ? ctx.source : m.to;
      if (!ctx.send('ping', to, { left: m.left - 1, to: 0xffffffff })) s.lost = (s.lost + 1) >>> 0;
    }
    return { hops: s.hops };
  },
});

/**
 * A bank account behind handle_secure: anyone may deposit (op 0), only tellers may
 * withdraw (op 1). The withdrawal is applied before the role check, so a refused one
 * shows whether the driver discards a forbidden message's state changes.
 */
export const vault = defineKernel({
  name: 'vault',
  state: { balance: 'u32', ops: 'u32' },
  request: { op: 'u32', amount: 'u32' },
  reply: { balance: 'u32', roles: 'u32' },
  wgsl: `fn handle_secure(ctx: ptr<function, SecureRingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).ops += 1u;
  if (msg.op == 1u) {
    (*state).balance -= msg.amount;
    if (((*ctx).roles & ROLE_TELLER) == 0u) { (*ctx).status = STATUS_FORBIDDEN; }
  } else {
    (*state).balance += msg.amount;
  }
  return Reply((*state).balance, (*ctx).roles);
}`,
  reference: {
    handleSecure: (s, m, ctx) => {
      s.ops = (s.ops + 1) >>> 0;
      if (m.op === 1) {
        s.balance = (s.balance - m.amount) >>> 0;
        if ((ctx.roles & ctx.ROLE_TELLER!) === 0) ctx.status = ctx.FORBIDDEN;
      } else {
        s.balance = (s.balance + m.amount) >>> 0;
      }
      return { balance: s.balance, roles: ctx.roles };
    },
  },
});

/** Passes a withdrawal on to a vault (K2K): the vault sees the caller's roles, not its own. */
export const teller = defineKernel({
  name: 'teller',
  state: { passed: 'u32' },
  request: { to: 'u32', amount: 'u32' },
  reply: { passed: 'u32' },
  sends: { vault },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  if (send_vault(ctx, msg.to, VaultRequest(1u, msg.amount))) { (*state).passed += 1u; }
  return Reply((*state).passed);
}`,
  reference: (s, m, ctx) => {
    if (ctx.send('vault', m.to, { op: 1, amount: m.amount })) s.passed = (s.passed + 1) >>> 0;
    return { passed: s.passed };
  },
});
