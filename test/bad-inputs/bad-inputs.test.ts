/**
 * Runs the table of bad inputs (table.ts) on both backends: each must fail with its
 * code, and afterwards the shared cluster still answers as it did (nothing else harmed).
 * The API reference's table (docs/api.md) lists the same kinds and codes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Cluster, type ClusterOptions } from '../../src/index.ts';
import { gpuOrSkip, NO_GPU } from '../helpers/gpu.ts';
import { BAD_INPUTS, counter, kernels, type Backend, type Env } from './table.ts';

test('the table has at least 50 kinds, each once', () => {
  assert.ok(BAD_INPUTS.length >= 50, `${BAD_INPUTS.length} kinds`);
  assert.equal(new Set(BAD_INPUTS.map((r) => r.kind)).size, BAD_INPUTS.length);
});

test("the API reference's bad-input table (docs/api.md) lists every kind with its code", () => {
  const readme = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
  const missing = BAD_INPUTS.filter((r) => !readme.includes(`| ${r.kind.replace(/\|/g, '\\|')} | \`${r.code}\` |`));
  assert.deepEqual(missing.map((r) => `| ${r.kind} | \`${r.code}\` |`), []);
});

for (const backend of ['cpu', 'webgpu'] as const satisfies readonly Backend[]) {
  test(`${backend}: every bad input fails with its code and harms nothing else`, { timeout: 300_000 }, async (t) => {
    if (backend === 'webgpu' && !(await gpuOrSkip())) return t.skip(NO_GPU);
    const base: ClusterOptions = { kernels, backend, shards: 2, logger: false, roles: ['teller', 'auditor'], authorize: ({ principal }) => principal !== 'mallory', maxLoopIterations: 1000 };
    const cluster = await Cluster.start(base);
    t.after(() => cluster.shutdown());
    const witness = cluster.actor(counter, 'witness', { tenant: 'bystander' });
    let expected = 0;
    const started: Cluster[] = [];
    const env: Env = {
      backend,
      cluster,
      async start(options) {
        const c = await Cluster.start({ ...base, ...options } as ClusterOptions);
        started.push(c);
        return c;
      },
    };
    const wrong: string[] = [];
    for (const row of BAD_INPUTS) {
      if (row.backends && !row.backends.includes(backend)) continue;
      let code: string | undefined;
      let message = '';
      try {
        await row.run(env);
        code = 'no error';
      } catch (error) {
        code = (error as { code?: string }).code ?? `no code (${(error as Error)?.name})`;
        message = (error as Error)?.message ?? '';
      }
      if (code !== row.code) wrong.push(`${row.kind}: expected ${row.code}, got ${code}${message ? `: ${message.split('\n')[0]}` : ''}`);
      for (const c of started.splice(0)) await c.shutdown();
      expected++;
      assert.equal((await witness.ask({ add: 1 })).n, expected, `after '${row.kind}' the witness actor still counts`);
    }
    assert.deepEqual(wrong, []);
  });
}
