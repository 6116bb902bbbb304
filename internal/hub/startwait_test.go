package hub_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// StartWait answers at once when its first read is the answer, and
// otherwise hands back a ParkedWait that misses nothing sent between
// the read and Finish, and releases its subscription when it ends.
func TestStartWait(t *testing.T) {
	tests := []struct {
		name    string
		pending bool          // mail waits before StartWait
		timeout time.Duration // of the wait
		between bool          // mail is sent after StartWait, before Finish
		cancel  bool          // Finish's context is cancelled
		parked  bool          // StartWait returns a ParkedWait
		want    int           // messages Finish (or StartWait) returns
		wantErr error
	}{
		{name: "pending mail answers at once", pending: true, timeout: time.Minute, want: 1},
		{name: "timeout 0 answers at once", timeout: 0},
		{name: "mail sent before Finish is not missed", timeout: time.Minute, between: true, parked: true, want: 1},
		{name: "parked wait times out empty", timeout: 20 * time.Millisecond, parked: true},
		{name: "cancelled Finish", timeout: time.Minute, cancel: true, parked: true, wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, hub.Options{})
			alice, bob := e.register("alice", ""), e.register("bob", "")
			if tt.pending {
				e.send(alice, "early", "bob")
			}
			base := waiters(e)
			res, p, err := e.svc.StartWait(context.Background(), bob, hub.ReadOptions{}, tt.timeout)
			if err != nil {
				t.Fatalf("StartWait: %v", err)
			}
			if (p != nil) != tt.parked {
				t.Fatalf("parked = %v, want %v", p != nil, tt.parked)
			}
			if p != nil {
				if waiters(e) != base+1 {
					t.Fatalf("a parked wait holds %d subscriptions, want 1", waiters(e)-base)
				}
				if tt.between {
					e.send(alice, "between", "bob")
				}
				ctx, cancel := context.WithCancel(context.Background())
				if tt.cancel {
					cancel()
				}
				res, err = p.Finish(ctx)
				cancel()
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Finish: %v, want %v", err, tt.wantErr)
				}
			}
			if err == nil && (res.Messages == nil || len(res.Messages) != tt.want) {
				t.Fatalf("got %v messages, want %d (an empty list, not null)", res.Messages, tt.want)
			}
			if waiters(e) != base {
				t.Fatalf("%d subscriptions left after the wait", waiters(e)-base)
			}
		})
	}
}
