// The dashboard's picture of the hub: snapshots loaded from the API,
// kept current by the event stream. Views read it and subscribe to
// changes by topic.

import { get, enc, EventStream } from './api.js';
import { toast } from './lib.js';

// How much history the page keeps in memory.
const keepEvents = 1000;
const keepMessages = 2000;
// How many past events a fresh page replays to fill the feed.
const replayEvents = 500;
// How often agents are reloaded besides their events, in ms.
const peersEvery = 20000;

export const store = {
  me: document.querySelector('meta[name="parley-me"]')?.content || 'human',
  open: false,
  version: '',
  peers: new Map(), // name → Peer
  messages: new Map(), // id → Message (previews from events, full from threads)
  commands: new Map(), // id → Command
  channels: new Map(), // name → Channel
  posts: new Map(), // channel name → posts, oldest first (channels opened in the page)
  signals: new Map(), // name → Signal
  proposals: new Map(), // id → Proposal
  leases: new Map(), // id → Lease
  state: new Map(), // key → StateItem
  events: [], // oldest first
  conn: 'connecting',
  loaded: false,
};

// Topics views subscribe to.
const listeners = new Set();
let pending = new Set();
let scheduled = false;

// subscribe calls fn(topics) after changes, batched per animation frame.
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function changed(...topics) {
  for (const t of topics) pending.add(t);
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    const topics = pending;
    pending = new Set();
    for (const fn of listeners) {
      try {
        fn(topics);
      } catch (e) {
        console.error(e);
      }
    }
  });
}

// list returns the values of a map as an array.
const list = (m) => Array.from(m.values());

function setAll(map, items, keyOf) {
  map.clear();
  for (const it of items || []) map.set(keyOf(it), it);
}

// Loaders: each replaces one part of the picture with a fresh snapshot.
// A loader that fails (a route the hub lacks, a transient error) leaves
// the old picture and reports once.

const failed = new Set();

async function load(topic, fn) {
  try {
    await fn();
    failed.delete(topic);
    changed(topic);
  } catch (e) {
    if (e.status === 401) return;
    if (!failed.has(topic)) {
      failed.add(topic);
      console.warn(`load ${topic}:`, e.message);
    }
  }
}

export const loaders = {
  status: () =>
    load('status', async () => {
      const st = await get('/status');
      store.open = !!st.open;
      store.version = st.version || '';
      if (Array.isArray(st.peers)) {
        setAll(store.peers, st.peers, (p) => p.name);
        changed('peers');
      }
      store.lastEventID = Number(st.last_event_id) || 0;
    }),
  peers: () =>
    load('peers', async () => {
      const r = await get('/peers');
      setAll(store.peers, r.peers, (p) => p.name);
    }),
  commands: () =>
    load('commands', async () => {
      const r = await get('/commands?limit=200');
      setAll(store.commands, r.commands, (c) => c.id);
    }),
  channels: () =>
    load('channels', async () => {
      const r = await get('/channels');
      setAll(store.channels, r.channels, (c) => c.name);
    }),
  signals: () =>
    load('signals', async () => {
      const r = await get('/signals');
      setAll(store.signals, r.signals, (s) => s.name);
    }),
  proposals: () =>
    load('proposals', async () => {
      const r = await get('/proposals?limit=200');
      setAll(store.proposals, r.proposals, (p) => p.id);
    }),
  leases: () =>
    load('leases', async () => {
      const r = await get('/leases');
      setAll(store.leases, r.leases, (l) => l.id);
    }),
  state: () =>
    load('state', async () => {
      const r = await get('/state?limit=1000');
      setAll(store.state, r.items || r.state, (it) => it.key);
    }),
};

// loadPosts fetches a channel's newest posts.
export async function loadPosts(name) {
  const r = await get(`/channels/${enc(name)}/messages?limit=200`);
  const posts = r.messages || r.posts || [];
  store.posts.set(name, posts);
  changed('posts');
}

// refresh schedules loaders, coalescing bursts of events into one call
// per loader.
const timers = new Map();
export function refresh(...names) {
  for (const n of names) {
    if (timers.has(n)) continue;
    timers.set(
      n,
      setTimeout(() => {
        timers.delete(n);
        loaders[n]();
      }, 150),
    );
  }
}

// What each kind of event invalidates, by the part before the dot.
const refreshOn = {
  agent: ['peers'],
  message: ['peers'],
  command: ['commands'],
  channel: ['channels'],
  signal: ['signals'],
  proposal: ['proposals'],
  lease: ['leases'],
  state: ['state'],
};

// addMessage records a message seen in an event or a thread.
export function addMessage(m) {
  if (!m || m.id === undefined) return;
  const had = store.messages.get(m.id);
  // A full body wins over an event's preview.
  if (had && !had.truncated && m.truncated) return;
  store.messages.set(m.id, m);
  // Trim in batches: a replay of many events stays linear.
  if (store.messages.size > keepMessages * 1.25) {
    const ids = Array.from(store.messages.keys()).sort((a, b) => a - b);
    for (const id of ids.slice(0, ids.length - keepMessages)) store.messages.delete(id);
  }
  changed('messages');
}

function applyEvent(e) {
  store.events.push(e);
  if (store.events.length > keepEvents * 1.25) store.events.splice(0, store.events.length - keepEvents);
  changed('events');
  const group = String(e.kind || '').split('.')[0];
  switch (e.kind) {
    case 'message.sent':
      if (e.data) addMessage(e.data);
      break;
    case 'channel.posted':
      if (e.data && store.posts.has(e.subject)) {
        const posts = store.posts.get(e.subject);
        if (!posts.some((p) => p.seq === e.data.seq)) posts.push(e.data);
        changed('posts');
      }
      break;
    case 'hub.reset':
      store.messages.clear();
      store.posts.clear();
      changed('messages', 'posts');
      loadAll();
      return;
  }
  if (store.loaded) refresh(...(refreshOn[group] || []));
}

// loadAll loads every snapshot.
export function loadAll() {
  return Promise.all(Object.keys(loaders).map((k) => loaders[k]()));
}

let stream = null;

// start loads the picture and follows the event stream. The stream
// starts a little in the past, so the activity feed and the message
// list open with recent history.
export async function start() {
  await loaders.status();
  const since = store.lastEventID > replayEvents ? store.lastEventID - replayEvents : 0;
  stream = new EventStream({
    since,
    onEvent: applyEvent,
    onState: (s) => {
      if (store.conn === s) return;
      store.conn = s;
      changed('conn');
    },
    // After a break, events may have been missed: reload snapshots.
    onResume: () => loadAll(),
  });
  stream.start();
  await loadAll();
  store.loaded = true;
  changed('peers', 'messages');
  // Unread counts change when agents read, which raises no event.
  setInterval(() => refresh('peers'), peersEvery);
}

// Helpers views share.

// peersSorted returns agents: online first, then by name; human last.
export function peersSorted() {
  return list(store.peers).sort((a, b) => {
    if ((a.name === store.me) !== (b.name === store.me)) return a.name === store.me ? 1 : -1;
    if (a.online !== b.online) return a.online ? -1 : 1;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

// roles returns the roles agents have, sorted.
export function roles() {
  const s = new Set();
  for (const p of store.peers.values()) if (p.role) s.add(p.role);
  return Array.from(s).sort();
}

// byNewest sorts by id descending.
export const byNewest = (a, b) => Number(b.id) - Number(a.id);

export function reportError(what, e) {
  toast(`${what}: ${e.message}`, 'error');
}
