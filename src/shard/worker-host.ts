/**
 * Hosting a shard's worker thread: a one-thread piscina pool running one long task, a
 * comlink proxy for control calls, and the way a worker is ended, which dawn.node makes
 * delicate (a thread may end only with no mapAsync pending).
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { connect, release, type Remote } from '../control/comlink.ts';
import { isWorkerLogLine, type ShardConfig, type ShardControl, type ShardStats } from '../protocol.ts';

/** How long shutdown waits for a worker whose GPU hung to settle. */
const PARKED_WAIT_MS = 120_000;
// Compiled (this module is dist/src/shard/worker-host.js): piscina loads the compiled
// worker directly. From sources under tsx: ts-entry.mjs registers tsx in the worker
// (Node 20 workers do not inherit it), then imports SHARD_WORKER.
const SHARD_WORKER = import.meta.url.endsWith('.js') ? undefined : new URL('../../workers/shard-worker.ts', import.meta.url);
const WORKER_ENTRY = new URL(SHARD_WORKER ? '../../workers/ts-entry.mjs' : '../../workers/shard-worker.js', import.meta.url);

/** What the shard's worker is: one pool, one long task, one control proxy. */
export interface WorkerHandle {
  readonly pool: Piscina;
  readonly task: Promise<ShardStats>;
  readonly control: Remote<ShardControl>;
  /** The coordinator's end of the control channel; closed when the worker goes. */
  readonly port: MessagePort;
  /** Set once the worker's task failed (the worker died or its device was lost). */
  failed: unknown;
  /** Resolves once the worker's start() returned (or failed). */
  readonly up: Promise<void>;
  markUp: () => void;
}

export class WorkerHost {
  /** Old workers whose GPU hung: ended once their GPU work settles (dawn.node aborts otherwise). */
  private readonly parked = new Set<Promise<void>>();

  constructor(
    private readonly gpu: boolean,
    /** Each line a worker has for the cluster's logger (a worker never prints). */
    private readonly onLog: (line: string) => void,
  ) {}

  /** Starts a worker thread running the shard task with `config`; `onFailed` hears of its death. */
  spawn(config: ShardConfig, onFailed: (handle: WorkerHandle, error: unknown) => void): WorkerHandle {
    const pool = new Piscina({
      filename: WORKER_ENTRY.href,
      workerData: SHARD_WORKER ? { tsEntry: SHARD_WORKER.href } : {},
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: Infinity,
      // A GPU shard's event loop must keep running: never park it in Atomics.wait.
      atomics: 'disabled',
    });
    const { port1, port2 } = new MessageChannel();
    const task = pool.run({ port: port2, config }, { transferList: [port2] }) as Promise<ShardStats>;
    // The control port alone must not keep the process alive: a finished process was
    // seen lingering with two open MessagePorts. The worker's running task does that.
    port1.unref();
    let markUp!: () => void;
    const up = new Promise<void>((resolve) => (markUp = resolve));
    const handle: WorkerHandle = { pool, task, control: connect<ShardControl>(port1), port: port1, failed: undefined, up, markUp };
    // Lines for the logger share the control port with comlink (whose messages have an id);
    // added after comlink's listener, so the port's ref state stays what comlink left.
    port1.on('message', (data: unknown) => {
      if (isWorkerLogLine(data)) this.onLog(data.ringshardLog);
    });
    task.catch((error: unknown) => {
      handle.failed = error ?? new Error('the worker failed');
      onFailed(handle, error);
    });
    return handle;
  }

  /**
   * Ends a replaced worker's thread. A thread may end only with no mapAsync pending, or
   * dawn.node aborts the process: a worker that died or lost its device waited for that
   * itself; a live one is asked to quiesce first. One whose GPU hung (`hung`) cannot
   * quiesce: on the cpu backend it is stuck in JS and can be ended; on webgpu it is parked
   * (it no longer owns the rings) and ended once its GPU work settles.
   */
  async retire(old: WorkerHandle, hung: boolean): Promise<void> {
    const end = () => this.end(old);
    if (old.failed !== undefined) return end();
    const quiesced = Promise.race([old.control.quiesce(), old.task.then(() => undefined, () => undefined)]).catch(() => undefined);
    const settledInTime = await Promise.race([quiesced.then(() => true), delay(hung ? 0 : 5000).then(() => false)]);
    if (settledInTime || !this.gpu) return end();
    const parked: Promise<void> = quiesced.then(end).finally(() => this.parked.delete(parked));
    this.parked.add(parked);
  }

  /** Releases a worker's control channel and ends its pool. */
  async end(handle: WorkerHandle): Promise<void> {
    release(handle.control);
    handle.port.close();
    await handle.pool.destroy().catch(() => undefined);
  }

  /**
   * Waits for parked workers to end. Their GPU work settles (the loop budget bounds every
   * handler); ending them sooner would abort the process in dawn.node.
   */
  async settleParked(): Promise<void> {
    if (this.parked.size > 0) await Promise.race([Promise.all(this.parked), delay(PARKED_WAIT_MS)]);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
