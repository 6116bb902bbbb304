package hub_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

func boolp(b bool) *bool { return &b }

func TestLeaseConflicts(t *testing.T) {
	clock := newClock()
	e := newEnv(t, hub.Options{Now: clock.Now})
	ctx := context.Background()
	alice := e.register("alice", "")
	bob := e.register("bob", "")

	api, err := e.svc.Reserve(ctx, alice, hub.LeaseRequest{Patterns: hub.StringList{"src/api/**"}, TTL: hub.Duration(time.Hour), Reason: "refactor"})
	if err != nil || !api.Exclusive || api.Token <= 0 || !api.ExpiresAt.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("reserve = %+v, %v", api, err)
	}
	_, err = e.svc.Reserve(ctx, bob, hub.LeaseRequest{Patterns: hub.StringList{"src/**/*.go"}})
	if !errors.Is(err, hub.ErrConflict) {
		t.Fatalf("overlapping exclusive: %v, want conflict", err)
	}
	msg := hub.PublicMessage(err)
	for _, want := range []string{`"alice"`, "src/api/**", api.ExpiresAt.Format(time.RFC3339), "refactor"} {
		if !strings.Contains(msg, want) {
			t.Errorf("conflict message %q does not name %s", msg, want)
		}
	}
	// Shared against exclusive conflicts too; disjoint patterns do not.
	if _, err := e.svc.Reserve(ctx, bob, hub.LeaseRequest{Patterns: hub.StringList{"src/api/x.go"}, Exclusive: boolp(false)}); !errors.Is(err, hub.ErrConflict) {
		t.Fatalf("shared over exclusive: %v, want conflict", err)
	}
	web, err := e.svc.Reserve(ctx, bob, hub.LeaseRequest{Patterns: hub.StringList{"src/web/**"}})
	if err != nil || web.Token <= api.Token {
		t.Fatalf("disjoint = %+v, %v; want a larger token than %d", web, err, api.Token)
	}
	// A holder's own leases never conflict with each other.
	if _, err := e.svc.Reserve(ctx, alice, hub.LeaseRequest{Patterns: hub.StringList{"src/api/v1/**"}}); err != nil {
		t.Fatalf("own overlap: %v", err)
	}
	// Shared leases coexist.
	if _, err := e.svc.Reserve(ctx, alice, hub.LeaseRequest{Patterns: hub.StringList{"docs/**"}, Exclusive: boolp(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Reserve(ctx, bob, hub.LeaseRequest{Patterns: hub.StringList{"docs/*.md"}, Exclusive: boolp(false)}); err != nil {
		t.Fatalf("shared with shared: %v", err)
	}

	// Guard: bob's paths under alice's exclusive lease are reported.
	hits, err := e.svc.CheckPaths(ctx, bob, []string{"src/api/h.go", "src/web/a.go", "docs/x.md", "README.md"})
	if err != nil || len(hits) != 1 || hits[0].Path != "src/api/h.go" || hits[0].Lease.Holder != "alice" || hits[0].Pattern != "src/api/**" {
		t.Fatalf("check for bob = %+v, %v", hits, err)
	}
	if hits, _ := e.svc.CheckPaths(ctx, alice, []string{"src/api/h.go"}); len(hits) != 0 {
		t.Fatalf("alice's own lease reported to her: %+v", hits)
	}

	// Renew keeps the token; only the holder renews or releases.
	clock.Add(30 * time.Minute)
	if _, err := e.svc.RenewLease(ctx, bob, api.ID, 0); !errors.Is(err, hub.ErrForbidden) {
		t.Fatalf("renew by another: %v", err)
	}
	renewed, err := e.svc.RenewLease(ctx, alice, api.ID, hub.Duration(2*time.Hour))
	if err != nil || renewed.Token != api.Token || !renewed.ExpiresAt.Equal(clock.Now().Add(2*time.Hour)) {
		t.Fatalf("renew = %+v, %v", renewed, err)
	}
	if _, err := e.svc.ReleaseLease(ctx, bob, api.ID); !errors.Is(err, hub.ErrForbidden) {
		t.Fatalf("release by another: %v", err)
	}

	// Expiry: after two hours alice's renewed lease ends, and bob gets in.
	clock.Add(2 * time.Hour)
	if err := e.svc.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RenewLease(ctx, alice, api.ID, 0); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("renew expired: %v, want not_found", err)
	}
	again, err := e.svc.Reserve(ctx, bob, hub.LeaseRequest{Patterns: hub.StringList{"src/api/**"}, TTL: hub.Duration(time.Minute)})
	if err != nil || again.Token <= web.Token {
		t.Fatalf("after expiry = %+v, %v", again, err)
	}
	released, err := e.svc.ReleaseLease(ctx, bob, again.ID)
	if err != nil || released.ID != again.ID {
		t.Fatalf("release = %+v, %v", released, err)
	}
	if _, err := e.svc.GetLease(ctx, bob, again.ID); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("released lease still there: %v", err)
	}
	kinds := map[string]int{}
	evs, _ := e.svc.Events(ctx, 0, 100, hub.Filter{Kinds: []string{"lease"}})
	for _, ev := range evs {
		kinds[ev.Kind]++
	}
	if kinds[hub.EventLeaseGranted] != 6 || kinds[hub.EventLeaseExpired] != 5 || kinds[hub.EventLeaseReleased] != 1 || kinds[hub.EventLeaseRenewed] != 1 {
		t.Fatalf("lease events %v", kinds)
	}
}

