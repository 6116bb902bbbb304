// Channels, signals, leases and shared state.

import { h, reconcile, timeEl, empty, route, pretty, compact, toast, parseJSON, isZeroTime } from './lib.js';
import { post, get, del, enc } from './api.js';
import { store, loadPosts, reportError, refresh, changed } from './store.js';
import { field, jsonInput, busy } from './forms.js';

const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

// Channels.

function channelItem(c, selected) {
  return h(
    'li',
    { class: ['thread-item', selected ? 'selected' : null] },
    h(
      'a',
      { href: route('channels', c.name), 'aria-current': selected ? 'true' : null },
      h('div', { class: 'row' }, h('span', { class: 'title' }, '#' + c.name), h('span', { class: 'count-pill', title: `${c.count} posts kept, last #${c.last_seq}` }, String(c.count))),
      h('div', { class: 'row meta' }, h('span', null, `last #${c.last_seq}`), timeEl(c.last_post_at)),
    ),
  );
}

function postItem(p) {
  return h(
    'li',
    { class: 'post' },
    h('div', { class: 'msg-head' }, h('span', { class: 'muted id' }, '#' + p.seq), p.from ? h('a', { class: 'who', href: route('agents', p.from) }, p.from) : h('span', { class: 'muted' }, 'anonymous'), timeEl(p.created_at, 'right')),
    h('pre', { class: 'post-data' }, pretty(p.data)),
  );
}

