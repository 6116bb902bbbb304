package hub_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/clocktest"
	"github.com/parley-dev/parley/internal/hub"
)

// countingStore counts the transactions that reach a store.
type countingStore struct {
	hub.Store
	updates, visible, views atomic.Int64
}

func (s *countingStore) Update(ctx context.Context, fn func(hub.Tx) error) error {
	s.updates.Add(1)
	return s.Store.Update(ctx, fn)
}

func (s *countingStore) UpdateVisible(ctx context.Context, fn func(hub.Tx) error) error {
	s.visible.Add(1)
	return s.Store.UpdateVisible(ctx, fn)
}

func (s *countingStore) View(ctx context.Context, fn func(hub.Reader) error) error {
	defer s.views.Add(1)
	return s.Store.View(ctx, fn)
}

// newTokenEnv returns an env whose service runs on clk with opts, and
// the counter of its writes.
func newTokenEnv(t *testing.T, clk *clocktest.Clock, opts hub.Options) (*env, *countingStore) {
	t.Helper()
	opts.Now = clk.Now
	e := newEnv(t, opts)
	cs := &countingStore{Store: e.store}
	e.svc = hub.New(cs, e.svc.Bus(), opts)
	return e, cs
}

func wantCode(t *testing.T, err error, code hub.Code, contains string) {
	t.Helper()
	if got := hub.ErrorCode(err); err == nil || got != code {
		t.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
	if contains != "" && !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not say %q", err, contains)
	}
}

func TestTokenExpirySlidesWithUse(t *testing.T) {
	clk := newClock()
	e, _ := newTokenEnv(t, clk, hub.Options{TokenTTL: time.Hour})
	ctx := context.Background()
	e.register("alice", "")
	tok := e.tokens["alice"]

	// Used every 50 minutes, the token outlives its first hour.
	for range 3 {
		clk.Add(50 * time.Minute)
		if _, err := e.svc.Authenticate(ctx, tok); err != nil {
			t.Fatalf("authenticate after 50 min: %v", err)
		}
	}
	// Unused for longer than the TTL, it expires.
	clk.Add(time.Hour + time.Second)
	_, err := e.svc.Authenticate(ctx, tok)
	wantCode(t, err, hub.CodeUnauthenticated, "expired")

	// An expired token cannot reclaim its name either.
	_, err = e.svc.Register(ctx, hub.RegisterRequest{Name: "alice", Token: tok})
	wantCode(t, err, hub.CodeNameTaken, "")
}

func TestTokenExpiryNeverWhenTTLNegative(t *testing.T) {
	clk := newClock()
	e, _ := newTokenEnv(t, clk, hub.Options{TokenTTL: -1})
	e.register("alice", "")
	clk.Add(10 * 365 * 24 * time.Hour)
	if _, err := e.svc.Authenticate(context.Background(), e.tokens["alice"]); err != nil {
		t.Fatalf("authenticate after ten years without expiry: %v", err)
	}
}

func TestTokenExtensionWritesAtMostOncePerMinute(t *testing.T) {
	clk := newClock()
	e, cs := newTokenEnv(t, clk, hub.Options{TokenTTL: 24 * time.Hour})
	ctx := context.Background()
	e.register("alice", "")
	tok := e.tokens["alice"]

	auth := func(n int) int64 {
		t.Helper()
		before := cs.updates.Load()
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if _, err := e.svc.Authenticate(ctx, tok); err != nil {
					t.Errorf("authenticate: %v", err)
				}
			})
		}
		wg.Wait()
		return cs.updates.Load() - before
	}
	if got := auth(50); got != 0 {
		t.Errorf("right after registering: %d writes, want 0", got)
	}
	clk.Add(59 * time.Second)
	if got := auth(50); got != 0 {
		t.Errorf("59 s later: %d writes, want 0", got)
	}
	clk.Add(2 * time.Second)
	// 50 concurrent uses past the minute: one write, or a handful at most
	// if some read the store before the first write committed; never one
	// per request.
	if got := auth(50); got < 1 || got > 3 {
		t.Errorf("61 s later: %d writes, want 1 (at most a few)", got)
	}
	if got := auth(50); got != 0 {
		t.Errorf("right after extending: %d writes, want 0", got)
	}
}

