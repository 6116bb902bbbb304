package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Voting rules: how many of the n voters one choice needs.
const (
	// RuleMajority needs floor(n/2)+1 votes.
	RuleMajority = "majority"
	// RuleTwoThirds needs ceil(2n/3) votes.
	RuleTwoThirds = "two_thirds"
	// RuleUnanimous needs all n votes.
	RuleUnanimous = "unanimous"
)

// Proposal states.
const (
	ProposalOpen    = "open"
	ProposalDecided = "decided"
)

// Outcomes of a proposal besides the winning choice.
const (
	// OutcomeRejected: an approve/reject proposal whose "approve" can no
	// longer reach the threshold.
	OutcomeRejected = "rejected"
	// OutcomeNoConsensus: no choice of a proposal with other options can
	// reach the threshold any more.
	OutcomeNoConsensus = "no_consensus"
	// OutcomeNoQuorum: the deadline passed with fewer votes cast than the
	// threshold.
	OutcomeNoQuorum = "no_quorum"
)

// Default choices of a proposal.
const (
	ChoiceApprove = "approve"
	ChoiceReject  = "reject"
)

// Limits on proposals.
const (
	maxQuestionLen = 4096
	maxCommentLen  = 4096
	maxOptionLen   = 64
	maxOptions     = 32
	// MaxVoters bounds the voters of one proposal.
	MaxVoters = 1000
)

// Proposal is a question put to a fixed set of voters. It is decided as
// soon as the outcome is certain, or at its deadline; once decided its
// outcome never changes.
type Proposal struct {
	ID       int64    `json:"id"`
	From     string   `json:"from"`
	Question string   `json:"question"`
	Options  []string `json:"options"`
	// Voters are the agents that may vote, fixed at creation.
	Voters    []string  `json:"voters"`
	Rule      string    `json:"rule"`
	Deadline  time.Time `json:"deadline,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	Status    string    `json:"status"`
	// Outcome is the winning choice, or rejected, no_consensus or
	// no_quorum; empty while open.
	Outcome string `json:"outcome,omitempty"`
	// Reason says in words why the proposal was decided.
	Reason    string    `json:"reason,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	// Votes are the ballots cast, one per voter, in the order cast.
	Votes []Vote `json:"votes"`
	// Threshold is how many votes one choice needs; Tally counts the
	// votes of each choice. Both are computed, not stored.
	Threshold int            `json:"threshold"`
	Tally     map[string]int `json:"tally"`

	FromID int64 `json:"-"`
}

