/**
 * A strict parser of the Prometheus text exposition format (0.0.4), for tests.
 *
 * parse-prometheus-text-format (the npm parser) also reads every scrape in the tests, as
 * a second opinion on syntax, but it folds all series of a labelled histogram into one
 * (it keeps only the last series' buckets and drops their labels), so values are read
 * with this parser. It checks what a scraper relies on: names and labels well formed,
 * HELP/TYPE before samples, one TYPE per family, histogram buckets cumulative with +Inf
 * equal to _count.
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

export interface Series {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly series: Series[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(text: string, line: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const v = Number(text);
  if (text === '' || Number.isNaN(v)) throw new Error(`bad sample value in: ${line}`);
  return v;
}

function parseSample(line: string): Series {
  let i = 0;
  while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++;
  const name = line.slice(0, i);
  if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const eq = line.indexOf('=', i);
      const key = line.slice(i, eq);
      if (!LABEL.test(key)) throw new Error(`bad label name ${JSON.stringify(key)} in: ${line}`);
      if (line[eq + 1] !== '"') throw new Error(`unquoted label value in: ${line}`);
      let j = eq + 2;
      let value = '';
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\') {
          const next = line[++j];
          value += next === 'n' ? '\n' : next;
        } else value += line[j];
      }
      if (j >= line.length) throw new Error(`unterminated label value in: ${line}`);
      if (key in labels) throw new Error(`duplicate label ${key} in: ${line}`);
      labels[key] = value;
      i = j + 1;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`expected , or } in: ${line}`);
    }
    i++;
  }
  if (line[i] !== ' ') throw new Error(`expected a space before the value in: ${line}`);
  const [value, timestamp, extra] = line.slice(i + 1).split(' ');
  if (extra !== undefined || (timestamp !== undefined && !/^-?\d+$/.test(timestamp))) throw new Error(`bad sample tail in: ${line}`);
  return { name, labels, value: parseValue(value ?? '', line) };
}

function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  if (families.has(sample)) return families.get(sample);
  const base = sample.replace(/_(bucket|sum|count)$/, '');
  const family = families.get(base);
  return family && family.type === 'histogram' ? family : undefined;
}

export function parseExposition(text: string): Map<string, Family> {
  // Second opinion on syntax: throws on lines it cannot read.
  parsePrometheusTextFormat(text);
  const families = new Map<string, Family>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
      const family = families.get(name) ?? { name, type: 'untyped', help: '', series: [] };
      if (kind === 'TYPE') {
        if (family.type !== 'untyped' || family.series.length > 0) throw new Error(`TYPE after samples or twice for ${name}`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`unknown type in: ${line}`);
        families.set(name, { ...family, type: rest });
      } else {
        families.set(name, { ...family, help: rest });
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = parseSample(line);
    const family = familyOf(sample.name, families);
    if (!family) throw new Error(`sample before its HELP/TYPE: ${line}`);
    family.series.push(sample);
  }
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

function key(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).filter(([k]) => k !== 'le').sort());
}

function checkHistogram(family: Family): void {
  const groups = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
  for (const s of family.series) {
    const g = groups.get(key(s.labels)) ?? { buckets: [] };
    groups.set(key(s.labels), g);
    if (s.name.endsWith('_bucket')) g.buckets.push([parseValue(s.labels.le ?? '', s.name), s.value]);
    else if (s.name.endsWith('_count')) g.count = s.value;
  }
  for (const [labels, g] of groups) {
    let last = -1;
    let previousBound = -Infinity;
    for (const [bound, value] of g.buckets) {
      if (!(bound > previousBound)) throw new Error(`${family.name}${labels}: buckets not in increasing le order`);
      if (value < last) throw new Error(`${family.name}${labels}: buckets not cumulative`);
      previousBound = bound;
      last = value;
    }
    if (previousBound !== Infinity) throw new Error(`${family.name}${labels}: no +Inf bucket`);
    if (g.count !== last) throw new Error(`${family.name}${labels}: +Inf bucket ${last} != _count ${g.count}`);
  }
}

/** The one series of `family` whose labels include all of `match`; throws unless exactly one. */
export function valueOf(families: Map<string, Family>, name: string, match: Record<string, string> = {}): number {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  const family = families.get(name) ?? families.get(base);
  if (!family) throw new Error(`no metric family ${name}`);
  const found = family.series.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
  if (found.length !== 1) throw new Error(`${found.length} series of ${name} match ${JSON.stringify(match)}`);
  return found[0]!.value;
}

/** Sum over the series of `name` whose labels include all of `match`. */
export function sumOf(families: Map<string, Family>, name: string, match: Record<string, string> = {}): number {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  const family = families.get(name) ?? families.get(base);
  if (!family) throw new Error(`no metric family ${name}`);
  return family.series
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}
