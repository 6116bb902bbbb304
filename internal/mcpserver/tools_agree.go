package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parley-dev/parley/internal/hub"
)

type proposeIn struct {
	Question    string   `json:"question" jsonschema:"what to decide, e.g. Merge PR 12?"`
	Options     []string `json:"options,omitempty" jsonschema:"the choices (default approve and reject)"`
	Voters      any      `json:"voters,omitempty" jsonschema:"who votes: names, role:<role>, or * for everyone online (the default), as a comma-separated string or a list"`
	Rule        string   `json:"rule,omitempty" jsonschema:"majority (default), two_thirds or unanimous"`
	Deadline    string   `json:"deadline,omitempty" jsonschema:"when voting ends: a duration such as 10m or an RFC 3339 time"`
	WaitSeconds *float64 `json:"wait_seconds,omitempty" jsonschema:"also wait up to this many seconds (at most 50) for the outcome"`
}

type voteIn struct {
	ID      int64  `json:"id" jsonschema:"id of the proposal"`
	Choice  string `json:"choice" jsonschema:"one of the proposal's options, e.g. approve or reject"`
	Comment string `json:"comment,omitempty" jsonschema:"why you vote this way"`
}

type proposalStatusIn struct {
	ID          int64    `json:"id,omitempty" jsonschema:"the proposal to show; omit to list open proposals"`
	WaitSeconds *float64 `json:"wait_seconds,omitempty" jsonschema:"wait up to this many seconds (at most 50) for the outcome"`
}

type reserveIn struct {
	Patterns  []string `json:"patterns" jsonschema:"files to reserve, as globs relative to the repository root, e.g. [\"src/api/**\",\"go.mod\"]"`
	TTL       string   `json:"ttl,omitempty" jsonschema:"how long, e.g. 30m or 2h (default 1h)"`
	Exclusive *bool    `json:"exclusive,omitempty" jsonschema:"false to share with other non-exclusive holders (default true)"`
	Reason    string   `json:"reason,omitempty" jsonschema:"what you are doing with the files"`
}

type releaseIn struct {
	ID  int64 `json:"id,omitempty" jsonschema:"id of the lease to release"`
	All bool  `json:"all,omitempty" jsonschema:"release every lease you hold"`
}

type stateGetIn struct {
	Key    string `json:"key,omitempty" jsonschema:"the key to read"`
	Prefix string `json:"prefix,omitempty" jsonschema:"list keys starting with this instead (empty key and prefix: list all)"`
}

type stateSetIn struct {
	Key              string `json:"key" jsonschema:"the key, 1-64 of a-z 0-9 . _ -"`
	Value            any    `json:"value" jsonschema:"the new value: any JSON"`
	ExpectedRevision *int64 `json:"expected_revision,omitempty" jsonschema:"change only if the key is at this revision (0: only if unset); on conflict the current revision is reported"`
}

type proposalOut struct {
	Proposal hub.Proposal `json:"proposal"`
}

type proposalsOut struct {
	Proposals []hub.Proposal `json:"proposals"`
}

type leaseOut struct {
	Lease hub.Lease `json:"lease"`
}

type leasesOut struct {
	Leases []hub.Lease `json:"leases"`
}

type stateOut struct {
	Item hub.StateItem `json:"item"`
}

type stateListOut struct {
	Items []hub.StateItem `json:"items"`
}

func (s *server) writeProposal(b *strings.Builder, p hub.Proposal) {
	fmt.Fprintf(b, "Proposal %d from %s: %s\n", p.ID, sender(p.From), p.Question)
	fmt.Fprintf(b, "Options: %s; rule %s (a choice needs %d of %d voters: %s)",
		strings.Join(p.Options, ", "), p.Rule, p.Threshold, len(p.Voters), strings.Join(p.Voters, ", "))
	if !p.Deadline.IsZero() && p.Status == hub.ProposalOpen {
		fmt.Fprintf(b, "; voting ends %s", fmtTime(p.Deadline))
	}
	b.WriteByte('\n')
	var tally []string
	for _, o := range p.Options {
		tally = append(tally, fmt.Sprintf("%s %d", o, p.Tally[o]))
	}
	fmt.Fprintf(b, "Votes: %s (%d of %d cast)\n", strings.Join(tally, ", "), len(p.Votes), len(p.Voters))
	for _, v := range p.Votes {
		fmt.Fprintf(b, "- %s: %s", sender(v.Voter), v.Choice)
		if v.Comment != "" {
			fmt.Fprintf(b, " (%s)", v.Comment)
		}
		b.WriteByte('\n')
	}
	if p.Status == hub.ProposalDecided {
		fmt.Fprintf(b, "Decided: %s", p.Outcome)
		if p.Reason != "" {
			fmt.Fprintf(b, " - %s", p.Reason)
		}
		b.WriteByte('\n')
	} else {
		b.WriteString("Still open.\n")
	}
}

