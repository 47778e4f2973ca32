// The tables of the current region: their keys, indexes, size, stream and TTL; creating and
// deleting tables.

import { call, listTableNames, mapLimited, region, summary } from './api.js';
import { formatBytes, formatCount, h, openDialog, status } from './dom.js';

// "Artist S" for a key schema element, with its type from the attribute definitions.
export function keyText(description, keyType) {
  const element = (description.KeySchema || []).find((k) => k.KeyType === keyType);
  if (!element) return null;
  const definition = (description.AttributeDefinitions || []).find((d) => d.AttributeName === element.AttributeName);
  return { name: element.AttributeName, type: definition ? definition.AttributeType : '?' };
}

export function keyBadges(description) {
  return [keyText(description, 'HASH'), keyText(description, 'RANGE')]
    .filter(Boolean)
    .map((k, i) => h('span', { class: 'key', title: `${i === 0 ? 'partition' : 'sort'} key, type ${k.type}` },
      k.name, h('span', { class: 'type' }, k.type)));
}

export function indexList(description, counts) {
  const indexes = [
    ...(description.GlobalSecondaryIndexes || []).map((i) => ({ ...i, kind: 'GSI' })),
    ...(description.LocalSecondaryIndexes || []).map((i) => ({ ...i, kind: 'LSI', IndexStatus: 'ACTIVE' })),
  ];
  if (indexes.length === 0) return h('span', { class: 'muted' }, 'none');
  return h('ul', { class: 'inline-list' }, indexes.map((i) => {
    const numbers = counts && counts.find((c) => c.name === i.IndexName);
    const state = i.IndexStatus && i.IndexStatus !== 'ACTIVE' ? ` ${i.IndexStatus.toLowerCase()}` : '';
    return h('li', { title: numbers ? `${formatCount(numbers.itemCount)} items, ${formatBytes(numbers.sizeBytes)}` : '' },
      i.IndexName, h('span', { class: 'muted' }, ` ${i.kind}${state}`));
  }));
}

export function streamText(description) {
  const spec = description.StreamSpecification;
  return spec && spec.StreamEnabled ? spec.StreamViewType : 'off';
}

// The tables view. Returns its cleanup and view keys.
export function renderTables(main, { openTable }) {
  const filter = h('input', {
    type: 'search',
    id: 'table-filter',
    'data-filter': '',
    placeholder: 'Filter tables',
    'aria-keyshortcuts': '/',
    autocomplete: 'off',
    oninput: () => applyFilter(),
  });
  const body = h('tbody');
  const empty = h('p', { class: 'muted empty', hidden: true });
  const heading = h('h1', { tabindex: '-1' }, 'Tables ', h('span', { class: 'muted' }, `in ${region()}`));
  main.replaceChildren(
    h('section', { class: 'view tables-view' },
      h('div', { class: 'toolbar' },
        heading,
        h('label', { class: 'filter' }, h('span', { class: 'visually-hidden' }, 'Filter tables (/)'), filter),
        h('button', { type: 'button', class: 'primary', id: 'create-table', 'aria-keyshortcuts': 'c', onclick: () => createTableDialog({ openTable }) }, 'Create table'),
        h('button', { type: 'button', 'aria-keyshortcuts': 'r', onclick: () => load() }, 'Refresh')),
      h('table', { class: 'grid', id: 'tables', 'data-list': '' },
        h('thead', {}, h('tr', {}, ['Name', 'Keys', 'Indexes', 'Items', 'Size', 'Stream', 'TTL', 'Status'].map((t) => h('th', { scope: 'col' }, t)))),
        body),
      empty));

  let rows = [];
  function applyFilter() {
    const needle = filter.value.trim().toLowerCase();
    let shown = 0;
    for (const row of rows) {
      const match = row.dataset.name.toLowerCase().includes(needle);
      row.hidden = !match;
      if (match) shown++;
    }
    empty.hidden = shown > 0 || rows.length === 0;
    empty.textContent = `No table matches “${filter.value}”.`;
  }

  async function load() {
    const inRegion = region();
    try {
      const [names, counters] = await Promise.all([listTableNames(), summary()]);
      const descriptions = await mapLimited(names, 8, (name) =>
        call('DescribeTable', { TableName: name }).then((r) => r.Table, () => null));
      if (inRegion !== region()) return;
      rows = descriptions.filter(Boolean).map((d) => {
        const numbers = counters.tables.find((t) => t.region === inRegion && t.name === d.TableName);
        const open = h('a', { href: tableHref(d.TableName), 'data-list-item': '' }, d.TableName);
        return h('tr', { dataset: { name: d.TableName } },
          h('th', { scope: 'row' }, open),
          h('td', {}, keyBadges(d)),
          h('td', {}, indexList(d, numbers && numbers.indexes)),
          h('td', { class: 'number' }, formatCount(numbers ? numbers.itemCount : d.ItemCount)),
          h('td', { class: 'number' }, formatBytes(numbers ? numbers.sizeBytes : d.TableSizeBytes)),
          h('td', {}, streamText(d)),
          h('td', {}, numbers && numbers.ttlAttribute ? numbers.ttlAttribute : h('span', { class: 'muted' }, 'off')),
          h('td', {}, d.TableStatus));
      });
      body.replaceChildren(...rows);
      if (rows.length === 0) {
        body.replaceChildren(h('tr', {}, h('td', { colspan: 8, class: 'muted' }, `No tables in ${inRegion} yet. Create one with “Create table” (c).`)));
      }
      applyFilter();
    } catch (e) {
      status(`Cannot list tables: ${e}`, 'error');
    }
  }

  load();
  heading.focus({ preventScroll: true });
  return { cleanup() {}, keys: { c: () => createTableDialog({ openTable }), r: () => load() } };
}

