package hub_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/parley-dev/parley/internal/hub"
)

func TestMaxUnreadBoundsEachQueue(t *testing.T) {
	e := newEnv(t, hub.Options{MaxUnread: 2})
	ctx := context.Background()
	alice := e.register("alice", "")
	e.register("bob", "dev")
	e.register("carol", "dev")
	e.send(alice, "one", "bob")
	e.send(alice, "two", "bob")

	tests := []struct {
		name      string
		to        []string
		err       string // the error's message contains this; "" for none
		full      []string
		delivered []string
		queued    []string
	}{
		{"a full inbox alone", []string{"bob"}, "inbox full: bob already has 2 unread messages", nil, nil, nil},
		{"a full inbox and one with room", []string{"bob", "carol"}, "", []string{"bob"}, []string{"carol"}, nil},
		{"a role", []string{"role:dev"}, "", []string{"bob"}, []string{"carol"}, nil},
		{"every inbox full", []string{"bob", "carol"}, "inbox full: bob, carol already have 2 unread messages", nil, nil, nil},
		{"a full inbox and a name not registered", []string{"bob", "dave"}, "", []string{"bob"}, nil, []string{"dave"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.unread(t)
			res, err := e.svc.Send(ctx, alice, hub.SendRequest{To: tt.to, Body: tt.name})
			if tt.err != "" {
				if hub.ErrorCode(err) != hub.CodeConflict || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("send: got %v (%s), want a conflict saying %q", err, hub.ErrorCode(err), tt.err)
				}
				if after := e.unread(t); !maps.Equal(after, before) {
					t.Errorf("unread after a refused send: %v, want %v unchanged", after, before)
				}
				return
			}
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			var delivered []string
			for _, d := range res.Deliveries {
				if d.State != hub.DeliveryHeld {
					delivered = append(delivered, d.To)
				}
			}
			if !slices.Equal(res.Full, tt.full) || !slices.Equal(delivered, tt.delivered) || !slices.Equal(res.Queued, tt.queued) {
				t.Errorf("send: full %v, delivered %v, queued %v; want %v, %v, %v", res.Full, delivered, res.Queued, tt.full, tt.delivered, tt.queued)
			}
		})
	}

	// A full inbox reached through a former name is neither delivered to
	// nor reported as forwarded to.
	bobCaller := e.as("bob")
	if _, err := e.svc.Rename(ctx, bobCaller, "robert"); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.Send(ctx, alice, hub.SendRequest{To: []string{"bob", "erin"}, Body: "to a former name"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Full, []string{"robert"}) || len(res.Forwarded) != 0 {
		t.Errorf("send to bob, now robert and full: full %v, forwarded %v; want [robert] and none", res.Full, res.Forwarded)
	}
	e.tokens["robert"] = e.tokens["bob"]
	bob := e.as("robert")

	// Reading makes room.
	e.read(bob, hub.ReadOptions{Limit: 1})
	if res := e.send(alice, "room again", "robert"); len(res.Full) != 0 || len(res.Deliveries) != 1 {
		t.Errorf("send after bob read one: %+v, want it delivered", res)
	}
}

// unread returns every agent's unread count, by name.
func (e *env) unread(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, name := range []string{"bob", "carol"} {
		res, err := e.svc.Read(context.Background(), e.as(name), hub.ReadOptions{Peek: true})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = res.Unread
	}
	return out
}
