/**
 * A load test's result as one self-contained HTML page: inline SVG charts (no script, no
 * network), so it opens anywhere and archives as one file. Charts: throughput (sent,
 * completed, the schedule's target) and latency percentiles per second, the latency
 * distribution, failures per second, each shard's share; then the totals, thresholds,
 * options and machine. Every plotted point carries its value in `data-value` (and a
 * <title> tooltip), so a test (or a reader with devtools) can check the numbers.
 */
import type { LoadTestResult } from './load-test.ts';

const W = 720;
const H = 220;
const PAD = { left: 64, right: 16, top: 16, bottom: 32 };
const COLORS = ['#2563eb', '#16a34a', '#9333ea', '#dc2626', '#ea580c', '#0891b2'];

function esc(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  return Number(n.toPrecision(3)).toString();
}

interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
  /** Drawn dashed, under the others (a target the others should meet). */
  readonly dashed?: boolean;
}

/** A line chart of `series` over x; `id` names it in the DOM. */
function lineChart(id: string, title: string, unit: string, series: readonly Series[], log = false): string {
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  if (xs.length === 0) return `<section><h2>${esc(title)}</h2><p>No data.</p></section>`;
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1);
  const yMax = Math.max(...ys, 1);
  const yMin = log ? Math.min(...ys.filter((y) => y > 0), yMax) : 0;
  const sx = (x: number) => PAD.left + ((x - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const sy = (y: number) => {
    const f = log ? (Math.log10(Math.max(y, yMin)) - Math.log10(yMin)) / Math.max(1e-9, Math.log10(yMax) - Math.log10(yMin)) : y / yMax;
    return H - PAD.bottom - f * (H - PAD.top - PAD.bottom);
  };
  const lines = series.map((s, i) => {
    const color = COLORS[i % COLORS.length];
    const path = s.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ');
    const dots = s.points
      .map((p) => `<circle class="point" data-series="${esc(s.name)}" data-x="${p[0]}" data-value="${p[1]}" cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="2.5" fill="${color}"><title>${esc(s.name)} at ${p[0]}: ${fmt(p[1])} ${esc(unit)}</title></circle>`)
      .join('');
    return `<path d="${path}" fill="none" stroke="${color}" stroke-width="${s.dashed ? 3 : 1.5}"${s.dashed ? ' stroke-dasharray="6 4" opacity="0.6"' : ''}/>${dots}`;
  });
  // A dashed series first: the ones meant to meet it are drawn over it.
  const order = series.map((s, i) => [s, lines[i]!] as const).sort((a, b) => Number(b[0].dashed ?? false) - Number(a[0].dashed ?? false));
  const legend = series.map((s, i) => `<span class="key"><i style="background:${COLORS[i % COLORS.length]}"></i>${esc(s.name)}</span>`).join(' ');
  const ticks = [0, 0.5, 1].map((f) => {
    const y = log ? 10 ** (Math.log10(yMin) + f * (Math.log10(yMax) - Math.log10(yMin))) : f * yMax;
    return `<text x="${PAD.left - 6}" y="${sy(y) + 4}" text-anchor="end">${fmt(y)}</text><line x1="${PAD.left}" x2="${W - PAD.right}" y1="${sy(y)}" y2="${sy(y)}" class="grid"/>`;
  });
  return `<section><h2>${esc(title)}</h2><div class="legend">${legend}</div><svg id="${id}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">${ticks.join('')}<text x="${W / 2}" y="${H - 6}" text-anchor="middle">second</text><text x="${PAD.left + 4}" y="${PAD.top - 4}" class="unit">${esc(unit)}</text>${order.map((o) => o[1]).join('')}</svg></section>`;
}

/** A bar chart of labelled values; `id` names it in the DOM. */
function barChart(id: string, title: string, unit: string, bars: ReadonlyArray<readonly [string, number]>): string {
  if (bars.length === 0) return `<section><h2>${esc(title)}</h2><p>No data.</p></section>`;
  const max = Math.max(...bars.map((b) => b[1]), 1);
  const bw = (W - PAD.left - PAD.right) / bars.length;
  const rects = bars.map(([label, v], i) => {
    const h = (v / max) * (H - PAD.top - PAD.bottom);
    const x = PAD.left + i * bw;
    return `<rect class="bar" data-label="${esc(label)}" data-value="${v}" x="${(x + 1).toFixed(1)}" y="${(H - PAD.bottom - h).toFixed(1)}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[0]}"><title>${esc(label)}: ${fmt(v)} ${esc(unit)}</title></rect>${bars.length <= 12 || i % Math.ceil(bars.length / 12) === 0 ? `<text x="${(x + bw / 2).toFixed(1)}" y="${H - 14}" text-anchor="middle">${esc(label)}</text>` : ''}`;
  });
  return `<section><h2>${esc(title)}</h2><svg id="${id}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}"><text x="${PAD.left - 6}" y="${PAD.top + 4}" text-anchor="end">${fmt(max)}</text><text x="${PAD.left + 4}" y="${PAD.top - 4}" class="unit">${esc(unit)}</text>${rects.join('')}</svg></section>`;
}

function table(rows: ReadonlyArray<readonly [string, string]>, id: string): string {
  return `<table id="${id}">${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td data-key="${esc(k)}">${esc(v)}</td></tr>`).join('')}</table>`;
}

const us = (v: number) => `${fmt(v / 1000)} ms`;

/** The report of `result` as an HTML document. */
export function htmlReport(result: LoadTestResult, title = `ringshard load test: ${result.options.kernel}`): string {
  const t = result.totals;
  const s = result.series;
  const throughput: Series[] = [
    { name: 'completed', points: s.map((b) => [b.second, b.completed] as const) },
    { name: 'sent', points: s.map((b) => [b.second, b.sent] as const) },
    ...(s.some((b) => b.target !== undefined) ? [{ name: 'target', dashed: true, points: s.filter((b) => b.target !== undefined).map((b) => [b.second, b.target!] as const) }] : []),
  ];
  const withLatency = s.filter((b) => b.completed > 0);
  const latency: Series[] = (['p50', 'p90', 'p99', 'max'] as const).map((p) => ({ name: p, points: withLatency.map((b) => [b.second, b.latencyUs[p] / 1000] as const) }));
  const failures: Series[] = [{ name: 'failed', points: s.map((b) => [b.second, b.failed] as const) }];
  const distribution = result.histogram.map(([edge, n]) => [edge >= 1000 ? `${fmt(edge / 1000)}ms` : `${edge}us`, n] as const);
  const shares = t.shards.map((x) => [`shard ${x.shard}`, Math.round(x.share * 1000) / 10] as const);
  const thresholds = result.thresholds.length
    ? `<table id="thresholds">${result.thresholds.map((r) => `<tr class="${r.ok ? 'pass' : 'fail'}"><th>${esc(r.threshold)}</th><td data-ok="${r.ok}">${r.ok ? 'passed' : 'BROKEN'}</td><td data-value="${r.actual}">${fmt(r.actual)}</td></tr>`).join('')}</table>`
    : '<p>None given.</p>';
  const o = result.options;
  const scenario = o.scenario === 'closed' ? `closed loop, ${o.concurrency} in flight` : o.scenario === 'rate' ? `open loop at ${fmt(o.rate!)} msgs/s` : `stages ${o.stages!.map((x) => `${x.rate}:${x.seconds}`).join(', ')}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:${W + 40}px;color:#111}
