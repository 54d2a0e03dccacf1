/**
 * A child process for the timers' SIGKILL test: a persist cluster (durability 'message')
 * of `reminder` actors. 'arm': arms timer `i % 4` of actor `t<i>` due in 1.5 s through
 * ref.setTimer, for i = 0, 1, ..., printing `armed <i>` once each resolved, until killed.
 * 'verify': asks actors t0..t<keys - 1> (bringing each back), waits until no timer is
 * left armed, then prints each one's fire count and mask as JSON, and exits.
 *
 *   node --import tsx test/helpers/timer-child.ts <path> <backend> <arm|verify> [keys]
 */
import { Cluster, defineKernel } from '../../src/index.ts';

export const reminder = defineKernel({
  name: 'reminder',
  state: { count: 'u32', mask: 'u32', late: 'u32' },
  request: { n: 'u32' },
  reply: { count: 'u32' },
  wgsl: `fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  return Reply((*state).count);
}
fn on_timer(ctx: ptr<function, RingContext>, state: ptr<function, State>, timer: u32) {
  (*state).count += 1u;
  (*state).mask |= 1u << timer;
  (*state).late = max((*state).late, (*ctx).timer_late_ms);
}`,
  reference: {
    handle: (s) => ({ count: s.count }),
    onTimer: (s, timer, ctx) => {
      s.count += 1;
      s.mask = (s.mask | (1 << timer)) >>> 0;
      s.late = Math.max(s.late, ctx.timerLateMs);
    },
  },
});

const [path, backend, mode] = process.argv.slice(2) as [string, 'cpu' | 'webgpu', 'arm' | 'verify'];
const cluster = await Cluster.start({ kernels: [reminder], backend, shards: 2, logger: false, persist: { path, durability: 'message', snapshotEveryMs: 25 } });
if (mode === 'arm') {
  for (let i = 0; ; i++) {
    await cluster.actor(reminder, `t${i}`).setTimer(i % 4, { dueMs: 1_500 });
    process.stdout.write(`armed ${i}\n`);
  }
} else {
  const keys = Number(process.argv[5]);
  // Asking each actor brings it back (its timers indexed), then every timer runs out.
  for (let i = 0; i < keys; i++) await cluster.actor(reminder, `t${i}`).snapshot();
  while (cluster.info().timers.armed > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  await cluster.drain();
  const out: Record<string, unknown> = {};
  for (let i = 0; i < keys; i++) out[`t${i}`] = await cluster.actor(reminder, `t${i}`).snapshot();
  process.stdout.write(`${JSON.stringify(out)}\n`);
  await cluster.shutdown();
}
