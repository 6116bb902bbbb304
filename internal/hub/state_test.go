package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

func rev(n int64) *int64 { return &n }

func TestStateCompareAndSwap(t *testing.T) {
	e := newEnv(t, hub.Options{})
	ctx := context.Background()
	alice := e.register("alice", "")

	if _, err := e.svc.GetState(ctx, alice, "deploy.status"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("get unset: %v", err)
	}
	// Expected revision 0: create only.
	v1, err := e.svc.SetState(ctx, alice, "deploy.status", hub.StateSetRequest{Value: json.RawMessage(`{"phase": "build"}`), ExpectedRevision: rev(0)})
	if err != nil || v1.Revision <= 0 || string(v1.Value) != `{"phase":"build"}` || v1.UpdatedBy != "alice" {
		t.Fatalf("create = %+v, %v", v1, err)
	}
	_, err = e.svc.SetState(ctx, alice, "deploy.status", hub.StateSetRequest{Value: json.RawMessage(`1`), ExpectedRevision: rev(0)})
	var rc *hub.RevisionConflictError
	if !errors.As(err, &rc) || rc.Current != v1.Revision || !errors.Is(err, hub.ErrConflict) {
		t.Fatalf("create twice: %v, want a conflict naming revision %d", err, v1.Revision)
	}
	v2, err := e.svc.SetState(ctx, alice, "deploy.status", hub.StateSetRequest{Value: json.RawMessage(`"test"`), ExpectedRevision: rev(v1.Revision)})
	if err != nil || v2.Revision <= v1.Revision {
		t.Fatalf("cas = %+v, %v", v2, err)
	}
	// Unconditional set.
	v3, err := e.svc.SetState(ctx, alice, "deploy.status", hub.StateSetRequest{Value: json.RawMessage(`null`)})
	if err != nil || v3.Revision <= v2.Revision || string(v3.Value) != "null" {
		t.Fatalf("set = %+v, %v", v3, err)
	}
	got, err := e.svc.GetState(ctx, alice, "deploy.status")
	if err != nil || got.Revision != v3.Revision {
		t.Fatalf("get = %+v, %v", got, err)
	}

	// Delete with a stale revision fails, with the right one succeeds.
	if _, err := e.svc.DeleteState(ctx, alice, "deploy.status", rev(v1.Revision)); !errors.Is(err, hub.ErrConflict) {
		t.Fatalf("stale delete: %v", err)
	}
	if _, err := e.svc.DeleteState(ctx, alice, "deploy.status", rev(v3.Revision)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteState(ctx, alice, "deploy.status", nil); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	// Revisions keep growing after a delete.
	v4, _ := e.svc.SetState(ctx, alice, "deploy.status", hub.StateSetRequest{Value: json.RawMessage(`1`)})
	if v4.Revision <= v3.Revision+1 {
		t.Fatalf("revision after delete = %d, want above %d", v4.Revision, v3.Revision+1)
	}
}

// TestStateConcurrentCAS has many writers swap on the same revision:
// exactly one wins, the others see the winner's revision.
func TestStateConcurrentCAS(t *testing.T) {
	e := newEnv(t, hub.Options{})
	ctx := context.Background()
	alice := e.register("alice", "")
	base, err := e.svc.SetState(ctx, alice, "counter", hub.StateSetRequest{Value: json.RawMessage(`0`)})
	if err != nil {
		t.Fatal(err)
	}
	const writers = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	var wins []hub.StateItem
	var conflicts []int64
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			it, err := e.svc.SetState(ctx, alice, "counter", hub.StateSetRequest{Value: json.RawMessage(fmt.Sprint(i + 1)), ExpectedRevision: rev(base.Revision)})
			mu.Lock()
			defer mu.Unlock()
			var rc *hub.RevisionConflictError
			switch {
			case err == nil:
				wins = append(wins, it)
			case errors.As(err, &rc):
				conflicts = append(conflicts, rc.Current)
			default:
				t.Errorf("set: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(wins) != 1 || len(conflicts) != writers-1 {
		t.Fatalf("%d wins, %d conflicts; want 1 and %d", len(wins), len(conflicts), writers-1)
	}
	for _, cur := range conflicts {
		if cur != wins[0].Revision {
			t.Fatalf("a loser saw revision %d, want the winner's %d", cur, wins[0].Revision)
		}
	}
	got, _ := e.svc.GetState(ctx, alice, "counter")
	if string(got.Value) != string(wins[0].Value) {
		t.Fatalf("value %s, want the winner's %s", got.Value, wins[0].Value)
	}
}

func TestStateListAndWatch(t *testing.T) {
	e := newEnv(t, hub.Options{})
	ctx := context.Background()
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	for _, k := range []string{"deploy.a", "deploy.b", "build.x"} {
		if _, err := e.svc.SetState(ctx, alice, k, hub.StateSetRequest{Value: json.RawMessage(`true`)}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := e.svc.ListState(ctx, alice, "deploy.", 0)
	if err != nil || len(items) != 2 || items[0].Key != "deploy.a" || items[1].Key != "deploy.b" {
		t.Fatalf("list deploy. = %+v, %v", items, err)
	}
	all, _ := e.svc.ListState(ctx, alice, "", 0)
	if len(all) != 3 {
		t.Fatalf("list all = %d items", len(all))
	}

	cur, _ := e.svc.GetState(ctx, alice, "deploy.a")
	// Already newer than 0: returns at once.
	if w, err := e.svc.WaitState(ctx, bob, "deploy.a", 0, 5*time.Minute); err != nil || !w.Changed || w.Revision != cur.Revision {
		t.Fatalf("watch after 0 = %+v, %v", w, err)
	}
	woke := make(chan hub.StateWatch, 1)
	go func() {
		w, err := e.svc.WaitState(ctx, bob, "deploy.a", cur.Revision, time.Minute)
		if err != nil {
			t.Errorf("watch: %v", err)
		}
		woke <- w
	}()
	waitUntil(t, func() bool { return waiters(e) > 0 })
	if _, err := e.svc.SetState(ctx, alice, "deploy.b", hub.StateSetRequest{Value: json.RawMessage(`1`)}); err != nil {
		t.Fatal(err)
	}
	next, _ := e.svc.SetState(ctx, alice, "deploy.a", hub.StateSetRequest{Value: json.RawMessage(`"go"`)})
	if w := <-woke; !w.Changed || w.Revision != next.Revision || string(w.Value) != `"go"` {
		t.Fatalf("woken with %+v, want revision %d", w, next.Revision)
	}
	// A delete is a change too.
	go func() {
		w, err := e.svc.WaitState(ctx, bob, "deploy.a", next.Revision, time.Minute)
		if err != nil {
			t.Errorf("watch: %v", err)
		}
		woke <- w
	}()
	waitUntil(t, func() bool { return waiters(e) > 0 })
	if _, err := e.svc.DeleteState(ctx, alice, "deploy.a", nil); err != nil {
		t.Fatal(err)
	}
	if w := <-woke; !w.Changed || w.Exists {
		t.Fatalf("woken by delete with %+v", w)
	}
}

func TestStateBadInput(t *testing.T) {
	e := newEnv(t, hub.Options{Coordination: hub.CoordinationOptions{MaxValue: 16}})
	ctx := context.Background()
	alice := e.register("alice", "")
	bad := []struct {
		name, key string
		req       hub.StateSetRequest
		code      hub.Code
	}{
		{"invalid key", "a/b", hub.StateSetRequest{Value: json.RawMessage(`1`)}, hub.CodeInvalidName},
		{"empty key", "", hub.StateSetRequest{Value: json.RawMessage(`1`)}, hub.CodeInvalidName},
		{"no value", "k", hub.StateSetRequest{}, hub.CodeInvalid},
		{"not JSON", "k", hub.StateSetRequest{Value: json.RawMessage(`{x`)}, hub.CodeInvalid},
		{"too large", "k", hub.StateSetRequest{Value: json.RawMessage(`"0123456789abcdef"`)}, hub.CodeTooLarge},
		{"negative revision", "k", hub.StateSetRequest{Value: json.RawMessage(`1`), ExpectedRevision: rev(-1)}, hub.CodeInvalid},
		{"stale revision", "k", hub.StateSetRequest{Value: json.RawMessage(`1`), ExpectedRevision: rev(7)}, hub.CodeConflict},
	}
	for _, b := range bad {
		if _, err := e.svc.SetState(ctx, alice, b.key, b.req); hub.ErrorCode(err) != b.code {
			t.Errorf("%s: %v, want %s", b.name, err, b.code)
		}
	}
	if _, err := e.svc.WaitState(ctx, alice, "k", -1, 0); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("negative after: %v", err)
	}
	if _, err := e.svc.ListState(ctx, alice, "Bad/Prefix", 0); !errors.Is(err, hub.ErrInvalidName) {
		t.Errorf("bad prefix: %v", err)
	}
	if items, _ := e.svc.ListState(ctx, alice, "", 0); len(items) != 0 {
		t.Fatalf("bad input stored %+v", items)
	}
}
