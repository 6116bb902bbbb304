// Form building blocks shared by the views.

import { h, parseJSON } from './lib.js';
import { store, peersSorted, roles } from './store.js';

let fieldSeq = 0;

// field wraps an input with its label and an optional hint line.
export function field(label, input, hint) {
  if (!input.id) input.id = 'f' + ++fieldSeq;
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input, hint ? h('p', { class: 'hint' }, hint) : null);
}

// targets keeps a <datalist> of addresses current: agent names, then
// role:<role> (or plain role names), then * for everyone.
export function targetList(id, { rolePrefix = 'role:', everyone = true } = {}) {
  const dl = h('datalist', { id });
  const update = () => {
    const opts = [];
    for (const p of peersSorted()) if (p.name !== store.me) opts.push([p.name, `${p.name}${p.role ? ' — ' + p.role : ''}${p.online ? '' : ' (offline)'}`]);
    for (const r of roles()) opts.push([rolePrefix + r, `every agent with role ${r}`]);
    if (everyone) opts.push(['*', 'everyone']);
    const sig = JSON.stringify(opts);
    if (dl._sig === sig) return;
    dl._sig = sig;
    dl.replaceChildren(...opts.map(([v, l]) => h('option', { value: v }, l)));
  };
  update();
  return { el: dl, update };
}

// jsonInput is a textarea validated as JSON while the person types. It
// reports validity through onValidity(ok) and shows the parse error.
export function jsonInput({ name, placeholder, object = false, optional = true, rows = 4, onValidity }) {
  const ta = h('textarea', { name, rows, placeholder, spellcheck: 'false', class: 'mono', autocomplete: 'off' });
  const msg = h('p', { class: 'hint json-state', 'aria-live': 'polite' });
  const check = () => {
    const r = parseJSON(ta.value, { optional, object });
    ta.setAttribute('aria-invalid', r.ok ? 'false' : 'true');
    msg.classList.toggle('bad', !r.ok);
    msg.textContent = r.ok ? (ta.value.trim() ? 'Valid JSON' : optional ? 'Optional' : '') : 'Invalid JSON: ' + r.error;
    if (onValidity) onValidity(r.ok);
    return r;
  };
  ta.addEventListener('input', check);
  setTimeout(check);
  return { el: ta, msg, check, value: () => parseJSON(ta.value, { optional, object }) };
}

// busy disables a button while fn runs.
export async function busy(btn, fn) {
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
}

// splitList reads "a, b c" into ["a","b","c"].
export function splitList(s) {
  return String(s)
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);
}

// deadlineSelect offers common deadlines as Go durations.
export function deadlineSelect(name, choices = [['', 'none'], ['1m', '1 minute'], ['5m', '5 minutes'], ['15m', '15 minutes'], ['1h', '1 hour'], ['24h', '1 day']], def = '') {
  return h('select', { name }, choices.map(([v, l]) => h('option', { value: v, selected: v === def }, l)));
}
