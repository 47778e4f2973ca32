// Line charts on <canvas>, drawn by hand: a time axis, a linear or logarithmic value axis, one
// line per series with gaps where a value is missing. Colours come from the page's CSS variables
// so the charts follow the light or dark scheme.

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#ea580c', '#64748b'];
const assigned = new Map();

// A colour per name that stays the same for the whole session.
export function colorFor(name) {
  if (!assigned.has(name)) assigned.set(name, PALETTE[assigned.size % PALETTE.length]);
  return assigned.get(name);
}

const PADDING = { left: 64, right: 12, top: 12, bottom: 24 };

// times: sample times in ms; series: [{label, color, dash, values}] (values aligned with
// times, null for none); scale: 'linear' or 'log'; formatY: tick label text.
export function drawLineChart(canvas, { times, series, windowMs, scale = 'linear', formatY = String, emptyText = 'No requests yet' }) {
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (width === 0 || height === 0) return;
  const ratio = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const style = getComputedStyle(canvas);
  const colors = {
    background: style.getPropertyValue('--chart-bg').trim() || '#fff',
    text: style.getPropertyValue('--chart-text').trim() || '#555',
    grid: style.getPropertyValue('--chart-grid').trim() || '#e5e7eb',
  };
  ctx.fillStyle = colors.background;
  ctx.fillRect(0, 0, width, height);
  ctx.font = '11px system-ui, sans-serif';

  const plot = { x: PADDING.left, y: PADDING.top, w: width - PADDING.left - PADDING.right, h: height - PADDING.top - PADDING.bottom };
  const end = times.length ? times[times.length - 1] : Date.now();
  const start = end - windowMs;
  const xOf = (t) => plot.x + (plot.w * (t - start)) / windowMs;

  const values = series.flatMap((s) => s.values).filter((v) => v !== null && Number.isFinite(v) && (scale !== 'log' || v > 0));
  const axis = values.length ? yAxis(values, scale) : null;

  // Time axis: a label per minute back from now.
  ctx.fillStyle = colors.text;
  ctx.strokeStyle = colors.grid;
  ctx.lineWidth = 1;
  ctx.textBaseline = 'top';
  for (let back = 0; back <= windowMs; back += 30_000) {
    const x = Math.round(xOf(end - back)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(x, plot.y);
    ctx.lineTo(x, plot.y + plot.h);
    ctx.stroke();
    const label = back === 0 ? 'now' : `-${back / 1000}s`;
    ctx.textAlign = back === 0 ? 'right' : 'center';
    ctx.fillText(label, x, plot.y + plot.h + 6);
  }
  if (!axis) {
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText(emptyText, plot.x + plot.w / 2, plot.y + plot.h / 2);
    return;
  }

  const yOf = (v) => plot.y + plot.h * (1 - axis.position(v));
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const tick of axis.ticks) {
    const y = Math.round(yOf(tick)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(plot.x, y);
    ctx.lineTo(plot.x + plot.w, y);
    ctx.stroke();
    ctx.fillText(formatY(tick), plot.x - 6, y);
  }

  ctx.save();
  ctx.beginPath();
  ctx.rect(plot.x, plot.y - 2, plot.w, plot.h + 4);
  ctx.clip();
  ctx.lineWidth = 2;
  ctx.lineJoin = 'round';
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.setLineDash(s.dash || []);
    ctx.beginPath();
    let drawing = false;
    s.values.forEach((v, i) => {
      const usable = v !== null && Number.isFinite(v) && (scale !== 'log' || v > 0);
      if (!usable) {
        drawing = false;
        return;
      }
      const x = xOf(times[i]);
      const y = yOf(v);
      if (drawing) {
        ctx.lineTo(x, y);
      } else {
        ctx.moveTo(x, y);
        // A lone point has no line to show it: mark it with a dot.
        const next = s.values[i + 1];
        if (next === null || next === undefined) ctx.fillRect(x - 2, y - 2, 4, 4);
        drawing = true;
      }
    });
    ctx.stroke();
  }
  ctx.restore();
  ctx.setLineDash([]);
}

// The value axis: where a value sits (0 bottom … 1 top) and which ticks to label.
function yAxis(values, scale) {
  const max = Math.max(...values);
  if (scale === 'log') {
    const min = Math.min(...values);
    let low = Math.floor(Math.log10(min));
    let high = Math.ceil(Math.log10(max));
    if (high === low) high += 1;
    const ticks = [];
    for (let e = low; e <= high; e++) ticks.push(10 ** e);
    return { ticks, position: (v) => (Math.log10(v) - low) / (high - low) };
  }
  const step = niceStep(max > 0 ? max / 4 : 1);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const ticks = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
  return { ticks, position: (v) => v / top };
}

function niceStep(rough) {
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * magnitude >= rough) return m * magnitude;
  }
  return 10 * magnitude;
}

// The heat colour of a share (0 … 1) of the hottest partition's activity: a pale cell for none,
// then yellow through orange to red.
export function heatColor(share) {
  if (!(share > 0)) return 'var(--heat-none)';
  const s = Math.min(1, share);
  const hue = 55 - 55 * s;
  const lightness = 82 - 36 * s;
  return `hsl(${hue.toFixed(0)} 90% ${lightness.toFixed(0)}%)`;
}
