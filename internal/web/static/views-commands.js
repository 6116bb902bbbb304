// The command center: the human sends commands to agents or roles and
// watches them go pending, claimed, done, with their results.

import { h, reconcile, timeEl, empty, route, pretty, compact, toast, isZeroTime } from './lib.js';
import { post } from './api.js';
import { store, byNewest, reportError, refresh } from './store.js';
import { field, targetList, jsonInput, busy, deadlineSelect } from './forms.js';

const statusText = {
  pending: 'pending — waiting for an agent to claim it',
  claimed: 'claimed — the agent is working on it',
  done: 'done',
  failed: 'failed',
  expired: 'expired — nobody finished it before its deadline',
};

// commandRow renders one command with its state and result.
export function commandRow(c) {
  const hasResult = c.result !== undefined && c.result !== null;
  const params = c.params && Object.keys(c.params).length ? compact(c.params, 160) : '';
  return h(
    'li',
    { class: ['cmd', 'cmd-' + c.status], 'data-id': String(c.id), 'data-status': c.status },
    h(
      'div',
      { class: 'cmd-head' },
      h('span', { class: ['pill', 'st-' + c.status], title: statusText[c.status] || c.status }, c.status),
      h('code', { class: 'action' }, c.action),
      h('span', { class: 'muted' }, ' → '),
      h('span', { class: 'who' }, c.target),
      h('span', { class: 'muted id' }, '#' + c.id),
      timeEl(c.created_at, 'right'),
    ),
    params ? h('div', { class: 'cmd-params' }, h('span', { class: 'muted' }, 'params '), h('code', null, params)) : null,
    h(
      'div',
      { class: 'cmd-meta muted' },
      'from ',
      h('a', { href: route('agents', c.from) }, c.from),
      c.claimed_by ? [' · claimed by ', h('a', { href: route('agents', c.claimed_by) }, c.claimed_by), ' ', timeEl(c.claimed_at)] : null,
      !isZeroTime(c.finished_at) ? [' · finished ', timeEl(c.finished_at)] : null,
      !isZeroTime(c.deadline) && (c.status === 'pending' || c.status === 'claimed') ? [' · deadline ', timeEl(c.deadline)] : null,
    ),
    hasResult ? h('div', { class: 'cmd-result' }, h('span', { class: 'label' }, 'Result'), h('pre', { class: 'result' }, pretty(c.result))) : null,
    c.error ? h('div', { class: 'cmd-result bad' }, h('span', { class: 'label' }, 'Error'), h('pre', { class: 'result' }, c.error)) : null,
  );
}

const filters = [
  ['all', 'All'],
  ['live', 'Pending and claimed'],
  ['done', 'Done'],
  ['failed', 'Failed or expired'],
];

export const commandsView = {
  title: () => 'Command center',
  mount(root, r) {
    let filter = 'all';
    const targets = targetList('cmd-targets', { everyone: false });
    const target = h('input', { name: 'target', list: 'cmd-targets', required: true, placeholder: 'backend or role:backend', autocomplete: 'off', value: r.query.get('target') || '' });
    const action = h('input', { name: 'action', required: true, placeholder: 'start_server', autocomplete: 'off', pattern: '\\S+', maxlength: '128', title: 'One word, no spaces' });
    const sendBtn = h('button', { type: 'submit', class: 'btn primary' }, 'Send command');
    const params = jsonInput({
      name: 'params',
      placeholder: '{"port": 7400}',
      object: true,
      rows: 3,
      onValidity: (ok) => {
        sendBtn.disabled = !ok;
      },
    });
    const deadline = deadlineSelect('deadline', undefined, '');
    const form = h(
      'form',
      {
        class: 'card command-form',
        'aria-label': 'Send a command',
        onsubmit: (ev) => {
          ev.preventDefault();
          const p = params.check();
          if (!p.ok) {
            params.el.focus();
            return;
          }
          busy(sendBtn, async () => {
            const req = { target: target.value.trim(), action: action.value.trim(), params: p.value || {} };
            if (deadline.value) req.deadline = deadline.value;
            try {
              const cmd = await post('/commands/send', req);
              const c = cmd.command || cmd;
              if (c && c.id !== undefined) store.commands.set(c.id, c);
              refresh('commands');
              toast(`Command ${req.action} sent to ${req.target}`);
            } catch (e) {
              reportError('Send command', e);
            }
          });
        },
      },
      h('h2', null, 'Send a command'),
      h('div', { class: 'grid3 even' }, field('Target', target, 'An agent, or role:<role> for one agent of that role.'), field('Action', action, 'One word, such as run_tests.'), field('Deadline', deadline)),
      field('Params (JSON object)', params.el),
      h('div', { class: 'form-row' }, params.msg, h('span', { class: 'spacer' }), sendBtn),
      targets.el,
    );
    const segs = filters.map(([k, label]) =>
      h(
        'button',
        {
          type: 'button',
          class: 'seg',
          'data-f': k,
          'aria-pressed': k === filter ? 'true' : 'false',
          onclick: () => {
            filter = k;
            for (const b of segs) b.setAttribute('aria-pressed', b.dataset.f === k ? 'true' : 'false');
            update();
          },
        },
        label,
      ),
    );
    const list = h('ul', { class: 'cmd-list', 'aria-label': 'Commands' });
    root.append(
      h('header', { class: 'view-head' }, h('h1', null, 'Command center'), h('p', { class: 'sub' }, 'Give orders to agents as “human” and follow each until it is done. The first agent that matches the target claims a command, does it and reports a result.')),
      h('div', { class: 'cmd-layout' }, form, h('section', { class: 'cmd-list-wrap' }, h('div', { class: 'list-head' }, h('h2', null, 'Commands'), h('div', { class: 'segs', role: 'group', 'aria-label': 'Filter commands' }, segs)), list)),
    );
    function update() {
      const all = Array.from(store.commands.values()).sort(byNewest);
      const shown = all.filter((c) => {
        switch (filter) {
          case 'live':
            return c.status === 'pending' || c.status === 'claimed';
          case 'done':
            return c.status === 'done';
          case 'failed':
            return c.status === 'failed' || c.status === 'expired';
        }
        return true;
      });
      reconcile(list, shown, (c) => c.id, commandRow, {
        empty: () =>
          h(
            'li',
            null,
            filter === 'all'
              ? empty('No commands yet', 'Send one with the form: pick a target agent or role, an action and its params. Agents wait for commands with “parley cmd wait” or their wait tool.')
              : empty('None in this state', 'Choose All to see every command.'),
          ),
      });
    }
    return {
      route(nr) {
        if (nr.query.get('target')) target.value = nr.query.get('target');
      },
      update(t) {
        if (t.has('all') || t.has('peers')) targets.update();
        if (t.has('all') || t.has('commands')) update();
      },
    };
  },
};
