// Proposals: questions put to voters, with live tallies; the human votes
// and proposes.

import { h, reconcile, timeEl, empty, route, toast, isZeroTime } from './lib.js';
import { post } from './api.js';
import { store, byNewest, reportError, refresh } from './store.js';
import { field, busy, splitList, deadlineSelect } from './forms.js';

const ruleText = { majority: 'majority', two_thirds: 'two thirds', unanimous: 'unanimous' };

function tallyOf(p) {
  if (p.tally) return p.tally;
  const t = {};
  for (const o of p.options || []) t[o] = 0;
  for (const v of p.votes || []) if (v.choice in t) t[v.choice]++;
  return t;
}

function proposalCard(p) {
  const open = p.status === 'open';
  const tally = tallyOf(p);
  const voters = p.voters || [];
  const n = voters.length || 1;
  const mine = (p.votes || []).find((v) => v.voter === store.me);
  const mayVote = open && voters.includes(store.me);
  const comment = h('input', { name: 'comment', placeholder: 'Comment (optional)', autocomplete: 'off', 'aria-label': 'Comment with your vote' });
  const vote = (choice) => (ev) =>
    busy(ev.currentTarget, async () => {
      try {
        const res = await post(`/proposals/${p.id}/vote`, { choice, comment: comment.value.trim() });
        const np = res.proposal || res;
        if (np && np.id !== undefined) store.proposals.set(np.id, np);
        refresh('proposals');
        toast(`You voted ${choice} on “${p.question}”`);
      } catch (e) {
        reportError('Vote', e);
      }
    });
  return h(
    'li',
    { class: ['card', 'proposal', open ? 'is-open' : 'is-decided'], 'data-id': String(p.id) },
    h(
      'div',
      { class: 'prop-head' },
      h('span', { class: ['pill', open ? 'st-pending' : p.outcome === 'no_quorum' || p.outcome === 'no_consensus' || p.outcome === 'rejected' ? 'st-failed' : 'st-done'] }, open ? 'open' : 'decided'),
      h('h3', { class: 'question' }, p.question),
      h('span', { class: 'muted id' }, '#' + p.id),
    ),
    h(
      'p',
      { class: 'muted prop-meta' },
      'by ',
      h('a', { href: route('agents', p.from) }, p.from),
      ' ',
      timeEl(p.created_at),
      ` · ${ruleText[p.rule] || p.rule}, ${p.threshold || '?'} of ${voters.length} needed`,
      open && !isZeroTime(p.deadline) ? [' · closes ', timeEl(p.deadline)] : null,
    ),
    !open ? h('p', { class: 'outcome' }, 'Outcome: ', h('strong', { class: 'outcome-value' }, p.outcome), p.reason ? h('span', { class: 'muted' }, ' — ' + p.reason) : null) : null,
    h(
      'ul',
      { class: 'tally', 'aria-label': 'Tally' },
      (p.options || []).map((o) =>
        h(
          'li',
          { class: ['tally-row', !open && p.outcome === o ? 'winner' : null], 'data-option': o },
          h('span', { class: 'opt' }, o),
          h('span', { class: 'bar', 'aria-hidden': 'true' }, h('span', { class: 'fill', style: { width: `${Math.round(((tally[o] || 0) / n) * 100)}%` } }), p.threshold ? h('span', { class: 'mark', style: { left: `${Math.min(100, Math.round((p.threshold / n) * 100))}%` } }) : null),
          h('span', { class: 'num', 'data-count': String(tally[o] || 0) }, `${tally[o] || 0}`),
        ),
      ),
    ),
    h(
      'details',
      { class: 'votes' },
      h('summary', null, `${(p.votes || []).length} of ${voters.length} voted`),
      h('p', { class: 'muted' }, 'Voters: ', voters.join(', ') || '—'),
      h(
        'ul',
        null,
        (p.votes || []).map((v) => h('li', null, h('span', { class: 'who' }, v.voter), ' → ', h('strong', null, v.choice), v.comment ? h('span', { class: 'muted' }, ' — ' + v.comment) : null, ' ', timeEl(v.at))),
      ),
    ),
    mayVote
      ? h(
          'div',
          { class: 'vote-box' },
          mine ? h('p', { class: 'hint' }, 'You voted ', h('strong', null, mine.choice), '. You may change your vote while the proposal is open.') : h('p', { class: 'hint' }, 'You are a voter. Cast your vote:'),
          h('div', { class: 'form-row' }, comment, (p.options || []).map((o) => h('button', { type: 'button', class: ['btn', mine && mine.choice === o ? 'primary' : null], 'data-choice': o, onclick: vote(o) }, o))),
        )
      : open
        ? h('p', { class: 'hint' }, 'You are not among the voters of this proposal.')
        : null,
  );
}

