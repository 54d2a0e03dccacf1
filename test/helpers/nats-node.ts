/** Drives a node in a child process (test/helpers/nats-node-process.ts) over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./nats-node-process.ts', import.meta.url));

export interface ChildNode {
  readonly node: string;
  readonly child: ChildProcess;
  asks(keys: string[], n: number): Promise<Record<string, number[]>>;
  snapshot(keys: string[]): Promise<Record<string, { total: number; count: number }>>;
  shutdown(): Promise<void>;
  /** SIGKILL: no clean-up, no handover. Resolves once the process is gone. */
  kill(): Promise<void>;
}

/** `extra`: more of options.nats (credentials, tls), as JSON. */
export async function startChildNode(options: { servers: string; node: string; durable?: boolean; backend?: 'cpu' | 'webgpu'; heartbeatMs?: number; deadAfterMs?: number; extra?: Record<string, unknown> }): Promise<ChildNode> {
  const child = fork(script, [JSON.stringify(options)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let next = 1;
  const waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.on('message', (m: any) => {
    const w = waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    if (m.error) w.reject(new Error(`node '${options.node}': ${m.error}`));
    else w.resolve(m);
  });
  void exited.then(() => {
    for (const w of waiting.values()) w.reject(new Error(`node '${options.node}' exited`));
    waiting.clear();
  });
  await new Promise<void>((resolve, reject) => {
    const onMessage = (m: any) => {
      if (m.ready) {
        child.off('message', onMessage);
        resolve();
      }
    };
    child.on('message', onMessage);
    void exited.then(() => reject(new Error(`node '${options.node}' exited before it was ready`)));
  });
  const call = (msg: object) =>
    new Promise<any>((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve, reject });
      child.send({ ...msg, id });
    });
  return {
    node: options.node,
    child,
    asks: async (keys, n) => (await call({ op: 'asks', keys, n })).replies,
    snapshot: async (keys) => (await call({ op: 'snapshot', keys })).states,
    shutdown: async () => {
      await call({ op: 'shutdown' });
      await exited;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
