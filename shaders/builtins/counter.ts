import { readFileSync } from 'node:fs';
import { defineKernel } from '../../src/kernels/define-kernel.ts';

/** A running total per actor: the smallest kernel with state. */
export const counter = defineKernel({
  name: 'counter',
  state: { total: 'u32', count: 'u32' },
  request: { add: 'u32' },
  reply: { total: 'u32', count: 'u32' },
  wgsl: readFileSync(new URL('./counter.wgsl', import.meta.url), 'utf8'),
  reference: (s, m) => {
    s.total = (s.total + m.add) >>> 0;
    s.count = (s.count + 1) >>> 0;
    return { total: s.total, count: s.count };
  },
});
