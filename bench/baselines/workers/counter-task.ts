// piscina task handler for the per-message baseline: the `counter` kernel's logic in
// plain JS, one call per message. State lives in this worker for the pool's lifetime;
// the pool has one thread, so every actor's state is in one place.
interface CounterTask {
  readonly actor: number;
  readonly add: number;
}

interface CounterReply {
  readonly total: number;
  readonly count: number;
}

// Keyed by actor index; a Map so the worker needs no actor count up front.
const states = new Map<number, { total: number; count: number }>();

export default function counterTask(task: CounterTask): CounterReply {
  let s = states.get(task.actor);
  if (!s) {
    s = { total: 0, count: 0 };
    states.set(task.actor, s);
  }
  // `>>> 0` keeps u32 wrap-around, as the WGSL kernel does.
  s.total = (s.total + task.add) >>> 0;
  s.count = (s.count + 1) >>> 0;
  return { total: s.total, count: s.count };
}
