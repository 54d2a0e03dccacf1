/**
 * metrics/grafana-dashboard.json: valid, importable, with a layout Grafana can draw, and
 * with queries over metrics that ringshard really exports. The exported names come from a
 * real cluster's registry at test time, so renaming a metric breaks this test until the
 * dashboard follows. Each check is a function that returns its problems; the checks are
 * also run against broken copies of the dashboard to show they can fail.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Cluster, counter } from '../../src/index.ts';

interface GridPos {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

interface Panel {
  readonly id?: unknown;
  readonly type?: unknown;
  readonly title?: unknown;
  readonly collapsed?: unknown;
  readonly gridPos?: Partial<GridPos>;
  readonly targets?: ReadonlyArray<{ readonly expr?: unknown }>;
  readonly fieldConfig?: { readonly defaults?: { readonly unit?: unknown } };
  readonly panels?: readonly Panel[];
}

interface Variable {
  readonly name?: unknown;
  readonly type?: unknown;
  readonly query?: unknown;
  readonly definition?: unknown;
  readonly multi?: unknown;
  readonly includeAll?: unknown;
}

interface Dashboard {
  readonly title?: unknown;
  readonly uid?: unknown;
  readonly schemaVersion?: unknown;
  readonly tags?: unknown;
  readonly refresh?: unknown;
  readonly time?: { readonly from?: unknown; readonly to?: unknown };
  readonly panels?: readonly Panel[];
  readonly templating?: { readonly list?: readonly Variable[] };
  readonly __inputs?: ReadonlyArray<{ readonly name?: unknown; readonly type?: unknown; readonly pluginId?: unknown }>;
}

const DASHBOARD_URL = new URL('../../metrics/grafana-dashboard.json', import.meta.url);
const text = readFileSync(DASHBOARD_URL, 'utf8');

function load(): Dashboard {
  const parsed: unknown = JSON.parse(text);
  assert.ok(parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed), 'the dashboard is a JSON object');
  return parsed as Dashboard;
}

/** A deep copy to break on purpose. */
function copy(): Dashboard {
  return load();
}

/** Top-level panels, then the panels kept inside rows (collapsed rows hold theirs). */
function allPanels(d: Dashboard): Panel[] {
  const out: Panel[] = [];
  for (const p of d.panels ?? []) {
    out.push(p);
    for (const inner of p.panels ?? []) out.push(inner);
  }
  return out;
}

/** Every `expr` string anywhere in the document: panel targets, annotations, variables. */
function exprsOf(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const v of value) exprsOf(v, out);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'expr' && typeof v === 'string') out.push(v);
      else exprsOf(v, out);
    }
  }
  return out;
}

/** The PromQL of the template variables' queries (a string, or { query } in newer Grafana). */
function variableQueries(d: Dashboard): string[] {
  const out: string[] = [];
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    if (typeof v.query === 'string') out.push(v.query);
    else if (v.query !== null && typeof v.query === 'object' && typeof (v.query as { query?: unknown }).query === 'string') {
      out.push((v.query as { query: string }).query);
    }
    if (typeof v.definition === 'string') out.push(v.definition);
  }
  return out;
}

function queriesOf(d: Dashboard): string[] {
  return [...exprsOf(d), ...variableQueries(d)];
}

function metricNames(expr: string): string[] {
  return [...expr.matchAll(/ringshard_[a-z0-9_]+/g)].map((m) => m[0]);
}

function overlaps(a: GridPos, b: GridPos): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

function checkIds(d: Dashboard): string[] {
  const problems: string[] = [];
  const seen = new Set<number>();
  for (const p of allPanels(d)) {
    if (typeof p.id !== 'number' || !Number.isInteger(p.id)) problems.push(`panel ${String(p.title)} has no integer id`);
    else if (seen.has(p.id)) problems.push(`panel id ${p.id} is used twice`);
    else seen.add(p.id);
  }
  return problems;
}

