/**
 * Self-check for the baselines: runs both briefly and prints their figures.
 *   node --import tsx bench/baselines/run.ts
 * (export XDG_RUNTIME_DIR first, as for any GPU run.)
 */
import { printTable } from '../report.ts';
import { measureNaiveDispatch } from './naive-dispatch.ts';
import { measurePiscinaPerMessage } from './piscina-per-message.ts';

const seconds = 2;
const actors = 64;
const inFlight = 64;

const piscina = await measurePiscinaPerMessage({ seconds, actors, inFlight });
const naive = await measureNaiveDispatch({ seconds, actors });

printTable(`Baselines (${seconds}s each, ${actors} actors, counter kernel)`, [
  { case: `piscina, one task per message, ${inFlight} in flight`, 'msgs/s': Math.round(piscina.msgsPerSec), messages: piscina.messages, 'p50 us': piscina.p50Us, 'p99 us': piscina.p99Us },
  { case: 'WebGPU, one dispatch + readback per message', 'msgs/s': Math.round(naive.msgsPerSec), messages: naive.messages, 'p50 us': naive.p50Us, 'p99 us': naive.p99Us },
]);
