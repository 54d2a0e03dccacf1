/**
 * A prom-client metric whose values are computed when the registry is scraped (read
 * from the SharedArrayBuffer tables), instead of being updated as things happen. It
 * answers prom-client's registry protocol (name, help, type, get(), reset()), so it
 * sits in a prom-client Registry beside ordinary metrics and merges with them.
 */
import type { Metric } from 'prom-client';

export type Labels = Record<string, string | number>;
export interface Sample {
  readonly labels: Labels;
  readonly value: number;
  readonly metricName?: string;
}

/** Counter samples by series (sampleKey), carried over from an earlier process (options.persist). */
export type CarriedCounts = ReadonlyMap<string, number>;

/** A series' key: its sample name and labels. */
export function sampleKey(metricName: string, labels: Labels): string {
  const names = Object.keys(labels).sort();
  return `${metricName}\u0000${names.map((n) => `${n}=${labels[n]}`).join('\u0000')}`;
}

export class CollectedMetric {
  readonly aggregator = 'sum' as const;
  /** What this counter or histogram had counted in the process before (its series go on from there). */
  carried: CarriedCounts | undefined;

  constructor(
    public name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly collect: () => Sample[],
  ) {}

  /** prom-client's MetricObjectWithValues, read from the tables now. */
  async get(): Promise<{ name: string; help: string; type: string; values: Sample[]; aggregator: 'sum' }> {
    return { name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: this.aggregator };
  }

  /** The samples now, plus what was carried over (a series only carried stays, with its old value). */
  values(): Sample[] {
    const now = this.collect();
    const carried = this.carried;
    if (carried === undefined || carried.size === 0) return now;
    const seen = new Set<string>();
    const out = now.map((s) => {
      const key = sampleKey(s.metricName ?? this.name, s.labels);
      seen.add(key);
      const before = carried.get(key);
      return before === undefined ? s : { ...s, value: s.value + before };
    });
    for (const [key, value] of carried) {
      if (seen.has(key)) continue;
      const [metricName, ...pairs] = key.split('\u0000');
      const labels: Labels = {};
      for (const pair of pairs) {
        const at = pair.indexOf('=');
        labels[pair.slice(0, at)] = pair.slice(at + 1);
      }
      out.push({ metricName: metricName!, labels, value });
    }
    return out;
  }

  /** The values live in shared tables owned elsewhere; there is nothing to reset here. */
  reset(): void {}

  asMetric(): Metric {
    return this as unknown as Metric;
  }
}

/** Samples of one histogram series from non-cumulative counts laid out as in tables.ts. */
export function histogramSamples(
  name: string,
  labels: Labels,
  bounds: readonly number[],
  counts: ArrayLike<number>,
  at: number,
  scale: number,
): Sample[] {
  const value = (i: number) => counts[at + i]!;
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i < bounds.length; i++) {
    cumulative += value(i);
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: bounds[i]! }, value: cumulative });
  }
  cumulative += value(bounds.length);
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
  out.push({ metricName: `${name}_sum`, labels, value: value(bounds.length + 1) * scale });
  out.push({ metricName: `${name}_count`, labels, value: value(bounds.length + 2) });
  return out;
}
