// The console's entry point: the region selector, routing between views by the URL's hash
// (#tables, #table/NAME, #metrics) and the keyboard shortcuts.

import { region, setRegion, summary } from './api.js';
import { h, isTyping, moveInList, openDialog } from './dom.js';
import { renderTable } from './items.js';
import { renderMetrics, startPolling } from './metrics.js';
import { renderTables, tableHref } from './tables.js';

const main = document.getElementById('main');
const regionSelect = document.getElementById('region');
let view = { cleanup() {}, keys: {} };

const SHORTCUTS = [
  ['/', 'Focus the filter (tables) or the filter expression (items)'],
  ['j / k', 'Next / previous row in a list'],
  ['Enter', 'Open the focused row'],
  ['Esc', 'Close a dialog'],
  ['t', 'Tables'],
  ['m', 'Metrics'],
  ['c', 'Create a table (tables view)'],
  ['n', 'New item (table view)'],
  ['[ / ]', 'Previous / next page of items'],
  ['r', 'Refresh the list or run the query again'],
  ['h', 'Heat: switch between since start and last 2 s (metrics view)'],
  ['?', 'This help'],
];

function openTable(inRegion, name) {
  if (inRegion !== region()) chooseRegion(inRegion);
  location.hash = tableHref(name);
}

function showTables() {
  if (location.hash === '#tables') route();
  else location.hash = '#tables';
}

function route() {
  view.cleanup();
  const hash = decodeURIComponent(location.hash.replace(/^#/, ''));
  for (const link of document.querySelectorAll('[data-nav]')) {
    const current = hash === link.dataset.nav || (link.dataset.nav === 'tables' && hash.startsWith('table'));
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (hash === 'metrics') {
    document.title = 'Metrics · Flywheel console';
    view = renderMetrics(main, { openTable });
  } else if (hash.startsWith('table/')) {
    const name = hash.slice('table/'.length);
    document.title = `${name} · Flywheel console`;
    view = renderTable(main, name, { showTables });
  } else {
    document.title = 'Tables · Flywheel console';
    view = renderTables(main, { openTable });
  }
}

// --- region ---
function fillRegions(known) {
  const names = [...new Set(['us-east-1', region(), ...known])].sort();
  regionSelect.replaceChildren(
    ...names.map((name) => h('option', { value: name, selected: name === region() }, name)),
    h('option', { value: '' }, 'Other region…'));
  regionSelect.value = region();
}

function chooseRegion(name) {
  setRegion(name);
  fillRegions([...regionSelect.options].map((o) => o.value).filter(Boolean));
}

regionSelect.addEventListener('change', () => {
  let chosen = regionSelect.value;
  if (chosen === '') {
    chosen = (window.prompt('Region name, e.g. eu-west-1') || '').trim();
    if (!chosen) {
      regionSelect.value = region();
      return;
    }
  }
  chooseRegion(chosen);
  if (location.hash === '#tables' || location.hash === '') route();
  else if (location.hash !== '#metrics') location.hash = '#tables';
});

async function loadRegions() {
  try {
    const { tables } = await summary();
    fillRegions(tables.map((t) => t.region));
  } catch {
    fillRegions([]);
  }
}

// --- keys ---
function help() {
  openDialog({
    title: 'Keyboard shortcuts',
    className: 'help',
    content: [
      h('table', { class: 'grid' }, h('tbody', {}, SHORTCUTS.map(([key, what]) => h('tr', {}, h('th', { scope: 'row' }, h('kbd', {}, key)), h('td', {}, what))))),
      h('div', { class: 'actions' }, h('button', { type: 'button', autofocus: true, onclick: (e) => e.target.closest('dialog').close() }, 'Close')),
    ],
  });
}

document.addEventListener('keydown', (event) => {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  if (document.querySelector('dialog[open]')) return;
  if (isTyping(event.target)) {
    // Esc leaves a text field, so the next key is a shortcut again.
    if (event.key === 'Escape') event.target.blur();
    return;
  }
  const key = event.key;
  let handled = true;
  if (key === '/') {
    const target = main.querySelector('[data-filter]');
    if (target) target.focus();
    else handled = false;
  } else if (key === 'j' || key === 'k') {
    handled = moveInList(main, key === 'j' ? 1 : -1);
  } else if (key === '?') {
    help();
  } else if (key === 't') {
    showTables();
  } else if (key === 'm') {
    location.hash = '#metrics';
  } else if (view.keys && view.keys[key]) {
    view.keys[key]();
  } else {
    handled = false;
  }
  if (handled) event.preventDefault();
});

document.getElementById('help-button').addEventListener('click', help);
window.addEventListener('hashchange', route);

fillRegions([]);
loadRegions();
startPolling();
route();
