package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/clocktest"
	"github.com/parley-dev/parley/internal/hub"
)

// newClock returns a clock for hub.Options.Now, at a fixed time.
func newClock() *clocktest.Clock {
	return clocktest.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

func TestCommandSeedFlow(t *testing.T) {
	e := newEnv(t, hub.Options{})
	ctx := context.Background()
	human := e.register("human", "")
	backend := e.register("srv", "backend")

	// "target":"backend" names a role: no agent is called backend.
	cmd, err := e.svc.SendCommand(ctx, human, hub.CommandRequest{
		Target: "backend", Action: "start_server", Params: json.RawMessage(`{"port": 7400}`),
	})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if cmd.Target != "role:backend" || cmd.Status != hub.CommandPending || string(cmd.Params) != `{"port":7400}` || cmd.From != "human" {
		t.Fatalf("sent %+v", cmd)
	}
	list, err := e.svc.ListCommands(ctx, backend, hub.CommandListOptions{For: "srv"})
	if err != nil || len(list) != 1 || list[0].ID != cmd.ID {
		t.Fatalf("commands for srv = %v, %v", list, err)
	}

	// The sender waits for the result while the backend works on it.
	result := make(chan hub.Command, 1)
	go func() {
		c, err := e.svc.GetCommand(ctx, human, cmd.ID, time.Minute)
		if err != nil {
			t.Errorf("wait for result: %v", err)
		}
		result <- c
	}()
	got, ok, err := e.svc.WaitCommand(ctx, backend, time.Minute)
	if err != nil || !ok || got.ID != cmd.ID || got.Status != hub.CommandClaimed || got.ClaimedBy != "srv" {
		t.Fatalf("wait = %+v, %v, %v", got, ok, err)
	}
	waitUntil(t, func() bool { return waiters(e) > 0 })
	done, err := e.svc.AckCommand(ctx, backend, cmd.ID, hub.AckRequest{Result: json.RawMessage(`{"status":"ok"}`)})
	if err != nil || done.Status != hub.CommandDone {
		t.Fatalf("ack = %+v, %v", done, err)
	}
	r := <-result
	if r.Status != hub.CommandDone || string(r.Result) != `{"status":"ok"}` {
		t.Fatalf("sender saw %+v, want done with the result", r)
	}

	// A finished command cannot be acknowledged again.
	if _, err := e.svc.AckCommand(ctx, backend, cmd.ID, hub.AckRequest{}); !errors.Is(err, hub.ErrConflict) {
		t.Fatalf("second ack: %v, want conflict", err)
	}
	evs, err := e.svc.Events(ctx, 0, 100, hub.Filter{Kinds: []string{"command"}})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
		if !ev.Concerns("human") {
			t.Errorf("event %s does not concern the sender: targets %v", ev.Kind, ev.Targets)
		}
	}
	if fmt.Sprint(kinds) != "[command.sent command.claimed command.done]" {
		t.Fatalf("events %v", kinds)
	}
}

