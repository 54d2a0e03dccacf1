/**
 * The request header, written in one place: every record the coordinator sends (a
 * caller's message, a lifecycle record, a forwarded K2K send) is stamped here with the
 * clock's current time. `writeRequestHeaders` is the same header for a run of records to
 * one actor, written in a loop the run path can afford.
 */
import { RequestHeader, type Op, kernelOp } from '../layout/record.ts';
import { HybridClock } from '../coordinator/hlc.ts';
import type { Caller, RecordTarget } from '../coordinator/shard-link.ts';

/** Writes one header at word `o`, stamped with the clock's last tick (the caller ticks). */
export function writeRequestHeader(w: Uint32Array, o: number, location: number, ko: number, correlation: number, source: number, tenant: number, principal: number, roles: number, clock: HybridClock): void {
  w[o + RequestHeader.target] = location;
  w[o + RequestHeader.kernelOp] = ko;
  w[o + RequestHeader.correlation] = correlation;
  w[o + RequestHeader.source] = source;
  w[o + RequestHeader.tenant] = tenant;
  w[o + RequestHeader.principal] = principal;
  w[o + RequestHeader.roles] = roles;
  w[o + RequestHeader.hlcHi] = clock.hi;
  w[o + RequestHeader.hlcLo] = clock.lo;
  w[o + RequestHeader.enqueuedUs] = clock.nowUs;
}

/**
 * The headers of `n` records to one actor from word `o` on, one every `recordWords`:
 * correlations correlationBase + i (0: tells), stamps from one clock run.
 */
export function writeRequestHeaders(w: Uint32Array, o: number, n: number, recordWords: number, to: RecordTarget, op: Op, correlationBase: number, from: Caller, clock: HybridClock): void {
  const rw = recordWords;
  const location = to.location;
  const ko = kernelOp(to.kernelId, op);
  const source = from.sourceId;
  const tenant = from.tenantId ?? to.tenantId;
  const principal = from.principalId;
  const roles = from.roles;
  // Header words as locals: module bindings are re-checked on every use.
  const targetAt = RequestHeader.target;
  const kernelOpAt = RequestHeader.kernelOp;
  const correlationAt = RequestHeader.correlation;
  const sourceAt = RequestHeader.source;
  const tenantAt = RequestHeader.tenant;
  const principalAt = RequestHeader.principal;
  const rolesAt = RequestHeader.roles;
  const hiAt = RequestHeader.hlcHi;
  const loAt = RequestHeader.hlcLo;
  const enqueuedAt = RequestHeader.enqueuedUs;
  for (let done = 0; done < n; ) {
    const run = Math.min(n - done, HybridClock.MAX_RUN);
    const lo = clock.tickMany(run);
    const hi = clock.hi;
    const now = clock.nowUs;
    for (let i = 0, p = o + done * rw; i < run; i++, p += rw) {
      w[p + targetAt] = location;
      w[p + kernelOpAt] = ko;
      w[p + correlationAt] = correlationBase === 0 ? 0 : (correlationBase + done + i) >>> 0;
      w[p + sourceAt] = source;
      w[p + tenantAt] = tenant;
      w[p + principalAt] = principal;
      w[p + rolesAt] = roles;
      w[p + hiAt] = hi;
      w[p + loAt] = lo + i;
      w[p + enqueuedAt] = now;
    }
    done += run;
  }
}
