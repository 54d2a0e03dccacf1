import { readFileSync } from 'node:fs';
import { defineKernel } from '../../src/kernels/define-kernel.ts';

/** Echoes each message with a per-actor count and the context's actor and message ids. */
export const echo = defineKernel({
  name: 'echo',
  state: { count: 'u32' },
  request: { seq: 'u32', value: 'i32', data: ['f32', 4] },
  reply: { seq: 'u32', value: 'i32', data: ['f32', 4], count: 'u32', actor: 'u32', messageId: 'u32' },
  wgsl: readFileSync(new URL('./echo.wgsl', import.meta.url), 'utf8'),
  reference: (s, m, ctx) => {
    s.count = (s.count + 1) >>> 0;
    return { seq: m.seq, value: m.value, data: m.data.map(Math.fround), count: s.count, actor: ctx.actor, messageId: ctx.messageId };
  },
});