func (s *server) formatProposal(p hub.Proposal, me string) string {
	var b strings.Builder
	s.writeProposal(&b, p)
	if p.Status == hub.ProposalOpen && slices.Contains(p.Voters, me) && !slices.ContainsFunc(p.Votes, func(v hub.Vote) bool { return v.Voter == me }) {
		fmt.Fprintf(&b, "You have not voted yet: vote id=%d choice=<%s>.\n", p.ID, strings.Join(p.Options, "|"))
	}
	return b.String()
}

func writeLease(b *strings.Builder, l hub.Lease) {
	kind := "exclusive"
	if !l.Exclusive {
		kind = "shared"
	}
	fmt.Fprintf(b, "Lease %d: %s holds %s (%s) until %s, fencing token %d", l.ID, l.Holder, strings.Join(l.Patterns, ", "), kind, fmtTime(l.ExpiresAt), l.Token)
	if l.Reason != "" {
		fmt.Fprintf(b, " - %s", l.Reason)
	}
	b.WriteByte('\n')
}

func writeStateItem(b *strings.Builder, it hub.StateItem, n int) {
	fmt.Fprintf(b, "%s = %s (revision %d", it.Key, compactJSON(it.Value, n), it.Revision)
	if it.UpdatedBy != "" {
		fmt.Fprintf(b, ", set by %s", sender(it.UpdatedBy))
	}
	fmt.Fprintf(b, " at %s)\n", fmtTime(it.UpdatedAt))
}

// addAgreementTools adds the tools agents agree through: proposals and
// votes, file leases and shared state.
func (s *server) addAgreementTools() {
	s.addProposalTools()
	s.addLeaseTools()
	s.addStateTools()
}

func (s *server) addProposalTools() {
	addTool(s, &mcp.Tool{
		Name: "propose",
		Description: "Put a question to a vote among agents (names, a role, or everyone online); it is decided by majority, two thirds or unanimity " +
			"as soon as the outcome is certain, or at the deadline.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in proposeIn) (string, any, error) {
		dl, err := hub.ParseDeadline(in.Deadline)
		if err != nil {
			return "", nil, err
		}
		wait, err := s.optionalWait(req, in.WaitSeconds)
		if err != nil {
			return "", nil, err
		}
		voters, err := addresses("voters", in.Voters)
		if err != nil {
			return "", nil, err
		}
		p, err := s.b.Propose(ctx, hub.ProposalRequest{
			Question: in.Question, Options: in.Options, Voters: hub.StringList(voters),
			Rule: in.Rule, Deadline: dl,
		})
		if err != nil {
			return "", nil, err
		}
		if wait > 0 && p.Status == hub.ProposalOpen {
			err := s.block(ctx, req, fmt.Sprintf("waiting for proposal %d", p.ID), wait, func(ctx context.Context) error {
				q, err := s.b.Proposal(ctx, p.ID, wait)
				if err == nil {
					p = q
				}
				return err
			})
			if err != nil {
				return "", nil, err
			}
		}
		return s.formatProposal(p, s.b.Name()), proposalOut{Proposal: p}, nil
	})

	addTool(s, &mcp.Tool{
		Name:        "vote",
		Description: "Cast or change your vote on a proposal you are a voter of.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in voteIn) (string, any, error) {
		if in.ID <= 0 {
			return "", nil, invalidf("id: give the id of the proposal")
		}
		p, err := s.b.Vote(ctx, in.ID, hub.VoteRequest{Choice: in.Choice, Comment: in.Comment})
		if err != nil {
			return "", nil, err
		}
		return "Vote recorded.\n" + s.formatProposal(p, s.b.Name()), proposalOut{Proposal: p}, nil
	})

	addTool(s, &mcp.Tool{
		Name:        "proposal_status",
		Description: "Show a proposal's votes and outcome (wait_seconds waits for the decision), or without id list the open proposals.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(ctx context.Context, req *mcp.CallToolRequest, in proposalStatusIn) (string, any, error) {
		if in.ID < 0 {
			return "", nil, invalidf("id must not be negative")
		}
		me := s.b.Name()
		if in.ID == 0 {
			ps, err := s.b.Proposals(ctx, hub.ProposalQuery{Status: hub.ProposalOpen, Limit: 20})
			if err != nil {
				return "", nil, err
			}
			var b strings.Builder
			if len(ps) == 0 {
				b.WriteString("No open proposals.\n")
			}
			for _, p := range ps {
				b.WriteString(s.formatProposal(p, me))
			}
			return b.String(), proposalsOut{Proposals: nonNil(ps)}, nil
		}
		wait, err := s.optionalWait(req, in.WaitSeconds)
		if err != nil {
			return "", nil, err
		}
		var p hub.Proposal
		err = s.block(ctx, req, fmt.Sprintf("waiting for proposal %d", in.ID), wait, func(ctx context.Context) error {
			var err error
			p, err = s.b.Proposal(ctx, in.ID, wait)
			return err
		})
		if err != nil {
			return "", nil, err
		}
		return s.formatProposal(p, me), proposalOut{Proposal: p}, nil
	})
}