function checkGrid(d: Dashboard): string[] {
  const problems: string[] = [];
  const placed = (list: readonly Panel[]): Array<{ title: string; pos: GridPos }> => {
    const out: Array<{ title: string; pos: GridPos }> = [];
    for (const p of list) {
      const title = String(p.title);
      const g = p.gridPos;
      if (!g || ![g.x, g.y, g.w, g.h].every((n) => typeof n === 'number' && Number.isInteger(n))) {
        problems.push(`panel ${title} has no integer gridPos {x, y, w, h}`);
        continue;
      }
      const pos = g as GridPos;
      if (pos.x < 0 || pos.y < 0 || pos.w < 1 || pos.h < 1 || pos.x + pos.w > 24) problems.push(`panel ${title} lies outside the 24-column grid: ${JSON.stringify(pos)}`);
      if (p.type === 'row' && pos.h !== 1) problems.push(`row ${title} has h=${pos.h}, not 1`);
      if (p.type === 'row' && (pos.x !== 0 || pos.w !== 24)) problems.push(`row ${title} does not span the grid`);
      out.push({ title, pos });
    }
    return out;
  };
  const intersecting = (list: Array<{ title: string; pos: GridPos }>): void => {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const a = list[i]!;
        const b = list[j]!;
        if (overlaps(a.pos, b.pos)) problems.push(`panels ${a.title} and ${b.title} overlap`);
      }
    }
  };
  // Expanded rows keep their panels at the top level; a collapsed row keeps its own, laid
  // out as they will be when it opens, so those are checked among themselves.
  intersecting(placed(d.panels ?? []));
  for (const p of d.panels ?? []) {
    if (p.type !== 'row') continue;
    if (p.collapsed !== true && (p.panels ?? []).length > 0) problems.push(`expanded row ${String(p.title)} holds panels`);
    if (p.collapsed === true) intersecting(placed(p.panels ?? []));
  }
  return problems;
}

/** Names a query may use: the exported families, and each histogram's _bucket/_sum/_count. */
function allowedNames(types: ReadonlyMap<string, string>): Set<string> {
  const allowed = new Set<string>();
  for (const [name, type] of types) {
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) allowed.add(name + suffix);
    else allowed.add(name);
  }
  return allowed;
}

function checkMetricNames(d: Dashboard, allowed: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const q of queriesOf(d)) {
    for (const name of metricNames(q)) if (!allowed.has(name)) problems.push(`${name} (in ${q}) is not exported by ringshard`);
  }
  return problems;
}

const TOPICS: ReadonlyArray<readonly [string, RegExp]> = [
  ['latency percentiles', /histogram_quantile\(\s*0?\.\d+\s*,[\s\S]*\bringshard_message_latency_seconds_bucket\b/],
  ['ring depth', /\bringshard_ring_depth\b/],
  ['batch size', /\bringshard_batch_size_records_(bucket|sum|count)\b/],
  ['dispatch time', /\bringshard_dispatch_duration_seconds_bucket\b/],
  ['throughput', /\brate\(\s*ringshard_messages_total\b/],
];

function checkTopics(d: Dashboard): string[] {
  const exprs = exprsOf(d.panels);
  return TOPICS.filter(([, re]) => !exprs.some((e) => re.test(e))).map(([topic]) => `no panel query covers ${topic}`);
}

const BUILTIN_VARIABLES = new Set(['__rate_interval', '__interval', '__interval_ms', '__range', '__range_s', '__range_ms', '__all', '__name']);

function variablesUsed(s: string): string[] {
  const names: string[] = [];
  for (const m of s.matchAll(/\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)\]\]/g)) {
    const name = m[1] ?? m[2] ?? m[3];
    if (name !== undefined && !BUILTIN_VARIABLES.has(name)) names.push(name);
  }
  return names;
}

