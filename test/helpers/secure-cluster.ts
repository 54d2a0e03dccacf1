/**
 * The cluster the security and isolation tests share: the K2K and vault kernels on two
 * shards, roles teller and auditor, logger off, shut down after the test. On webgpu
 * without an adapter the test is skipped (or fails with RINGSHARD_REQUIRE_GPU=1).
 */
import type { TestContext } from 'node:test';
import { Cluster, type ClusterOptions } from '../../src/index.ts';
import { gpuOrSkip, NO_GPU } from './gpu.ts';
import { fwd, sink, teller, vault } from './k2k-kernels.ts';

export const SECURE_ROLES = ['teller', 'auditor'];

export async function startSecureCluster(t: TestContext, backend: 'cpu' | 'webgpu', options: Partial<ClusterOptions> = {}): Promise<Cluster | undefined> {
  if (backend === 'webgpu' && !(await gpuOrSkip())) {
    t.skip(NO_GPU);
    return undefined;
  }
  const cluster = await Cluster.start({ kernels: [vault, sink, fwd, teller], backend, shards: 2, logger: false, roles: SECURE_ROLES, ...options });
  t.after(() => cluster.shutdown());
  return cluster;
}
