/**
 * CPU time per thread, for "where the time goes": Linux's scheduler statistics in
 * /proc/<pid>/task/<tid>/schedstat (nanoseconds on the CPU, exact) for the caller's thread
 * (tid = pid for the main thread) and each shard worker (ShardInfo.tid). On Node 20
 * process.cpuUsage() is process-wide in every thread, so it cannot split the time.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Nanoseconds thread `tid` of this process has run, or undefined where /proc is not there. */
export function threadCpuNs(tid: number): number | undefined {
  try {
    return Number(readFileSync(`/proc/${process.pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}

/** CPU ns of the process's threads, all of them (llvmpipe's and Dawn's too), by tid. */
export function allThreadsCpuNs(): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${process.pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    const ns = threadCpuNs(Number(t));
    if (ns !== undefined) out.set(Number(t), ns);
  }
  return out;
}

/** What one measurement cost each thread: caller, each shard worker, the rest of the process. */
export interface ThreadCpu {
  /** CPU ns per message on the caller's (main) thread. */
  readonly caller: number;
  /** CPU ns per message on each shard worker's thread. */
  readonly workers: readonly number[];
  /** CPU ns per message on every other thread (llvmpipe, Dawn, libuv, GC helpers). */
  readonly other: number;
  /** All threads. */
  readonly total: number;
}

/** Starts a per-thread measurement; the function it returns ends it for `messages` messages. */
export function measureThreads(workerTids: readonly (number | undefined)[]): (messages: number) => ThreadCpu {
  const before = allThreadsCpuNs();
  return (messages) => {
    const after = allThreadsCpuNs();
    const delta = (tid: number | undefined) => (tid === undefined ? NaN : (after.get(tid) ?? 0) - (before.get(tid) ?? 0));
    let total = 0;
    for (const [tid, ns] of after) total += ns - (before.get(tid) ?? 0);
    const caller = delta(process.pid);
    const workers = workerTids.map(delta);
    const other = total - caller - workers.reduce((a, b) => a + (Number.isNaN(b) ? 0 : b), 0);
    const per = (ns: number) => ns / Math.max(1, messages);
    return { caller: per(caller), workers: workers.map(per), other: per(other), total: per(total) };
  };
}

/** "caller / worker" CPU ns per message ("caller / w0 + w1" with more shards; "?" where a thread was not found). */
export function formatThreads(t: ThreadCpu): string {
  return `${Math.round(t.caller)} / ${t.workers.map((w) => (Number.isNaN(w) ? '?' : Math.round(w))).join(' + ')}`;
}