func (s *server) addLeaseTools() {
	addTool(s, &mcp.Tool{
		Name: "reserve",
		Description: "Reserve files (glob patterns) before editing them, so other agents do not edit them at the same time. " +
			"Refused, naming the holder, when another agent holds an overlapping reservation.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in reserveIn) (string, any, error) {
		if len(in.Patterns) == 0 {
			return "", nil, invalidf("patterns: give at least one glob, e.g. src/api/**")
		}
		var ttl hub.Duration
		if in.TTL != "" {
			if err := ttl.UnmarshalJSON([]byte(fmt.Sprintf("%q", in.TTL))); err != nil {
				return "", nil, err
			}
		}
		l, err := s.b.Reserve(ctx, hub.LeaseRequest{Patterns: in.Patterns, TTL: ttl, Exclusive: in.Exclusive, Reason: in.Reason})
		if err != nil {
			return "", nil, err
		}
		var b strings.Builder
		b.WriteString("Reserved.\n")
		writeLease(&b, l)
		fmt.Fprintf(&b, "Release it with release id=%d when done.\n", l.ID)
		return b.String(), leaseOut{Lease: l}, nil
	})

	addTool(s, &mcp.Tool{
		Name:        "release",
		Description: "Release a file reservation when you are done with the files (id), or all of yours (all=true).",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in releaseIn) (string, any, error) {
		switch {
		case in.ID < 0:
			return "", nil, invalidf("id must not be negative")
		case in.ID > 0 && in.All:
			return "", nil, invalidf("give id or all, not both")
		case in.ID > 0:
			l, err := s.b.Release(ctx, in.ID)
			if err != nil {
				return "", nil, err
			}
			return fmt.Sprintf("Released lease %d (%s).\n", l.ID, strings.Join(l.Patterns, ", ")), leaseOut{Lease: l}, nil
		case !in.All:
			return "", nil, invalidf("give id (a lease id from reserve) or all=true")
		}
		me := s.b.Name()
		if me == "" {
			return "", nil, hub.Errorf(hub.CodeForbidden, "this session has no agent yet: call register first")
		}
		mine, err := s.b.Leases(ctx, hub.LeaseListOptions{Holder: me})
		if err != nil {
			return "", nil, err
		}
		var released []hub.Lease
		for _, l := range mine {
			l, err := s.b.Release(ctx, l.ID)
			if err != nil && !errors.Is(err, hub.ErrNotFound) {
				return "", nil, err
			}
			if err == nil {
				released = append(released, l)
			}
		}
		return fmt.Sprintf("Released %d lease(s).\n", len(released)), leasesOut{Leases: nonNil(released)}, nil
	})
}

func (s *server) addStateTools() {
	addTool(s, &mcp.Tool{
		Name:        "state_get",
		Description: "Read a value of the shared key/value state with its revision, or list keys by prefix.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(ctx context.Context, req *mcp.CallToolRequest, in stateGetIn) (string, any, error) {
		if in.Key != "" && in.Prefix != "" {
			return "", nil, invalidf("give key or prefix, not both")
		}
		var b strings.Builder
		if in.Key != "" {
			it, err := s.b.GetState(ctx, in.Key)
			if err != nil {
				return "", nil, err
			}
			writeStateItem(&b, it, s.opts.Preview)
			return b.String(), stateOut{Item: it}, nil
		}
		items, err := s.b.ListState(ctx, in.Prefix, 0)
		if err != nil {
			return "", nil, err
		}
		if len(items) == 0 {
			b.WriteString("No keys.\n")
		}
		for _, it := range items {
			writeStateItem(&b, it, 200)
		}
		return b.String(), stateListOut{Items: nonNil(items)}, nil
	})

	addTool(s, &mcp.Tool{
		Name: "state_set",
		Description: "Set a value of the shared key/value state. With expected_revision it changes the value only if nobody " +
			"changed it since you read it (compare-and-swap); on conflict, read it again and retry.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in stateSetIn) (string, any, error) {
		val, err := rawJSON("value", in.Value)
		if err != nil {
			return "", nil, err
		}
		if val == nil {
			return "", nil, invalidf("value: give a JSON value")
		}
		it, err := s.b.SetState(ctx, in.Key, hub.StateSetRequest{Value: val, ExpectedRevision: in.ExpectedRevision})
		if err != nil {
			return "", nil, err
		}
		var b strings.Builder
		b.WriteString("Set ")
		writeStateItem(&b, it, s.opts.Preview)
		return b.String(), stateOut{Item: it}, nil
	})
}

// optionalWait is waitTimeout for an optional wait: zero when not given.
func (s *server) optionalWait(req *mcp.CallToolRequest, seconds *float64) (d time.Duration, err error) {
	if seconds == nil {
		return 0, nil
	}
	return s.waitTimeout(req, seconds)
}
