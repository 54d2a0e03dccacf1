import { readFileSync } from 'node:fs';
import { defineKernel } from '../../src/kernels/define-kernel.ts';

/**
 * Per-key streaming statistics: count, mean, sample variance (Welford), min and max.
 * Each message carries up to 8 samples; `n` says how many are used.
 */
export const stats = defineKernel({
  name: 'stats',
  state: { count: 'u32', mean: 'f32', m2: 'f32', min: 'f32', max: 'f32' },
  request: { samples: ['f32', 8], n: 'u32' },
  reply: { count: 'u32', mean: 'f32', variance: 'f32', min: 'f32', max: 'f32' },
  wgsl: readFileSync(new URL('./stats.wgsl', import.meta.url), 'utf8'),
  reference: {
    init: (s) => {
      s.min = 3.4028234663852886e38;
      s.max = -3.4028234663852886e38;
    },
    // Math.fround after every operation: the GPU computes in f32.
    handle: (s, m) => {
      const f = Math.fround;
      const n = Math.min(m.n, 8);
      for (let i = 0; i < n; i++) {
        const x = f(m.samples[i]!);
        s.count = (s.count + 1) >>> 0;
        const delta = f(x - s.mean);
        s.mean = f(s.mean + f(delta / f(s.count)));
        s.m2 = f(s.m2 + f(delta * f(x - s.mean)));
        s.min = Math.min(s.min, x);
        s.max = Math.max(s.max, x);
      }
      const variance = s.count > 1 ? f(s.m2 / f(s.count - 1)) : 0;
      return { count: s.count, mean: s.mean, variance, min: s.min, max: s.max };
    },
  },
});