func TestCommandTargets(t *testing.T) {
	e := newEnv(t, hub.Options{})
	ctx := context.Background()
	alice := e.register("alice", "")
	bob := e.register("bob", "backend")
	// An agent named like a role wins over the role.
	e.register("reviewer", "")
	e.register("rev2", "reviewer")

	tests := []struct {
		target, want string
		code         hub.Code
	}{
		{target: "bob", want: "bob"},
		{target: "BOB", want: "bob"},
		{target: "backend", want: "role:backend"},
		{target: "role:backend", want: "role:backend"},
		{target: "reviewer", want: "reviewer"},
		{target: "role:reviewer", want: "role:reviewer"},
		{target: "role:nobody-yet", want: "role:nobody-yet"},
		{target: "nobody", code: hub.CodeNotFound},
		{target: "", code: hub.CodeInvalid},
		{target: "*", code: hub.CodeInvalid},
		{target: "a/b", code: hub.CodeInvalidName},
		{target: "role:", code: hub.CodeInvalidName},
	}
	for _, tt := range tests {
		cmd, err := e.svc.SendCommand(ctx, alice, hub.CommandRequest{Target: tt.target, Action: "x"})
		if tt.code != "" {
			if hub.ErrorCode(err) != tt.code {
				t.Errorf("target %q: %v, want %s", tt.target, err, tt.code)
			}
			continue
		}
		if err != nil || cmd.Target != tt.want {
			t.Errorf("target %q = %q, %v; want %q", tt.target, cmd.Target, err, tt.want)
		}
	}
	// An agent that registers with a role later claims what waits for it.
	late := e.register("late", "nobody-yet")
	got, ok, err := e.svc.ClaimCommand(ctx, late)
	if err != nil || !ok || got.Target != "role:nobody-yet" {
		t.Fatalf("late claim = %+v, %v, %v", got, ok, err)
	}
	// Bob gets his own commands and his role's, oldest first.
	first, _, _ := e.svc.ClaimCommand(ctx, bob)
	second, _, _ := e.svc.ClaimCommand(ctx, bob)
	third, _, _ := e.svc.ClaimCommand(ctx, bob)
	if first.Target != "bob" || second.Target != "bob" || third.Target != "role:backend" || first.ID > second.ID {
		t.Fatalf("bob claimed %s, %s, %s", first.Target, second.Target, third.Target)
	}
}

