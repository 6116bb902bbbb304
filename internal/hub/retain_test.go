package hub_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// TestRunRemovesMessagesPastRetention runs the service's periodic work
// with Options.Retain and checks which messages it removes: old ones
// their recipients are done with, never unread mail or young messages.
func TestRunRemovesMessagesPastRetention(t *testing.T) {
	tests := []struct {
		name   string
		retain time.Duration
		gone   []string
	}{
		{"a day", 24 * time.Hour, []string{"read", "acked"}},
		{"forever", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			e := newEnv(t, hub.Options{Now: clock.Now, Retain: tt.retain, KeepEvents: 1})
			ctx := context.Background()
			alice, bob, carol := e.register("alice", ""), e.register("bob", ""), e.register("carol", "")
			ids := map[string]int64{}
			send := func(body string, ackRequired bool, to string) {
				t.Helper()
				res, err := e.svc.Send(ctx, alice, hub.SendRequest{To: []string{to}, Body: body, AckRequired: ackRequired})
				if err != nil {
					t.Fatal(err)
				}
				ids[body] = res.Message.ID
			}
			send("read", false, "bob")
			send("acked", true, "bob")
			send("read, not acked", true, "bob")
			send("unread", false, "carol")
			e.read(bob, hub.ReadOptions{})
			if err := e.svc.Ack(ctx, bob, ids["acked"]); err != nil {
				t.Fatal(err)
			}
			clock.Add(25 * time.Hour)
			send("young", false, "bob")
			e.read(bob, hub.ReadOptions{})

			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- e.svc.Run(rctx) }()
			// Run's first expiry comes after a second: a pass over old
			// messages, then the expiry of events, which keeps only the
			// newest (KeepEvents 1). One event left shows both have run.
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) && e.eventCount() > 1 {
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			if n := e.eventCount(); n > 1 {
				t.Fatalf("%d events left after 10 s, want 1: Run made no expiry pass", n)
			}

			for body, id := range ids {
				_, err := e.svc.GetMessage(ctx, alice, id)
				switch want := slices.Contains(tt.gone, body); {
				case want && !errors.Is(err, hub.ErrNotFound):
					t.Errorf("message %q: got %v, want it removed", body, err)
				case !want && err != nil:
					t.Errorf("message %q: got %v, want it kept", body, err)
				}
			}
			if got := e.read(carol, hub.ReadOptions{}); len(got.Messages) != 1 || got.Messages[0].Body != "unread" {
				t.Errorf("carol's inbox: got %q, want her unread message", bodies(got.Messages))
			}
		})
	}
}

// eventCount returns how many events the store keeps.
func (e *env) eventCount() int {
	e.t.Helper()
	evs, err := e.svc.Events(context.Background(), 0, 0, hub.Filter{})
	if err != nil {
		e.t.Fatalf("events: %v", err)
	}
	return len(evs)
}