// TestConcurrentExclusiveReservations races pairs of agents for
// overlapping patterns: exactly one of each pair wins.
func TestConcurrentExclusiveReservations(t *testing.T) {
	e := newEnv(t, hub.Options{})
	ctx := context.Background()
	const agents = 6
	callers := make([]hub.Caller, agents)
	for i := range callers {
		callers[i] = e.register(fmt.Sprintf("a%d", i), "")
	}
	patterns := []string{"src/**", "src/api/**", "src/api/x.go", "**/*.go", "src/*/x.go", "src/api/"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []hub.Lease
	conflicts := 0
	for i, c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := e.svc.Reserve(ctx, c, hub.LeaseRequest{Patterns: hub.StringList{patterns[i]}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, l)
			case errors.Is(err, hub.ErrConflict):
				conflicts++
			default:
				t.Errorf("reserve: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 || conflicts != agents-1 {
		t.Fatalf("%d granted, %d refused; want 1 and %d (every pattern overlaps every other)", len(won), conflicts, agents-1)
	}
}

func TestLeaseBadInput(t *testing.T) {
	e := newEnv(t, hub.Options{})
	ctx := context.Background()
	alice := e.register("alice", "")
	bad := []struct {
		name string
		req  hub.LeaseRequest
	}{
		{"no patterns", hub.LeaseRequest{}},
		{"absolute", hub.LeaseRequest{Patterns: hub.StringList{"/etc/**"}}},
		{"dotdot", hub.LeaseRequest{Patterns: hub.StringList{"../x"}}},
		{"bad glob", hub.LeaseRequest{Patterns: hub.StringList{"[x"}}},
		{"short ttl", hub.LeaseRequest{Patterns: hub.StringList{"x"}, TTL: hub.Duration(time.Millisecond)}},
		{"negative ttl", hub.LeaseRequest{Patterns: hub.StringList{"x"}, TTL: hub.Duration(-time.Hour)}},
		{"huge ttl", hub.LeaseRequest{Patterns: hub.StringList{"x"}, TTL: hub.Duration(1000 * time.Hour)}},
	}
	for _, b := range bad {
		if _, err := e.svc.Reserve(ctx, alice, b.req); !errors.Is(err, hub.ErrInvalid) {
			t.Errorf("%s: %v, want invalid_argument", b.name, err)
		}
	}
	if _, err := e.svc.Reserve(ctx, hub.Caller{Admin: true}, hub.LeaseRequest{Patterns: hub.StringList{"x"}}); !errors.Is(err, hub.ErrForbidden) {
		t.Errorf("no agent: %v", err)
	}
	for _, id := range []int64{0, -1, 99} {
		if _, err := e.svc.RenewLease(ctx, alice, id, 0); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("renew %d: %v", id, err)
		}
		if _, err := e.svc.ReleaseLease(ctx, alice, id); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("release %d: %v", id, err)
		}
	}
	if ls, _ := e.svc.ListLeases(ctx, alice, hub.LeaseListOptions{}); len(ls) != 0 {
		t.Fatalf("bad input granted %+v", ls)
	}
}
