// Bench worker: takes records from the request ring and returns them on the reply ring,
// copying ring to ring (each contiguous run of slots is one copy).
import { parentPort, workerData } from 'node:worker_threads';
import { SpscRing } from '../../src/rings/spsc-ring.ts';

const requests = new SpscRing(workerData.requests as SharedArrayBuffer);
const replies = new SpscRing(workerData.replies as SharedArrayBuffer);
const maxBatch = workerData.maxBatch as number;
// Poll briefly before sleeping: the producer publishes again within microseconds.
const SPIN = 2000;
let echoed = 0;
for (;;) {
  const start = requests.readIndex;
  // Stop at the ring's end so the records are one contiguous run.
  const contiguous = requests.capacity - (start & (requests.capacity - 1));
  const n = requests.take(Math.min(maxBatch, contiguous));
  if (n === 0) {
    if (requests.waitReadable(Infinity, SPIN) === 'closed' && requests.availableRead() === 0) break;
    continue;
  }
  replies.push(requests.words, n, requests.slotOffset(start));
  requests.commit(n);
  echoed += n;
}
replies.close();
parentPort!.postMessage({ echoed });