h1{font-size:20px}h2{font-size:15px;margin:20px 0 6px}
svg{width:100%;height:auto;background:#fafafa;border:1px solid #e5e5e5}
svg text{font-size:10px;fill:#555}.grid{stroke:#e5e5e5}.unit{font-style:italic}
table{border-collapse:collapse;margin:6px 0}th,td{text-align:left;padding:2px 12px 2px 0;vertical-align:top}th{font-weight:600}
.pass td[data-ok]{color:#16a34a}.fail td[data-ok]{color:#dc2626;font-weight:700}
.legend .key{margin-right:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
#verdict.ok{color:#16a34a}#verdict.broken{color:#dc2626}
</style></head><body>
<h1>${esc(title)}</h1>
<p id="verdict" class="${result.ok ? 'ok' : 'broken'}">${result.ok ? 'Passed' : 'Failed'}: ${fmt(t.completed)} messages in ${fmt(result.seconds)} s (${fmt(t.messagesPerSecond)} msgs/s), ${fmt(t.failed)} failed; started ${esc(result.startedAt)}</p>
${table(
  [
    ['messages completed', String(t.completed)],
    ['messages failed', String(t.failed)],
    ['failures by code', Object.entries(t.failures).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none'],
    ['throughput', `${fmt(t.messagesPerSecond)} msgs/s`],
    ['latency p50 / p90 / p99', `${us(t.latencyUs.p50)} / ${us(t.latencyUs.p90)} / ${us(t.latencyUs.p99)}`],
    ['latency p99.9 / p99.99 / max', `${us(t.latencyUs.p999)} / ${us(t.latencyUs.p9999)} / ${us(t.latencyUs.max)}`],
    ['CPU per message', `${fmt(t.cpuUsPerMessage)} us (the whole process)`],
    ['batch size', t.batchSize ? `${fmt(t.batchSize.mean)} records on average over ${fmt(t.batchSize.batches)} batches` : 'n/a (metrics off)'],
    ['checked against the reference', o.verify ? `${t.checked}, ${t.mismatchCount} mismatches` : 'no'],
  ],
  'totals',
)}
<h2>Thresholds</h2>${thresholds}
${lineChart('chart-throughput', 'Throughput per second', 'messages', throughput)}
${lineChart('chart-latency', 'Latency percentiles per second (from each message\'s due time)', 'ms', latency, true)}
${barChart('chart-distribution', 'Latency distribution', 'messages', distribution)}
${lineChart('chart-failures', 'Failures per second', 'messages', failures)}
${barChart('chart-shards', 'Messages per shard', '%', shares)}
<h2>Options</h2>${table(
  [
    ['kernel', o.kernel],
    ['actors', String(o.actors)],
    ['mode', Object.entries(o.mode).map(([k, v]) => `${k}: ${v}`).join(', ')],
    ['scenario', scenario],
    ['seconds (warm-up)', `${o.seconds} (${o.warmupSeconds})`],
    ['askMany batch', String(o.batch)],
    ['seed', String(o.seed)],
  ],
  'options',
)}
<h2>Machine</h2>${table(
  [
    ['CPU', `${result.machine.cpus} x ${result.machine.cpu}`],
    ['memory', `${fmt(result.machine.memoryBytes / 2 ** 30)} GiB`],
    ['node', `${result.machine.node} (${result.machine.platform})`],
    ['backend', `${result.machine.backend}${result.machine.adapter ? ` on ${result.machine.adapter}` : ''}, ${result.machine.shards} shard(s)`],
  ],
  'machine',
)}
</body></html>
`;
}