export const proposalsView = {
  title: () => 'Proposals',
  mount(root) {
    const question = h('input', { name: 'question', required: true, placeholder: 'Merge PR 12 into main?', autocomplete: 'off' });
    const options = h('input', { name: 'options', placeholder: 'approve, reject', autocomplete: 'off' });
    const voters = h('input', { name: 'voters', placeholder: 'empty: every agent online now', autocomplete: 'off' });
    const rule = h('select', { name: 'rule' }, ['majority', 'two_thirds', 'unanimous'].map((r) => h('option', { value: r }, ruleText[r])));
    const deadline = deadlineSelect('deadline', [['', 'none'], ['5m', '5 minutes'], ['15m', '15 minutes'], ['1h', '1 hour'], ['24h', '1 day']], '15m');
    const btn = h('button', { type: 'submit', class: 'btn primary' }, 'Propose');
    const form = h(
      'form',
      {
        class: 'propose',
        onsubmit: (ev) => {
          ev.preventDefault();
          busy(btn, async () => {
            const req = { question: question.value.trim(), rule: rule.value };
            const os = options.value.split(',').map((s) => s.trim()).filter(Boolean);
            if (os.length) req.options = os;
            const vs = splitList(voters.value);
            if (vs.length) req.voters = vs;
            if (deadline.value) req.deadline = deadline.value;
            try {
              const res = await post('/proposals', req);
              const np = res.proposal || res;
              if (np && np.id !== undefined) store.proposals.set(np.id, np);
              refresh('proposals');
              question.value = '';
              toast('Proposal created');
            } catch (e) {
              reportError('Propose', e);
            }
          });
        },
      },
      h('div', { class: 'grid2' }, field('Question', question), field('Options', options, 'Comma separated; approve, reject when empty.')),
      h('div', { class: 'grid3' }, field('Voters', voters, 'Names, role:<role> or *.'), field('Rule', rule), field('Deadline', deadline)),
      h('div', { class: 'form-row' }, h('span', { class: 'spacer' }), btn),
    );
    const list = h('ul', { class: 'prop-list', 'aria-label': 'Proposals' });
    root.append(
      h('header', { class: 'view-head' }, h('h1', null, 'Proposals'), h('p', { class: 'sub' }, 'Questions put to a vote. A proposal is decided as soon as its outcome is certain, or at its deadline.')),
      h('details', { class: 'card new-proposal' }, h('summary', null, 'New proposal'), form),
      list,
    );
    return {
      update(t) {
        if (!(t.has('all') || t.has('proposals') || t.has('peers'))) return;
        const ps = Array.from(store.proposals.values()).sort((a, b) => (a.status === 'open') !== (b.status === 'open') ? (a.status === 'open' ? -1 : 1) : byNewest(a, b));
        reconcile(list, ps, (p) => p.id, proposalCard, {
          empty: () => h('li', null, empty('No proposals yet', 'Agents put questions to a vote with their propose tool; you can too with New proposal above. Open proposals you may vote on appear here.')),
        });
      },
    };
  },
};
