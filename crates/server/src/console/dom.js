// Small DOM helpers shared by the views: element building, dialogs, the status line and number
// formatting. No framework: every view builds its elements with h() and replaces them whole.

// h('button', {class: 'primary', onclick: f}, 'Save'): props starting with "on" become event
// listeners, `class`, `text`, `dataset` and `style` are special, anything else is an attribute
// (false and null leave it out, true sets it empty). Children may be nodes, strings or arrays.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'text') {
      el.textContent = value;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'style') {
      Object.assign(el.style, value);
    } else if (key === 'value' || key === 'checked' || key === 'disabled') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Shows a modal <dialog> built from `content` and removes it once closed. Esc closes it (the
// browser's own behaviour for modal dialogs); focus returns to whatever had it before.
export function openDialog({ title, content, className = '', label }) {
  const before = document.activeElement;
  const heading = h('h2', { id: `dialog-title-${++dialogCount}`, text: title });
  const dialog = h('dialog', { class: `dialog ${className}`, 'aria-labelledby': heading.id, 'aria-label': label }, heading, content);
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (before && before.isConnected) before.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  const first = dialog.querySelector('[autofocus], input, textarea, select, button');
  if (first) first.focus();
  return dialog;
}
let dialogCount = 0;

// Asks a yes/no question in a dialog; resolves to true only if the confirming button was used.
export function confirmDialog({ title, message, confirm = 'Delete', danger = true }) {
  return new Promise((resolve) => {
    let answer = false;
    const yes = h('button', { type: 'button', class: danger ? 'danger' : 'primary', onclick: () => { answer = true; dialog.close(); } }, confirm);
    const no = h('button', { type: 'button', autofocus: true, onclick: () => dialog.close() }, 'Cancel');
    const dialog = openDialog({ title, content: [h('p', {}, message), h('div', { class: 'actions' }, no, yes)] });
    dialog.addEventListener('close', () => resolve(answer));
  });
}

// The status line at the bottom of the page: the outcome of the last action.
export function status(message, kind = 'info') {
  const el = document.getElementById('status');
  if (!el) return;
  el.textContent = message;
  el.dataset.kind = kind;
}

export function formatBytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatCount(n) {
  if (n === null || n === undefined) return '–';
  return Number(n).toLocaleString('en-US');
}

export function formatMillis(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '–';
  const ms = seconds * 1000;
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}

export function formatRate(perSecond) {
  if (perSecond === null || perSecond === undefined) return '–';
  if (perSecond === 0) return '0';
  if (perSecond < 10) return perSecond.toFixed(1);
  return Math.round(perSecond).toLocaleString('en-US');
}

// Whether a key press is meant for a text field rather than for the page's shortcuts.
export function isTyping(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag !== 'INPUT') return false;
  return !['checkbox', 'radio', 'button', 'submit', 'reset'].includes(target.type);
}

// Moves focus among the items of the current view's list ([data-list] holding
// [data-list-item] elements): step +1 for j, -1 for k.
export function moveInList(root, step) {
  const list = root.querySelector('[data-list]');
  if (!list) return false;
  const items = [...list.querySelectorAll('[data-list-item]')].filter((el) => el.offsetParent !== null);
  if (items.length === 0) return false;
  const at = items.indexOf(document.activeElement);
  const next = at < 0 ? (step > 0 ? 0 : items.length - 1) : Math.min(items.length - 1, Math.max(0, at + step));
  items[next].focus();
  items[next].scrollIntoView({ block: 'nearest' });
  return true;
}
