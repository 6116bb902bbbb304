package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/hubserver"
)

func TestCoordinationAgainstHub(t *testing.T) {
	h := startHub(t, false)
	ctx := context.Background()
	_, cs := agents(t, h, "alice", "bob")
	alice, bob := cs[0], cs[1]

	// Commands: role "dev" (both agents have it) goes to one of them.
	cmd, err := alice.SendCommand(ctx, hub.CommandRequest{Target: "bob", Action: "deploy", Params: json.RawMessage(`{"env":"staging"}`)})
	if err != nil || cmd.Target != "bob" {
		t.Fatalf("send command = %+v, %v", cmd, err)
	}
	got, ok, err := bob.WaitCommand(ctx, time.Minute)
	if err != nil || !ok || got.ID != cmd.ID {
		t.Fatalf("wait command = %+v, %v, %v", got, ok, err)
	}
	if _, ok, err := alice.WaitCommand(ctx, 0); err != nil || ok {
		t.Fatalf("alice claims bob's command: %v, %v", ok, err)
	}
	if _, err := bob.AckCommand(ctx, cmd.ID, hub.AckRequest{Result: json.RawMessage(`{"url":"https://staging"}`)}); err != nil {
		t.Fatal(err)
	}
	res, err := alice.Command(ctx, cmd.ID, time.Minute)
	if err != nil || res.Status != hub.CommandDone || string(res.Result) != `{"url":"https://staging"}` {
		t.Fatalf("result = %+v, %v", res, err)
	}
	list, err := bob.Commands(ctx, hub.CommandListOptions{For: "bob"})
	if err != nil || len(list) != 1 {
		t.Fatalf("commands for bob = %v, %v", list, err)
	}
	if _, err := alice.Commands(ctx, hub.CommandListOptions{For: "bob"}); !errors.Is(err, hub.ErrForbidden) {
		t.Fatalf("alice lists bob's commands: %v", err)
	}

	// Channels.
	if _, err := alice.PostChannel(ctx, "builds", json.RawMessage(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	read, err := bob.ReadChannel(ctx, "builds", hub.ChannelReadOptions{})
	if err != nil || len(read.Messages) != 1 || read.Messages[0].From != "alice" {
		t.Fatalf("read channel = %+v, %v", read, err)
	}
	waited, err := bob.WaitChannel(ctx, "builds", hub.ChannelReadOptions{HasSince: true}, time.Minute)
	if err != nil || len(waited.Messages) != 1 {
		t.Fatalf("wait channel since 0 = %+v, %v", waited, err)
	}
	if chs, err := bob.Channels(ctx); err != nil || len(chs) != 1 {
		t.Fatalf("channels = %+v, %v", chs, err)
	}

	// Signals.
	if s, err := bob.Signal(ctx, "ready"); err != nil || s.Emitted {
		t.Fatalf("signal before = %+v, %v", s, err)
	}
	if _, err := alice.EmitSignal(ctx, "ready", json.RawMessage(`{"port":1}`)); err != nil {
		t.Fatal(err)
	}
	if s, err := bob.WaitSignal(ctx, "ready", time.Minute); err != nil || !s.Emitted {
		t.Fatalf("wait signal = %+v, %v", s, err)
	}
	if cleared, err := bob.ClearSignal(ctx, "ready"); err != nil || !cleared {
		t.Fatalf("clear = %v, %v", cleared, err)
	}
	if sigs, err := bob.Signals(ctx); err != nil || len(sigs) != 0 {
		t.Fatalf("signals = %+v, %v", sigs, err)
	}

	// Proposals.
	p, err := alice.Propose(ctx, hub.ProposalRequest{Question: "Release?", Voters: hub.StringList{"role:dev"}})
	if err != nil || len(p.Voters) != 2 {
		t.Fatalf("propose = %+v, %v", p, err)
	}
	if _, err := alice.Vote(ctx, p.ID, hub.VoteRequest{Choice: "approve"}); err != nil {
		t.Fatal(err)
	}
	if p, err = bob.Vote(ctx, p.ID, hub.VoteRequest{Choice: "approve"}); err != nil || p.Outcome != hub.ChoiceApprove {
		t.Fatalf("vote = %+v, %v", p, err)
	}
	if p, err = bob.Proposal(ctx, p.ID, time.Minute); err != nil || p.Status != hub.ProposalDecided {
		t.Fatalf("wait proposal = %+v, %v", p, err)
	}
	if ps, err := bob.Proposals(ctx, hub.ProposalQuery{Status: hub.ProposalDecided}); err != nil || len(ps) != 1 {
		t.Fatalf("proposals = %+v, %v", ps, err)
	}

	// Leases.
	l, err := alice.Reserve(ctx, hub.LeaseRequest{Patterns: hub.StringList{"src/**"}, TTL: hub.Duration(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Reserve(ctx, hub.LeaseRequest{Patterns: hub.StringList{"src/main.go"}}); !errors.Is(err, hub.ErrConflict) {
		t.Fatalf("conflicting reserve: %v", err)
	}
	hits, err := bob.CheckPaths(ctx, []string{"src/main.go", "README.md"})
	if err != nil || len(hits) != 1 || hits[0].Lease.ID != l.ID {
		t.Fatalf("check = %+v, %v", hits, err)
	}
	if r, err := alice.RenewLease(ctx, l.ID, 2*time.Hour); err != nil || r.Token != l.Token {
		t.Fatalf("renew = %+v, %v", r, err)
	}
	if ls, err := bob.Leases(ctx, hub.LeaseListOptions{Path: "src/x.go"}); err != nil || len(ls) != 1 {
		t.Fatalf("leases = %+v, %v", ls, err)
	}
	if _, err := alice.ReleaseLease(ctx, l.ID); err != nil {
		t.Fatal(err)
	}

	// State: a stale compare-and-swap names the current revision.
	it, err := alice.SetState(ctx, "phase", hub.StateSetRequest{Value: json.RawMessage(`"build"`)})
	if err != nil {
		t.Fatal(err)
	}
	stale := it.Revision - 1
	_, err = bob.SetState(ctx, "phase", hub.StateSetRequest{Value: json.RawMessage(`"test"`), ExpectedRevision: &stale})
	var rc *hub.RevisionConflictError
	if !errors.As(err, &rc) || rc.Current != it.Revision || !errors.Is(err, hub.ErrConflict) {
		t.Fatalf("stale cas: %v", err)
	}
	w, err := bob.WaitState(ctx, "phase", 0, time.Minute)
	if err != nil || !w.Changed || w.Revision != it.Revision {
		t.Fatalf("watch = %+v, %v", w, err)
	}
	if items, err := bob.ListState(ctx, "ph", 0); err != nil || len(items) != 1 {
		t.Fatalf("list = %+v, %v", items, err)
	}
	if _, err := bob.DeleteState(ctx, "phase", &stale); !errors.As(err, &rc) {
		t.Fatalf("stale delete: %v", err)
	}
	if _, err := bob.DeleteState(ctx, "phase", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.GetState(ctx, "phase"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if _, _, err := bob.WaitCommand(ctx, -time.Second); !errors.Is(err, hub.ErrInvalid) {
		t.Fatalf("negative timeout: %v", err)
	}
}

// TestCoordinationSurvivesHubRestart stops a real hub and starts another
// on the same data directory.
func TestCoordinationSurvivesHubRestart(t *testing.T) {
	dir := t.TempDir()
	start := func() *hubserver.Hub {
		h, err := hubserver.Start(context.Background(), hubserver.Config{DataDir: dir, Addr: "127.0.0.1:0", Version: "test"})
		if err != nil {
			t.Fatalf("start hub: %v", err)
		}
		return h
	}
	ctx := context.Background()
	h := start()
	admin := newClient(t, h.URL(), client.Options{AdminSecret: h.AdminSecret()})
	reg, err := admin.Register(ctx, hub.RegisterRequest{Name: "alice", Role: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	alice := admin.WithAgent("alice", reg.Token)
	cmd, err := alice.SendCommand(ctx, hub.CommandRequest{Target: "role:dev", Action: "x"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := alice.Reserve(ctx, hub.LeaseRequest{Patterns: hub.StringList{"a/**"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.EmitSignal(ctx, "up", nil); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	h = start()
	defer h.Close()
	alice = newClient(t, h.URL(), client.Options{Token: reg.Token})
	got, ok, err := alice.WaitCommand(ctx, 0)
	if err != nil || !ok || got.ID != cmd.ID {
		t.Fatalf("pending command after restart = %+v, %v, %v", got, ok, err)
	}
	ls, err := alice.Leases(ctx, hub.LeaseListOptions{})
	if err != nil || len(ls) != 1 || ls[0].Token != l.Token {
		t.Fatalf("leases after restart = %+v, %v", ls, err)
	}
	l2, err := alice.Reserve(ctx, hub.LeaseRequest{Patterns: hub.StringList{"b/**"}})
	if err != nil || l2.Token <= l.Token {
		t.Fatalf("token after restart = %+v, %v", l2, err)
	}
	if s, err := alice.WaitSignal(ctx, "up", time.Minute); err != nil || !s.Emitted {
		t.Fatalf("signal after restart = %+v, %v", s, err)
	}
}
