// piscina task handler for the pool baseline: a kernel's TS reference over a Map of the
// states of the keys this thread owns. The kernel's reference arrives as source text
// (workerData), as it does in a shard worker; a task is a batch of (key, message) pairs.
import { workerData } from 'node:worker_threads';
import { compileCodec } from '../../../src/layout/codec.ts';
import { rebuildFunction } from '../../../src/kernels/serialize-function.ts';
import { RunnerContext } from '../../../src/kernels/reference-runner.ts';

type State = Record<string, number | number[]>;
const spec = workerData.kernel as { state: Record<string, never>; handle: string; init?: string };
const handle = rebuildFunction<(s: State, m: State, ctx: unknown) => State>(spec.handle);
const init = spec.init ? rebuildFunction<(s: State, ctx: unknown) => void>(spec.init) : undefined;
const stateCodec = compileCodec(spec.state, 'state');
const ctx = new RunnerContext([], { maxSends: 0, sendWords: 0 });
const states = new Map<number, State>();

export default function referenceTask(task: { keys: number[]; msgs: State[] }): State[] {
  const replies = new Array<State>(task.keys.length);
  for (let i = 0; i < task.keys.length; i++) {
    let s = states.get(task.keys[i]!);
    if (s === undefined) {
      s = stateCodec.decode(new Uint32Array(stateCodec.words), new Float32Array(stateCodec.words), 0) as State;
      init?.(s, ctx);
      states.set(task.keys[i]!, s);
    }
    replies[i] = handle(s, task.msgs[i]!, ctx);
  }
  return replies;
}
