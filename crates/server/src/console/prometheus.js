// Reads the Prometheus text format of /metrics and turns two scrapes into per-operation request
// rates and latency quantiles.

// One sample per line: {name, labels, value}. Comments, blank and malformed lines are skipped.
export function parse(text) {
  const samples = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const sample = parseLine(line);
    if (sample) samples.push(sample);
  }
  return samples;
}

function parseLine(line) {
  let i = 0;
  while (i < line.length && /[A-Za-z0-9_:]/.test(line[i])) i++;
  const name = line.slice(0, i);
  if (name === '') return null;
  const labels = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ',' || line[i] === ' ') i++;
      if (i >= line.length) return null;
      if (line[i] === '}') {
        i++;
        break;
      }
      const eq = line.indexOf('=', i);
      if (eq < 0 || line[eq + 1] !== '"') return null;
      const key = line.slice(i, eq).trim();
      i = eq + 2;
      let value = '';
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && i + 1 < line.length) {
          const escaped = line[i + 1];
          value += escaped === 'n' ? '\n' : escaped;
          i += 2;
        } else {
          value += line[i++];
        }
      }
      if (i >= line.length) return null;
      i++;
      labels[key] = value;
    }
  }
  const value = parseNumber(line.slice(i).trim().split(/\s+/)[0]);
  return value === null ? null : { name, labels, value };
}

export function parseNumber(text) {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (text === undefined || text === '') return null;
  const value = Number(text);
  return Number.isNaN(value) ? null : value;
}

// Per operation, summed over tables: {count, errors, buckets: [[upperBound, cumulativeCount], …]}
// from flywheel_requests_total, flywheel_errors_total and
// flywheel_request_duration_seconds_bucket.
export function requestTotals(samples) {
  const operations = new Map();
  const of = (operation) => {
    let totals = operations.get(operation);
    if (!totals) {
      totals = { count: 0, errors: 0, buckets: new Map() };
      operations.set(operation, totals);
    }
    return totals;
  };
  for (const { name, labels, value } of samples) {
    const operation = labels.operation;
    if (operation === undefined || !Number.isFinite(value)) continue;
    if (name === 'flywheel_requests_total') {
      of(operation).count += value;
    } else if (name === 'flywheel_errors_total') {
      of(operation).errors += value;
    } else if (name === 'flywheel_request_duration_seconds_bucket') {
      const bound = parseNumber(labels.le);
      if (bound === null) continue;
      const buckets = of(operation).buckets;
      buckets.set(bound, (buckets.get(bound) || 0) + value);
    }
  }
  for (const totals of operations.values()) {
    totals.buckets = [...totals.buckets.entries()].sort((a, b) => a[0] - b[0]);
  }
  return operations;
}

// What happened between two scrapes `seconds` apart, per operation: {rate, errorRate, p50, p99}
// (rates per second, quantiles in seconds or null without requests). An operation whose counter
// went backwards (the server restarted) is left out: no honest number exists for it.
export function between(previous, current, seconds) {
  const out = new Map();
  for (const [operation, now] of current) {
    const before = previous.get(operation) || { count: 0, errors: 0, buckets: [] };
    const count = now.count - before.count;
    if (count < 0 || seconds <= 0) continue;
    const earlier = new Map(before.buckets);
    const buckets = now.buckets.map(([bound, n]) => [bound, n - (earlier.get(bound) || 0)]);
    out.set(operation, {
      rate: count / seconds,
      errorRate: Math.max(0, now.errors - before.errors) / seconds,
      p50: quantile(0.5, buckets),
      p99: quantile(0.99, buckets),
    });
  }
  return out;
}

// The q-quantile of cumulative buckets, as PromQL's histogram_quantile estimates it: find the
// bucket holding the rank and interpolate linearly inside it. A rank in the +Inf bucket is
// reported as the largest finite bound.
export function quantile(q, buckets) {
  if (buckets.length === 0) return null;
  const total = buckets[buckets.length - 1][1];
  if (!(total > 0)) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [bound, cumulative] of buckets) {
    if (cumulative >= rank) {
      if (bound === Infinity) return lower;
      if (cumulative === below) return bound;
      return lower + ((bound - lower) * (rank - below)) / (cumulative - below);
    }
    lower = bound;
    below = cumulative;
  }
  return lower;
}
