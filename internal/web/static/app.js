// Parley dashboard: layout, navigation and the live feed. Views live in
// views-*.js; the hub's picture in store.js.

import { h, reconcile, tickTimes, route } from './lib.js';
import { store, subscribe, start } from './store.js';
import { agentsView, agentView } from './views-agents.js';
import { messagesView } from './views-messages.js';
import { commandsView } from './views-commands.js';
import { proposalsView } from './views-proposals.js';
import { channelsView, signalsView, leasesView, stateView } from './views-coord.js';
import { renderFeedItem, activityView } from './feed.js';

// Views by the first part of the hash route. Each has a title and a
// mount(container, params) that returns {update(topics), unmount()}.
const views = {
  agents: agentsView,
  agent: agentView,
  messages: messagesView,
  commands: commandsView,
  proposals: proposalsView,
  channels: channelsView,
  signals: signalsView,
  leases: leasesView,
  state: stateView,
  activity: activityView,
};

const navItems = [
  ['agents', 'Agents'],
  ['messages', 'Messages'],
  ['commands', 'Commands'],
  ['proposals', 'Proposals'],
  ['channels', 'Channels'],
  ['signals', 'Signals'],
  ['leases', 'Leases'],
  ['state', 'State'],
  ['activity', 'Activity'],
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const feedList = document.getElementById('feed-list');
const conn = document.getElementById('conn');

let current = null; // {name, params, view}

// parseRoute reads "#/view/a/b?x=y" into a view name, path parts and
// query parameters.
function parseRoute() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  let name = parts.shift() || 'agents';
  if (name === 'agents' && parts.length) name = 'agent';
  if (!views[name]) name = 'agents';
  return { name, parts, query: new URLSearchParams(query || '') };
}

function show() {
  const r = parseRoute();
  if (current && current.name === r.name && current.view.route) {
    // Same view, other item (a thread, a channel): keep forms as typed.
    current.key = location.hash;
    current.view.route(r);
    updateNav();
    return;
  }
  if (current && current.view && current.view.unmount) current.view.unmount();
  main.replaceChildren();
  const v = views[r.name];
  document.title = `${v.title(r)} · Parley`;
  current = { name: r.name, key: location.hash, view: v.mount(main, r) };
  current.view.update(new Set(['all']));
  updateNav();
  main.scrollTop = 0;
}

// Navigation with live counts.

const navLinks = new Map();
function buildNav() {
  const ul = h('ul');
  for (const [name, label] of navItems) {
    const count = h('span', { class: 'count', 'aria-hidden': 'true' });
    const a = h('a', { href: route(name), class: 'nav-' + name, 'data-view': name }, h('span', { class: 'label' }, label), count);
    navLinks.set(name, { a, count });
    ul.appendChild(h('li', null, a));
  }
  nav.appendChild(ul);
}

function setCount(name, n, alert) {
  const l = navLinks.get(name);
  if (!l) return;
  const s = n ? String(n) : '';
  if (l.count.textContent !== s) l.count.textContent = s;
  l.count.classList.toggle('alert', !!alert && !!n);
}

function updateNav() {
  const active = current ? (current.name === 'agent' ? 'agents' : current.name) : '';
  for (const [name, l] of navLinks) {
    if (name === active) l.a.setAttribute('aria-current', 'page');
    else l.a.removeAttribute('aria-current');
  }
  let online = 0;
  for (const p of store.peers.values()) if (p.online && p.name !== store.me) online++;
  setCount('agents', online);
  setCount('messages', store.peers.get(store.me)?.unread || 0, true);
  let pending = 0;
  for (const c of store.commands.values()) if (c.status === 'pending' || c.status === 'claimed') pending++;
  setCount('commands', pending);
  let open = 0;
  for (const p of store.proposals.values()) if (p.status === 'open') open++;
  setCount('proposals', open, true);
  setCount('channels', store.channels.size);
  setCount('signals', store.signals.size);
  setCount('leases', store.leases.size);
  setCount('state', store.state.size);
}

function updateConn() {
  const live = store.conn === 'live';
  conn.dataset.state = store.conn;
  conn.textContent = live ? 'Live' : 'Reconnecting…';
  conn.title = live ? 'Receiving events from the hub as they happen' : 'The event stream broke; reconnecting';
}

// The live feed beside every view (its own view in a narrow window).
function updateFeed() {
  const items = store.events.slice(-200).reverse();
  reconcile(feedList, items, (e) => e.id, renderFeedItem, {
    sig: (e) => e.id,
    empty: () =>
      h('li', { class: 'empty' }, h('p', { class: 'empty-title' }, 'Nothing has happened yet'), h('p', { class: 'empty-hint' }, 'Events appear here live as agents register, talk and coordinate.')),
  });
}

subscribe((topics) => {
  if (topics.has('conn')) updateConn();
  if (topics.has('events')) updateFeed();
  updateNav();
  if (current && current.view) current.view.update(topics);
});

buildNav();
updateConn();
updateFeed();
window.addEventListener('hashchange', show);
show();
setInterval(tickTimes, 5000);
start().catch((e) => console.error(e));
