// One table: its numbers and partition heat, its items page by page (Scan or Query with
// Limit and ExclusiveStartKey), and the item editor (PutItem of the edited JSON, DeleteItem).

import { call, region } from './api.js';
import { confirmDialog, formatBytes, formatCount, h, openDialog, status } from './dom.js';
import { heatStrip, latestSummary, onPoll } from './metrics.js';
import { deleteTableDialog, indexList, keyBadges, keyText, streamText } from './tables.js';

const PAGE_SIZE_DEFAULT = 25;
// Attribute columns shown besides the key; an item's other attributes are in its JSON.
const COLUMNS_MAX = 12;

// A short, single-line rendering of an attribute value for the item list.
export function briefValue(value) {
  const [type, v] = Object.entries(value || {})[0] || ['?', ''];
  switch (type) {
    case 'S':
    case 'N':
      return v;
    case 'BOOL':
      return String(v);
    case 'NULL':
      return 'null';
    case 'B':
      return `binary, ${Math.floor((v.length * 3) / 4)} bytes`;
    case 'SS':
    case 'NS':
      return `{${v.join(', ')}}`;
    case 'BS':
      return `{${v.length} binary}`;
    case 'L':
      return `[${v.length} ${v.length === 1 ? 'element' : 'elements'}]`;
    case 'M': {
      const n = Object.keys(v).length;
      return `{${n} ${n === 1 ? 'attribute' : 'attributes'}}`;
    }
    default:
      return JSON.stringify(value);
  }
}

function typeOf(value) {
  return Object.keys(value || {})[0] || '';
}

// An item as editable JSON: one attribute per line, key attributes first, each value on that
// line when it is short (DynamoDB JSON pretty-printed in full is mostly braces).
export function itemJson(item, keyNames) {
  const names = [...keyNames.filter((k) => k in item), ...Object.keys(item).filter((k) => !keyNames.includes(k)).sort()];
  if (names.length === 0) return '{}';
  const lines = names.map((name) => {
    const one = compactJson(item[name]);
    const value = one.length <= 96 ? one : JSON.stringify(item[name], null, 2).replace(/\n/g, '\n  ');
    return `  ${JSON.stringify(name)}: ${value}`;
  });
  return `{\n${lines.join(',\n')}\n}`;
}

function compactJson(value) {
  if (Array.isArray(value)) return `[${value.map(compactJson).join(', ')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${compactJson(v)}`).join(', ')}}`;
  }
  return JSON.stringify(value);
}

// Parses an optional JSON object field; '' is "not given".
function jsonField(input, label) {
  const text = input.value.trim();
  if (text === '') return undefined;
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${label} is not valid JSON: ${e.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${label} must be a JSON object`);
  return value;
}

