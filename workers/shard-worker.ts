/**
 * Shard worker entry: piscina runs this as one long-lived task per shard (the pool has
 * exactly one thread). The task serves the control API over comlink on the port it was
 * given and resolves with the final stats when the shard stops. Messages never pass
 * through here: they come and go through the SharedArrayBuffer rings.
 *
 * The GPU modules (and with them dawn.node) are imported only by a webgpu shard, so a
 * cpu shard runs without the `webgpu` package.
 */
import { readlinkSync } from 'node:fs';
import type { MessagePort } from 'node:worker_threads';
import { exposeOn } from '../src/control/comlink.ts';
import { batchLayout } from '../src/layout/batch.ts';
import type { ShardConfig, ShardControl, ShardStarted, ShardStats, WorkerLogLine } from '../src/protocol.ts';
import { CPU_DEVICE_LOST, CpuKernelSet } from '../src/worker/cpu/cpu-kernel-set.ts';
import type { GpuHost } from '../src/worker/gpu/gpu-host.ts';
import type { KernelBackend } from '../src/worker/kernel-backend.ts';
import { MetricsWriter } from '../src/metrics/metrics-writer.ts';
import { ShardRuntime } from '../src/worker/runtime/shard-runtime.ts';
import { CheckpointStore } from '../src/recovery/checkpoint-store.ts';
import { DispatchWatch } from '../src/recovery/dispatch-watch.ts';

export interface ShardTask {
  readonly port: MessagePort;
  readonly config: ShardConfig;
}

export default function runShard({ port, config }: ShardTask): Promise<ShardStats> {
  const layout = batchLayout(config.batch);
  let host: GpuHost | undefined;
  let backend: KernelBackend | undefined;
  let runtime: ShardRuntime | undefined;
  let running: Promise<void> | undefined;
  let finish!: (stats: ShardStats) => void;
  let fail!: (error: unknown) => void;
  const finished = new Promise<ShardStats>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const emptyStats: ShardStats = { batches: 0, records: 0, replies: 0, rejected: 0, sends: 0, stateSlots: 0, stateBytes: 0, maxBatchSeen: 0 };

  const teardown = () => {
    backend?.destroy();
    host?.destroy();
    port.close();
  };
  // The shard failed: stop touching the rings, wait until no mapAsync is pending (ending
  // the thread with one pending aborts the process in dawn.node), then report it.
  let failing = false;
  const failShard = async (error: unknown) => {
    if (failing) return;
    failing = true;
    await control.quiesce();
    teardown();
    fail(error);
  };

  const control: ShardControl = {
    async start(): Promise<ShardStarted> {
      if (config.backend === 'cpu') {
        backend = new CpuKernelSet(config.kernels, layout, {
          roles: config.roles,
          shard: config.index,
          ...(config.referenceErrors ? { referenceErrors: config.referenceErrors } : {}),
          log: (line) => port.postMessage({ ringshardLog: line } satisfies WorkerLogLine),
        });
      } else {
        const [{ openGpuHost }, { GpuKernelSet }] = await Promise.all([import('../src/worker/gpu/gpu-host.ts'), import('../src/worker/gpu/gpu-kernel-set.ts')]);
        host = await openGpuHost({
          ...(config.adapterName ? { adapterName: config.adapterName } : {}),
          ...(config.dawnFlags ? { dawnFlags: config.dawnFlags } : {}),
        });
        const created = await GpuKernelSet.create(host.device, config.kernels, layout, config.initialSlots, config.maxSlots, config.framesInFlight);
        if (Array.isArray(created)) {
          host.destroy();
          host = undefined;
          return { backend: config.backend, diagnostics: created };
        }
        backend = created;
        // A lost device fails the shard; the coordinator hears it through the task.
        const kernelSet = created;
        void host.lost.then((info) => {
          if (info.reason !== 'destroyed' || kernelSet.lostDeliberately) void failShard(new Error(`GPU device lost: ${info.message || info.reason}`));
        });
      }
      const metrics = config.metrics ? new MetricsWriter(config.metrics, config.kernels.length, config.epochMs) : undefined;
      const checkpoint = config.checkpoint;
      runtime = new ShardRuntime({
        shardIndex: config.index,
        requestRing: config.requestRing,
        replyRing: config.replyRing,
        kernels: config.kernels,
        layout,
        backend,
        maxSlots: config.maxSlots,
        metrics,
        skipTo: config.skipTo,
        checkpoint: checkpoint ? { store: new CheckpointStore(checkpoint.buffers), policy: checkpoint } : undefined,
        watch: new DispatchWatch(config.watch),
        epochMs: config.epochMs,
        isolate: config.isolate,
        quarantined: new Set(config.quarantined ?? []),
        generation: config.generation,
      });
      running = runtime.run();
      running.catch((error: unknown) => failShard(error));
      const tid = linuxThreadId();
      return { backend: config.backend, ...(host ? { adapter: host.adapter } : {}), diagnostics: [], ...(tid !== undefined ? { tid } : {}) };
    },
    stats(): ShardStats {
      return runtime?.stats() ?? emptyStats;
    },
    async loseDevice(): Promise<void> {
      if (!backend) throw new Error('the shard has no device yet');
      backend.lose();
      if (host) await host.lost;
      // The cpu backend has no device to report it: fail the shard as a lost one would.
      else void failShard(new Error(CPU_DEVICE_LOST));
    },
    async quiesce(): Promise<void> {
      runtime?.abandon();
      await backend?.settled();
    },
    async exit(): Promise<void> {
      await control.quiesce();
      process.exit(1);
    },
    async stop(): Promise<ShardStats> {
      // The coordinator closed the request ring first: the loop ends once it is drained.
      if (running) await running;
      const stats = runtime?.stats() ?? emptyStats;
      // Reply after this call returns, then tear down: comlink needs the port to answer.
      setImmediate(() => {
        teardown();
        finish(stats);
      });
      return stats;
    },
  };
  exposeOn(control, port);
  return finished;
}

/** This thread's Linux thread id (what /proc/<pid>/task/ lists), undefined off Linux. */
function linuxThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) ? tid : undefined;
  } catch {
    return undefined;
  }
}