export function tableHref(name) {
  return `#table/${encodeURIComponent(name)}`;
}

// CreateTable with a partition key, an optional sort key, on-demand capacity.
export function createTableDialog({ openTable }) {
  const types = () => h('select', {}, [['S', 'String'], ['N', 'Number'], ['B', 'Binary']].map(([v, t]) => h('option', { value: v }, `${t} (${v})`)));
  const name = h('input', { name: 'name', required: true, pattern: '[A-Za-z0-9_.\\-]{3,255}', autocomplete: 'off', autofocus: true, title: '3 to 255 letters, digits, _ . or -' });
  const pk = h('input', { name: 'pk', required: true, autocomplete: 'off' });
  const pkType = types();
  const sk = h('input', { name: 'sk', autocomplete: 'off' });
  const skType = types();
  const error = h('p', { class: 'error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create table');
  const field = (label, input, hint) => h('label', { class: 'field' }, h('span', {}, label), input, hint ? h('small', { class: 'muted' }, hint) : null);
  const form = h('form', {
    onsubmit: async (event) => {
      event.preventDefault();
      const attributes = [{ AttributeName: pk.value.trim(), AttributeType: pkType.value }];
      const keys = [{ AttributeName: pk.value.trim(), KeyType: 'HASH' }];
      if (sk.value.trim()) {
        attributes.push({ AttributeName: sk.value.trim(), AttributeType: skType.value });
        keys.push({ AttributeName: sk.value.trim(), KeyType: 'RANGE' });
      }
      submit.disabled = true;
      error.textContent = '';
      try {
        await call('CreateTable', {
          TableName: name.value.trim(),
          AttributeDefinitions: attributes,
          KeySchema: keys,
          BillingMode: 'PAY_PER_REQUEST',
        });
        dialog.close();
        status(`Created table ${name.value.trim()}.`);
        openTable(region(), name.value.trim());
      } catch (e) {
        error.textContent = String(e);
        submit.disabled = false;
      }
    },
  },
  field('Table name', name, '3–255 characters: letters, digits, _ . -'),
  h('fieldset', {}, h('legend', {}, 'Partition key'), field('Attribute name', pk), field('Type', pkType)),
  h('fieldset', {}, h('legend', {}, 'Sort key (optional)'), field('Attribute name', sk), field('Type', skType)),
  h('p', { class: 'muted' }, 'Capacity: on demand (PAY_PER_REQUEST).'),
  error,
  h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel'), submit));
  const dialog = openDialog({ title: 'Create table', content: form, className: 'create-table' });
  return dialog;
}

// DeleteTable, once the table's name has been typed.
export function deleteTableDialog(name, { done }) {
  const typed = h('input', { autocomplete: 'off', autofocus: true, 'aria-describedby': 'delete-table-hint', oninput: () => { submit.disabled = typed.value !== name; } });
  const error = h('p', { class: 'error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'danger', disabled: true }, 'Delete table');
  const form = h('form', {
    onsubmit: async (event) => {
      event.preventDefault();
      if (typed.value !== name) return;
      submit.disabled = true;
      try {
        await call('DeleteTable', { TableName: name });
        dialog.close();
        status(`Deleted table ${name}.`);
        done();
      } catch (e) {
        error.textContent = String(e);
        submit.disabled = false;
      }
    },
  },
  h('p', { id: 'delete-table-hint' }, 'This deletes the table ', h('strong', {}, name), ' and every item in it. Type its name to confirm.'),
  h('label', { class: 'field' }, h('span', {}, 'Table name'), typed),
  error,
  h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel'), submit));
  const dialog = openDialog({ title: `Delete table ${name}`, content: form, className: 'delete-table' });
  return dialog;
}
