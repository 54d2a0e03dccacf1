/**
 * Latency recording for benchmarks, loadTest() and the CLI: an HDR histogram (microsecond
 * resolution, 3 significant digits, up to 10 minutes), so percentiles stay exact enough
 * at any rate without keeping every sample.
 */
import * as hdr from 'hdr-histogram-js';

export interface LatencySummary {
  readonly count: number;
  readonly minUs: number;
  readonly meanUs: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
}

export class LatencyRecorder {
  private readonly histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });

  /** Records one latency in microseconds (values below 1 us count as 1 us). */
  record(us: number): void {
    this.histogram.recordValue(Math.max(1, Math.round(us)));
  }

  /** Records `count` occurrences of one latency (the messages of one askMany). */
  recordMany(us: number, count: number): void {
    this.histogram.recordValueWithCount(Math.max(1, Math.round(us)), count);
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  percentile(p: number): number {
    return this.histogram.getValueAtPercentile(p);
  }

  summary(): LatencySummary {
    const h = this.histogram;
    return {
      count: h.totalCount,
      minUs: h.totalCount > 0 ? h.minNonZeroValue : 0,
      meanUs: h.mean,
      p50Us: h.getValueAtPercentile(50),
      p90Us: h.getValueAtPercentile(90),
      p99Us: h.getValueAtPercentile(99),
      p999Us: h.getValueAtPercentile(99.9),
      maxUs: h.maxValue,
    };
  }

  /** The distribution: [upper edge in microseconds, count] per log-spaced bucket (10 a decade), ascending. */
  distribution(): Array<[number, number]> {
    const h = this.histogram as unknown as { countsArrayLength: number; getCountAtIndex(i: number): number; valueFromIndex(i: number): number; totalCount: number };
    const out: Array<[number, number]> = [];
    if (h.totalCount === 0) return out;
    const step = 10 ** 0.1;
    let edge = 0;
    let count = 0;
    for (let i = 0; i < h.countsArrayLength; i++) {
      const n = h.getCountAtIndex(i);
      if (n === 0) continue;
      const value = h.valueFromIndex(i);
      if (value > edge) {
        if (count > 0) out.push([Math.round(edge), count]);
        count = 0;
        edge = edge === 0 ? Math.max(1, value) : edge;
        while (edge < value) edge *= step;
      }
      count += n;
    }
    if (count > 0) out.push([Math.round(edge), count]);
    return out;
  }

  /** Adds another recorder's counts to this one. */
  add(other: LatencyRecorder): void {
    this.histogram.add(other.histogram);
  }

  reset(): void {
    this.histogram.reset();
  }
}
