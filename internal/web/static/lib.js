// DOM and formatting helpers. Everything that comes from agents goes
// into the page through h(), which makes text nodes: no innerHTML, ever.

// h builds an element. attrs may hold class, id, title, role, type,
// value, placeholder, for, name, href (internal "#/" links only), data-*
// and aria-* attributes, boolean properties (disabled, checked,
// selected, required, hidden, open), and on<event> listeners. Children
// are nodes, strings (made text nodes), arrays, or null/false/undefined,
// which are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') {
        el.addEventListener(k.slice(2), v);
      } else if (k === 'class') {
        el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
      } else if (k === 'href') {
        el.setAttribute('href', safeHref(String(v)));
      } else if (k === 'value') {
        el.value = v;
      } else if (['disabled', 'checked', 'selected', 'required', 'hidden', 'open', 'multiple'].includes(k)) {
        el[k] = Boolean(v);
      } else if (k === 'style') {
        for (const [p, pv] of Object.entries(v)) el.style.setProperty(p, pv);
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// safeHref allows only the dashboard's own hash routes.
function safeHref(href) {
  return href.startsWith('#/') ? href : '#/';
}

// route returns a hash link to a view and its path parts, encoded.
export function route(...parts) {
  return '#/' + parts.map((p) => encodeURIComponent(p)).join('/');
}

// reconcile makes parent's children match items, in order, reusing the
// node of every item whose signature has not changed. New and changed
// items are built with render. It keeps the DOM still while events
// stream in: unchanged rows are neither rebuilt nor moved. When items is
// empty, empty() (if given) is shown instead.
export function reconcile(parent, items, keyOf, render, opts = {}) {
  const sigOf = opts.sig || ((it) => JSON.stringify(it));
  const old = new Map();
  for (const node of Array.from(parent.children)) {
    if (node.dataset && node.dataset.key !== undefined) old.set(node.dataset.key, node);
    else node.remove();
  }
  if (items.length === 0 && opts.empty) {
    for (const node of old.values()) node.remove();
    parent.appendChild(opts.empty());
    return;
  }
  let i = 0;
  for (const it of items) {
    const key = String(keyOf(it));
    const sig = sigOf(it);
    let node = old.get(key);
    if (node && node._sig !== sig) {
      const fresh = render(it);
      node.replaceWith(fresh);
      node = fresh;
    } else if (!node) {
      node = render(it);
    }
    old.delete(key);
    node.dataset.key = key;
    node._sig = sig;
    const at = parent.children[i];
    if (at !== node) parent.insertBefore(node, at || null);
    i++;
  }
  for (const node of old.values()) node.remove();
}

// empty returns an empty-state block: what is missing and what to do.
export function empty(title, hint) {
  return h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, title), hint ? h('p', { class: 'empty-hint' }, hint) : null);
}

// Relative timestamps.

const units = [
  ['y', 365 * 24 * 3600],
  ['d', 24 * 3600],
  ['h', 3600],
  ['m', 60],
  ['s', 1],
];

// relTime says how long ago (or how far ahead) ts is: "just now",
// "42s ago", "5m ago", "in 3h".
export function relTime(ts, now = Date.now()) {
  const t = typeof ts === 'number' ? ts : Date.parse(ts);
  if (!isFinite(t) || t <= 0) return '—';
  let secs = Math.round((now - t) / 1000);
  const future = secs < 0;
  secs = Math.abs(secs);
  if (secs < 5) return 'just now';
  for (const [u, n] of units) {
    if (secs >= n) {
      const v = Math.floor(secs / n);
      return future ? `in ${v}${u}` : `${v}${u} ago`;
    }
  }
  return 'just now';
}

// isZeroTime reports whether ts is missing or Go's zero time.
export function isZeroTime(ts) {
  if (!ts) return true;
  const t = Date.parse(ts);
  return !isFinite(t) || t <= 0;
}

// timeEl returns a <time> that keeps saying how long ago ts was; the
// full local time is its tooltip.
export function timeEl(ts, cls) {
  if (isZeroTime(ts)) return h('span', { class: ['time', cls] }, '—');
  const d = new Date(ts);
  const el = h('time', { class: ['time', 'rel', cls], datetime: d.toISOString(), title: d.toLocaleString() }, relTime(d.getTime()));
  return el;
}

// tickTimes refreshes every relative timestamp on the page.
export function tickTimes() {
  const now = Date.now();
  for (const el of document.querySelectorAll('time.rel')) {
    const s = relTime(Date.parse(el.getAttribute('datetime')), now);
    if (el.textContent !== s) el.textContent = s;
  }
}

// JSON display.

// pretty formats a JSON value for a <pre>.
export function pretty(v) {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v, null, 2);
  } catch {
    return String(v);
  }
}

// compact formats a JSON value on one line, cut to max characters.
export function compact(v, max = 120) {
  let s;
  if (v === undefined || v === null) s = '';
  else if (typeof v === 'string') s = v;
  else {
    try {
      s = JSON.stringify(v);
    } catch {
      s = String(v);
    }
  }
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

// parseJSONObject parses text as JSON for a params or data field. Empty
// text is allowed when optional. It returns {ok, value, error}.
export function parseJSON(text, { optional = true, object = false } = {}) {
  const t = text.trim();
  if (t === '') return optional ? { ok: true, value: undefined } : { ok: false, error: 'required' };
  try {
    const v = JSON.parse(t);
    if (object && (v === null || typeof v !== 'object' || Array.isArray(v))) {
      return { ok: false, error: 'must be a JSON object, like {"port": 7400}' };
    }
    return { ok: true, value: v };
  } catch (e) {
    return { ok: false, error: String(e.message || e).replace(/^JSON\.parse: /, '') };
  }
}

// Toasts: short notes in a live region, for errors and confirmations.

export function toast(msg, kind = 'info') {
  const region = document.getElementById('toasts');
  if (!region) return;
  const el = h('div', { class: ['toast', 'toast-' + kind], role: kind === 'error' ? 'alert' : 'status' }, msg);
  region.appendChild(el);
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
}

// debounce returns fn delayed until calls stop for ms.
export function debounce(fn, ms) {
  let t = 0;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

// initials of a name for its avatar.
export function initials(name) {
  const parts = String(name || '?').split(/[-_.]+/).filter(Boolean);
  const s = parts.length > 1 ? parts[0][0] + parts[1][0] : String(name || '?').slice(0, 2);
  return s.toUpperCase();
}

// hue returns a stable colour hue for a name.
export function hue(name) {
  let x = 0;
  for (const ch of String(name)) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  return x % 360;
}
