// The console's only ways to talk to the server: DynamoDB operations through POST /console/api
// (the same JSON as the API listener, no signature), the table summary, and /metrics.

const REGION_KEY = 'flywheel.console.region';
const STREAMS_OPERATIONS = new Set(['ListStreams', 'DescribeStream', 'GetShardIterator', 'GetRecords']);

export const DEFAULT_REGION = 'us-east-1';

let currentRegion = loadRegion();

function loadRegion() {
  try {
    return localStorage.getItem(REGION_KEY) || DEFAULT_REGION;
  } catch {
    return DEFAULT_REGION;
  }
}

export function region() {
  return currentRegion;
}

export function setRegion(name) {
  currentRegion = name;
  try {
    localStorage.setItem(REGION_KEY, name);
  } catch {
    // Storage may be off (private windows); the region then lasts until the page reloads.
  }
}

// An error as DynamoDB reports it: `type` is the short __type (ValidationException, …).
export class DynamoError extends Error {
  constructor(type, message, httpStatus) {
    super(message);
    this.type = type;
    this.httpStatus = httpStatus;
  }

  toString() {
    return this.message ? `${this.type}: ${this.message}` : this.type;
  }
}

// Runs one DynamoDB operation; resolves to the answer's JSON or rejects with a DynamoError.
export async function call(operation, body = {}) {
  const prefix = STREAMS_OPERATIONS.has(operation) ? 'DynamoDBStreams_20120810' : 'DynamoDB_20120810';
  let response;
  try {
    response = await fetch('/console/api', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.0',
        'X-Amz-Target': `${prefix}.${operation}`,
        'X-Flywheel-Region': currentRegion,
      },
      body: JSON.stringify(body),
    });
  } catch (e) {
    throw new DynamoError('NetworkError', `the server did not answer (${e.message})`, 0);
  }
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    throw new DynamoError('InvalidResponse', text.slice(0, 200), response.status);
  }
  if (!response.ok) {
    const type = String(json.__type || `HTTP ${response.status}`).split('#').pop();
    throw new DynamoError(type, json.message || json.Message || '', response.status);
  }
  return json;
}

// Every table's counters: {tables: [{region, name, itemCount, sizeBytes, indexes, partitions:
// [[writes, reads], …], streamViewType, ttlAttribute}]}.
export async function summary() {
  const response = await fetch('/console/api/summary', { cache: 'no-store' });
  if (!response.ok) throw new DynamoError(`HTTP ${response.status}`, await response.text(), response.status);
  return response.json();
}

// The Prometheus text of /metrics.
export async function metricsText() {
  const response = await fetch('/metrics', { cache: 'no-store' });
  if (!response.ok) throw new DynamoError(`HTTP ${response.status}`, await response.text(), response.status);
  return response.text();
}

// All table names of the current region, following ListTables' pages.
export async function listTableNames() {
  const names = [];
  let start;
  do {
    const page = await call('ListTables', start ? { ExclusiveStartTableName: start } : {});
    names.push(...(page.TableNames || []));
    start = page.LastEvaluatedTableName;
  } while (start);
  return names;
}

// Runs `work` over `inputs` with at most `width` calls in flight, keeping the input order.
export async function mapLimited(inputs, width, work) {
  const out = new Array(inputs.length);
  let next = 0;
  const worker = async () => {
    while (next < inputs.length) {
      const i = next++;
      out[i] = await work(inputs[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, inputs.length) }, worker));
  return out;
}