func TestRotateToken(t *testing.T) {
	e := newEnv(t, hub.Options{})
	ctx := context.Background()
	alice := e.register("alice", "")
	old := e.tokens["alice"]

	tok, err := e.svc.RotateToken(ctx, alice)
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if tok == old || !strings.HasPrefix(tok, "pt_") {
		t.Fatalf("rotate returned %q, want a new pt_ token", tok)
	}
	_, err = e.svc.Authenticate(ctx, old)
	wantCode(t, err, hub.CodeUnauthenticated, "")
	c, err := e.svc.Authenticate(ctx, tok)
	if err != nil || c.Name != "alice" || c.AgentID != alice.AgentID {
		t.Fatalf("new token: got %+v, %v; want alice", c, err)
	}
	// The replayed old token cannot reclaim the name.
	_, err = e.svc.Register(ctx, hub.RegisterRequest{Name: "alice", Token: old})
	wantCode(t, err, hub.CodeNameTaken, "")

	_, err = e.svc.RotateToken(ctx, hub.Caller{Admin: true})
	wantCode(t, err, hub.CodeForbidden, "")
}

func TestRevokeTokens(t *testing.T) {
	var mu sync.Mutex
	var audited []hub.AuditRecord
	e := newEnv(t, hub.Options{Audit: func(r hub.AuditRecord) {
		mu.Lock()
		audited = append(audited, r)
		mu.Unlock()
	}})
	ctx := context.Background()
	bob := e.register("bob", "")
	e.register("alice", "")
	tok := e.tokens["alice"]

	// Another agent may not revoke.
	_, err := e.svc.RevokeTokens(ctx, bob, "alice")
	wantCode(t, err, hub.CodeForbidden, "admin")
	if _, err := e.svc.Authenticate(ctx, tok); err != nil {
		t.Fatalf("refused revocation changed something: %v", err)
	}
	_, err = e.svc.RevokeTokens(ctx, hub.Caller{Admin: true, Name: "human"}, "nobody")
	wantCode(t, err, hub.CodeNotFound, "")

	rec, err := e.svc.RevokeTokens(ctx, hub.Caller{Admin: true, Name: "human"}, "Alice")
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if rec.Action != hub.AuditRevoke || rec.Target != "alice" || rec.Actor != "human" || !rec.Admin {
		t.Errorf("record %+v", rec)
	}
	_, err = e.svc.Authenticate(ctx, tok)
	wantCode(t, err, hub.CodeUnauthenticated, "")
	// The name stays taken: the old token cannot reclaim it.
	_, err = e.svc.Register(ctx, hub.RegisterRequest{Name: "alice", Token: tok})
	wantCode(t, err, hub.CodeNameTaken, "")

	mu.Lock()
	if len(audited) != 1 || audited[0] != rec {
		t.Errorf("audited %+v, want [%+v]", audited, rec)
	}
	mu.Unlock()
	evs, err := e.svc.Events(ctx, 0, 1000, hub.Filter{Kinds: []string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Kind != hub.EventAdminRevoke || evs[0].Subject != "alice" {
		t.Errorf("admin events %+v, want one admin.revoke of alice", evs)
	}
	if strings.Contains(string(evs[0].Data), "pt_") {
		t.Errorf("event data carries a token: %s", evs[0].Data)
	}
}

func TestReleaseName(t *testing.T) {
	e := newEnv(t, hub.Options{})
	ctx := context.Background()
	admin := hub.Caller{Admin: true, Name: "human"}
	bob := e.register("bob", "")
	e.register("alice", "")
	old := e.tokens["alice"]
	e.send(bob, "for alice", "alice")

	_, err := e.svc.ReleaseName(ctx, bob, "alice")
	wantCode(t, err, hub.CodeForbidden, "")
	_, err = e.svc.ReleaseName(ctx, admin, "human")
	wantCode(t, err, hub.CodeInvalid, "")
	_, err = e.svc.ReleaseName(ctx, admin, "../alice")
	wantCode(t, err, hub.CodeInvalidName, "")

	if _, err := e.svc.ReleaseName(ctx, admin, "alice"); err != nil {
		t.Fatalf("release: %v", err)
	}
	_, err = e.svc.Authenticate(ctx, old)
	wantCode(t, err, hub.CodeUnauthenticated, "")
	reg, err := e.svc.Register(ctx, hub.RegisterRequest{Name: "alice"})
	if err != nil || reg.Reclaimed || reg.Token == old {
		t.Fatalf("register the released name: %+v, %v", reg, err)
	}

	// A forward left by a rename can be released too.
	carol := e.register("carol", "")
	if _, err := e.svc.Rename(ctx, carol, "carol2"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Register(ctx, hub.RegisterRequest{Name: "carol"}); !errors.Is(err, hub.ErrNameTaken) {
		t.Fatalf("register a forwarded name: %v, want name_taken", err)
	}
	rec, err := e.svc.ReleaseName(ctx, admin, "carol")
	if err != nil || !strings.Contains(rec.Detail, "carol2") {
		t.Fatalf("release forward: %+v, %v", rec, err)
	}
	if _, err := e.svc.Register(ctx, hub.RegisterRequest{Name: "carol"}); err != nil {
		t.Fatalf("register after releasing the forward: %v", err)
	}
	_, err = e.svc.ReleaseName(ctx, admin, "nobody")
	wantCode(t, err, hub.CodeNotFound, "")
}

func TestOpenTokensRefusedOnceAuthenticationIsOn(t *testing.T) {
	e := newEnv(t, hub.Options{Open: true})
	e.register("alice", "")
	tok := e.tokens["alice"]
	e.opts.Open = false
	e.restart()
	_, err := e.svc.Authenticate(context.Background(), tok)
	wantCode(t, err, hub.CodeUnauthenticated, "authentication was off")
	_, err = e.svc.Register(context.Background(), hub.RegisterRequest{Name: "alice", Token: tok})
	wantCode(t, err, hub.CodeNameTaken, "")
}

func TestResetIsAudited(t *testing.T) {
	var got []hub.AuditRecord
	e := newEnv(t, hub.Options{Audit: func(r hub.AuditRecord) { got = append(got, r) }})
	ctx := context.Background()
	alice := e.register("alice", "")
	if err := e.svc.Reset(ctx, alice); !errors.Is(err, hub.ErrForbidden) {
		t.Fatalf("reset by an agent: %v, want forbidden", err)
	}
	if len(got) != 0 {
		t.Fatalf("a refused reset was audited: %+v", got)
	}
	if err := e.svc.Reset(ctx, hub.Caller{Admin: true, Name: "human"}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Action != hub.AuditReset || got[0].Actor != "human" {
		t.Fatalf("audited %+v, want one reset by human", got)
	}
	evs, err := e.svc.Events(ctx, 0, 100, hub.Filter{Kinds: []string{hub.EventAdminReset}})
	if err != nil || len(evs) != 1 {
		t.Fatalf("admin.reset events: %+v, %v", evs, err)
	}
}

// TestRevocationChecksOnlyItsAgent: every agent's stream watches its
// token (UntilRevoked); ending one agent (revoked, released or
// deregistered) ends its streams and costs the others no look at the
// store, so that a hub with thousands of streams does not read the
// store thousands of times whenever an agent goes.
func TestRevocationChecksOnlyItsAgent(t *testing.T) {
	const n = 40
	e, cs := newTokenEnv(t, newClock(), hub.Options{})
	ctx := context.Background()
	admin := hub.Caller{Admin: true, Name: "admin"}
	names := make([]string, n)
	watches := make([]context.Context, n)
	for i := range names {
		names[i] = fmt.Sprintf("agent%02d", i)
		e.register(names[i], "")
	}
	// As a stream does: authenticate, then watch.
	for _, name := range names {
		if _, err := e.svc.Authenticate(ctx, e.tokens[name]); err != nil {
			t.Fatal(err)
		}
	}
	base := cs.views.Load()
	for i, name := range names {
		w, stop := e.svc.UntilRevoked(ctx, e.tokens[name])
		t.Cleanup(stop)
		watches[i] = w
	}
	// Each watch checks its token once, for a revocation before it began.
	waitFor(t, "the first checks", func() bool { return cs.views.Load() == base+n })

	ends := []struct {
		what string
		i    int
		end  func(name string) error
	}{
		{"revoked", 3, func(name string) error { _, err := e.svc.RevokeTokens(ctx, admin, name); return err }},
		{"released", 7, func(name string) error { _, err := e.svc.ReleaseName(ctx, admin, name); return err }},
		{"deregistered", 11, func(name string) error {
			c, err := e.svc.Authenticate(ctx, e.tokens[name])
			if err != nil {
				return err
			}
			return e.svc.Deregister(ctx, c)
		}},
	}
	for _, end := range ends {
		before := cs.views.Load()
		if err := end.end(names[end.i]); err != nil {
			t.Fatalf("%s: %v", end.what, err)
		}
		waitFor(t, names[end.i]+"'s watch to end", func() bool { return watches[end.i].Err() != nil })
		if looks := cs.views.Load() - before; looks > 3 {
			t.Errorf("%s %s: %d reads of the store for %d watches, want its own", end.what, names[end.i], looks, n)
		}
	}
	for i, w := range watches {
		if w.Err() != nil && i != 3 && i != 7 && i != 11 {
			t.Errorf("%s's watch ended with another agent", names[i])
		}
	}
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