function checkVariables(d: Dashboard): string[] {
  const defined = new Set((d.templating?.list ?? []).map((v) => v.name));
  const problems: string[] = [];
  for (const q of queriesOf(d)) {
    for (const name of variablesUsed(q)) if (!defined.has(name)) problems.push(`$${name} (in ${q}) is not a template variable`);
  }
  // Panels and targets name their datasource through the datasource variable.
  const uids = new Set<string>();
  (function walk(v: unknown): void {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v !== null && typeof v === 'object') {
      for (const [key, x] of Object.entries(v)) {
        if (key === 'datasource' && x !== null && typeof x === 'object' && typeof (x as { uid?: unknown }).uid === 'string') uids.add((x as { uid: string }).uid);
        else walk(x);
      }
    }
  })(d.panels);
  for (const uid of uids) {
    if (uid !== '${datasource}') problems.push(`a panel uses datasource uid ${uid}, not \${datasource}`);
  }
  return problems;
}

async function exportedFamilies(): Promise<Map<string, string>> {
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', logger: false });
  try {
    await cluster.actor(counter, 'a').ask({ add: 1 });
    const exposition = await cluster.registry.metrics();
    const types = new Map<string, string>();
    for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
    return types;
  } finally {
    await cluster.shutdown();
  }
}

test('the dashboard is a JSON object with title, uid, schemaVersion, tags, time range, refresh and panels', () => {
  assert.doesNotThrow(() => JSON.parse(text));
  const d = load();
  assert.equal(d.title, 'ringshard');
  assert.equal(d.uid, 'ringshard-overview');
  assert.ok(typeof d.schemaVersion === 'number' && d.schemaVersion >= 36, `schemaVersion ${String(d.schemaVersion)}`);
  assert.deepEqual(d.tags, ['ringshard']);
  assert.deepEqual(d.time, { from: 'now-1h', to: 'now' });
  assert.equal(d.refresh, '10s');
  assert.ok(Array.isArray(d.panels) && d.panels.length > 0);
  for (const p of allPanels(d)) {
    assert.equal(typeof p.type, 'string', `panel ${String(p.title)} has a type`);
    assert.equal(typeof p.title, 'string', `panel ${String(p.id)} has a title`);
    if (p.type !== 'row') assert.ok((p.targets ?? []).length > 0, `panel ${String(p.title)} has queries`);
  }
});

test('it imports into any Grafana: a Prometheus datasource input and a datasource variable', () => {
  const d = load();
  const input = (d.__inputs ?? []).find((i) => i.name === 'DS_PROMETHEUS');
  assert.ok(input, '__inputs has DS_PROMETHEUS');
  assert.equal(input.type, 'datasource');
  assert.equal(input.pluginId, 'prometheus');
  assert.ok(text.includes('${DS_PROMETHEUS}'), 'the input is used');
  const vars = d.templating?.list ?? [];
  const ds = vars.find((v) => v.name === 'datasource');
  assert.ok(ds, 'a datasource variable');
  assert.equal(ds.type, 'datasource');
  assert.equal(ds.query, 'prometheus');
  for (const name of ['kernel', 'shard']) {
    const v = vars.find((x) => x.name === name);
    assert.ok(v, `a ${name} variable`);
    assert.equal(v.type, 'query');
    assert.equal(v.multi, true);
    assert.equal(v.includeAll, true);
    assert.ok(variableQueries({ templating: { list: [v] } }).includes(`label_values(ringshard_messages_total, ${name})`), `${name} lists label_values of ringshard_messages_total`);
  }
});

test('panel ids are unique', () => {
  assert.deepEqual(checkIds(load()), []);
  const broken = copy();
  const panels = broken.panels as Panel[];
  (panels[2] as { id: unknown }).id = panels[1]!.id;
  assert.equal(checkIds(broken).length, 1);
});

