// Agents: who is registered, who is online, what each is doing.

import { h, reconcile, timeEl, empty, route, initials, hue, compact, isZeroTime } from './lib.js';
import { store, peersSorted, byNewest } from './store.js';
import { renderFeedItem } from './feed.js';
import { commandRow } from './views-commands.js';

export function presenceBadge(p) {
  const state = p.presence || (p.online ? 'online' : 'offline');
  return h('span', { class: ['presence', 'p-' + state], title: p.online ? `online, ${state}` : 'offline' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), state);
}

export function avatar(name, big) {
  return h('span', { class: ['avatar', big ? 'big' : null], style: { '--hue': String(hue(name)) }, 'aria-hidden': 'true' }, initials(name));
}

function chips(list, cls = 'chip') {
  return (list || []).map((c) => h('span', { class: cls }, c));
}

function agentCard(p) {
  const me = p.name === store.me;
  return h(
    'li',
    { class: ['card', 'agent-card', p.online ? 'is-online' : 'is-offline'], 'data-agent': p.name },
    h(
      'div',
      { class: 'agent-top' },
      avatar(p.name),
      h(
        'div',
        { class: 'agent-id' },
        h('a', { class: 'agent-name', href: route('agents', p.name) }, p.name, me ? h('span', { class: 'you' }, ' (you)') : null),
        me
          ? h('div', { class: 'agent-meta' }, h('span', { class: 'muted' }, 'you, at this dashboard'))
          : h('div', { class: 'agent-meta' }, p.role ? h('span', { class: 'chip role' }, p.role) : h('span', { class: 'muted' }, 'no role'), p.client ? h('span', { class: 'muted' }, p.client) : null),
      ),
      presenceBadge(p),
    ),
    h('p', { class: ['status-text', p.status ? null : 'muted'] }, p.status || (me ? 'Messages and commands you send come from “' + p.name + '”.' : p.online ? 'No status set' : 'Offline')),
    p.capabilities && p.capabilities.length ? h('div', { class: 'caps' }, chips(p.capabilities, 'chip cap')) : null,
    h(
      'div',
      { class: 'agent-foot' },
      p.unread ? h('span', { class: 'badge unread', title: `${p.unread} unread message${p.unread === 1 ? '' : 's'}` }, `${p.unread} unread`) : h('span', { class: 'muted' }, 'inbox clear'),
      h('span', { class: 'muted' }, 'seen ', timeEl(p.last_seen)),
    ),
  );
}

export const agentsView = {
  title: () => 'Agents',
  mount(root) {
    const sub = h('p', { class: 'sub' });
    const grid = h('ul', { class: 'agent-grid', 'aria-label': 'Agents' });
    root.append(h('header', { class: 'view-head' }, h('h1', null, 'Agents'), sub), grid);
    return {
      update() {
        const peers = peersSorted();
        const others = peers.filter((p) => p.name !== store.me);
        const online = others.filter((p) => p.online).length;
        sub.textContent = others.length ? `${online} online of ${others.length} registered. You take part as “${store.me}”.` : `You take part as “${store.me}”.`;
        const shown = peers.filter((p) => p.name !== store.me || peers.length > 1);
        reconcile(grid, others.length ? shown : [], (p) => p.name, agentCard, {
          sig: (p) => JSON.stringify([p.name, p.presence, p.online, p.role, p.client, p.status, p.capabilities, p.unread, p.last_seen]),
          empty: () =>
            h(
              'li',
              { class: 'empty-wide' },
              empty(
                'No agents yet',
                'Start an agent session with “parley mcp” configured as its MCP server, or register one from a terminal: parley register backend --role backend. It appears here the moment it registers.',
              ),
            ),
        });
      },
    };
  },
};

function detail(label, value) {
  return [h('dt', null, label), h('dd', null, value === undefined || value === null || value === '' ? h('span', { class: 'muted' }, '—') : value)];
}