// Vote is one voter's ballot.
type Vote struct {
	Voter   string    `json:"voter"`
	Choice  string    `json:"choice"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// fill computes Threshold and Tally.
func (p *Proposal) fill() {
	p.Threshold = Threshold(p.Rule, len(p.Voters))
	p.Tally = make(map[string]int, len(p.Options))
	for _, o := range p.Options {
		p.Tally[o] = 0
	}
	for _, v := range p.Votes {
		if _, ok := p.Tally[v.Choice]; ok {
			p.Tally[v.Choice]++
		}
	}
	p.Votes = nonNil(p.Votes)
}

// ballots maps voter to choice.
func (p *Proposal) ballots() map[string]string {
	b := make(map[string]string, len(p.Votes))
	for _, v := range p.Votes {
		b[v.Voter] = v.Choice
	}
	return b
}

// ProposalRequest creates a proposal. The proposer is the Caller.
type ProposalRequest struct {
	Question string `json:"question"`
	// Options default to approve and reject.
	Options []string `json:"options,omitempty"`
	// Voters are agent names, roles ("role:<role>", or a bare role that no
	// agent has as name) and "*" for every agent online now. None means
	// every agent online now.
	Voters StringList `json:"voters,omitempty"`
	// Rule is majority (the default), two_thirds or unanimous.
	Rule     string   `json:"rule,omitempty"`
	Deadline Deadline `json:"deadline,omitzero"`
}

// VoteRequest casts or changes the caller's vote.
type VoteRequest struct {
	Choice  string `json:"choice"`
	Comment string `json:"comment,omitempty"`
}

// ProposalQuery selects proposals, for the Store.
type ProposalQuery struct {
	Status string // open or decided; empty for both
	Before int64  // only IDs below
	Limit  int
}

// Threshold returns how many of n voters one choice needs under rule.
func Threshold(rule string, n int) int {
	switch rule {
	case RuleTwoThirds:
		return (2*n + 2) / 3
	case RuleUnanimous:
		return n
	}
	return n/2 + 1
}

// Decision is the state of a proposal's vote.
type Decision struct {
	Decided bool
	Outcome string
	Reason  string
}

// Decide computes the decision on a vote: ballots maps voter to choice;
// ballots of anyone not in voters and choices not in options are
// ignored. A choice that reaches the threshold wins at once. When no
// choice can reach it any more, even if every voter yet to vote chose it,
// the outcome is rejected (for options that include approve) or
// no_consensus. At the deadline, a vote not yet decided is no_quorum when
// fewer votes than the threshold were cast, else rejected or
// no_consensus.
func Decide(rule string, options, voters []string, ballots map[string]string, atDeadline bool) Decision {
	n := len(voters)
	t := Threshold(rule, n)
	counts := make(map[string]int, len(options))
	for _, o := range options {
		counts[o] = 0
	}
	cast := 0
	for _, v := range voters {
		choice, ok := ballots[v]
		if !ok {
			continue
		}
		if _, valid := counts[choice]; valid {
			counts[choice]++
			cast++
		}
	}
	for _, o := range options {
		if counts[o] >= t {
			return Decision{Decided: true, Outcome: o,
				Reason: fmt.Sprintf("%q reached %d of %d votes (%s)", o, counts[o], n, rule)}
		}
	}
	fail := OutcomeNoConsensus
	if slices.Contains(options, ChoiceApprove) {
		fail = OutcomeRejected
	}
	remaining := n - cast
	reachable := false
	for _, o := range options {
		if counts[o]+remaining >= t {
			reachable = true
			break
		}
	}
	if !reachable {
		return Decision{Decided: true, Outcome: fail,
			Reason: fmt.Sprintf("no choice can reach %d of %d votes (%s)", t, n, rule)}
	}
	if !atDeadline {
		return Decision{}
	}
	if cast < t {
		return Decision{Decided: true, Outcome: OutcomeNoQuorum,
			Reason: fmt.Sprintf("deadline passed with %d of %d votes cast; %d needed", cast, n, t)}
	}
	return Decision{Decided: true, Outcome: fail,
		Reason: fmt.Sprintf("deadline passed and no choice reached %d of %d votes (%s)", t, n, rule)}
}

// Propose creates a proposal and returns it open. Its voters are fixed
// now: roles and "*" resolve to the agents that have the role or are
// online at this moment.
func (s *Service) Propose(ctx context.Context, c Caller, req ProposalRequest) (Proposal, error) {
	if !c.IsAgent() {
		return Proposal{}, Errorf(CodeForbidden, "proposing needs an agent")
	}
	if strings.TrimSpace(req.Question) == "" {
		return Proposal{}, Errorf(CodeInvalid, "question is empty")
	}
	if err := checkText("question", req.Question, maxQuestionLen); err != nil {
		return Proposal{}, err
	}
	options, err := normalizeOptions(req.Options)
	if err != nil {
		return Proposal{}, err
	}
	switch req.Rule {
	case "":
		req.Rule = RuleMajority
	case RuleMajority, RuleTwoThirds, RuleUnanimous:
	default:
		return Proposal{}, Errorf(CodeInvalid, "rule %q: must be majority, two_thirds or unanimous", req.Rule)
	}
	if len(req.Voters) > MaxVoters {
		return Proposal{}, Errorf(CodeInvalid, "voters: %d given, at most %d allowed", len(req.Voters), MaxVoters)
	}
	now := s.now()
	deadline, err := req.Deadline.resolve("deadline", now)
	if err != nil {
		return Proposal{}, err
	}
	online := s.OnlineNames()
	var p Proposal
	err = s.store.Update(ctx, func(tx Tx) error {
		from, err := tx.AgentByID(ctx, c.AgentID)
		if err != nil {
			return err
		}
		voters, err := resolveVoters(ctx, tx, req.Voters, online)
		if err != nil {
			return err
		}
		p = Proposal{
			From: from.Name, FromID: from.ID, Question: req.Question, Options: options,
			Voters: voters, Rule: req.Rule, Deadline: deadline, CreatedAt: now, Status: ProposalOpen,
		}
		if p, err = tx.InsertProposal(ctx, p); err != nil {
			return err
		}
		p.fill()
		ev := s.event(EventProposalCreated, from.Name, proposalSubject(p.ID), proposalTargets(p), p)
		return appendEvents(ctx, tx, ev)
	})
	if err != nil {
		return Proposal{}, fmt.Errorf("propose: %w", err)
	}
	return p, nil
}

func normalizeOptions(opts []string) ([]string, error) {
	if len(opts) == 0 {
		return []string{ChoiceApprove, ChoiceReject}, nil
	}
	if len(opts) < 2 || len(opts) > maxOptions {
		return nil, Errorf(CodeInvalid, "options: give 2 to %d choices (default approve, reject)", maxOptions)
	}
	out := make([]string, 0, len(opts))
	for i, o := range opts {
		o = strings.TrimSpace(o)
		if err := checkLine(fmt.Sprintf("options[%d]", i), o, maxOptionLen, false); err != nil {
			return nil, err
		}
		switch o {
		case OutcomeRejected, OutcomeNoConsensus, OutcomeNoQuorum:
			return nil, Errorf(CodeInvalid, "options[%d] %q: reserved for outcomes", i, o)
		}
		for _, prev := range out {
			if strings.EqualFold(prev, o) {
				return nil, Errorf(CodeInvalid, "options[%d] %q: given twice", i, o)
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// resolveVoters turns names, roles and "*" into agent names, sorted.
func resolveVoters(ctx context.Context, r Reader, specs []string, online []string) ([]string, error) {
	if len(specs) == 0 {
		specs = []string{Broadcast}
	}
	seen := map[string]bool{}
	var out []string
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	for i, spec := range specs {
		spec = strings.TrimSpace(spec)
		if spec == Broadcast {
			n := 0
			for _, name := range online {
				if _, err := r.AgentByName(ctx, name); err == nil {
					add(name)
					n++
				} else if !errors.Is(err, ErrNotFound) {
					return nil, err
				}
			}
			if n == 0 {
				return nil, Errorf(CodeInvalid, "voters: no agent is online")
			}
			continue
		}
		explicitRole := strings.HasPrefix(strings.ToLower(spec), RolePrefix)
		if explicitRole {
			spec = spec[len(RolePrefix):]
		}
		name, err := NormalizeName(fmt.Sprintf("voters[%d]", i), spec)
		if err != nil {
			return nil, err
		}
		if !explicitRole {
			if a, err := r.AgentByName(ctx, name); err == nil {
				add(a.Name)
				continue
			} else if !errors.Is(err, ErrNotFound) {
				return nil, err
			}
		}
		agents, err := r.Agents(ctx, name)
		if err != nil {
			return nil, err
		}
		if len(agents) == 0 {
			if explicitRole {
				return nil, Errorf(CodeNotFound, "voters[%d]: no agent has role %q", i, name)
			}
			return nil, Errorf(CodeNotFound, "voters[%d]: no agent has the name or role %q", i, name)
		}
		for _, a := range agents {
			add(a.Name)
		}
	}
	if len(out) > MaxVoters {
		return nil, Errorf(CodeInvalid, "voters: %d agents, at most %d allowed", len(out), MaxVoters)
	}
	slices.Sort(out)
	return out, nil
}

// Vote casts the caller's vote, or changes it while the proposal is
// open. Only the proposal's voters may vote. The proposal is decided in
// the same transaction as soon as the outcome is certain.
func (s *Service) Vote(ctx context.Context, c Caller, id int64, req VoteRequest) (Proposal, error) {
	if !c.IsAgent() {
		return Proposal{}, Errorf(CodeForbidden, "voting needs an agent")
	}
	if err := checkText("comment", req.Comment, maxCommentLen); err != nil {
		return Proposal{}, err
	}
	choice := strings.TrimSpace(req.Choice)
	if choice == "" {
		return Proposal{}, Errorf(CodeInvalid, "choice is empty")
	}
	now := s.now()
	var p Proposal
	var closed bool
	err := s.store.Update(ctx, func(tx Tx) error {
		closed = false
		var err error
		p, err = tx.Proposal(ctx, id)
		if err != nil {
			return notFound(err, "proposal %d not found", id)
		}
		p.fill()
		if p.Status == ProposalDecided {
			return Errorf(CodeConflict, "proposal %d is already decided: %s", id, p.Outcome)
		}
		if !p.Deadline.IsZero() && !now.Before(p.Deadline) {
			closed = true
			return s.decideTx(ctx, tx, &p, now, true)
		}
		voter, err := tx.AgentByID(ctx, c.AgentID)
		if err != nil {
			return err
		}
		if !slices.Contains(p.Voters, voter.Name) {
			return Errorf(CodeForbidden, "%q is not a voter of proposal %d", voter.Name, id)
		}
		canonical := ""
		for _, o := range p.Options {
			if strings.EqualFold(o, choice) {
				canonical = o
			}
		}
		if canonical == "" {
			return Errorf(CodeInvalid, "choice %q: must be one of %s", truncate(choice, 80), strings.Join(p.Options, ", "))
		}
		v := Vote{Voter: voter.Name, Choice: canonical, Comment: req.Comment, At: now}
		if err := tx.PutVote(ctx, p.ID, v); err != nil {
			return err
		}
		p.Votes = slices.DeleteFunc(p.Votes, func(old Vote) bool { return old.Voter == v.Voter })
		p.Votes = append(p.Votes, v)
		p.fill()
		ev := s.event(EventProposalVoted, voter.Name, proposalSubject(p.ID), proposalTargets(p), v)
		if err := appendEvents(ctx, tx, ev); err != nil {
			return err
		}
		return s.decideTx(ctx, tx, &p, now, false)
	})
	if err != nil {
		return Proposal{}, fmt.Errorf("vote on proposal %d: %w", id, err)
	}
	if closed {
		return p, Errorf(CodeConflict, "proposal %d closed at its deadline %s: %s", id, p.Deadline.Format(time.RFC3339), p.Outcome)
	}
	return p, nil
}

// renameVoterTx follows a rename into the open proposals the agent may
// vote on: voters are kept by name, and a renamed voter must still be
// able to vote, its ballot counted once. Decided proposals keep the
// names they were decided with.
func renameVoterTx(ctx context.Context, tx Tx, from, to string) error {
	const page = 500
	var before int64
	for {
		ps, err := tx.Proposals(ctx, ProposalQuery{Status: ProposalOpen, Before: before, Limit: page})
		if err != nil {
			return err
		}
		for _, p := range ps {
			before = p.ID // newest first
			i := slices.Index(p.Voters, from)
			if i < 0 {
				continue
			}
			voters := slices.Clone(p.Voters)
			if slices.Contains(voters, to) { // a former holder of the name
				voters = slices.Delete(voters, i, i+1)
			} else {
				voters[i] = to
			}
			if err := tx.RenameVoter(ctx, p.ID, voters, from, to); err != nil {
				return err
			}
		}
		if len(ps) < page {
			return nil
		}
	}
}

// decideTx decides p when its outcome is certain (or atDeadline) and
// stores the decision with its event.
func (s *Service) decideTx(ctx context.Context, tx Tx, p *Proposal, now time.Time, atDeadline bool) error {
	d := Decide(p.Rule, p.Options, p.Voters, p.ballots(), atDeadline)
	if !d.Decided {
		return nil
	}
	p.Status, p.Outcome, p.Reason, p.DecidedAt = ProposalDecided, d.Outcome, d.Reason, now
	if err := tx.DecideProposal(ctx, *p); err != nil {
		return err
	}
	ev := s.event(EventProposalDecided, "", proposalSubject(p.ID), proposalTargets(*p), map[string]any{
		"id": p.ID, "question": truncate(p.Question, eventPreviewSize), "outcome": p.Outcome,
		"reason": p.Reason, "tally": p.Tally,
	})
	return appendEvents(ctx, tx, ev)
}

// decideDueProposalsTx decides open proposals past their deadline.
func (s *Service) decideDueProposalsTx(ctx context.Context, tx Tx, now time.Time) error {
	ids, err := tx.DueProposals(ctx, now, 500)
	if err != nil {
		return err
	}
	for _, id := range ids {
		p, err := tx.Proposal(ctx, id)
		if err != nil {
			return err
		}
		p.fill()
		if err := s.decideTx(ctx, tx, &p, now, true); err != nil {
			return err
		}
	}
	return nil
}

// GetProposal returns a proposal with its votes and tally.
func (s *Service) GetProposal(ctx context.Context, c Caller, id int64) (Proposal, error) {
	return s.WaitProposal(ctx, c, id, 0)
}

// WaitProposal waits up to timeout for a proposal to be decided and
// returns it, decided or still open.
func (s *Service) WaitProposal(ctx context.Context, c Caller, id int64, timeout time.Duration) (Proposal, error) {
	prop, p, err := s.StartWaitProposal(ctx, c, id, timeout)
	return p.wait(ctx, prop, err)
}

// StartWaitProposal is the first half of WaitProposal: it reads the
// proposal once, and hands back the rest of the wait as a Pending when
// it is still open and timeout is not 0.
func (s *Service) StartWaitProposal(ctx context.Context, c Caller, id int64, timeout time.Duration) (Proposal, *Pending[Proposal], error) {
	if err := s.needCaller(c, "reading a proposal"); err != nil {
		return Proposal{}, nil, err
	}
	timeout, err := clampWait(timeout)
	if err != nil {
		return Proposal{}, nil, err
	}
	release := noRelease
	if timeout > 0 && c.IsAgent() {
		release = s.Connect(ctx, c.Name)
	}
	f := Filter{Kinds: []string{EventProposalDecided}, Subjects: []string{proposalSubject(id)}}
	return startPending(ctx, s.bus, f, timeout, release, fmt.Sprintf("get proposal %d", id), func(ctx context.Context) (Proposal, bool, error) {
		var p Proposal
		err := s.store.View(ctx, func(r Reader) error {
			var err error
			p, err = r.Proposal(ctx, id)
			return notFound(err, "proposal %d not found", id)
		})
		if err != nil {
			return Proposal{}, false, err
		}
		p.fill()
		return p, p.Status == ProposalDecided, nil
	})
}

// ListProposals lists proposals newest first; status filters (open or
// decided).
func (s *Service) ListProposals(ctx context.Context, c Caller, q ProposalQuery) ([]Proposal, error) {
	if err := s.needCaller(c, "listing proposals"); err != nil {
		return nil, err
	}
	switch q.Status {
	case "", ProposalOpen, ProposalDecided:
	default:
		return nil, Errorf(CodeInvalid, "status %q: must be open or decided", q.Status)
	}
	if q.Before < 0 {
		return nil, Errorf(CodeInvalid, "before must not be negative")
	}
	var err error
	if q.Limit, err = listLimit(q.Limit); err != nil {
		return nil, err
	}
	var ps []Proposal
	err = s.store.View(ctx, func(r Reader) error {
		var err error
		ps, err = r.Proposals(ctx, q)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list proposals: %w", err)
	}
	for i := range ps {
		ps[i].fill()
	}
	return nonNil(ps), nil
}

func proposalSubject(id int64) string { return strconv.FormatInt(id, 10) }

// proposalTargets are the proposer and the voters.
func proposalTargets(p Proposal) []string {
	ts := make([]string, 0, len(p.Voters)+1)
	ts = append(ts, p.From)
	for _, v := range p.Voters {
		if v != p.From {
			ts = append(ts, v)
		}
	}
	return ts
}
