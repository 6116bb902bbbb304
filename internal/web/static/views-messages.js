// Messages: conversations grouped by thread, search, and the human's
// composer.

import { h, reconcile, timeEl, empty, route, compact, toast } from './lib.js';
import { get, post, enc } from './api.js';
import { store, addMessage, byNewest, reportError, changed } from './store.js';
import { field, targetList, busy, splitList } from './forms.js';
import { avatar } from './views-agents.js';

function firstLine(s, max = 80) {
  const line = String(s || '').split('\n').find((l) => l.trim() !== '') || '';
  return line.length > max ? line.slice(0, max - 1) + '…' : line;
}

const threadOf = (m) => m.thread || String(m.id);

// threads groups the known messages by thread, newest activity first.
function threads() {
  const by = new Map();
  for (const m of store.messages.values()) {
    const id = threadOf(m);
    let t = by.get(id);
    if (!t) {
      t = { id, first: m, last: m, count: 0, people: new Set(), urgent: false };
      by.set(id, t);
    }
    t.count++;
    if (m.id < t.first.id) t.first = m;
    if (m.id > t.last.id) t.last = m;
    t.people.add(m.from);
    for (const x of m.to || []) t.people.add(x);
    if (m.importance === 'urgent' || m.importance === 'high') t.urgent = true;
  }
  return Array.from(by.values()).sort((a, b) => b.last.id - a.last.id);
}

function threadItem(t, selected) {
  const title = t.first.subject || firstLine(t.first.body) || '(no text)';
  return h(
    'li',
    { class: ['thread-item', selected ? 'selected' : null, t.urgent ? 'important' : null] },
    h(
      'a',
      { href: route('messages', t.id), 'aria-current': selected ? 'true' : null },
      h('div', { class: 'row' }, h('span', { class: 'title' }, title), h('span', { class: 'count-pill', title: `${t.count} message${t.count === 1 ? '' : 's'}` }, String(t.count))),
      h('div', { class: 'row meta' }, h('span', { class: 'people' }, Array.from(t.people).join(', ')), timeEl(t.last.created_at)),
      h('p', { class: 'snippet' }, h('span', { class: 'who' }, t.last.from + ': '), firstLine(t.last.body, 120)),
    ),
  );
}

function searchItem(m) {
  return h(
    'li',
    { class: 'thread-item' },
    h(
      'a',
      { href: route('messages', threadOf(m)) },
      h('div', { class: 'row' }, h('span', { class: 'title' }, m.subject || firstLine(m.body)), timeEl(m.created_at)),
      h('div', { class: 'row meta' }, h('span', { class: 'people' }, `${m.from} → ${(m.to || []).join(', ')}`)),
      h('p', { class: 'snippet' }, firstLine(m.body, 140)),
    ),
  );
}

function attachmentList(as) {
  if (!as || !as.length) return null;
  return h(
    'ul',
    { class: 'attachments' },
    as.map((a) =>
      h(
        'li',
        null,
        h('span', { class: 'chip' }, a.kind || 'data'),
        ' ',
        a.path ? h('code', null, a.path + (a.start_line ? `:${a.start_line}${a.end_line ? '-' + a.end_line : ''}` : '')) : h('span', null, a.name || 'attachment'),
        a.content ? h('pre', { class: 'attachment-body' }, compact(a.content, 2000)) : null,
      ),
    ),
  );
}

function messageItem(m) {
  const toMe = (m.to || []).includes(store.me) || (m.to || []).includes('*');
  const ackBtn =
    m.ack_required && toMe && m.from !== store.me
      ? h(
          'button',
          {
            type: 'button',
            class: 'btn small',
            onclick: (ev) =>
              busy(ev.currentTarget, async () => {
                try {
                  await post(`/messages/${m.id}/ack`);
                  toast(`Acknowledged message #${m.id}`);
                } catch (e) {
                  reportError('Acknowledge', e);
                }
              }),
          },
          'Acknowledge',
        )
      : null;
  const more = m.truncated
    ? h(
        'button',
        {
          type: 'button',
          class: 'btn small ghost',
          onclick: (ev) =>
            busy(ev.currentTarget, async () => {
              try {
                addMessage(await get(`/messages/${m.id}`));
              } catch (e) {
                reportError('Load message', e);
              }
            }),
        },
        `Show all ${m.size} bytes`,
      )
    : null;
  return h(
    'li',
    { class: ['msg', 'imp-' + (m.importance || 'normal'), m.from === store.me ? 'mine' : null], id: 'm' + m.id },
    h(
      'div',
      { class: 'msg-head' },
      avatar(m.from),
      h('a', { class: 'who', href: route('agents', m.from) }, m.from),
      h('span', { class: 'muted' }, '→ ' + (m.to || []).join(', ')),
      m.importance && m.importance !== 'normal' ? h('span', { class: ['chip', 'imp', 'imp-' + m.importance] }, m.importance) : null,
      m.ack_required ? h('span', { class: 'chip', title: 'The sender asked for an acknowledgement' }, 'ack requested') : null,
      timeEl(m.created_at, 'right'),
    ),
    m.subject ? h('div', { class: 'msg-subject' }, m.subject) : null,
    h('div', { class: 'msg-body' }, m.body),
    attachmentList(m.attachments),
    more || ackBtn ? h('div', { class: 'msg-actions' }, more, ackBtn) : null,
  );
}

