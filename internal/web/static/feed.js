// The live activity feed: one line per hub event.

import { h, reconcile, timeEl, compact, route, empty } from './lib.js';
import { store } from './store.js';

const agentLink = (name) => (name ? h('a', { href: route('agents', name), class: 'who' }, name) : h('span', { class: 'who' }, 'someone'));

function firstLine(s, max = 90) {
  const line = String(s || '').split('\n').find((l) => l.trim() !== '') || '';
  return line.length > max ? line.slice(0, max - 1) + '…' : line;
}

function targetsText(e) {
  const d = e.data || {};
  if (Array.isArray(d.to) && d.to.length) return d.to.join(', ');
  if (e.targets && e.targets.length) return e.targets.join(', ');
  return '';
}

// describe returns the nodes that say what an event was.
export function describe(e) {
  const d = e.data || {};
  const who = agentLink(e.actor);
  switch (e.kind) {
    case 'agent.registered':
      return [who, ' registered', d.role ? [' as ', h('span', { class: 'chip' }, d.role)] : null];
    case 'agent.renamed':
      return [h('span', { class: 'who' }, d.from || e.subject || ''), ' is now ', agentLink(d.to || d.name || e.actor)];
    case 'agent.deregistered':
      return [who, ' left the hub'];
    case 'agent.online':
      return [who, ' came online'];
    case 'agent.offline':
      return [who, ' went offline'];
    case 'agent.status':
      return [who, d.status ? [' is ', h('q', null, firstLine(d.status))] : ' changed status', d.state && d.state !== 'online' ? ` (${d.state})` : null];
    case 'message.sent':
      return [who, ' → ', h('span', { class: 'who' }, targetsText(e)), ': ', h('span', { class: 'snippet' }, d.subject ? d.subject : firstLine(d.body))];
    case 'message.acked':
      return [who, ` acknowledged message #${e.subject || d.id || ''}`];
    case 'command.sent':
      return [who, ' sent ', h('code', null, d.action || 'a command'), ' to ', h('span', { class: 'who' }, d.target || targetsText(e))];
    case 'command.claimed':
      return [who, ' claimed ', h('code', null, d.action || `#${e.subject}`)];
    case 'command.done':
      return [who, ' finished ', h('code', null, d.action || `#${e.subject}`), d.result !== undefined ? [': ', h('span', { class: 'snippet' }, compact(d.result, 60))] : null];
    case 'command.failed':
      return [who, ' failed ', h('code', null, d.action || `#${e.subject}`), d.error ? [': ', h('span', { class: 'snippet' }, compact(d.error, 60))] : null];
    case 'command.expired':
      return ['Command ', h('code', null, d.action || `#${e.subject}`), ' expired unclaimed or unfinished'];
    case 'channel.posted':
      return [who, ' posted to ', h('a', { href: route('channels', e.subject) }, '#' + e.subject), d.data !== undefined ? [': ', h('span', { class: 'snippet' }, compact(d.data, 60))] : null];
    case 'signal.emitted':
      return [who, ' emitted signal ', h('code', null, e.subject)];
    case 'signal.cleared':
      return [who, ' cleared signal ', h('code', null, e.subject)];
    case 'proposal.created':
      return [who, ' proposed ', h('q', null, firstLine(d.question || '', 70))];
    case 'proposal.voted':
      return [who, ' voted ', h('strong', null, d.choice || (d.vote && d.vote.choice) || ''), ' on proposal #', e.subject];
    case 'proposal.decided':
      return ['Proposal #', e.subject, ' decided: ', h('strong', null, d.outcome || '')];
    case 'lease.granted':
      return [who, ' reserved ', h('code', null, (d.patterns || []).join(' ') || `lease #${e.subject}`)];
    case 'lease.renewed':
      return [who, ' renewed lease #', e.subject];
    case 'lease.released':
      return [who, ' released ', h('code', null, (d.patterns || []).join(' ') || `lease #${e.subject}`)];
    case 'lease.expired':
      return ['Lease ', h('code', null, (d.patterns || []).join(' ') || '#' + e.subject), ' expired'];
    case 'state.set':
      return [who, ' set ', h('code', null, e.subject), d.revision ? ` (rev ${d.revision})` : null];
    case 'state.deleted':
      return [who, ' deleted ', h('code', null, e.subject)];
    case 'hub.reset':
      return [who, ' reset the hub'];
  }
  return [who, ' ', h('code', null, e.kind), e.subject ? ' ' + e.subject : null];
}

// renderFeedItem is one line of the feed.
export function renderFeedItem(e) {
  const group = String(e.kind || '').split('.')[0];
  return h(
    'li',
    { class: ['feed-item', 'k-' + group, e.kind === 'message.sent' && (e.data || {}).importance === 'urgent' ? 'urgent' : null] },
    h('span', { class: ['kind', 'k-' + group] }, group),
    h('span', { class: 'what' }, describe(e)),
    timeEl(e.time, 'when'),
  );
}

const groups = ['all', 'agent', 'message', 'command', 'channel', 'signal', 'proposal', 'lease', 'state'];

// activityView is the feed as a page of its own, with a filter.
export const activityView = {
  title: () => 'Activity',
  mount(root) {
    let filter = 'all';
    const list = h('ol', { class: 'feed-list page-feed' });
    const buttons = groups.map((g) =>
      h(
        'button',
        {
          type: 'button',
          class: 'seg',
          'aria-pressed': g === filter ? 'true' : 'false',
          onclick: () => {
            filter = g;
            for (const b of buttons) b.setAttribute('aria-pressed', b.dataset.g === g ? 'true' : 'false');
            update();
          },
          'data-g': g,
        },
        g,
      ),
    );
    root.append(
      h('header', { class: 'view-head' }, h('h1', null, 'Activity'), h('p', { class: 'sub' }, 'Everything that happens in the hub, newest first, as it happens.')),
      h('div', { class: 'segs', role: 'group', 'aria-label': 'Filter' }, buttons),
      list,
    );
    function update() {
      const items = store.events.filter((e) => filter === 'all' || String(e.kind).startsWith(filter + '.')).slice(-300).reverse();
      reconcile(list, items, (e) => e.id, renderFeedItem, {
        sig: (e) => e.id,
        empty: () => h('li', null, empty('No events yet', 'Events appear here live as agents register, talk and coordinate.')),
      });
    }
    return { update: (t) => (t.has('all') || t.has('events')) && update() };
  },
};