export const channelsView = {
  title: (r) => (r.parts[0] ? '#' + r.parts[0] : 'Channels'),
  mount(root, r) {
    let name = r.parts[0] || '';
    const list = h('ul', { class: 'thread-list', 'aria-label': 'Channels' });
    const head = h('div', { class: 'thread-head' });
    const posts = h('ol', { class: 'post-list', 'aria-label': 'Posts' });
    const chan = h('input', { name: 'channel', required: true, placeholder: 'results', autocomplete: 'off', pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]*', title: 'Letters, digits, . _ -' });
    const data = h('textarea', { name: 'data', rows: 3, required: true, class: 'mono', placeholder: '{"test": "handshake", "status": "pass"}  or plain text' });
    const kind = h('p', { class: 'hint' }, 'JSON is posted as JSON; anything else as a text string.');
    data.addEventListener('input', () => {
      const r = parseJSON(data.value);
      kind.textContent = data.value.trim() === '' ? 'JSON is posted as JSON; anything else as a text string.' : r.ok ? 'Will post as JSON.' : 'Will post as text.';
    });
    const btn = h('button', { type: 'submit', class: 'btn primary' }, 'Post');
    const form = h(
      'form',
      {
        class: 'card composer',
        'aria-label': 'Post to a channel',
        onsubmit: (ev) => {
          ev.preventDefault();
          const target = (name || chan.value.trim()).toLowerCase();
          const r = parseJSON(data.value);
          const value = r.ok && r.value !== undefined ? r.value : data.value;
          busy(btn, async () => {
            try {
              await post(`/channels/${enc(target)}/send`, value);
              data.value = '';
              refresh('channels');
              if (!name) location.hash = route('channels', target);
              else loadPosts(name).catch(() => {});
            } catch (e) {
              reportError('Post', e);
            }
          });
        },
      },
      h('h2', null, 'Post to a channel'),
      h('div', { class: 'chan-field' }, field('Channel', chan)),
      field('Post', data),
      kind,
      h('div', { class: 'form-row' }, h('span', { class: 'spacer' }), btn),
    );
    const right = h('div', { class: 'msg-right' });
    root.append(
      h('header', { class: 'view-head' }, h('h1', null, 'Channels'), h('p', { class: 'sub' }, 'Named streams of posts that agents share, numbered in order. Open one to follow it live.')),
      h('div', { class: 'msg-layout' }, h('aside', { class: 'card threads-pane' }, h('h2', { class: 'pane-title' }, 'Channels'), list), right),
    );
    function open() {
      chan.closest('.chan-field').hidden = !!name;
      if (name) {
        right.replaceChildren(h('section', { class: 'card thread' }, head, posts), form);
        const c = store.channels.get(name);
        const since = c && c.last_seq > 200 ? c.last_seq - 200 : 0;
        get(`/channels/${enc(name)}/messages?since=${since}&limit=200`)
          .then((res) => {
            store.posts.set(name, res.messages || []);
            changed('posts');
          })
          .catch((e) => reportError('Load channel', e));
      } else {
        right.replaceChildren(form);
      }
    }
    function update() {
      const cs = Array.from(store.channels.values()).sort(byName);
      reconcile(list, cs, (c) => c.name, (c) => channelItem(c, c.name === name), {
        sig: (c) => JSON.stringify([c, c.name === name]),
        empty: () => h('li', null, empty('No channels yet', 'A channel starts with its first post: post here, or from a terminal with parley channel post results \'{"status":"pass"}\'.')),
      });
      if (!name) return;
      const sig = name;
      if (head._sig !== sig) {
        head._sig = sig;
        head.replaceChildren(h('a', { class: 'back', href: route('channels') }, '← Channels'), h('h2', null, '#' + name));
      }
      const ps = (store.posts.get(name) || []).slice(-200);
      reconcile(posts, ps, (p) => p.seq, postItem, { empty: () => h('li', null, empty('No posts kept', 'New posts appear here live.')) });
    }
    open();
    return {
      route(nr) {
        name = nr.parts[0] || '';
        open();
        update();
      },
      update,
    };
  },
};

// Signals.

function signalRow(s) {
  return h(
    'tr',
    { 'data-signal': s.name },
    h('td', null, h('code', null, s.name)),
    h('td', null, s.emitted === false ? h('span', { class: 'pill st-expired' }, 'cleared') : h('span', { class: 'pill st-done' }, 'emitted')),
    h('td', null, s.by ? h('a', { href: route('agents', s.by) }, s.by) : '—'),
    h('td', null, timeEl(s.emitted_at)),
    h('td', { class: 'data' }, s.data !== undefined && s.data !== null ? h('code', { title: pretty(s.data) }, compact(s.data, 80)) : h('span', { class: 'muted' }, '—')),
    h(
      'td',
      { class: 'actions' },
      h(
        'button',
        {
          type: 'button',
          class: 'btn small ghost',
          onclick: (ev) =>
            busy(ev.currentTarget, async () => {
              try {
                await del(`/signals/${enc(s.name)}`);
                refresh('signals');
                toast(`Signal ${s.name} cleared`);
              } catch (e) {
                reportError('Clear signal', e);
              }
            }),
        },
        'Clear',
      ),
    ),
  );
}

export const signalsView = {
  title: () => 'Signals',
  mount(root) {
    const name = h('input', { name: 'name', required: true, placeholder: 'server_ready', autocomplete: 'off' });
    const btn = h('button', { type: 'submit', class: 'btn primary' }, 'Emit signal');
    const data = jsonInput({ name: 'data', placeholder: '{"port": 7400}', rows: 2, onValidity: (ok) => (btn.disabled = !ok) });
    const form = h(
      'form',
      {
        class: 'card composer',
        'aria-label': 'Emit a signal',
        onsubmit: (ev) => {
          ev.preventDefault();
          const d = data.check();
          if (!d.ok) return;
          busy(btn, async () => {
            try {
              const body = d.value === undefined ? {} : { data: d.value };
              await post(`/signals/${enc(name.value.trim().toLowerCase())}`, body);
              toast(`Signal ${name.value.trim()} emitted`);
              refresh('signals');
            } catch (e) {
              reportError('Emit', e);
            }
          });
        },
      },
      h('h2', null, 'Emit a signal'),
      h('p', { class: 'hint' }, 'A signal is a one-shot event: agents that wait for it wake up at once, and later waiters return immediately until it is cleared.'),
      h('div', { class: 'grid2' }, field('Name', name), h('div', null, field('Data (JSON, optional)', data.el), data.msg)),
      h('div', { class: 'form-row' }, h('span', { class: 'spacer' }), btn),
    );
    const body = h('tbody');
    const table = h('table', { class: 'table' }, h('thead', null, h('tr', null, ['Signal', 'State', 'By', 'When', 'Data', ''].map((t) => h('th', null, t)))), body);
    const emptyBox = h('div');
    root.append(h('header', { class: 'view-head' }, h('h1', null, 'Signals'), h('p', { class: 'sub' }, 'One-shot events agents emit and wait for, such as server_ready.')), form, h('div', { class: 'card table-wrap' }, table, emptyBox));
    return {
      update(t) {
        if (!(t.has('all') || t.has('signals'))) return;
        const ss = Array.from(store.signals.values()).sort(byName);
        reconcile(body, ss, (s) => s.name, signalRow);
        table.hidden = ss.length === 0;
        emptyBox.replaceChildren(ss.length ? '' : empty('No signals emitted', 'Emit one above, or from a terminal with parley signal emit server_ready; agents waiting for it wake up at once.'));
      },
    };
  },
};

// Leases.

function leaseRow(l) {
  return h(
    'tr',
    null,
    h('td', null, (l.patterns || []).map((p) => h('code', { class: 'pattern' }, p))),
    h('td', null, h('a', { href: route('agents', l.holder) }, l.holder)),
    h('td', null, l.exclusive ? 'exclusive' : 'shared'),
    h('td', null, l.reason || h('span', { class: 'muted' }, '—')),
    h('td', { class: 'num' }, String(l.fencing_token ?? '')),
    h('td', null, timeEl(l.expires_at)),
  );
}

export const leasesView = {
  title: () => 'Leases',
  mount(root) {
    const body = h('tbody');
    const table = h('table', { class: 'table' }, h('thead', null, h('tr', null, ['Files', 'Holder', 'Kind', 'Reason', 'Fencing token', 'Expires'].map((t) => h('th', null, t)))), body);
    const emptyBox = h('div');
    root.append(
      h('header', { class: 'view-head' }, h('h1', null, 'Leases'), h('p', { class: 'sub' }, 'Files agents have reserved, so two agents do not edit the same files at once.')),
      h('div', { class: 'card table-wrap' }, table, emptyBox),
    );
    return {
      update(t) {
        if (!(t.has('all') || t.has('leases'))) return;
        const ls = Array.from(store.leases.values()).sort((a, b) => Date.parse(a.expires_at) - Date.parse(b.expires_at));
        reconcile(body, ls, (l) => l.id, leaseRow);
        table.hidden = ls.length === 0;
        emptyBox.replaceChildren(ls.length ? '' : empty('No files reserved', 'Agents reserve files before editing them, e.g. parley lease reserve "src/api/**" --ttl 30m; their leases appear here until released or expired.'));
      },
    };
  },
};

// Shared state.

function stateRow(it, onShow) {
  const hasValue = it.value !== undefined && it.value !== null;
  return h(
    'tr',
    null,
    h('td', null, h('code', null, it.key)),
    h('td', { class: 'num' }, String(it.revision ?? '')),
    h('td', { class: 'data' }, hasValue ? h('code', { title: pretty(it.value) }, compact(it.value, 80)) : h('button', { type: 'button', class: 'btn small ghost', onclick: () => onShow(it.key) }, 'Show value')),
    h('td', null, it.updated_by ? h('a', { href: route('agents', it.updated_by) }, it.updated_by) : '—'),
    h('td', null, isZeroTime(it.updated_at) ? '—' : timeEl(it.updated_at)),
  );
}

export const stateView = {
  title: () => 'Shared state',
  mount(root) {
    const body = h('tbody');
    const table = h('table', { class: 'table' }, h('thead', null, h('tr', null, ['Key', 'Revision', 'Value', 'Set by', 'When'].map((t) => h('th', null, t)))), body);
    const emptyBox = h('div');
    const show = async (key) => {
      try {
        const it = await get(`/state/${enc(key)}`);
        store.state.set(key, it.item || it);
        changed('state');
      } catch (e) {
        reportError('Load value', e);
      }
    };
    root.append(
      h('header', { class: 'view-head' }, h('h1', null, 'Shared state'), h('p', { class: 'sub' }, 'A small key/value store agents share. Every change raises the revision; writes that expect an older revision fail.')),
      h('div', { class: 'card table-wrap' }, table, emptyBox),
    );
    return {
      update(t) {
        if (!(t.has('all') || t.has('state'))) return;
        const items = Array.from(store.state.values()).sort((a, b) => (a.key < b.key ? -1 : 1));
        reconcile(body, items, (it) => it.key, (it) => stateRow(it, show));
        table.hidden = items.length === 0;
        emptyBox.replaceChildren(items.length ? '' : empty('No shared state', 'Agents store small values here, e.g. parley state set build.status green; keys appear as they are set.'));
      },
    };
  },
};
