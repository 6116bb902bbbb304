package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// TestCoordinationSurvivesRestart puts every kind of coordination record
// in the store, restarts the hub on the same file, and checks that all of
// it is still there and still works.
func TestCoordinationSurvivesRestart(t *testing.T) {
	clock := newClock()
	e := newEnv(t, hub.Options{Now: clock.Now})
	ctx := context.Background()
	alice := e.register("alice", "")
	bob := e.register("bob", "backend")

	pending, err := e.svc.SendCommand(ctx, alice, hub.CommandRequest{Target: "bob", Action: "first", Params: json.RawMessage(`{"n":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	second, _ := e.svc.SendCommand(ctx, alice, hub.CommandRequest{Target: "backend", Action: "second"})
	claimed, ok, err := e.svc.ClaimCommand(ctx, bob)
	if err != nil || !ok || claimed.ID != pending.ID {
		t.Fatalf("claim = %+v, %v, %v", claimed, ok, err)
	}
	for _, d := range []string{`1`, `2`, `3`} {
		if _, err := e.svc.PostChannel(ctx, alice, "results", json.RawMessage(d)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.EmitSignal(ctx, alice, "server_ready", json.RawMessage(`{"port":7400}`)); err != nil {
		t.Fatal(err)
	}
	prop, err := e.svc.Propose(ctx, alice, hub.ProposalRequest{Question: "Go?", Voters: hub.StringList{"alice", "bob"}, Rule: hub.RuleUnanimous})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Vote(ctx, alice, prop.ID, hub.VoteRequest{Choice: "approve"}); err != nil {
		t.Fatal(err)
	}
	lease, err := e.svc.Reserve(ctx, alice, hub.LeaseRequest{Patterns: hub.StringList{"src/**"}, TTL: hub.Duration(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	released, _ := e.svc.Reserve(ctx, bob, hub.LeaseRequest{Patterns: hub.StringList{"docs/**"}})
	if _, err := e.svc.ReleaseLease(ctx, bob, released.ID); err != nil {
		t.Fatal(err)
	}
	st, err := e.svc.SetState(ctx, alice, "deploy.phase", hub.StateSetRequest{Value: json.RawMessage(`"build"`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetState(ctx, alice, "gone", hub.StateSetRequest{Value: json.RawMessage(`1`)}); err != nil {
		t.Fatal(err)
	}
	gone, err := e.svc.DeleteState(ctx, alice, "gone", nil)
	if err != nil {
		t.Fatal(err)
	}

	e.restart()
	alice, bob = e.as("alice"), e.as("bob")

	// Commands: the claimed one is still bob's to acknowledge, the pending
	// one still claimable.
	c, err := e.svc.GetCommand(ctx, alice, pending.ID, 0)
	if err != nil || c.Status != hub.CommandClaimed || c.ClaimedBy != "bob" || string(c.Params) != `{"n":1}` {
		t.Fatalf("claimed command after restart = %+v, %v", c, err)
	}
	if _, err := e.svc.AckCommand(ctx, bob, pending.ID, hub.AckRequest{Result: json.RawMessage(`"ok"`)}); err != nil {
		t.Fatalf("ack after restart: %v", err)
	}
	next, ok, err := e.svc.ClaimCommand(ctx, bob)
	if err != nil || !ok || next.ID != second.ID {
		t.Fatalf("pending command after restart = %+v, %v, %v", next, ok, err)
	}
	// Channels keep history and numbering.
	r, _ := e.svc.ReadChannel(ctx, alice, "results", hub.ChannelReadOptions{Since: 1, HasSince: true})
	if postData(r.Messages) != "[2:2 3:3]" {
		t.Fatalf("channel after restart = %s", postData(r.Messages))
	}
	if p, _ := e.svc.PostChannel(ctx, alice, "results", json.RawMessage(`4`)); p.Seq != 4 {
		t.Fatalf("next post seq = %d, want 4", p.Seq)
	}
	// Signals stay emitted: a wait returns at once.
	if s, err := e.svc.WaitSignal(ctx, bob, "server_ready", 5*time.Minute); err != nil || !s.Emitted || string(s.Data) != `{"port":7400}` {
		t.Fatalf("signal after restart = %+v, %v", s, err)
	}
	// The open proposal keeps its vote and can be decided.
	p, err := e.svc.GetProposal(ctx, bob, prop.ID)
	if err != nil || p.Status != hub.ProposalOpen || len(p.Votes) != 1 {
		t.Fatalf("proposal after restart = %+v, %v", p, err)
	}
	if p, err = e.svc.Vote(ctx, bob, prop.ID, hub.VoteRequest{Choice: "approve"}); err != nil || p.Outcome != hub.ChoiceApprove {
		t.Fatalf("vote after restart = %+v, %v", p, err)
	}
	// The live lease still excludes others; the fencing token keeps growing.
	if _, err := e.svc.Reserve(ctx, bob, hub.LeaseRequest{Patterns: hub.StringList{"src/x.go"}}); !errors.Is(err, hub.ErrConflict) {
		t.Fatalf("reserve over a lease after restart: %v", err)
	}
	l, err := e.svc.Reserve(ctx, bob, hub.LeaseRequest{Patterns: hub.StringList{"docs/**"}})
	if err != nil || l.Token <= released.Token || l.Token <= lease.Token {
		t.Fatalf("token after restart = %d, want above %d: %v", l.Token, released.Token, err)
	}
	// State keeps values and revisions; revisions keep growing.
	got, err := e.svc.GetState(ctx, bob, "deploy.phase")
	if err != nil || got.Revision != st.Revision || string(got.Value) != `"build"` {
		t.Fatalf("state after restart = %+v, %v", got, err)
	}
	if _, err := e.svc.SetState(ctx, bob, "deploy.phase", hub.StateSetRequest{Value: json.RawMessage(`"x"`), ExpectedRevision: rev(st.Revision)}); err != nil {
		t.Fatalf("cas after restart: %v", err)
	}
	if after, _ := e.svc.GetState(ctx, bob, "deploy.phase"); after.Revision <= gone.Revision {
		t.Fatalf("revision after restart = %d, want above %d", after.Revision, gone.Revision)
	}

	// Reset clears everything but the counters, so tokens never repeat.
	if err := e.svc.Reset(ctx, hub.Caller{Admin: true}); err != nil {
		t.Fatal(err)
	}
	human, err := e.svc.CallerFor(ctx, "human")
	if err != nil {
		t.Fatal(err)
	}
	st2, err := e.svc.CoordinationStatus(ctx)
	if err != nil || len(st2.Commands)+len(st2.Channels)+len(st2.Signals)+len(st2.Proposals)+len(st2.Leases)+len(st2.State) != 0 {
		t.Fatalf("status after reset = %+v, %v", st2, err)
	}
	l2, err := e.svc.Reserve(ctx, human, hub.LeaseRequest{Patterns: hub.StringList{"x"}})
	if err != nil || l2.Token <= l.Token {
		t.Fatalf("token after reset = %d, want above %d: %v", l2.Token, l.Token, err)
	}
}

func TestCoordinationStatus(t *testing.T) {
	e := newEnv(t, hub.Options{})
	ctx := context.Background()
	alice := e.register("alice", "backend")
	if _, err := e.svc.SendCommand(ctx, alice, hub.CommandRequest{Target: "backend", Action: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PostChannel(ctx, alice, "c", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.EmitSignal(ctx, alice, "s", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetState(ctx, alice, "k", hub.StateSetRequest{Value: json.RawMessage(`"secret"`)}); err != nil {
		t.Fatal(err)
	}
	st, err := e.svc.CoordinationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Commands) != 1 || st.PendingCommands != 1 || len(st.Channels) != 1 || len(st.Signals) != 1 || len(st.State) != 1 || st.State[0].Value != nil {
		t.Fatalf("status = %+v", st)
	}
	b, _ := json.Marshal(st)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"commands", "channels", "signals", "proposals", "leases", "state"} {
		if len(m[k]) == 0 || m[k][0] != '[' {
			t.Errorf("status JSON %q = %s, want a list", k, m[k])
		}
	}
}
