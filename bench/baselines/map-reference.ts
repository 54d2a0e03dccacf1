/**
 * Baseline: the kernel's own TS reference over a Map of per-key states on the calling
 * thread, the answer to "why not keep the state in a Map?". Keys are chosen round-robin
 * over `keys` actors; every message is the same object (no building or checking), so this
 * is the Map's best case.
 */
import type { Kernel } from '../../src/kernels/define-kernel.ts';
import { RunnerContext } from '../../src/kernels/reference-runner.ts';

type State = Record<string, number | number[]>;

export function measureMap(kernel: Kernel<any, any, any>, msg: Record<string, number | number[]>, seconds: number, keys = 1024): { msgsPerSec: number; messages: number } {
  const ref = kernel.reference;
  if (!ref) throw new Error(`kernel '${kernel.name}' has no reference`);
  const handle = (kernel.secure ? ref.handleSecure : ref.handle)!;
  const ctx = new RunnerContext([], { maxSends: 0, sendWords: 0 });
  const states = new Map<string, State>();
  const names = Array.from({ length: keys }, (_, i) => `key-${i}`);
  for (const name of names) {
    const s = kernel.codecs.state.decode(new Uint32Array(kernel.codecs.state.words), new Float32Array(kernel.codecs.state.words), 0) as State;
    ref.init?.(s as never, ctx as never);
    states.set(name, s);
  }
  let messages = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  // Checks the clock every 4096 messages; the loop body is what a Map-based server runs.
  while (performance.now() < deadline) {
    for (let i = 0; i < 4096; i++) {
      const s = states.get(names[(messages + i) & (keys - 1)]!)!;
      handle(s as never, msg as never, ctx as never);
    }
    messages += 4096;
  }
  return { msgsPerSec: messages / ((performance.now() - t0) / 1000), messages };
}
