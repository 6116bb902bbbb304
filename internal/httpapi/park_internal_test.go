package httpapi

import (
	"context"
	"testing"
	"time"
)

// checkOnce is the hub's side of a parked wait whose check finds what
// found says; it counts its checks.
type checkOnce struct {
	found  bool
	checks int
}

func (c *checkOnce) Park(func()) time.Duration { return time.Minute }
func (c *checkOnce) End()                      {}
func (c *checkOnce) Check(context.Context) (bool, error) {
	c.checks++
	return c.found, nil
}

// TestSettleActsOnEveryKick: one step acts on every flag that is set. A
// kick that comes while arm holds the steps (the client sends more before
// the first step runs) is seen by that step only as its flag; a step that
// looked at the first flag alone left the wait parked until its timeout.
func TestSettleActsOnEveryKick(t *testing.T) {
	tests := []struct {
		name                    string
		woken, unread, timedOut bool
		found                   bool
		wantOver                bool
		wantChecks              int
	}{
		{name: "woken, nothing found", woken: true, wantChecks: 1},
		{name: "woken, found", woken: true, found: true, wantOver: true, wantChecks: 1},
		{name: "woken and the client sent more", woken: true, unread: true, wantOver: true, wantChecks: 1},
		{name: "woken and timed out", woken: true, timedOut: true, wantOver: true, wantChecks: 1},
		{name: "the client sent more", unread: true, wantOver: true},
		{name: "timed out", timedOut: true, wantOver: true},
		{name: "nothing", wantChecks: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &checkOnce{found: tt.found}
			p := &parkedWait{wait: w, body: func() any { return "answer" }, ctx: context.Background()}
			p.woken.Store(tt.woken)
			p.unread.Store(tt.unread)
			p.timedOut.Store(tt.timedOut)
			if over := p.settle(); over != tt.wantOver {
				t.Errorf("settle() = %v, want %v", over, tt.wantOver)
			}
			if w.checks != tt.wantChecks {
				t.Errorf("%d checks, want %d", w.checks, tt.wantChecks)
			}
			if tt.wantOver && p.res != "answer" {
				t.Errorf("answer %v, want the wait's body", p.res)
			}
		})
	}
}
