package hub_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// A waiter's subscription buffers one event: more events while it is
// parked or checking drop the subscription, and the waiter renews it and
// reads again. Whatever the burst, a parked wait returns the mail, and
// the mail a wait did not return is read afterwards, each message once.
func TestWaitMissesNothingInBursts(t *testing.T) {
	tests := []struct {
		name string
		// noise is how many messages bob himself sends while parked:
		// they wake his wait (he is their actor) but leave him no mail.
		noise int
		// mail is how many messages alice sends bob, concurrently.
		mail int
	}{
		{name: "one message", mail: 1},
		{name: "burst beyond the buffer", mail: 50},
		{name: "own sends before one message", noise: 20, mail: 1},
		{name: "own sends mixed with a burst", noise: 20, mail: 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, hub.Options{})
			alice := e.register("alice", "")
			bob := e.register("bob", "")
			e.register("carol", "")
			ctx := context.Background()

			done := make(chan hub.ReadResult, 1)
			go func() {
				r, err := e.svc.Wait(ctx, bob, hub.ReadOptions{}, time.Minute)
				if err != nil {
					t.Errorf("wait: %v", err)
				}
				done <- r
			}()
			waitUntil(t, func() bool { return waiters(e) > 0 })

			for i := range tt.noise {
				e.send(bob, fmt.Sprintf("noise %d", i), "carol")
			}
			select {
			case r := <-done:
				t.Fatalf("wait returned %v on bob's own sends", bodies(r.Messages))
			default:
			}
			var wg sync.WaitGroup
			for i := range tt.mail {
				wg.Go(func() { e.send(alice, fmt.Sprintf("m%d", i), "bob") })
			}
			var r hub.ReadResult
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the parked wait did not return")
			}
			wg.Wait()
			if len(r.Messages) == 0 {
				t.Fatal("woken with no mail")
			}
			seen := map[string]int{}
			for _, b := range bodies(r.Messages) {
				seen[b]++
			}
			for _, b := range bodies(e.read(bob, hub.ReadOptions{Limit: hub.MaxReadLimit}).Messages) {
				seen[b]++
			}
			if len(seen) != tt.mail {
				t.Fatalf("read %d distinct messages, want %d: %v", len(seen), tt.mail, seen)
			}
			for b, n := range seen {
				if n != 1 {
					t.Errorf("%q read %d times", b, n)
				}
			}
		})
	}
}

// A parked wait ends with the context, and at its timeout with no mail.
func TestWaitEndsWithContextOrTimeout(t *testing.T) {
	e := newEnv(t, hub.Options{})
	bob := e.register("bob", "")

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := e.svc.Wait(ctx, bob, hub.ReadOptions{}, time.Minute)
		errc <- err
	}()
	waitUntil(t, func() bool { return waiters(e) > 0 })
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled wait = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled wait did not return")
	}
	waitUntil(t, func() bool { return waiters(e) == 0 })

	start := time.Now()
	r, err := e.svc.Wait(context.Background(), bob, hub.ReadOptions{}, 30*time.Millisecond)
	if err != nil || len(r.Messages) != 0 || r.Messages == nil {
		t.Fatalf("timed-out wait = %v, %v; want an empty list", r.Messages, err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("wait returned after %s, before its timeout", d)
	}
}