// agentView is one agent's page: its profile and recent activity.
export const agentView = {
  title: (r) => r.parts[0] || 'Agent',
  mount(root, r) {
    const name = r.parts[0];
    const head = h('div', { class: 'agent-head' });
    const facts = h('dl', { class: 'facts' });
    const feed = h('ol', { class: 'feed-list' });
    const msgs = h('ul', { class: 'msg-list compact' });
    const cmds = h('ul', { class: 'cmd-list' });
    root.append(
      h('nav', { class: 'crumbs' }, h('a', { href: route('agents') }, '← All agents')),
      head,
      h(
        'div',
        { class: 'agent-page' },
        h('section', { class: 'card' }, h('h2', null, 'Profile'), facts),
        h('section', { class: 'card' }, h('h2', null, 'Recent activity'), feed),
        h('section', { class: 'card' }, h('h2', null, 'Messages'), msgs),
        h('section', { class: 'card' }, h('h2', null, 'Commands'), cmds),
      ),
    );
    let lastSig = '';
    return {
      update() {
        const p = store.peers.get(name);
        const sig = JSON.stringify(p || null);
        if (sig !== lastSig) {
          lastSig = sig;
          if (!p) {
            head.replaceChildren(h('h1', null, name), store.loaded ? empty('No agent by this name', 'It may have left the hub or been renamed. See all agents.') : null);
            facts.replaceChildren();
          } else {
            head.replaceChildren(
              avatar(p.name, true),
              h('div', { class: 'agent-id' }, h('h1', null, p.name), h('p', { class: ['status-text', p.status ? null : 'muted'] }, p.status || 'No status set')),
              presenceBadge(p),
              h(
                'div',
                { class: 'head-actions' },
                p.name !== store.me ? h('a', { class: 'btn', href: route('messages') + '?to=' + encodeURIComponent(p.name) }, 'Message') : null,
                p.name !== store.me ? h('a', { class: 'btn', href: route('commands') + '?target=' + encodeURIComponent(p.name) }, 'Send command') : null,
              ),
            );
            facts.replaceChildren(
              ...detail('Role', p.role),
              ...detail('Capabilities', p.capabilities && p.capabilities.length ? h('span', { class: 'caps' }, chips(p.capabilities, 'chip cap')) : ''),
              ...detail('Unread', String(p.unread || 0)),
              ...detail('Client', p.client),
              ...detail('Host', p.host ? p.host + (p.pid ? ` (pid ${p.pid})` : '') : ''),
              ...detail('Project', p.project),
              ...detail('Description', p.description),
              ...detail('Last seen', isZeroTime(p.last_seen) ? '' : timeEl(p.last_seen)),
              ...detail('Registered', isZeroTime(p.registered_at) ? '' : timeEl(p.registered_at)),
            );
          }
        }
        const evs = store.events.filter((e) => e.actor === name || (e.targets || []).includes(name)).slice(-50).reverse();
        reconcile(feed, evs, (e) => e.id, renderFeedItem, { sig: (e) => e.id, empty: () => h('li', null, empty('Nothing recent', 'What this agent does appears here live.')) });
        const ms = Array.from(store.messages.values())
          .filter((m) => m.from === name || (m.to || []).includes(name))
          .sort(byNewest)
          .slice(0, 20);
        reconcile(
          msgs,
          ms,
          (m) => m.id,
          (m) =>
            h(
              'li',
              { class: 'msg-mini' },
              h('a', { href: route('messages', m.thread || String(m.id)) }, h('span', { class: 'who' }, m.from), ' → ', (m.to || []).join(', '), ': ', h('span', { class: 'snippet' }, m.subject || compact(m.body, 100))),
              timeEl(m.created_at),
            ),
          { sig: (m) => m.id + ':' + (m.truncated ? 1 : 0), empty: () => h('li', null, empty('No messages seen', 'Messages this agent sends or receives while the page is open appear here.')) },
        );
        const cs = Array.from(store.commands.values())
          .filter((c) => c.target === name || c.claimed_by === name || c.from === name || c.target === 'role:' + (store.peers.get(name) || {}).role)
          .sort(byNewest)
          .slice(0, 20);
        reconcile(cmds, cs, (c) => c.id, commandRow, { empty: () => h('li', null, empty('No commands', 'Send this agent a command from the command center.')) });
      },
    };
  },
};