// TestRoleCommandClaimedExactlyOnce has many agents of one role wait at
// once; every command goes to exactly one of them.
func TestRoleCommandClaimedExactlyOnce(t *testing.T) {
	e := newEnv(t, hub.Options{})
	ctx := context.Background()
	sender := e.register("sender", "")
	const workers = 8
	callers := make([]hub.Caller, workers)
	for i := range callers {
		callers[i] = e.register(fmt.Sprintf("w%d", i), "worker")
	}

	// Round 1: all wait before the command exists; one command wakes all
	// of them, one claims it.
	claims := make(chan hub.Command, workers)
	var wg sync.WaitGroup
	for _, c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd, ok, err := e.svc.WaitCommand(ctx, c, time.Minute)
			if err != nil {
				t.Errorf("wait: %v", err)
				return
			}
			if ok {
				claims <- cmd
			}
		}()
	}
	waitUntil(t, func() bool { return waiters(e) >= workers })
	first, err := e.svc.SendCommand(ctx, sender, hub.CommandRequest{Target: "worker", Action: "build"})
	if err != nil {
		t.Fatal(err)
	}
	got := <-claims
	if got.ID != first.ID {
		t.Fatalf("claimed %d, want %d", got.ID, first.ID)
	}
	// The rest are still waiting: feed them one command each.
	for i := 1; i < workers; i++ {
		if _, err := e.svc.SendCommand(ctx, sender, hub.CommandRequest{Target: "role:worker", Action: "build"}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(claims)
	seen := map[int64]bool{first.ID: true}
	claimers := map[string]bool{got.ClaimedBy: true}
	for c := range claims {
		if seen[c.ID] {
			t.Fatalf("command %d claimed twice", c.ID)
		}
		seen[c.ID] = true
		claimers[c.ClaimedBy] = true
	}
	if len(seen) != workers || len(claimers) != workers {
		t.Fatalf("%d commands claimed by %d agents, want %d each", len(seen), len(claimers), workers)
	}

	// Round 2: a burst of commands, every worker claiming in a loop.
	const burst = 60
	for range burst {
		if _, err := e.svc.SendCommand(ctx, sender, hub.CommandRequest{Target: "worker", Action: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	counts := map[int64]int{}
	for _, c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				cmd, ok, err := e.svc.ClaimCommand(ctx, c)
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				if !ok {
					return
				}
				mu.Lock()
				counts[cmd.ID]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(counts) != burst {
		t.Fatalf("%d distinct commands claimed, want %d", len(counts), burst)
	}
	for id, n := range counts {
		if n != 1 {
			t.Fatalf("command %d claimed %d times", id, n)
		}
	}
}

func TestCommandDeadlineExpires(t *testing.T) {
	clock := newClock()
	e := newEnv(t, hub.Options{Now: clock.Now})
	ctx := context.Background()
	alice := e.register("alice", "")
	bob := e.register("bob", "")

	pending, err := e.svc.SendCommand(ctx, alice, hub.CommandRequest{Target: "bob", Action: "a", Deadline: hub.DeadlineIn(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := e.svc.SendCommand(ctx, alice, hub.CommandRequest{Target: "bob", Action: "b", Deadline: hub.DeadlineIn(2 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	forever, err := e.svc.SendCommand(ctx, alice, hub.CommandRequest{Target: "bob", Action: "c"})
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute) // the first is past its deadline: not claimable
	got, ok, err := e.svc.ClaimCommand(ctx, bob)
	if err != nil || !ok || got.ID != claimed.ID {
		t.Fatalf("claim = %d, %v, %v; want %d (the first has expired)", got.ID, ok, err, claimed.ID)
	}
	clock.Add(time.Minute)
	if _, err := e.svc.AckCommand(ctx, bob, claimed.ID, hub.AckRequest{}); !errors.Is(err, hub.ErrConflict) {
		t.Fatalf("ack past the deadline: %v, want conflict", err)
	}
	if err := e.svc.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{pending.ID, claimed.ID} {
		c, err := e.svc.GetCommand(ctx, alice, id, 0)
		if err != nil || c.Status != hub.CommandExpired || c.Error == "" {
			t.Fatalf("command %d = %s (%q), %v; want expired with a reason", id, c.Status, c.Error, err)
		}
	}
	if c, _ := e.svc.GetCommand(ctx, alice, forever.ID, 0); c.Status != hub.CommandPending {
		t.Fatalf("command without deadline = %s, want pending", c.Status)
	}
	evs, _ := e.svc.Events(ctx, 0, 100, hub.Filter{Kinds: []string{hub.EventCommandExpired}, Agents: []string{"bob"}})
	if len(evs) != 2 {
		t.Fatalf("%d command.expired events for bob, want 2", len(evs))
	}
}

func TestCommandAckRules(t *testing.T) {
	e := newEnv(t, hub.Options{})
	ctx := context.Background()
	alice := e.register("alice", "")
	bob := e.register("bob", "backend")
	carol := e.register("carol", "frontend")

	cmd, _ := e.svc.SendCommand(ctx, alice, hub.CommandRequest{Target: "bob", Action: "x"})
	// Carol is neither the target nor the claimer.
	if _, err := e.svc.AckCommand(ctx, carol, cmd.ID, hub.AckRequest{}); !errors.Is(err, hub.ErrForbidden) {
		t.Fatalf("ack by a stranger: %v, want forbidden", err)
	}
	// A pending command may be acknowledged by its target directly.
	failed, err := e.svc.AckCommand(ctx, bob, cmd.ID, hub.AckRequest{Error: "port in use"})
	if err != nil || failed.Status != hub.CommandFailed || failed.ClaimedBy != "bob" || failed.Error != "port in use" {
		t.Fatalf("failed ack = %+v, %v", failed, err)
	}
	// Carol cannot read bob's command; the admin can.
	if _, err := e.svc.GetCommand(ctx, carol, cmd.ID, 0); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("stranger reads: %v, want not_found", err)
	}
	if _, err := e.svc.GetCommand(ctx, hub.Caller{Admin: true}, cmd.ID, 0); err != nil {
		t.Fatalf("admin reads: %v", err)
	}
	if _, err := e.svc.ListCommands(ctx, carol, hub.CommandListOptions{For: "bob"}); !errors.Is(err, hub.ErrForbidden) {
		t.Fatalf("stranger lists: %v, want forbidden", err)
	}

	bad := []struct {
		name string
		req  hub.AckRequest
		code hub.Code
	}{
		{"bad status", hub.AckRequest{Status: "maybe"}, hub.CodeInvalid},
		{"result not JSON", hub.AckRequest{Result: json.RawMessage(`{oops`)}, hub.CodeInvalid},
	}
	cmd2, _ := e.svc.SendCommand(ctx, alice, hub.CommandRequest{Target: "bob", Action: "y"})
	for _, b := range bad {
		if _, err := e.svc.AckCommand(ctx, bob, cmd2.ID, b.req); hub.ErrorCode(err) != b.code {
			t.Errorf("%s: %v, want %s", b.name, err, b.code)
		}
	}
	if _, err := e.svc.AckCommand(ctx, bob, 12345, hub.AckRequest{}); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("unknown id: %v, want not_found", err)
	}
	if c, _ := e.svc.GetCommand(ctx, bob, cmd2.ID, 0); c.Status != hub.CommandPending {
		t.Fatalf("after bad acks: %s, want pending", c.Status)
	}
}

func TestCommandBadInputChangesNothing(t *testing.T) {
	e := newEnv(t, hub.Options{Coordination: hub.CoordinationOptions{MaxValue: 64}})
	ctx := context.Background()
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	before, _ := e.svc.Events(ctx, 0, 1000, hub.Filter{})

	bad := []struct {
		name string
		req  hub.CommandRequest
		code hub.Code
	}{
		{"no action", hub.CommandRequest{Target: "bob"}, hub.CodeInvalid},
		{"action with spaces", hub.CommandRequest{Target: "bob", Action: "rm -rf"}, hub.CodeInvalid},
		{"action with newline", hub.CommandRequest{Target: "bob", Action: "a\nb"}, hub.CodeInvalid},
		{"params not JSON", hub.CommandRequest{Target: "bob", Action: "a", Params: json.RawMessage(`port=7400`)}, hub.CodeInvalid},
		{"params an array", hub.CommandRequest{Target: "bob", Action: "a", Params: json.RawMessage(`[1,2]`)}, hub.CodeInvalid},
		{"params a string", hub.CommandRequest{Target: "bob", Action: "a", Params: json.RawMessage(`"x"`)}, hub.CodeInvalid},
		{"deadline in the past", hub.CommandRequest{Target: "bob", Action: "a", Deadline: hub.Deadline{At: time.Now().Add(-time.Minute)}}, hub.CodeInvalid},
		{"target unknown", hub.CommandRequest{Target: "zed", Action: "a"}, hub.CodeNotFound},
		{"params too large", hub.CommandRequest{Target: "bob", Action: "a", Params: json.RawMessage(`{"x":"` + strings.Repeat("y", 100) + `"}`)}, hub.CodeTooLarge},
	}
	for _, b := range bad {
		if _, err := e.svc.SendCommand(ctx, alice, b.req); hub.ErrorCode(err) != b.code {
			t.Errorf("%s: %v, want %s", b.name, err, b.code)
		}
	}
	if _, err := e.svc.SendCommand(ctx, hub.Caller{}, hub.CommandRequest{Target: "bob", Action: "a"}); !errors.Is(err, hub.ErrForbidden) {
		t.Errorf("anonymous send: %v, want forbidden", err)
	}
	if _, _, err := e.svc.WaitCommand(ctx, bob, -time.Second); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("negative timeout: %v", err)
	}
	if _, _, err := e.svc.WaitCommand(ctx, bob, 24*time.Hour); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("huge timeout: %v", err)
	}
	if _, err := e.svc.ListCommands(ctx, bob, hub.CommandListOptions{For: "bob", Status: "weird"}); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("bad status filter: %v", err)
	}
	after, _ := e.svc.Events(ctx, 0, 1000, hub.Filter{})
	list, _ := e.svc.ListCommands(ctx, hub.Caller{Admin: true}, hub.CommandListOptions{})
	if len(after) != len(before) || len(list) != 0 {
		t.Fatalf("bad input left %d events and %d commands", len(after)-len(before), len(list))
	}
}

func TestDeadlineJSON(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration // from now; -1 for an error
	}{
		{`"5m"`, 5 * time.Minute},
		{`30000`, 30 * time.Second},
		{`"30000"`, 30 * time.Second},
		{`"2030-01-01T01:00:00Z"`, time.Hour},
		{`null`, 0},
		{`""`, 0},
		{`"soon"`, -1},
		{`-5`, -1},
		{`"-5m"`, -1},
		{`1e30`, -1},
		{`true`, -1},
	}
	for _, tt := range tests {
		var d hub.Deadline
		err := json.Unmarshal([]byte(tt.in), &d)
		if tt.want < 0 {
			if err == nil {
				t.Errorf("Deadline %s: no error", tt.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("Deadline %s: %v", tt.in, err)
			continue
		}
		var got time.Duration
		if !d.At.IsZero() {
			got = d.At.Sub(now)
		} else {
			got = d.In
		}
		if got != tt.want {
			t.Errorf("Deadline %s = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// FuzzDeadline checks that any JSON decodes to a deadline or a clear
// error, never a panic, and that what decodes resolves or is refused.
func FuzzDeadline(f *testing.F) {
	for _, s := range []string{`"5m"`, `30000`, `"2030-01-01T00:00:00Z"`, `null`, `-1`, `1e308`, `"9999999h"`, `"9000h"`, `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d hub.Deadline
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			return
		}
		if d.In < 0 {
			t.Fatalf("%s decoded to a negative duration %s", s, d.In)
		}
		if d.In > hub.MaxDeadline {
			t.Fatalf("%s decoded to %s, beyond the maximum", s, d.In)
		}
	})
}

// TestCommandsOfALeavingAgentFail: when an agent deregisters or its name
// is released, the commands only it could finish fail at once, and a
// sender waiting for a result gets it; a command for its role stays
// pending for the next agent of the role.
func TestCommandsOfALeavingAgentFail(t *testing.T) {
	for _, leave := range []string{"deregister", "release"} {
		t.Run(leave, func(t *testing.T) {
			e := newEnv(t, hub.Options{})
			ctx := context.Background()
			lead := e.register("lead", "")
			worker := e.register("worker", "builder")
			claimed, err := e.svc.SendCommand(ctx, lead, hub.CommandRequest{Target: "role:builder", Action: "test", Deadline: hub.DeadlineIn(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if got, ok, err := e.svc.ClaimCommand(ctx, worker); err != nil || !ok || got.ID != claimed.ID {
				t.Fatalf("claim: %v %v %v, want command %d", got.ID, ok, err, claimed.ID)
			}
			named, err := e.svc.SendCommand(ctx, lead, hub.CommandRequest{Target: "worker", Action: "build", Deadline: hub.DeadlineIn(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			forRole, err := e.svc.SendCommand(ctx, lead, hub.CommandRequest{Target: "role:builder", Action: "lint", Deadline: hub.DeadlineIn(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}

			result := make(chan hub.Command, 1)
			go func() {
				cmd, _ := e.svc.GetCommand(ctx, lead, claimed.ID, time.Minute)
				result <- cmd
			}()
			switch leave {
			case "deregister":
				err = e.svc.Deregister(ctx, worker)
			case "release":
				_, err = e.svc.ReleaseName(ctx, hub.Caller{Admin: true, Name: "admin"}, "worker")
			}
			if err != nil {
				t.Fatal(err)
			}
			select {
			case cmd := <-result:
				if cmd.Status != hub.CommandFailed || !strings.Contains(cmd.Error, `"worker" left the hub`) {
					t.Errorf("the waiting sender got %s %q, want failed because worker left", cmd.Status, cmd.Error)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the sender waiting for the claimed command's result was not answered")
			}
			for _, tt := range []struct {
				id   int64
				want string
			}{{named.ID, hub.CommandFailed}, {claimed.ID, hub.CommandFailed}, {forRole.ID, hub.CommandPending}} {
				cmd, err := e.svc.GetCommand(ctx, lead, tt.id, 0)
				if err != nil || cmd.Status != tt.want {
					t.Errorf("command %d after %s: %s, %v; want %s", tt.id, leave, cmd.Status, err, tt.want)
				}
			}
		})
	}
}
