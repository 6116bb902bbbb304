package hub_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// thresholds[rule][n-1] is how many votes one choice needs of n voters,
// written out by hand: floor(n/2)+1, ceil(2n/3) and n.
var thresholds = map[string][10]int{
	hub.RuleMajority:  {1, 2, 2, 3, 3, 4, 4, 5, 5, 6},
	hub.RuleTwoThirds: {1, 2, 2, 3, 4, 4, 5, 6, 6, 7},
	hub.RuleUnanimous: {1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
}

var rules = []string{hub.RuleMajority, hub.RuleTwoThirds, hub.RuleUnanimous}

func voterNames(n int) []string {
	vs := make([]string, n)
	for i := range vs {
		vs[i] = fmt.Sprintf("v%d", i+1)
	}
	return vs
}

var approveReject = []string{hub.ChoiceApprove, hub.ChoiceReject}

func TestThreshold(t *testing.T) {
	for _, rule := range rules {
		for n := 1; n <= 10; n++ {
			if got, want := hub.Threshold(rule, n), thresholds[rule][n-1]; got != want {
				t.Errorf("Threshold(%s, %d) = %d, want %d", rule, n, got, want)
			}
		}
	}
}

// TestDecideTable runs every rule for 1 to 10 voters through the same
// scenarios, with expectations derived from the hand-written thresholds.
func TestDecideTable(t *testing.T) {
	for _, rule := range rules {
		for n := 1; n <= 10; n++ {
			th := thresholds[rule][n-1]
			voters := voterNames(n)
			t.Run(fmt.Sprintf("%s/n=%d", rule, n), func(t *testing.T) {
				// Approvals one by one: open until the threshold-th, then
				// approved and nothing later changes that.
				ballots := map[string]string{}
				for k := 1; k <= n; k++ {
					ballots[voters[k-1]] = hub.ChoiceApprove
					d := hub.Decide(rule, approveReject, voters, ballots, false)
					if k < th && d.Decided {
						t.Fatalf("%d of %d approvals: decided %q, want open (threshold %d)", k, n, d.Outcome, th)
					}
					if k >= th && (!d.Decided || d.Outcome != hub.ChoiceApprove) {
						t.Fatalf("%d of %d approvals: %+v, want approve (threshold %d)", k, n, d, th)
					}
				}

				// Everyone rejects: the reject choice wins at its threshold.
				ballots = map[string]string{}
				for _, v := range voters {
					ballots[v] = hub.ChoiceReject
				}
				if d := hub.Decide(rule, approveReject, voters, ballots, false); !d.Decided || d.Outcome != hub.ChoiceReject {
					t.Fatalf("all reject: %+v, want reject", d)
				}

				// An even split of all voters: approve wins only if its
				// half reaches the threshold, else approval is impossible.
				ballots = map[string]string{}
				approvals := (n + 1) / 2
				for i, v := range voters {
					ballots[v] = hub.ChoiceReject
					if i < approvals {
						ballots[v] = hub.ChoiceApprove
					}
				}
				d := hub.Decide(rule, approveReject, voters, ballots, false)
				want := hub.OutcomeRejected
				switch {
				case approvals >= th:
					want = hub.ChoiceApprove
				case n-approvals >= th:
					want = hub.ChoiceReject
				}
				if !d.Decided || d.Outcome != want {
					t.Fatalf("split %d approve / %d reject: %+v, want %s", approvals, n-approvals, d, want)
				}

				// Deadline with nobody voting, and with one vote fewer than
				// the threshold: no quorum.
				if d := hub.Decide(rule, approveReject, voters, nil, true); !d.Decided || d.Outcome != hub.OutcomeNoQuorum {
					t.Fatalf("deadline, no votes: %+v, want no_quorum", d)
				}
				ballots = map[string]string{}
				for _, v := range voters[:th-1] {
					ballots[v] = hub.ChoiceApprove
				}
				if d := hub.Decide(rule, approveReject, voters, ballots, false); d.Decided {
					t.Fatalf("%d approvals before the deadline: decided %+v, want open", th-1, d)
				}
				if d := hub.Decide(rule, approveReject, voters, ballots, true); !d.Decided || d.Outcome != hub.OutcomeNoQuorum {
					t.Fatalf("deadline with %d of %d needed: %+v, want no_quorum", th-1, th, d)
				}

				// Ballots of non-voters and choices that are not options
				// count for nothing, however many there are.
				ballots = map[string]string{}
				for i := range 2 * n {
					ballots[fmt.Sprintf("outsider%d", i)] = hub.ChoiceApprove
				}
				for _, v := range voters {
					ballots[v] = "maybe"
				}
				if d := hub.Decide(rule, approveReject, voters, ballots, false); d.Decided {
					t.Fatalf("only outsiders and invalid choices: decided %+v, want open", d)
				}
				if d := hub.Decide(rule, approveReject, voters, ballots, true); d.Outcome != hub.OutcomeNoQuorum {
					t.Fatalf("deadline, only outsiders: %+v, want no_quorum", d)
				}
			})
		}
	}
}

// TestDecideAsSoonAsCertain covers decisions before everyone voted
// because no choice can reach the threshold any more.
func TestDecideAsSoonAsCertain(t *testing.T) {
	abc := []string{"a", "b", "c"}
	tests := []struct {
		name     string
		rule     string
		options  []string
		n        int
		votes    []string // choices of v1, v2... in order
		deadline bool
		want     string // "" for open
	}{
		{"unanimous broken by the first dissent", hub.RuleUnanimous, approveReject, 5, []string{"approve", "reject"}, false, hub.OutcomeRejected},
		{"unanimous custom options split", hub.RuleUnanimous, abc, 4, []string{"a", "b"}, false, hub.OutcomeNoConsensus},
		{"unanimous still possible", hub.RuleUnanimous, abc, 4, []string{"a", "a"}, false, ""},
		{"majority three-way split", hub.RuleMajority, abc, 3, []string{"a", "b", "c"}, false, hub.OutcomeNoConsensus},
		{"majority two-way, one left", hub.RuleMajority, abc, 3, []string{"a", "b"}, false, ""},
		{"majority 4 tie", hub.RuleMajority, approveReject, 4, []string{"approve", "reject", "approve", "reject"}, false, hub.OutcomeRejected},
		{"two thirds of 6 out of reach", hub.RuleTwoThirds, abc, 6, []string{"a", "b", "c", "b", "c"}, false, hub.OutcomeNoConsensus},
		{"two thirds of 6 still open", hub.RuleTwoThirds, abc, 6, []string{"a", "b", "a"}, false, ""},
		{"deadline with quorum but no winner", hub.RuleMajority, abc, 5, []string{"a", "b", "c"}, true, hub.OutcomeNoConsensus},
		{"deadline approve/reject with quorum, no winner", hub.RuleTwoThirds, approveReject, 6, []string{"approve", "approve", "approve", "reject"}, true, hub.OutcomeRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			voters := voterNames(tt.n)
			ballots := map[string]string{}
			for i, c := range tt.votes {
				ballots[voters[i]] = c
			}
			d := hub.Decide(tt.rule, tt.options, voters, ballots, tt.deadline)
			if d.Outcome != tt.want || d.Decided != (tt.want != "") {
				t.Fatalf("Decide = %+v, want outcome %q", d, tt.want)
			}
		})
	}
}

