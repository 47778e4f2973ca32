// End-to-end test of the web console: starts flywheel (in memory, on free loopback ports),
// drives the console in headless Chromium as a person would — mostly by keyboard — and checks
// every step twice: on the page, and through the DynamoDB API listener. Saves two screenshots
// to docs/ and checks that they are real pictures of the expected size.
//
//   node tests/console/console.test.mjs
//
// FLYWHEEL_BIN overrides the server binary (default target/release/flywheel), CHROMIUM the
// browser (default /usr/bin/chromium), CONSOLE_SCREENSHOT_DIR where the screenshots go (default
// docs/). Exits non-zero on any failure; always stops the server and the browser.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';
import * as prometheus from '../../crates/server/src/console/prometheus.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.FLYWHEEL_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'release', 'flywheel');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const VIEWPORT = { width: 1280, height: 800 };
const SCREENSHOT_DIR = process.env.CONSOLE_SCREENSHOT_DIR || path.join(ROOT, 'docs');
const SCREENSHOT_TABLE = path.join(SCREENSHOT_DIR, 'console-table.png');
const SCREENSHOT_METRICS = path.join(SCREENSHOT_DIR, 'console-metrics.png');
// How long to wait for something the page or server will do: generous, because a busy machine
// may be slow, and a passing run never waits the whole of it.
const TIMEOUT_MS = 60_000;

const ARTIST = 'No One You Know';
const SONGS = [
  ['No One You Know', 'Call Me Today', '2015', 'Country'],
  ['No One You Know', 'My Dog Spot', '2011', 'Country'],
  ['Acme Band', 'Happy Day', '2009', 'Rock'],
  ['Acme Band', 'PartiQL Rocks', '2019', 'Rock'],
  ['The Acme Band', 'Still in Love', '2020', 'Pop'],
  ['Tom Fox', 'Somewhere Down The Road', '2013', 'Folk'],
];

// --- a tiny runner: steps run in order, and stop at the first failure (each builds on the last) ---

let passed = 0;
let failed = 0;