// The table view. Returns its cleanup and view keys.
export function renderTable(main, name, { showTables }) {
  const heading = h('h1', { tabindex: '-1' }, name);
  const facts = h('dl', { class: 'facts' });
  const heat = h('div', { class: 'table-heat' });
  const form = h('form', { class: 'query', 'aria-label': 'Scan or query' });
  const formError = h('p', { class: 'error', role: 'alert' });
  const info = h('p', { class: 'result-info', role: 'status' });
  const results = h('div', { class: 'results' });
  const previous = h('button', { type: 'button', disabled: true, 'aria-keyshortcuts': '[', onclick: () => goPage(-1) }, '← Previous');
  const next = h('button', { type: 'button', disabled: true, 'aria-keyshortcuts': ']', onclick: () => goPage(1) }, 'Next →');
  const pageLabel = h('span', { class: 'muted' });
  main.replaceChildren(
    h('section', { class: 'view table-view' },
      h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
        h('a', { href: '#tables' }, `Tables in ${region()}`), ' / ', h('span', { 'aria-current': 'page' }, name)),
      h('div', { class: 'toolbar' },
        heading,
        h('button', { type: 'button', class: 'primary', id: 'new-item', 'aria-keyshortcuts': 'n', onclick: () => newItem() }, 'New item'),
        h('button', { type: 'button', class: 'danger', id: 'delete-table', onclick: () => deleteTableDialog(name, { done: showTables }) }, 'Delete table…')),
      facts,
      heat,
      form,
      formError,
      h('div', { class: 'pager' }, info, h('span', { class: 'spacer' }), pageLabel, previous, next),
      results));

  let description = null;
  let pages = [undefined];
  let page = 0;
  let items = [];
  // The key of the item last opened, so that focus returns to its row once the page reloads.
  let focusKey = null;

  const tableKey = () => [keyText(description, 'HASH'), keyText(description, 'RANGE')].filter(Boolean);
  const keyOf = (item) => Object.fromEntries(tableKey().map((k) => [k.name, item[k.name]]));

  // --- the query form ---
  const modeScan = h('input', { type: 'radio', name: 'mode', value: 'scan', checked: true, onchange: () => modeChanged() });
  const modeQuery = h('input', { type: 'radio', name: 'mode', value: 'query', onchange: () => modeChanged() });
  const index = h('select', { name: 'index', onchange: () => modeChanged() });
  const keyCondition = h('input', { name: 'keyCondition', autocomplete: 'off', spellcheck: 'false' });
  const filter = h('input', { name: 'filter', autocomplete: 'off', spellcheck: 'false', 'data-filter': '', 'aria-keyshortcuts': '/' });
  const names = h('input', { name: 'names', autocomplete: 'off', spellcheck: 'false', placeholder: '{"#n": "name"}' });
  const values = h('input', { name: 'values', autocomplete: 'off', spellcheck: 'false', placeholder: '{":v": {"S": "value"}}' });
  const pageSize = h('input', { name: 'limit', type: 'number', min: '1', max: '1000', value: String(PAGE_SIZE_DEFAULT) });
  const descending = h('input', { type: 'checkbox', name: 'descending' });
  const keyHint = h('small', { class: 'muted' });
  const field = (label, input, className = '') => h('label', { class: `field ${className}` }, h('span', {}, label), input);
  const queryOnly = [];
  const keyField = field('Key condition', keyCondition, 'wide');
  const descendingField = h('label', { class: 'check' }, descending, ' Descending');
  queryOnly.push(keyField, descendingField);
  form.append(
    h('div', { class: 'field-row' },
      h('fieldset', { class: 'mode' }, h('legend', {}, 'Read with'),
        h('label', { class: 'check' }, modeScan, ' Scan'), h('label', { class: 'check' }, modeQuery, ' Query')),
      field('Index', index), keyHint, descendingField),
    keyField,
    field('Filter expression', filter, 'wide'),
    h('div', { class: 'field-row' },
      field('Attribute names (JSON)', names, 'grow'), field('Attribute values (JSON)', values, 'grow'),
      field('Page size', pageSize, 'narrow'),
      h('button', { type: 'button', onclick: () => resetForm() }, 'Clear'),
      h('button', { type: 'submit', class: 'primary', id: 'run' }, 'Run')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    pages = [undefined];
    page = 0;
    run();
  });

  function modeChanged() {
    const query = modeQuery.checked;
    for (const el of queryOnly) el.hidden = !query;
    const keys = selectedKeys();
    keyHint.textContent = keys.length ? `Keys: ${keys.map((k) => `${k.name} (${k.type})`).join(', ')}` : '';
    const pk = keys[0];
    const simple = pk && /^[A-Za-z][A-Za-z0-9_]*$/.test(pk.name);
    keyCondition.placeholder = pk ? (simple ? `${pk.name} = :pk` : '#pk = :pk') : '';
  }

  function selectedKeys() {
    if (!description) return [];
    const chosen = index.value;
    if (!chosen) return tableKey();
    const all = [...(description.GlobalSecondaryIndexes || []), ...(description.LocalSecondaryIndexes || [])];
    const found = all.find((i) => i.IndexName === chosen);
    if (!found) return [];
    const view = { KeySchema: found.KeySchema, AttributeDefinitions: description.AttributeDefinitions };
    return [keyText(view, 'HASH'), keyText(view, 'RANGE')].filter(Boolean);
  }

  function resetForm() {
    for (const input of [keyCondition, filter, names, values]) input.value = '';
    pageSize.value = String(PAGE_SIZE_DEFAULT);
    descending.checked = false;
    formError.textContent = '';
  }

  function request() {
    const query = modeQuery.checked;
    const body = { TableName: name };
    const limit = Number(pageSize.value);
    if (Number.isInteger(limit) && limit > 0) body.Limit = limit;
    if (index.value) body.IndexName = index.value;
    if (query) {
      body.KeyConditionExpression = keyCondition.value.trim();
      if (descending.checked) body.ScanIndexForward = false;
    }
    if (filter.value.trim()) body.FilterExpression = filter.value.trim();
    const n = jsonField(names, 'Attribute names');
    if (n) body.ExpressionAttributeNames = n;
    const v = jsonField(values, 'Attribute values');
    if (v) body.ExpressionAttributeValues = v;
    if (pages[page]) body.ExclusiveStartKey = pages[page];
    return { operation: query ? 'Query' : 'Scan', body };
  }

  async function run() {
    formError.textContent = '';
    let operation;
    let body;
    try {
      ({ operation, body } = request());
    } catch (e) {
      formError.textContent = e.message;
      return;
    }
    const started = performance.now();
    try {
      const answer = await call(operation, body);
      const elapsed = performance.now() - started;
      items = answer.Items || [];
      pages.length = page + 1;
      if (answer.LastEvaluatedKey) pages.push(answer.LastEvaluatedKey);
      showItems();
      const scanned = answer.ScannedCount !== undefined && answer.ScannedCount !== answer.Count ? ` (${formatCount(answer.ScannedCount)} read)` : '';
      info.textContent = `${operation}: ${formatCount(items.length)} ${items.length === 1 ? 'item' : 'items'}${scanned} in ${elapsed.toFixed(1)} ms`;
    } catch (e) {
      formError.textContent = String(e);
      items = [];
      showItems();
      info.textContent = '';
    }
    previous.disabled = page === 0;
    next.disabled = pages.length <= page + 1;
    pageLabel.textContent = `Page ${page + 1}`;
  }

  function goPage(step) {
    const target = page + step;
    if (target < 0 || target >= pages.length) return;
    page = target;
    run();
  }

  function showItems() {
    const keys = tableKey().map((k) => k.name);
    const indexKeys = selectedKeys().map((k) => k.name).filter((k) => !keys.includes(k));
    const seen = new Set();
    for (const item of items) for (const attribute of Object.keys(item)) seen.add(attribute);
    const others = [...seen].filter((a) => !keys.includes(a) && !indexKeys.includes(a)).sort();
    const columns = [...keys, ...indexKeys, ...others.slice(0, COLUMNS_MAX)];
    const hidden = others.length - Math.min(others.length, COLUMNS_MAX);
    if (items.length === 0) {
      results.replaceChildren(h('p', { class: 'muted empty' }, page > 0 || pages.length > 1 ? 'No items on this page.' : 'No items. Add one with “New item” (n).'));
      return;
    }
    const rows = items.map((item) => h('tr', {}, columns.map((column, i) => {
      const value = item[column];
      const text = value === undefined ? '' : briefValue(value);
      if (i === 0) {
        const label = keys.map((k) => `${k} ${briefValue(item[k])}`).join(', ');
        return h('th', { scope: 'row' },
          h('button', {
            type: 'button',
            class: 'link',
            'data-list-item': '',
            dataset: { key: JSON.stringify(keyOf(item)) },
            'aria-label': `Open item ${label}`,
            onclick: () => openItem(item),
          }, text || '(empty)'));
      }
      return h('td', { class: `t-${typeOf(value)}`, title: text }, text);
    })));
    const more = hidden > 0 ? [h('p', { class: 'muted' }, `${hidden} more ${hidden === 1 ? 'attribute is' : 'attributes are'} in each item's JSON.`)] : [];
    results.replaceChildren(
      h('table', { class: 'grid items', id: 'items', 'data-list': '' },
        h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c, keys.includes(c) || indexKeys.includes(c) ? h('span', { class: 'key-mark', title: 'key' }, ' ⚷') : null)))),
        h('tbody', {}, rows)),
      ...more);
    const nothingFocused = !document.activeElement || document.activeElement === document.body;
    if (focusKey && nothingFocused && !document.querySelector('dialog[open]')) {
      const row = [...results.querySelectorAll('[data-list-item]')].find((el) => el.dataset.key === focusKey);
      if (row) row.focus();
    }
  }

  // --- the item editor ---
  async function openItem(listed) {
    focusKey = JSON.stringify(keyOf(listed));
    let item = listed;
    try {
      // The listed item may be an index projection or stale: edit what the table holds now.
      const answer = await call('GetItem', { TableName: name, Key: keyOf(listed), ConsistentRead: true });
      if (!answer.Item) {
        status('That item no longer exists.', 'error');
        run();
        return;
      }
      item = answer.Item;
    } catch (e) {
      status(`Cannot read the item: ${e}`, 'error');
      return;
    }
    itemDialog(item, false);
  }

  function newItem() {
    if (!description) return;
    const template = {};
    for (const k of tableKey()) template[k.name] = { [k.type]: k.type === 'N' ? '0' : '' };
    itemDialog(template, true);
  }

  function itemDialog(item, isNew) {
    const editor = h('textarea', {
      class: 'json',
      id: 'item-json',
      rows: 18,
      spellcheck: 'false',
      'aria-label': 'Item JSON in DynamoDB attribute-value form',
      'aria-describedby': 'item-help',
      autofocus: true,
    });
    editor.value = itemJson(item, tableKey().map((k) => k.name));
    const error = h('p', { class: 'error', role: 'alert', id: 'item-error' });
    const save = h('button', { type: 'submit', class: 'primary', 'aria-keyshortcuts': 'Control+Enter' }, isNew ? 'Create item' : 'Save');
    const remove = isNew ? null : h('button', { type: 'button', class: 'danger', onclick: () => removeItem() }, 'Delete item…');
    const original = keyOf(item);
    const form = h('form', {
      onsubmit: async (event) => {
        event.preventDefault();
        let edited;
        try {
          edited = JSON.parse(editor.value);
        } catch (e) {
          error.textContent = `Not valid JSON: ${e.message}`;
          return;
        }
        save.disabled = true;
        error.textContent = '';
        try {
          await call('PutItem', { TableName: name, Item: edited });
          dialog.close();
          status(isNew ? 'Created the item.' : 'Saved the item.');
          run();
        } catch (e) {
          error.textContent = String(e);
          save.disabled = false;
        }
      },
    },
    h('p', { class: 'muted', id: 'item-help' }, 'DynamoDB JSON: each attribute is {"S": …}, {"N": "…"}, {"BOOL": …}, {"M": {…}}, {"L": […]} and so on. Saving writes the whole item with PutItem; changing a key attribute writes a new item. Ctrl+Enter saves, Esc closes.'),
    editor,
    error,
    h('div', { class: 'actions' }, remove, h('span', { class: 'spacer' }), h('button', { type: 'button', onclick: () => dialog.close() }, 'Close'), save));
    editor.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    const dialog = openDialog({ title: isNew ? `New item in ${name}` : `Item in ${name}`, content: form, className: 'item-dialog' });
    // Start at the top: the key attributes come first.
    editor.setSelectionRange(0, 0);
    editor.scrollTop = 0;

    async function removeItem() {
      const shown = Object.entries(original).map(([k, v]) => `${k} = ${briefValue(v)}`).join(', ');
      if (!(await confirmDialog({ title: 'Delete item', message: `Delete the item ${shown} from ${name}? This cannot be undone.`, confirm: 'Delete item' }))) return;
      try {
        await call('DeleteItem', { TableName: name, Key: original });
        dialog.close();
        status('Deleted the item.');
        run();
      } catch (e) {
        error.textContent = String(e);
      }
    }
  }

  // --- numbers and heat ---
  function showFacts() {
    const { current } = latestSummary();
    const numbers = current && current.tables.find((t) => t.region === region() && t.name === name);
    const fact = (term, ...detail) => h('div', { class: 'fact' }, h('dt', {}, term), h('dd', {}, ...detail));
    facts.replaceChildren(
      fact('Keys', keyBadges(description)),
      fact('Items', formatCount(numbers ? numbers.itemCount : description.ItemCount)),
      fact('Size', formatBytes(numbers ? numbers.sizeBytes : description.TableSizeBytes)),
      fact('Indexes', indexList(description, numbers && numbers.indexes)),
      fact('Stream', streamText(description)),
      fact('TTL', numbers && numbers.ttlAttribute ? numbers.ttlAttribute : 'off'),
      fact('Status', description.TableStatus));
    if (numbers) heat.replaceChildren(h('span', { class: 'muted' }, 'Partition heat'), heatStrip(numbers));
  }

  async function load() {
    try {
      description = (await call('DescribeTable', { TableName: name })).Table;
    } catch (e) {
      formError.textContent = String(e);
      form.hidden = true;
      return;
    }
    const all = [...(description.GlobalSecondaryIndexes || []), ...(description.LocalSecondaryIndexes || [])];
    index.replaceChildren(h('option', { value: '' }, 'Table'), ...all.map((i) => h('option', { value: i.IndexName }, i.IndexName)));
    modeChanged();
    showFacts();
    run();
  }

  load();
  heading.focus({ preventScroll: true });
  const stop = onPoll(() => {
    if (description) showFacts();
  });
  return {
    cleanup: stop,
    keys: {
      n: () => newItem(),
      r: () => run(),
      ']': () => goPage(1),
      '[': () => goPage(-1),
    },
  };
}