test('every panel has a gridPos, rows are 1 high, and no two panels overlap', () => {
  assert.deepEqual(checkGrid(load()), []);
  assert.ok(overlaps({ x: 0, y: 0, w: 12, h: 8 }, { x: 6, y: 4, w: 12, h: 8 }));
  assert.ok(!overlaps({ x: 0, y: 0, w: 12, h: 8 }, { x: 12, y: 0, w: 12, h: 8 }), 'touching edges do not overlap');
  assert.ok(!overlaps({ x: 0, y: 0, w: 24, h: 1 }, { x: 0, y: 1, w: 12, h: 8 }));

  const moved = copy();
  const panels = moved.panels as Panel[];
  const target = panels.find((p) => p.type !== 'row')!;
  const other = panels.filter((p) => p.type !== 'row')[1]!;
  (target as { gridPos: unknown }).gridPos = { ...other.gridPos };
  assert.ok(checkGrid(moved).some((p) => p.includes('overlap')));

  const tallRow = copy();
  const row = (tallRow.panels as Panel[]).find((p) => p.type === 'row')!;
  (row as { gridPos: unknown }).gridPos = { ...row.gridPos, h: 2 };
  assert.ok(checkGrid(tallRow).some((p) => p.includes('not 1')));

  const noGrid = copy();
  delete (noGrid.panels as Array<{ gridPos?: unknown }>)[1]!.gridPos;
  assert.ok(checkGrid(noGrid).some((p) => p.includes('no integer gridPos')));
});

test('every metric a query names is one a running cluster exports', async () => {
  const types = await exportedFamilies();
  assert.ok(types.size >= 10, `the cluster exports its metric families (got ${[...types.keys()].join(', ')})`);
  assert.equal(types.get('ringshard_message_latency_seconds'), 'histogram');
  const allowed = allowedNames(types);
  const d = load();
  const used = new Set(queriesOf(d).flatMap(metricNames));
  assert.ok(used.size >= 10, `the dashboard queries ringshard metrics (got ${[...used].join(', ')})`);
  assert.deepEqual(checkMetricNames(d, allowed), []);

  // A histogram family is not a series name; a renamed metric is not exported.
  const broken = copy();
  const p = (broken.panels as Panel[]).find((x) => (x.targets ?? []).length > 0)!;
  (p.targets![0] as { expr: unknown }).expr = 'rate(ringshard_message_latency_seconds[5m]) + ringshard_messages_handled_total';
  assert.equal(checkMetricNames(broken, allowed).length, 2);
});

test('the required topics are covered: throughput, latency percentiles, ring depth, batch size, dispatch time', () => {
  assert.deepEqual(checkTopics(load()), []);
  const none = copy();
  for (const p of allPanels(none)) for (const t of p.targets ?? []) (t as { expr: unknown }).expr = 'vector(1)';
  assert.equal(checkTopics(none).length, TOPICS.length);
});

test('every variable a query uses is defined in templating, and panels use the datasource variable', () => {
  const d = load();
  assert.deepEqual(checkVariables(d), []);
  const used = new Set(queriesOf(d).flatMap(variablesUsed));
  assert.ok(used.has('kernel') && used.has('shard'), 'queries filter by $kernel and $shard');
  assert.deepEqual(variablesUsed('rate(x{a=~"$kernel",b="${shard:regex}"}[$__rate_interval]) [[node]]'), ['kernel', 'shard', 'node']);

  const broken = copy();
  const p = (broken.panels as Panel[]).find((x) => (x.targets ?? []).length > 0)!;
  (p.targets![0] as { expr: unknown }).expr = 'sum(rate(ringshard_messages_total{tenant=~"$tenant"}[$__rate_interval]))';
  assert.equal(checkVariables(broken).length, 1);
});

test('units: seconds for latency and dispatch time, bytes for GPU state', () => {
  for (const p of allPanels(load())) {
    const exprs = (p.targets ?? []).map((t) => String(t.expr));
    const unit = p.fieldConfig?.defaults?.unit;
    if (p.type === 'heatmap') continue; // its unit is on the y axis
    if (exprs.some((e) => /histogram_quantile\([\s\S]*_seconds_bucket/.test(e))) assert.equal(unit, 's', `${String(p.title)} is in seconds`);
    if (exprs.some((e) => e.includes('ringshard_gpu_state_bytes'))) assert.equal(unit, 'bytes', `${String(p.title)} is in bytes`);
  }
});
