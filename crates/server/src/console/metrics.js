// Live numbers: scrapes /metrics and the table summary every 2 s for as long as the page is
// open and visible, keeps two minutes of per-operation rates and latencies, and draws them with
// the partition heat of every table.

import { metricsText, summary } from './api.js';
import { colorFor, drawLineChart, heatColor } from './charts.js';
import { formatCount, formatMillis, formatRate, h } from './dom.js';
import { between, parse, requestTotals } from './prometheus.js';

export const POLL_MS = 2000;
const WINDOW_MS = 120_000;
const POINTS_MAX = WINDOW_MS / POLL_MS + 1;
// The most operations drawn in a chart; the table below the charts lists them all.
const LINES_MAX = 8;

const history = { times: [], operations: new Map() };
let lastScrape = null;
let latest = new Map();
let summaries = { current: null, previous: null, seconds: 0 };
const listeners = new Set();
let pollError = null;

// Calls `listener` after every poll; returns the function that stops it.
export function onPoll(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function latestSummary() {
  return summaries;
}

export function startPolling() {
  const tick = async () => {
    if (document.visibilityState !== 'hidden') await poll();
    setTimeout(tick, POLL_MS);
  };
  tick();
}

async function poll() {
  const at = Date.now();
  try {
    const [text, tables] = await Promise.all([metricsText(), summary()]);
    const totals = requestTotals(parse(text));
    if (lastScrape) {
      const seconds = (at - lastScrape.at) / 1000;
      latest = between(lastScrape.totals, totals, seconds);
      record(at, latest);
    }
    lastScrape = { at, totals };
    summaries = {
      previous: summaries.current,
      current: tables,
      seconds: summaries.current ? (at - summaries.at) / 1000 : 0,
      at,
    };
    pollError = null;
  } catch (e) {
    pollError = e;
  }
  for (const listener of listeners) listener();
}

function record(at, interval) {
  history.times.push(at);
  for (const [operation, numbers] of interval) {
    if (!history.operations.has(operation)) {
      history.operations.set(operation, {
        rate: new Array(history.times.length - 1).fill(null),
        p50: new Array(history.times.length - 1).fill(null),
        p99: new Array(history.times.length - 1).fill(null),
      });
    }
  }
  for (const [operation, series] of history.operations) {
    const numbers = interval.get(operation);
    series.rate.push(numbers ? numbers.rate : null);
    series.p50.push(numbers ? numbers.p50 : null);
    series.p99.push(numbers ? numbers.p99 : null);
  }
  while (history.times.length > POINTS_MAX) {
    history.times.shift();
    for (const series of history.operations.values()) {
      series.rate.shift();
      series.p50.shift();
      series.p99.shift();
    }
  }
}

// A latency axis label: powers of ten, in ms below a second.
function durationTick(seconds) {
  if (seconds >= 1) return `${Number(seconds.toPrecision(3))} s`;
  return `${Number((seconds * 1000).toPrecision(3))} ms`;
}

// The operations worth a line: the busiest over the window.
function busiestOperations() {
  const load = [...history.operations].map(([operation, series]) => [operation, series.rate.reduce((a, v) => a + (v || 0), 0)]);
  return load.filter(([, total]) => total > 0).sort((a, b) => b[1] - a[1]).slice(0, LINES_MAX).map(([operation]) => operation);
}

// The metrics view: request-rate and latency charts, a table per operation, partition heat.
export function renderMetrics(main, { openTable }) {
  const rateCanvas = h('canvas', { class: 'chart', id: 'rate-chart', role: 'img', 'aria-label': 'Requests per second by operation' });
  const latencyCanvas = h('canvas', { class: 'chart', id: 'latency-chart', role: 'img', 'aria-label': 'Latency by operation, p50 and p99' });
  const rateLegend = h('ul', { class: 'legend', 'aria-label': 'Operations in the request chart' });
  const latencyLegend = h('ul', { class: 'legend', 'aria-label': 'Operations in the latency chart' });
  const operationsBody = h('tbody');
  const heat = heatPanel({ openTable });
  const note = h('p', { class: 'muted', id: 'poll-state' });
  main.replaceChildren(
    h('section', { class: 'view metrics-view' },
      h('div', { class: 'toolbar' }, h('h1', { tabindex: '-1' }, 'Metrics'), note),
      h('div', { class: 'charts' },
        h('section', { class: 'panel', 'aria-labelledby': 'rate-title' },
          h('h2', { id: 'rate-title' }, 'Requests per second'),
          rateCanvas, rateLegend),
        h('section', { class: 'panel', 'aria-labelledby': 'latency-title' },
          h('h2', { id: 'latency-title' }, 'Latency: p99 solid, p50 dashed'),
          latencyCanvas, latencyLegend)),
      heat.element,
      h('section', { class: 'panel', 'aria-labelledby': 'ops-title' },
        h('h2', { id: 'ops-title' }, 'Operations, last 2 s'),
        h('table', { class: 'grid numbers', id: 'operations' },
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, 'Operation'), h('th', { scope: 'col' }, 'Requests/s'),
            h('th', { scope: 'col' }, 'p50'), h('th', { scope: 'col' }, 'p99'), h('th', { scope: 'col' }, 'Errors/s'))),
          operationsBody))));

  const draw = () => {
    note.textContent = pollError
      ? `Cannot read the metrics: ${pollError.message || pollError}`
      : `API listener traffic, scraped from /metrics every ${POLL_MS / 1000} s; console requests are not counted.`;
    const shown = busiestOperations();
    drawLineChart(rateCanvas, {
      times: history.times,
      windowMs: WINDOW_MS,
      series: shown.map((op) => ({ label: op, color: colorFor(op), values: history.operations.get(op).rate })),
      formatY: (v) => formatRate(v),
    });
    drawLineChart(latencyCanvas, {
      times: history.times,
      windowMs: WINDOW_MS,
      scale: 'log',
      series: shown.flatMap((op) => [
        { label: `${op} p99`, color: colorFor(op), values: history.operations.get(op).p99 },
        { label: `${op} p50`, color: colorFor(op), dash: [5, 4], values: history.operations.get(op).p50 },
      ]),
      formatY: durationTick,
    });
    const legend = shown.map((op) => h('li', {}, h('span', { class: 'swatch', style: { background: colorFor(op) } }), op));
    rateLegend.replaceChildren(...legend);
    latencyLegend.replaceChildren(...legend.map((li) => li.cloneNode(true)));
    const rows = [...latest].sort((a, b) => b[1].rate - a[1].rate || a[0].localeCompare(b[0]));
    operationsBody.replaceChildren(
      ...(rows.length
        ? rows.map(([op, n]) => h('tr', {},
          h('th', { scope: 'row' }, h('span', { class: 'swatch', style: { background: colorFor(op) } }), op),
          h('td', {}, formatRate(n.rate)), h('td', {}, formatMillis(n.p50)), h('td', {}, formatMillis(n.p99)),
          h('td', {}, formatRate(n.errorRate))))
        : [h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No requests on the API listener yet.'))]));
    heat.update();
  };
  draw();
  const stop = onPoll(draw);
  const resize = () => draw();
  window.addEventListener('resize', resize);
  return {
    cleanup() {
      stop();
      window.removeEventListener('resize', resize);
    },
    keys: { h: () => heat.toggleMode() },
  };
}

// Partition heat: one row per table, 16 cells (one per hash range), coloured by reads plus
// writes — since the server started, or in the last poll interval.
function heatPanel({ openTable }) {
  let mode = 'total';
  const rows = h('div', { class: 'heat', 'data-list': '' });
  const modeButtons = [
    ['total', 'Since start'],
    ['recent', 'Last 2 s'],
  ].map(([value, label]) => h('button', { type: 'button', 'aria-pressed': String(value === mode), dataset: { mode: value }, onclick: () => setMode(value) }, label));
  const element = h('section', { class: 'panel', 'aria-labelledby': 'heat-title', id: 'heat-panel' },
    h('div', { class: 'panel-head' },
      h('h2', { id: 'heat-title' }, 'Partition heat (reads + writes per hash range)'),
      h('div', { class: 'segmented', role: 'group', 'aria-label': 'Heat over' }, modeButtons)),
    rows);

  function setMode(value) {
    mode = value;
    for (const b of modeButtons) b.setAttribute('aria-pressed', String(b.dataset.mode === mode));
    update();
  }

  function update() {
    const { current, previous } = latestSummary();
    if (!current) {
      rows.replaceChildren(h('p', { class: 'muted' }, 'Waiting for the first summary…'));
      return;
    }
    if (current.tables.length === 0) {
      rows.replaceChildren(h('p', { class: 'muted' }, 'No tables yet.'));
      return;
    }
    const focused = document.activeElement && rows.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    rows.replaceChildren(...current.tables.map((table) => {
      const before = previous && previous.tables.find((t) => t.region === table.region && t.name === table.name);
      const label = h('button', {
        type: 'button',
        class: 'link heat-label',
        'data-list-item': '',
        dataset: { key: `${table.region}/${table.name}` },
        title: `Open ${table.name} (${table.region})`,
        onclick: () => openTable(table.region, table.name),
      }, h('span', { class: 'muted' }, `${table.region} / `), table.name);
      return h('div', { class: 'heat-row' }, label, heatStrip(table, mode === 'recent' ? before || null : undefined));
    }));
    if (focused) {
      const again = [...rows.querySelectorAll('[data-list-item]')].find((el) => el.dataset.key === focused);
      if (again) again.focus();
    }
  }

  return { element, update, toggleMode: () => setMode(mode === 'total' ? 'recent' : 'total') };
}

// The 16 cells of one table. `before` undefined: totals since start; null or a summary: the
// activity since that summary (nothing when there is none yet).
export function heatStrip(table, before) {
  const recent = before !== undefined;
  const activity = table.partitions.map(([writes, reads], p) => {
    if (!recent) return { writes, reads };
    const [w0, r0] = before ? before.partitions[p] || [0, 0] : [writes, reads];
    return { writes: Math.max(0, writes - w0), reads: Math.max(0, reads - r0) };
  });
  const hottest = Math.max(0, ...activity.map((a) => a.writes + a.reads));
  const count = table.partitions.length;
  const width = 2 ** 32 / count;
  return h('div', { class: 'heat-strip', role: 'list', 'aria-label': `Partitions of ${table.name}` },
    activity.map((a, p) => {
      const low = (p * width).toString(16).padStart(8, '0');
      const high = ((p + 1) * width - 1).toString(16).padStart(8, '0');
      const text = `partition ${p} (hash 0x${low}–0x${high}): ${formatCount(a.writes)} writes, ${formatCount(a.reads)} reads${recent ? ' in the last interval' : ' since start'}`;
      const cell = h('div', {
        class: 'heat-cell',
        role: 'listitem',
        title: text,
        'aria-label': text,
        dataset: { partition: String(p), activity: String(a.writes + a.reads) },
      });
      cell.style.background = heatColor(hottest > 0 ? (a.writes + a.reads) / hottest : 0);
      return cell;
    }));
}