async function step(name, body) {
  if (failed > 0) return;
  const started = Date.now();
  try {
    await body();
    passed++;
    console.log(`ok ${passed} - ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}\n  ${String(e && e.stack ? e.stack : e).split('\n').join('\n  ')}`);
  }
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// JSON with object members sorted: DynamoDB's attribute order is not part of an item.
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function equal(actual, expected, what) {
  const a = canonical(actual);
  const b = canonical(expected);
  check(a === b, `${what}: expected ${b}, got ${a}`);
}

async function eventually(what, probe, timeoutMs = TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      last = 'falsy';
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// --- the server ---

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startServer() {
  check(fs.existsSync(BIN), `no server binary at ${BIN}: run cargo build first, or set FLYWHEEL_BIN`);
  const apiPort = await freePort();
  const adminPort = await freePort();
  const child = spawn(BIN, ['--in-memory', '--listen', `127.0.0.1:${apiPort}`, '--admin-listen', `127.0.0.1:${adminPort}`, '--log-level', 'warn'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // However this script ends (a signal included), the server ends with it.
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  exited.then(() => process.off('exit', killOnExit));
  const server = { child, exited, api: `http://127.0.0.1:${apiPort}`, admin: `http://127.0.0.1:${adminPort}` };
  await eventually('the admin listener', async () => (await fetch(`${server.admin}/healthz`)).ok);
  return server;
}

async function stopServer(server) {
  if (!server || server.child.exitCode !== null) return;
  server.child.kill('SIGTERM');
  const stopped = await Promise.race([server.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]);
  if (!stopped) server.child.kill('SIGKILL');
}

// The DynamoDB API listener, as any SDK would call it (any well-formed SigV4 header is accepted).
async function dynamo(server, operation, body, region = 'us-east-1') {
  const response = await fetch(server.api, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.0',
      'X-Amz-Target': `DynamoDB_20120810.${operation}`,
      Authorization: `AWS4-HMAC-SHA256 Credential=console-test/20260101/${region}/dynamodb/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) {
    const error = new Error(`${operation}: ${json.__type} ${json.message}`);
    error.type = String(json.__type).split('#').pop();
    throw error;
  }
  return json;
}

function song([artist, title, year, genre]) {
  return { Artist: { S: artist }, SongTitle: { S: title }, Year: { N: year }, Genre: { S: genre } };
}

// --- PNG: enough of a decoder to check a screenshot's size and that it shows something ---

function readPng(file) {
  const data = fs.readFileSync(file);
  check(data.subarray(0, 8).equals(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10])), `${file} is not a PNG`);
  let header = null;
  const compressed = [];
  for (let at = 8; at < data.length;) {
    const length = data.readUInt32BE(at);
    const type = data.toString('ascii', at + 4, at + 8);
    const chunk = data.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      header = { width: chunk.readUInt32BE(0), height: chunk.readUInt32BE(4), depth: chunk[8], colorType: chunk[9], interlace: chunk[12] };
    } else if (type === 'IDAT') {
      compressed.push(chunk);
    } else if (type === 'IEND') {
      break;
    }
    at += 12 + length;
  }
  check(header, `${file} has no IHDR`);
  check(header.depth === 8 && (header.colorType === 2 || header.colorType === 6) && header.interlace === 0, `${file}: unexpected PNG format ${JSON.stringify(header)}`);
  const channels = header.colorType === 6 ? 4 : 3;
  const stride = header.width * channels;
  const raw = zlib.inflateSync(Buffer.concat(compressed));
  const pixels = Buffer.alloc(header.height * stride);
  for (let y = 0; y < header.height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = pixels.subarray(y * stride, (y + 1) * stride);
    const above = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : Buffer.alloc(stride);
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? row[x - channels] : 0;
      const b = above[x];
      const c = x >= channels ? above[x - channels] : 0;
      let predicted = 0;
      if (filter === 1) predicted = a;
      else if (filter === 2) predicted = b;
      else if (filter === 3) predicted = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      row[x] = (line[x] + predicted) & 255;
    }
  }
  return { ...header, channels, pixels };
}

// A screenshot of the page at the viewport's size that is not one flat colour: many colours,
// and the most common one (the background) covers well under all of it.
function checkScreenshot(file) {
  const png = readPng(file);
  equal([png.width, png.height], [VIEWPORT.width, VIEWPORT.height], `${path.basename(file)} size`);
  const counts = new Map();
  for (let i = 0; i < png.pixels.length; i += png.channels) {
    const rgb = (png.pixels[i] << 16) | (png.pixels[i + 1] << 8) | png.pixels[i + 2];
    counts.set(rgb, (counts.get(rgb) || 0) + 1);
  }
  const dominant = Math.max(...counts.values()) / (png.width * png.height);
  check(counts.size > 100, `${path.basename(file)} looks blank: only ${counts.size} colours`);
  check(dominant < 0.9, `${path.basename(file)} looks blank: one colour covers ${(dominant * 100).toFixed(1)}%`);
  return { colours: counts.size, dominant };
}

// --- the test ---

async function main() {
  let server;
  let browser;
  const pageErrors = [];
  try {
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
    server = await startServer();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // The machine has no network but loopback: nothing in the background may try to reach
      // out. Chromium's sandbox refuses to run as root (as CI does).
      args: [
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-quic',
        '--disable-sync',
        '--no-first-run',
        ...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : []),
      ],
    });
    const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1, colorScheme: 'light', reducedMotion: 'reduce' });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on('pageerror', (e) => pageErrors.push(`uncaught: ${e.message}`));
    page.on('console', (m) => {
      // A 400 from the console API is an answer the page shows, not a fault of the page.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(`console: ${m.text()}`);
    });
    const main = page.locator('main');
    const dialog = page.getByRole('dialog');

    await step('the page\'s Prometheus reader: labels, sums over tables, rates, quantiles', async () => {
      const scrape = (puts, fast, slow) => prometheus.requestTotals(prometheus.parse([
        '# TYPE flywheel_requests_total counter',
        `flywheel_requests_total{region="us-east-1",operation="PutItem",table="A"} ${puts - 1}`,
        `flywheel_requests_total{region="eu-west-1",operation="PutItem",table="B \\"quoted\\", back\\\\slash"} 1`,
        `flywheel_request_duration_seconds_bucket{region="us-east-1",operation="PutItem",table="A",le="0.001"} ${fast}`,
        `flywheel_request_duration_seconds_bucket{region="us-east-1",operation="PutItem",table="A",le="0.01"} ${fast + slow}`,
        `flywheel_request_duration_seconds_bucket{region="us-east-1",operation="PutItem",table="A",le="+Inf"} ${fast + slow}`,
        'flywheel_requests_in_flight 0',
        'not a sample',
      ].join('\n')));
      const samples = prometheus.parse('m{a="x\\"y",b="1"} 2.5\n');
      equal(samples, [{ name: 'm', labels: { a: 'x"y', b: '1' }, value: 2.5 }], 'an escaped label');
      const before = scrape(10, 0, 0);
      equal(before.get('PutItem').count, 10, 'requests summed over regions and tables');
      const after = scrape(30, 0, 20);
      const interval = prometheus.between(before, after, 2).get('PutItem');
      equal(interval.rate, 10, '20 requests in 2 s');
      check(Math.abs(interval.p50 - 0.0055) < 1e-9, `p50 interpolated inside the 1–10 ms bucket: ${interval.p50}`);
      check(Math.abs(interval.p99 - 0.00991) < 1e-9, `p99: ${interval.p99}`);
      equal(prometheus.quantile(0.5, [[0.001, 0], [Infinity, 4]]), 0.001, 'a rank past the last bound is that bound');
      equal(prometheus.quantile(0.5, [[0.001, 0], [Infinity, 0]]), null, 'no requests, no quantile');
      equal(prometheus.between(after, before, 2).has('PutItem'), false, 'a counter that went back (restart) gives no number');
    });

    await step('the admin listener serves the console, its assets and its API', async () => {
      const html = await fetch(`${server.admin}/console`);
      equal(html.status, 200, 'GET /console');
      check((await html.text()).includes('/console/assets/app.js'), 'the page loads app.js');
      const js = await fetch(`${server.admin}/console/assets/app.js`);
      check(js.headers.get('content-type').startsWith('text/javascript'), 'app.js is served as JavaScript');
      equal((await fetch(`${server.admin}/console/assets/nope.js`)).status, 404, 'an unknown asset');
      const listed = await fetch(`${server.admin}/console/api`, {
        method: 'POST',
        headers: { 'X-Amz-Target': 'DynamoDB_20120810.ListTables', 'X-Flywheel-Region': 'us-east-1' },
        body: '{}',
      });
      equal([listed.status, await listed.json()], [200, { TableNames: [] }], 'ListTables through the console API');
      const unknown = await fetch(`${server.admin}/console/api`, { method: 'POST', headers: { 'X-Amz-Target': 'DynamoDB_20120810.Nope' }, body: '{}' });
      equal(unknown.status, 400, 'an unknown operation');
      check((await unknown.json()).__type.endsWith('#UnknownOperationException'), 'UnknownOperationException');
      equal(await (await fetch(`${server.admin}/console/api/summary`)).json(), { tables: [] }, 'the summary');
    });

    await step('the tables view starts empty and / focuses its filter', async () => {
      await page.goto(`${server.admin}/console`);
      await main.getByRole('heading', { name: 'Tables in us-east-1' }).waitFor();
      await main.getByText('No tables in us-east-1 yet').waitFor();
      await page.keyboard.press('/');
      check(await page.locator('#table-filter').evaluate((el) => el === document.activeElement), '/ focuses the table filter');
      await page.keyboard.press('Escape');
    });

    await step('create a table (keyboard: c opens the dialog)', async () => {
      await page.keyboard.press('c');
      const create = page.getByRole('dialog', { name: 'Create table' });
      await create.waitFor();
      check(await create.getByLabel('Table name').evaluate((el) => el === document.activeElement), 'the name field has focus');
      await page.keyboard.type('Music');
      const partition = create.getByRole('group', { name: 'Partition key' });
      await partition.getByLabel('Attribute name').fill('Artist');
      await partition.getByLabel('Type').selectOption('S');
      const sort = create.getByRole('group', { name: 'Sort key (optional)' });
      await sort.getByLabel('Attribute name').fill('SongTitle');
      await sort.getByLabel('Type').selectOption('S');
      await create.getByRole('button', { name: 'Create table' }).click();
      await main.getByRole('heading', { name: 'Music', exact: true }).waitFor();
      check(page.url().endsWith('#table/Music'), `the new table opens (${page.url()})`);
      await main.getByText('No items. Add one').waitFor();
      const { Table } = await dynamo(server, 'DescribeTable', { TableName: 'Music' });
      equal(Table.KeySchema, [{ AttributeName: 'Artist', KeyType: 'HASH' }, { AttributeName: 'SongTitle', KeyType: 'RANGE' }], 'key schema');
      equal(Table.BillingModeSummary && Table.BillingModeSummary.BillingMode, 'PAY_PER_REQUEST', 'billing mode');
    });

    await step('a bad table name shows DynamoDB\'s error in the dialog', async () => {
      await page.keyboard.press('t');
      await main.getByRole('heading', { name: 'Tables in us-east-1' }).waitFor();
      await page.getByRole('button', { name: 'Create table' }).click();
      const create = page.getByRole('dialog', { name: 'Create table' });
      await create.getByLabel('Table name').fill('Music');
      const partition = create.getByRole('group', { name: 'Partition key' });
      await partition.getByLabel('Attribute name').fill('Artist');
      await create.getByRole('button', { name: 'Create table' }).click();
      await create.getByRole('alert').filter({ hasText: 'ResourceInUseException' }).waitFor();
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
    });

    await step('the table list shows keys, counts, stream and TTL; j and Enter open a table', async () => {
      const row = main.locator('#tables tbody tr', { hasText: 'Music' });
      await row.waitFor();
      const cells = await row.locator('th, td').allInnerTexts();
      equal(cells.map((c) => c.replace(/\s+/g, ' ').trim()), ['Music', 'Artist S SongTitle S', 'none', '0', '0 B', 'off', 'off', 'ACTIVE'], 'the Music row');
      await page.keyboard.press('j');
      check(await page.evaluate(() => document.activeElement.textContent) === 'Music', 'j focuses the first table');
      await page.keyboard.press('Enter');
      await main.getByRole('heading', { name: 'Music', exact: true }).waitFor();
    });

    await step('add an item (n opens the editor)', async () => {
      await main.getByText('No items. Add one').waitFor();
      await page.keyboard.press('n');
      const editor = page.getByRole('dialog', { name: 'New item in Music' });
      await editor.waitFor();
      const template = JSON.parse(await editor.getByRole('textbox').inputValue());
      equal(template, { Artist: { S: '' }, SongTitle: { S: '' } }, 'the new-item template');
      await editor.getByRole('textbox').fill(JSON.stringify(song(SONGS[0]), null, 2));
      await editor.getByRole('button', { name: 'Create item' }).click();
      await dialog.waitFor({ state: 'detached' });
      const row = main.locator('#items tbody tr', { hasText: 'Call Me Today' });
      await row.waitFor();
      check((await row.innerText()).includes('2015'), 'the row shows the year');
      const { Item } = await dynamo(server, 'GetItem', { TableName: 'Music', Key: { Artist: { S: ARTIST }, SongTitle: { S: 'Call Me Today' } } });
      equal(Item, song(SONGS[0]), 'the item through the API');
    });

    await step('an invalid edit shows DynamoDB\'s message and changes nothing; Esc closes', async () => {
      await main.getByRole('button', { name: /^Open item Artist No One You Know, SongTitle Call Me Today/ }).click();
      const editor = page.getByRole('dialog', { name: 'Item in Music' });
      await editor.waitFor();
      const bad = { ...song(SONGS[0]), Year: { N: 'two thousand' } };
      await editor.getByRole('textbox').fill(JSON.stringify(bad));
      await editor.getByRole('button', { name: 'Save' }).click();
      const alert = editor.getByRole('alert');
      await alert.filter({ hasText: 'ValidationException' }).waitFor();
      const message = await alert.innerText();
      check(message.includes('cannot be converted to a numeric value: two thousand'), `DynamoDB's message: ${message}`);
      await editor.getByRole('textbox').fill('{"Artist": ');
      await editor.getByRole('button', { name: 'Save' }).click();
      await alert.filter({ hasText: 'Not valid JSON' }).waitFor();
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      const { Item } = await dynamo(server, 'GetItem', { TableName: 'Music', Key: { Artist: { S: ARTIST }, SongTitle: { S: 'Call Me Today' } } });
      equal(Item, song(SONGS[0]), 'the item is unchanged');
    });

    await step('edit the item (Ctrl+Enter saves)', async () => {
      await main.getByRole('button', { name: /^Open item Artist No One You Know, SongTitle Call Me Today/ }).focus();
      await page.keyboard.press('Enter');
      const editor = page.getByRole('dialog', { name: 'Item in Music' });
      const box = editor.getByRole('textbox');
      const shown = JSON.parse(await box.inputValue());
      equal(shown, song(SONGS[0]), 'the editor shows the stored item');
      const edited = { ...shown, Year: { N: '2016' }, Awards: { L: [{ S: 'Best Country Song' }] } };
      await box.fill(JSON.stringify(edited, null, 2));
      await box.press('Control+Enter');
      await dialog.waitFor({ state: 'detached' });
      await main.locator('#items tbody tr', { hasText: '2016' }).waitFor();
      await eventually('focus back on the edited row', async () =>
        (await page.evaluate(() => document.activeElement.getAttribute('aria-label') || '')).startsWith('Open item Artist No One You Know, SongTitle Call Me Today'));
      const { Item } = await dynamo(server, 'GetItem', { TableName: 'Music', Key: { Artist: { S: ARTIST }, SongTitle: { S: 'Call Me Today' } } });
      equal(Item, edited, 'the edited item through the API');
    });

    await step('query by partition key, scan with a filter, page with Next and Previous', async () => {
      for (const s of SONGS.slice(1)) await dynamo(server, 'PutItem', { TableName: 'Music', Item: song(s) });
      const form = main.getByRole('form', { name: 'Scan or query' });
      await form.getByLabel('Query').check();
      await form.getByLabel('Key condition').fill('Artist = :a');
      await form.getByLabel('Attribute values (JSON)').fill(JSON.stringify({ ':a': { S: ARTIST } }));
      await form.getByRole('button', { name: 'Run' }).click();
      await main.getByText('Query: 2 items').waitFor();
      equal(await main.locator('#items tbody th').allInnerTexts(), [ARTIST, ARTIST], 'the queried partition');
      equal(await main.locator('#items tbody tr td:nth-child(2)').allInnerTexts(), ['Call Me Today', 'My Dog Spot'], 'sort-key order');
      const viaApi = await dynamo(server, 'Query', { TableName: 'Music', KeyConditionExpression: 'Artist = :a', ExpressionAttributeValues: { ':a': { S: ARTIST } } });
      equal(viaApi.Count, 2, 'the same query through the API');

      await form.getByLabel('Descending').check();
      await form.getByRole('button', { name: 'Run' }).click();
      await eventually('descending order', async () =>
        JSON.stringify(await main.locator('#items tbody tr td:nth-child(2)').allInnerTexts()) === JSON.stringify(['My Dog Spot', 'Call Me Today']));

      await form.getByLabel('Scan').check();
      await form.getByLabel('Filter expression').fill('#y >= :y');
      await form.getByLabel('Attribute names (JSON)').fill('{"#y": "Year"}');
      await form.getByLabel('Attribute values (JSON)').fill('{":y": {"N": "2015"}}');
      await form.getByRole('button', { name: 'Run' }).click();
      await main.getByText('Scan: 3 items (6 read)').waitFor();

      await form.getByRole('button', { name: 'Clear' }).click();
      await form.getByLabel('Page size').fill('4');
      await form.getByRole('button', { name: 'Run' }).click();
      await main.getByText('Scan: 4 items').waitFor();
      const first = await main.locator('#items tbody th').allInnerTexts();
      await page.keyboard.press(']');
      await main.getByText('Scan: 2 items').waitFor();
      await main.getByText('Page 2').waitFor();
      check(await main.getByRole('button', { name: 'Next →' }).isDisabled(), 'Next is off on the last page');
      const second = await main.locator('#items tbody th').allInnerTexts();
      await main.getByRole('button', { name: '← Previous' }).click();
      await main.getByText('Page 1').waitFor();
      equal(await main.locator('#items tbody th').allInnerTexts(), first, 'Previous shows the first page again');
      const all = [...first, ...second].sort();
      equal(all, SONGS.map((s) => s[0]).sort(), 'two pages hold every item once');

      await form.getByLabel('Page size').fill('25');
      await form.getByRole('button', { name: 'Run' }).click();
      await main.getByText('Scan: 6 items').waitFor();
      await page.mouse.move(0, 0);
      await page.screenshot({ path: SCREENSHOT_TABLE });
    });

    await step('the region selector lists regions with tables and switches between them', async () => {
      await dynamo(server, 'CreateTable', {
        TableName: 'Sessions',
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }, 'eu-west-1');
      await page.reload();
      const region = page.getByLabel('Region');
      await eventually('eu-west-1 in the region list', async () => (await region.locator('option').allInnerTexts()).includes('eu-west-1'));
      await region.selectOption('eu-west-1');
      await main.getByRole('heading', { name: 'Tables in eu-west-1' }).waitFor();
      await main.locator('#tables tbody tr', { hasText: 'Sessions' }).waitFor();
      check(!(await main.locator('#tables').innerText()).includes('Music'), 'Music lives in us-east-1 only');
      await region.selectOption('us-east-1');
      await main.locator('#tables tbody tr', { hasText: 'Music' }).waitFor();
    });

    await step('a table with an index, a stream and TTL: listed, and queried through the index', async () => {
      await dynamo(server, 'CreateTable', {
        TableName: 'Orders',
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }, { AttributeName: 'customer', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [{ IndexName: 'byCustomer', KeySchema: [{ AttributeName: 'customer', KeyType: 'HASH' }], Projection: { ProjectionType: 'ALL' } }],
        StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
        BillingMode: 'PAY_PER_REQUEST',
      });
      await dynamo(server, 'UpdateTimeToLive', { TableName: 'Orders', TimeToLiveSpecification: { Enabled: true, AttributeName: 'expiresAt' } });
      for (const [id, customer] of [['o-1', 'ann'], ['o-2', 'bob'], ['o-3', 'ann']]) {
        await dynamo(server, 'PutItem', { TableName: 'Orders', Item: { id: { S: id }, customer: { S: customer } } });
      }
      await eventually('the index to be active', async () =>
        (await dynamo(server, 'DescribeTable', { TableName: 'Orders' })).Table.GlobalSecondaryIndexes[0].IndexStatus === 'ACTIVE');
      await page.keyboard.press('t');
      const row = main.locator('#tables tbody tr', { hasText: 'Orders' });
      await row.waitFor();
      const cells = (await row.locator('th, td').allInnerTexts()).map((c) => c.replace(/\s+/g, ' ').trim());
      equal(cells, ['Orders', 'id S', 'byCustomer GSI', '3', cells[4], 'NEW_AND_OLD_IMAGES', 'expiresAt', 'ACTIVE'], 'the Orders row');
      await page.keyboard.press('/');
      await page.keyboard.type('ord');
      check(!(await main.locator('#tables tbody tr', { hasText: 'Music' }).isVisible()), 'the filter hides Music');
      await page.keyboard.press('Escape');
      await page.keyboard.press('j');
      await page.keyboard.press('Enter');
      await main.getByRole('heading', { name: 'Orders', exact: true }).waitFor();
      const form = main.getByRole('form', { name: 'Scan or query' });
      await form.getByLabel('Query').check();
      await form.getByLabel('Index').selectOption('byCustomer');
      await main.getByText('Keys: customer (S)').waitFor();
      await form.getByLabel('Key condition').fill('customer = :c');
      await form.getByLabel('Attribute values (JSON)').fill('{":c": {"S": "ann"}}');
      await form.getByLabel('Key condition').press('Enter');
      await main.getByText('Query: 2 items').waitFor();
      equal((await main.locator('#items tbody th').allInnerTexts()).sort(), ['o-1', 'o-3'], 'ann\'s orders through the index');
      // Esc leaves the text field, so the next letters are shortcuts again.
      await page.keyboard.press('Escape');
    });

    await step('metrics: live request-rate and latency charts and partition heat (m)', async () => {
      await dynamo(server, 'CreateTable', {
        TableName: 'Events',
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      });
      await page.keyboard.press('m');
      await main.getByRole('heading', { name: 'Metrics' }).waitFor();
      // API traffic for the charts, bounded by counts rather than by the clock, so a slow or
      // busy machine only makes the step slower: at least 400 rounds (every key, so every
      // partition, is written), then on until both charts have drawn the PutItem and GetItem
      // lines (the page scrapes every 2 s, so that takes a few polls), at most 20,000 rounds.
      let enough = false;
      let rounds = 0;
      const load = (async () => {
        for (let i = 0; i < 20_000 && !(enough && i >= 400); i++) {
          const key = { id: { S: `event-${i % 400}` } };
          await dynamo(server, 'PutItem', { TableName: 'Events', Item: { ...key, n: { N: String(i) } } });
          await dynamo(server, 'GetItem', { TableName: 'Events', Key: key });
          // Twice the reads of writes: lines of equal rates would hide each other.
          await dynamo(server, 'GetItem', { TableName: 'Events', Key: { id: { S: `event-${(i * 7) % 400}` } } });
          if (i % 10 === 0) await dynamo(server, 'Query', { TableName: 'Music', KeyConditionExpression: 'Artist = :a', ExpressionAttributeValues: { ':a': { S: ARTIST } } });
          rounds = i + 1;
          // A breath for the page, whose polls draw the charts.
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      const operations = main.locator('#operations tbody');
      await eventually('PutItem in the operations table', async () => (await operations.innerText()).includes('PutItem'), 120_000);

      const colourOf = (operation) => main.locator('.legend li', { hasText: operation }).first().locator('.swatch').evaluate((el) => getComputedStyle(el).backgroundColor);
      const colours = { PutItem: await colourOf('PutItem'), GetItem: await colourOf('GetItem') };
      // Pixels of each colour on each chart.
      const pixels = () => page.evaluate((wanted) => {
        const out = {};
        for (const id of ['rate-chart', 'latency-chart']) {
          const canvas = document.getElementById(id);
          const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
          out[id] = {};
          for (const [operation, colour] of Object.entries(wanted)) {
            const [r, g, b] = colour.match(/\d+/g).map(Number);
            let n = 0;
            for (let i = 0; i < data.length; i += 4) {
              if (Math.abs(data[i] - r) < 12 && Math.abs(data[i + 1] - g) < 12 && Math.abs(data[i + 2] - b) < 12) n++;
            }
            out[id][operation] = n;
          }
        }
        return out;
      }, colours);
      // Lines over a few polls, partly under each other: tens of pixels at least, none if undrawn.
      const drawnEnough = (drawn) => drawn['rate-chart'].PutItem > 30 && drawn['rate-chart'].GetItem > 30
        && drawn['latency-chart'].PutItem > 15 && drawn['latency-chart'].GetItem > 15;
      let drawn;
      try {
        await eventually('both charts drawing PutItem and GetItem lines', async () => drawnEnough(drawn = await pixels()), 120_000);
      } finally {
        enough = true;
        await load;
      }
      check(rounds >= 400, `the load wrote every key: ${rounds} rounds`);
      const shown = JSON.stringify(drawn);
      check(drawn['rate-chart'].PutItem > 30 && drawn['rate-chart'].GetItem > 30, `the rate chart draws PutItem and GetItem lines: ${shown}`);
      check(drawn['latency-chart'].PutItem > 15 && drawn['latency-chart'].GetItem > 15, `the latency chart draws their lines: ${shown}`);

      const heatRow = main.locator('.heat-row', { hasText: 'Events' });
      const heatOf = () => heatRow.locator('.heat-cell').evaluateAll((cells) => cells.map((c) => Number(c.dataset.activity)));
      // The page shows the heat as of its last poll, which may predate the last rounds.
      let activity = [];
      try {
        await eventually('every partition warm', async () => (activity = await heatOf()).filter((a) => a > 0).length === 16, 60_000);
      } catch (e) {
        throw new Error(`400 keys touch every partition: ${activity} (${e.message})`);
      }
      equal(activity.length, 16, 'one heat cell per partition');
      const summary = await (await fetch(`${server.admin}/console/api/summary`)).json();
      const events = summary.tables.find((t) => t.name === 'Events');
      const total = events.partitions.reduce((sum, [w, r]) => sum + w + r, 0);
      check(activity.reduce((a, b) => a + b, 0) <= total, 'the heat is the summary\'s reads and writes');
      equal(events.itemCount, 400, 'Events item count in the summary');
      const shades = await heatRow.locator('.heat-cell').evaluateAll((cells) => new Set(cells.map((c) => getComputedStyle(c).backgroundColor)).size);
      check(shades > 1, 'the heat cells are coloured by activity');
      await page.mouse.move(0, 0);
      await page.screenshot({ path: SCREENSHOT_METRICS });
    });

    await step('delete the item, after confirming', async () => {
      await page.keyboard.press('t');
      await main.locator('#tables tbody tr', { hasText: 'Music' }).getByRole('link', { name: 'Music' }).click();
      await main.getByRole('button', { name: /^Open item Artist No One You Know, SongTitle Call Me Today/ }).click();
      const editor = page.getByRole('dialog', { name: 'Item in Music' });
      await editor.getByRole('button', { name: 'Delete item…' }).click();
      const confirm = page.getByRole('dialog', { name: 'Delete item' });
      await confirm.getByText('Delete the item Artist = No One You Know, SongTitle = Call Me Today').waitFor();
      // Cancel first: nothing may happen.
      await confirm.getByRole('button', { name: 'Cancel' }).click();
      await confirm.waitFor({ state: 'detached' });
      const key = { Artist: { S: ARTIST }, SongTitle: { S: 'Call Me Today' } };
      check((await dynamo(server, 'GetItem', { TableName: 'Music', Key: key })).Item, 'Cancel keeps the item');
      await editor.getByRole('button', { name: 'Delete item…' }).click();
      await confirm.getByRole('button', { name: 'Delete item' }).click();
      await dialog.waitFor({ state: 'detached' });
      await main.getByText('Scan: 5 items').waitFor();
      check(!(await main.locator('#items').innerText()).includes('Call Me Today'), 'the item is gone from the page');
      equal((await dynamo(server, 'GetItem', { TableName: 'Music', Key: key })).Item, undefined, 'the item through the API');
    });

    await step('delete the table, after typing its name', async () => {
      await main.getByRole('button', { name: 'Delete table…' }).click();
      const confirm = page.getByRole('dialog', { name: 'Delete table Music' });
      const button = confirm.getByRole('button', { name: 'Delete table' });
      check(await button.isDisabled(), 'Delete is off until the name is typed');
      await confirm.getByLabel('Table name').fill('music');
      check(await button.isDisabled(), 'a wrong name keeps it off');
      await confirm.getByLabel('Table name').fill('Music');
      await button.click();
      await main.getByRole('heading', { name: 'Tables in us-east-1' }).waitFor();
      await main.locator('#tables tbody tr', { hasText: 'Events' }).waitFor();
      check(!(await main.locator('#tables').innerText()).includes('Music'), 'Music is gone from the list');
      let type = null;
      try {
        await dynamo(server, 'DescribeTable', { TableName: 'Music' });
      } catch (e) {
        type = e.type;
      }
      equal(type, 'ResourceNotFoundException', 'DescribeTable after the delete');
    });

    await step('the help dialog lists the keys', async () => {
      await page.keyboard.press('?');
      const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
      await help.getByText('Focus the filter').waitFor();
      await page.keyboard.press('Escape');
      await help.waitFor({ state: 'detached' });
    });

    await step('the screenshots are real pictures of the console', async () => {
      for (const file of [SCREENSHOT_TABLE, SCREENSHOT_METRICS]) {
        const { colours, dominant } = checkScreenshot(file);
        console.log(`  ${file}: ${VIEWPORT.width}x${VIEWPORT.height}, ${colours} colours, background ${(dominant * 100).toFixed(0)}%`);
      }
    });

    await step('the page raised no script errors', async () => {
      equal(pageErrors, [], 'script errors');
    });
  } catch (e) {
    failed++;
    console.log(`not ok - setup: ${e && e.stack ? e.stack : e}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stopServer(server);
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

// Playwright closes the browser on these signals; exiting then also stops the server (above).
const stop = () => process.exit(130);
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
process.exitCode = await main();