func TestProposalVoteAndWait(t *testing.T) {
	e := newEnv(t, hub.Options{})
	ctx := context.Background()
	alice := e.register("alice", "lead")
	bob := e.register("bob", "backend")
	carol := e.register("carol", "backend")
	dave := e.register("dave", "")

	p, err := e.svc.Propose(ctx, alice, hub.ProposalRequest{
		Question: "Ship v2?", Voters: hub.StringList{"alice", "role:backend"}, Rule: hub.RuleTwoThirds,
	})
	if err != nil {
		t.Fatalf("propose: %v", err)
	}
	if got := fmt.Sprint(p.Voters); got != "[alice bob carol]" || p.Threshold != 2 || p.Status != hub.ProposalOpen {
		t.Fatalf("proposal = voters %s threshold %d status %s; want [alice bob carol], 2, open", got, p.Threshold, p.Status)
	}

	// A waiter blocks until the decision.
	done := make(chan hub.Proposal, 1)
	go func() {
		got, err := e.svc.WaitProposal(ctx, dave, p.ID, time.Minute)
		if err != nil {
			t.Errorf("wait proposal: %v", err)
		}
		done <- got
	}()
	waitUntil(t, func() bool { return waiters(e) > 0 })

	// Dave is not a voter; a choice outside the options is refused.
	if _, err := e.svc.Vote(ctx, dave, p.ID, hub.VoteRequest{Choice: "approve"}); !errors.Is(err, hub.ErrForbidden) {
		t.Fatalf("non-voter vote: %v, want forbidden", err)
	}
	if _, err := e.svc.Vote(ctx, bob, p.ID, hub.VoteRequest{Choice: "perhaps"}); !errors.Is(err, hub.ErrInvalid) {
		t.Fatalf("invalid choice: %v, want invalid_argument", err)
	}
	if _, err := e.svc.Vote(ctx, bob, 999, hub.VoteRequest{Choice: "approve"}); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("unknown proposal: %v, want not_found", err)
	}
	// Bob changes his mind: one vote per voter, the last one counts.
	if _, err := e.svc.Vote(ctx, bob, p.ID, hub.VoteRequest{Choice: "reject"}); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Vote(ctx, bob, p.ID, hub.VoteRequest{Choice: "Approve", Comment: "tests pass"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Votes) != 1 || got.Tally["approve"] != 1 || got.Tally["reject"] != 0 || got.Status != hub.ProposalOpen {
		t.Fatalf("after a changed vote: votes %v tally %v status %s", got.Votes, got.Tally, got.Status)
	}
	got, err = e.svc.Vote(ctx, carol, p.ID, hub.VoteRequest{Choice: "approve"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != hub.ProposalDecided || got.Outcome != hub.ChoiceApprove {
		t.Fatalf("after 2 of 3 approvals: status %s outcome %q, want decided approve", got.Status, got.Outcome)
	}
	if w := <-done; w.Outcome != hub.ChoiceApprove {
		t.Fatalf("waiter woke with %+v, want approve", w)
	}

	// The result never changes: later votes are refused.
	if _, err := e.svc.Vote(ctx, alice, p.ID, hub.VoteRequest{Choice: "reject"}); !errors.Is(err, hub.ErrConflict) {
		t.Fatalf("vote after decision: %v, want conflict", err)
	}
	if _, err := e.svc.Vote(ctx, bob, p.ID, hub.VoteRequest{Choice: "reject"}); !errors.Is(err, hub.ErrConflict) {
		t.Fatalf("change after decision: %v, want conflict", err)
	}
	again, err := e.svc.GetProposal(ctx, dave, p.ID)
	if err != nil || again.Outcome != hub.ChoiceApprove || len(again.Votes) != 2 {
		t.Fatalf("proposal later = %+v, %v", again, err)
	}

	evs, err := e.svc.Events(ctx, 0, 1000, hub.Filter{Kinds: []string{"proposal"}})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	want := "[proposal.created proposal.voted proposal.voted proposal.voted proposal.decided]"
	if fmt.Sprint(kinds) != want {
		t.Fatalf("events %v, want %s", kinds, want)
	}
}

func TestProposalDeadlineWithoutQuorum(t *testing.T) {
	clock := newClock()
	e := newEnv(t, hub.Options{Now: clock.Now})
	ctx := context.Background()
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	e.register("carol", "")

	p, err := e.svc.Propose(ctx, alice, hub.ProposalRequest{
		Question: "Rename the repo?", Voters: hub.StringList{"alice", "bob", "carol"},
		Deadline: hub.DeadlineIn(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Vote(ctx, bob, p.ID, hub.VoteRequest{Choice: "approve"}); err != nil {
		t.Fatal(err)
	}
	clock.Add(59 * time.Minute)
	if err := e.svc.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.svc.GetProposal(ctx, bob, p.ID); got.Status != hub.ProposalOpen {
		t.Fatalf("before the deadline: %s, want open", got.Status)
	}
	clock.Add(time.Minute)
	// A vote at the deadline is refused and settles the proposal.
	if _, err := e.svc.Vote(ctx, alice, p.ID, hub.VoteRequest{Choice: "approve"}); !errors.Is(err, hub.ErrConflict) {
		t.Fatalf("vote at the deadline: %v, want conflict", err)
	}
	got, err := e.svc.GetProposal(ctx, bob, p.ID)
	if err != nil || got.Status != hub.ProposalDecided || got.Outcome != hub.OutcomeNoQuorum || len(got.Votes) != 1 {
		t.Fatalf("after the deadline: %+v, %v; want decided no_quorum with 1 vote", got, err)
	}
}

func TestProposalDecidedByExpiry(t *testing.T) {
	clock := newClock()
	e := newEnv(t, hub.Options{Now: clock.Now})
	ctx := context.Background()
	alice := e.register("alice", "")
	e.register("bob", "")
	p, err := e.svc.Propose(ctx, alice, hub.ProposalRequest{Question: "q", Voters: hub.StringList{"alice", "bob"}, Deadline: hub.DeadlineIn(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute)
	if err := e.svc.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := e.svc.GetProposal(ctx, alice, p.ID)
	if got.Outcome != hub.OutcomeNoQuorum {
		t.Fatalf("outcome %q, want no_quorum", got.Outcome)
	}
	// Settling again changes nothing.
	clock.Add(time.Hour)
	if err := e.svc.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	again, _ := e.svc.GetProposal(ctx, alice, p.ID)
	if !again.DecidedAt.Equal(got.DecidedAt) || again.Outcome != got.Outcome {
		t.Fatalf("decision changed: %+v then %+v", got, again)
	}
}

func TestProposalVotersOnlineAndBadInput(t *testing.T) {
	e := newEnv(t, hub.Options{})
	ctx := context.Background()
	alice := e.register("alice", "")
	e.register("bob", "")
	e.register("carol", "")
	// Registering counts as activity: all three are online now.
	p, err := e.svc.Propose(ctx, alice, hub.ProposalRequest{Question: "Lunch?", Options: []string{"pizza", "sushi", "salad"}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(p.Voters) != "[alice bob carol]" || p.Rule != hub.RuleMajority {
		t.Fatalf("default voters %v rule %s, want every online agent and majority", p.Voters, p.Rule)
	}

	bad := []struct {
		name string
		req  hub.ProposalRequest
		code hub.Code
	}{
		{"empty question", hub.ProposalRequest{Question: "  "}, hub.CodeInvalid},
		{"one option", hub.ProposalRequest{Question: "q", Options: []string{"yes"}}, hub.CodeInvalid},
		{"duplicate options", hub.ProposalRequest{Question: "q", Options: []string{"yes", "YES"}}, hub.CodeInvalid},
		{"reserved option", hub.ProposalRequest{Question: "q", Options: []string{"no_quorum", "x"}}, hub.CodeInvalid},
		{"bad rule", hub.ProposalRequest{Question: "q", Rule: "plurality"}, hub.CodeInvalid},
		{"unknown voter", hub.ProposalRequest{Question: "q", Voters: hub.StringList{"zed"}}, hub.CodeNotFound},
		{"invalid voter name", hub.ProposalRequest{Question: "q", Voters: hub.StringList{"a/b"}}, hub.CodeInvalidName},
		{"empty role", hub.ProposalRequest{Question: "q", Voters: hub.StringList{"role:nobody"}}, hub.CodeNotFound},
		{"past deadline", hub.ProposalRequest{Question: "q", Deadline: hub.Deadline{At: time.Now().Add(-time.Hour)}}, hub.CodeInvalid},
		{"negative deadline", hub.ProposalRequest{Question: "q", Deadline: hub.DeadlineIn(-time.Second)}, hub.CodeInvalid},
		{"far deadline", hub.ProposalRequest{Question: "q", Deadline: hub.DeadlineIn(100 * 365 * 24 * time.Hour)}, hub.CodeInvalid},
	}
	for _, b := range bad {
		if _, err := e.svc.Propose(ctx, alice, b.req); hub.ErrorCode(err) != b.code {
			t.Errorf("%s: %v, want %s", b.name, err, b.code)
		}
	}
	ps, err := e.svc.ListProposals(ctx, alice, hub.ProposalQuery{})
	if err != nil || len(ps) != 1 {
		t.Fatalf("proposals after bad input: %d, %v; want only the first", len(ps), err)
	}
	if _, err := e.svc.WaitProposal(ctx, alice, p.ID, -time.Second); !errors.Is(err, hub.ErrInvalid) {
		t.Fatalf("negative timeout: %v", err)
	}
	if _, err := e.svc.WaitProposal(ctx, alice, p.ID, hub.MaxWait+time.Second); !errors.Is(err, hub.ErrInvalid) {
		t.Fatalf("huge timeout: %v", err)
	}
}

// TestRenamedVoterKeepsItsVote: a voter that renames can still vote on
// the open proposals it was a voter of, and its earlier ballot counts
// once, under its new name; a decided proposal keeps the old name.
func TestRenamedVoterKeepsItsVote(t *testing.T) {
	e := newEnv(t, hub.Options{})
	ctx := context.Background()
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	carol := e.register("carol", "")
	e.register("dave", "")

	decided, err := e.svc.Propose(ctx, alice, hub.ProposalRequest{Question: "Lunch?", Voters: hub.StringList{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Vote(ctx, bob, decided.ID, hub.VoteRequest{Choice: "approve"}); err != nil {
		t.Fatal(err)
	}
	open, err := e.svc.Propose(ctx, alice, hub.ProposalRequest{
		Question: "Ship?", Voters: hub.StringList{"bob", "carol", "dave"}, Rule: hub.RuleUnanimous,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Vote(ctx, bob, open.ID, hub.VoteRequest{Choice: "approve"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Rename(ctx, bob, "robert"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Rename(ctx, carol, "caroline"); err != nil {
		t.Fatal(err)
	}
	robert, caroline := e.as("bob"), e.as("carol") // tokens are kept by first name
	if _, err := e.svc.Vote(ctx, caroline, open.ID, hub.VoteRequest{Choice: "approve"}); err != nil {
		t.Fatalf("vote of a voter renamed before voting: %v", err)
	}
	p, err := e.svc.Vote(ctx, robert, open.ID, hub.VoteRequest{Choice: "approve"})
	if err != nil {
		t.Fatalf("vote again of a voter renamed after voting: %v", err)
	}
	if got := fmt.Sprint(p.Voters); got != "[robert caroline dave]" || len(p.Votes) != 2 || p.Tally["approve"] != 2 || p.Status != hub.ProposalOpen {
		t.Errorf("open proposal after renames: voters %s, %d votes, tally %v, %s; want [robert caroline dave], 2 votes, open", got, len(p.Votes), p.Tally, p.Status)
	}
	old, err := e.svc.GetProposal(ctx, alice, decided.ID)
	if err != nil || fmt.Sprint(old.Voters) != "[bob]" || old.Votes[0].Voter != "bob" {
		t.Errorf("decided proposal after the rename: %v %+v, %v; want it as decided, by bob", old.Voters, old.Votes, err)
	}
}
