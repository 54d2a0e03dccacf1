/**
 * The load test's HTML report in a real headless Chromium (Debian's package; .ci/run
 * installs it and sets RINGSHARD_REQUIRE_BROWSER=1, so there a missing browser fails
 * the test): the page loads from a file with no console error and no request beyond
 * itself, every chart is drawn (non-empty boxes), and the numbers read back from the DOM
 * are the run's: per-second throughput and failures, latency percentiles, the
 * distribution's counts, shard shares, totals and thresholds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Cluster, counter } from '../../src/index.ts';
import { loadTest } from '../../src/load/index.ts';
import { htmlReport } from '../../src/load/html-report.ts';

/** What the test reads back from the page's DOM (runs in the browser). */
const READ_BACK = `(() => {
  const points = (chart, series) => [...document.querySelectorAll('#' + chart + ' circle[data-series="' + series + '"]')].map((c) => [Number(c.getAttribute('data-x')), Number(c.getAttribute('data-value'))]);
  const bars = (chart) => [...document.querySelectorAll('#' + chart + ' rect.bar')].map((r) => [r.getAttribute('data-label'), Number(r.getAttribute('data-value'))]);
  const charts = [...document.querySelectorAll('svg')].map((s) => {
    const box = s.getBoundingClientRect();
    return { id: s.id, width: box.width, height: box.height, marks: s.querySelectorAll('circle, rect').length };
  });
  const cell = (table, key) => document.querySelector('#' + table + ' td[data-key="' + key + '"]')?.textContent;
  return {
    title: document.title,
    verdict: document.querySelector('#verdict')?.className,
    completed: points('chart-throughput', 'completed'),
    target: points('chart-throughput', 'target'),
    p99: points('chart-latency', 'p99'),
    failed: points('chart-failures', 'failed'),
    distribution: bars('chart-distribution'),
    shards: bars('chart-shards'),
    charts,
    totalsCompleted: cell('totals', 'messages completed'),
    kernel: cell('options', 'kernel'),
    thresholds: [...document.querySelectorAll('#thresholds tr')].map((r) => [r.querySelector('th')?.textContent, r.querySelector('td[data-ok]')?.getAttribute('data-ok')]),
  };
})()`;

interface ReadBack {
  title: string;
  verdict: string;
  completed: number[][];
  target: number[][];
  p99: number[][];
  failed: number[][];
  distribution: Array<[string, number]>;
  shards: Array<[string, number]>;
  charts: Array<{ id: string; width: number; height: number; marks: number }>;
  totalsCompleted: string;
  kernel: string;
  thresholds: string[][];
}

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));

test('the HTML report in headless Chromium: loads clean, charts drawn, the run\'s numbers in the DOM', { timeout: 120_000 }, async (t) => {
  if (!CHROMIUM) {
    if (process.env.RINGSHARD_REQUIRE_BROWSER === '1') throw new Error('RINGSHARD_REQUIRE_BROWSER=1 but no Chromium was found (Debian: apt-get install chromium)');
    return t.skip('no Chromium on this machine (Debian: apt-get install chromium); set RINGSHARD_REQUIRE_BROWSER=1 to make this a failure');
  }
  const cluster = await Cluster.start({ kernels: [counter], backend: 'cpu', shards: 2, logger: false });
  let result;
  try {
    result = await loadTest({ cluster, kernel: counter, message: (_i, rng) => ({ add: rng.int(0, 9) }), actors: 32, mode: { ask: 3, askMany: 1 }, stages: [{ rate: 2000, seconds: 1 }, { rate: 4000, seconds: 2 }], thresholds: ['failed==0', 'p50<1us'] });
  } finally {
    await cluster.shutdown();
  }
  assert.equal(result.thresholds[1]!.ok, false, 'one broken threshold, to see it shown');
  const dir = mkdtempSync(join(tmpdir(), 'ringshard-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'report.html');
  writeFileSync(file, htmlReport(result));

  const { launch } = await import('puppeteer-core');
  const browser = await launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${(e as Error).message}`));
    page.on('request', (r) => requests.push(r.url()));
    const response = await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    assert.ok(response === null || response.ok());
    // A string, not a function: tsx would wrap a function with helpers the page lacks.
    const dom = (await page.evaluate(READ_BACK)) as ReadBack;
    assert.deepEqual(problems, [], 'no console error or warning');
    assert.deepEqual(requests, [pathToFileURL(file).href], 'self-contained: nothing but the file is fetched');
    assert.equal(dom.title, 'ringshard load test: counter');
    assert.equal(dom.verdict, 'broken');
    assert.equal(dom.charts.length, 5);
    for (const c of dom.charts) assert.ok(c.width > 100 && c.height > 20 && c.marks > 0, `chart ${c.id} drawn: ${JSON.stringify(c)}`);
    assert.deepEqual(dom.completed, result.series.map((s) => [s.second, s.completed]));
    assert.deepEqual(dom.target, result.series.filter((s) => s.target !== undefined).map((s) => [s.second, s.target]));
    assert.deepEqual(dom.p99, result.series.filter((s) => s.completed > 0).map((s) => [s.second, s.latencyUs.p99 / 1000]));
    assert.deepEqual(dom.failed, result.series.map((s) => [s.second, s.failed]));
    assert.equal(dom.distribution.reduce((a, [, n]) => a + n, 0), result.totals.latencyUs.count);
    assert.deepEqual(dom.shards.map(([label]) => label), result.totals.shards.map((s) => `shard ${s.shard}`));
    assert.ok(Math.abs(dom.shards.reduce((a, [, v]) => a + v, 0) - 100) < 0.5);
    assert.equal(dom.totalsCompleted, String(result.totals.completed));
    assert.equal(dom.kernel, 'counter');
    assert.deepEqual(dom.thresholds, [['failed==0', 'true'], ['p50<1us', 'false']]);
  } finally {
    await browser.close();
  }
});