export const messagesView = {
  title: () => 'Messages',
  mount(root, r) {
    let thread = r.parts[0] || '';
    let results = null; // search results, when searching
    const targets = targetList('msg-targets');

    // Search.
    const q = h('input', { type: 'search', name: 'q', placeholder: 'Search subjects and bodies', 'aria-label': 'Search messages', autocomplete: 'off' });
    const clearBtn = h('button', { type: 'button', class: 'btn ghost small', hidden: true, onclick: () => clearSearch() }, 'Clear');
    const searchForm = h(
      'form',
      {
        class: 'search',
        role: 'search',
        onsubmit: async (ev) => {
          ev.preventDefault();
          const text = q.value.trim();
          if (!text) return clearSearch();
          try {
            const res = await get('/search?q=' + enc(text) + '&limit=100');
            results = res.messages || [];
            for (const m of results) addMessage(m);
            clearBtn.hidden = false;
            listHead.textContent = `${results.length}${res.more ? '+' : ''} result${results.length === 1 ? '' : 's'} for “${text}”`;
            renderList();
          } catch (e) {
            reportError('Search', e);
          }
        },
      },
      q,
      h('button', { type: 'submit', class: 'btn small' }, 'Search'),
      clearBtn,
    );
    function clearSearch() {
      results = null;
      q.value = '';
      clearBtn.hidden = true;
      listHead.textContent = 'Threads';
      renderList();
    }
    const listHead = h('h2', { class: 'pane-title' }, 'Threads');
    const list = h('ul', { class: 'thread-list', 'aria-label': 'Threads' });

    // Composer.
    const to = h('input', { name: 'to', list: 'msg-targets', required: true, placeholder: 'backend, role:reviewer or *', autocomplete: 'off', value: r.query.get('to') || '' });
    const subject = h('input', { name: 'subject', placeholder: 'Optional', autocomplete: 'off', maxlength: '256' });
    const body = h('textarea', { name: 'body', rows: 4, required: true, placeholder: 'Write to the agents. Markdown is fine.' });
    const importance = h('select', { name: 'importance' }, ['normal', 'low', 'high', 'urgent'].map((v) => h('option', { value: v }, v)));
    const ack = h('input', { type: 'checkbox', name: 'ack_required' });
    const sendBtn = h('button', { type: 'submit', class: 'btn primary' }, 'Send message');
    const composer = h(
      'form',
      {
        class: 'card composer',
        'aria-label': 'New message',
        onsubmit: (ev) => {
          ev.preventDefault();
          busy(sendBtn, async () => {
            const req = { to: splitList(to.value), subject: subject.value.trim(), body: body.value, importance: importance.value, ack_required: ack.checked };
            try {
              const res = await post('/messages', req);
              addMessage(res.message);
              const queued = res.queued && res.queued.length ? ` (held for ${res.queued.join(', ')} until they register)` : '';
              const full = res.full && res.full.length ? `; not delivered to ${res.full.join(', ')}: inbox full` : '';
              toast(`Message sent to ${req.to.join(', ')}${queued}${full}`);
              body.value = '';
              subject.value = '';
              location.hash = route('messages', threadOf(res.message));
            } catch (e) {
              reportError('Send', e);
            }
          });
        },
      },
      h('h2', null, 'New message'),
      field('To', to, 'An agent, role:<role>, or * for everyone; separate several with commas.'),
      field('Subject', subject),
      field('Message', body),
      h('div', { class: 'form-row' }, field('Importance', importance), h('label', { class: 'check' }, ack, ' Ask for an acknowledgement'), h('span', { class: 'spacer' }), sendBtn),
      targets.el,
    );

    // Thread pane.
    const threadHead = h('div', { class: 'thread-head' });
    const threadList = h('ol', { class: 'thread-msgs', 'aria-label': 'Messages in thread' });
    const reply = h('textarea', { name: 'reply', rows: 3, placeholder: 'Reply to everyone in this thread', required: true });
    const replyBtn = h('button', { type: 'submit', class: 'btn primary' }, 'Reply');
    const replyForm = h(
      'form',
      {
        class: 'reply',
        'aria-label': 'Reply',
        onsubmit: (ev) => {
          ev.preventDefault();
          const ms = threadMessages();
          if (!ms.length) return;
          const last = ms[ms.length - 1];
          const people = new Set([last.from, ...(last.to || [])]);
          people.delete(store.me);
          if (!people.size) people.add(last.from);
          busy(replyBtn, async () => {
            try {
              const res = await post('/messages', { to: Array.from(people), body: reply.value, reply_to: last.id, thread });
              addMessage(res.message);
              reply.value = '';
            } catch (e) {
              reportError('Reply', e);
            }
          });
        },
      },
      field('Reply', reply),
      h('div', { class: 'form-row' }, h('span', { class: 'spacer' }), replyBtn),
    );
    const threadPane = h('section', { class: 'card thread' }, threadHead, threadList, replyForm);
    const right = h('div', { class: 'msg-right' });

    root.append(
      h('header', { class: 'view-head' }, h('h1', null, 'Messages'), h('p', { class: 'sub' }, 'Conversations between agents, grouped by thread. Open a thread to read and reply; start one with New message.'), h('a', { class: 'btn', href: route('messages') }, 'New message')),
      h('div', { class: 'msg-layout' }, h('aside', { class: 'card threads-pane' }, searchForm, listHead, list), right),
    );

    function threadMessages() {
      return Array.from(store.messages.values())
        .filter((m) => threadOf(m) === thread)
        .sort((a, b) => a.id - b.id);
    }

    async function loadThread() {
      if (!thread) return;
      try {
        const res = await get(`/threads/${enc(thread)}?limit=200`);
        for (const m of res.messages || []) addMessage(m);
      } catch (e) {
        if (e.status !== 404) reportError('Load thread', e);
      }
    }

    function renderList() {
      if (results) {
        reconcile(list, results.slice().sort(byNewest), (m) => 's' + m.id, searchItem, { empty: () => h('li', null, empty('No messages match', 'Search looks for all the words in subjects and bodies.')) });
        return;
      }
      reconcile(list, threads(), (t) => t.id, (t) => threadItem(t, t.id === thread), {
        sig: (t) => JSON.stringify([t.id === thread, t.count, t.last.id, t.first.subject, t.first.body.length, [...t.people]]),
        empty: () => h('li', null, empty('No messages yet', 'Messages agents send each other appear here live. Write the first one with New message.')),
      });
    }

    function renderRight() {
      if (!thread) {
        if (right.firstChild !== composer) right.replaceChildren(composer);
        return;
      }
      if (right.firstChild !== threadPane) right.replaceChildren(threadPane);
      const ms = threadMessages();
      const first = ms[0];
      const sig = first ? first.subject + '|' + first.id : '';
      if (threadHead._sig !== sig) {
        threadHead._sig = sig;
        threadHead.replaceChildren(
          h('a', { class: 'back', href: route('messages') }, '← Threads'),
          h('h2', null, first ? first.subject || firstLine(first.body) : 'Thread ' + thread),
        );
      }
      reconcile(threadList, ms, (m) => m.id, messageItem, {
        sig: (m) => `${m.id}:${m.truncated ? 1 : 0}:${m.body.length}`,
        empty: () => h('li', null, empty('Loading thread…')),
      });
    }

    let markTimer = 0;
    function markRead() {
      const me = store.peers.get(store.me);
      if (!me || !me.unread || markTimer) return;
      markTimer = setTimeout(async () => {
        try {
          const res = await get(`/inbox/${enc(store.me)}?limit=500`);
          for (const m of res.messages || []) addMessage(m);
          if (me) me.unread = res.unread || 0;
          changed('peers');
        } catch (e) {
          console.warn('mark read:', e.message);
        } finally {
          markTimer = 0;
        }
      }, 300);
    }

    loadThread();
    return {
      route(nr) {
        thread = nr.parts[0] || '';
        if (nr.query.get('to')) to.value = nr.query.get('to');
        loadThread();
        renderList();
        renderRight();
      },
      update(t) {
        if (t.has('peers') || t.has('all')) targets.update();
        if (t.has('messages') || t.has('all')) {
          renderList();
          renderRight();
        }
        markRead();
      },
      unmount() {
        clearTimeout(markTimer);
      },
    };
  },
};
