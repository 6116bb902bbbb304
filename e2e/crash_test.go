//go:build unix

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Bounds of the crash test: agents, sends per agent, and how many sends
// must be acknowledged before the kill.
const (
	crashAgents   = 6
	crashSends    = 400
	crashKillFrom = 150
)

// send is one message the crash test tried to send.
type send struct {
	key   string // idempotency key, also the body
	to    int    // recipient index
	acked bool   // the hub answered 201
}

// TestCrashKeepsAcknowledgedMessages registers agents and has them send
// to each other under load, SIGKILLs the hub in the middle, restarts it
// on the same data directory, and checks that every send answered 201
// reached its recipient exactly once. Sends whose answer was lost are
// retried with the same idempotency key and must also arrive once.
func TestCrashKeepsAcknowledgedMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	data := filepath.Join(t.TempDir(), "data")
	h := serve(t, data)
	admin := h.adminSecret()

	tokens := make([]string, crashAgents)
	for i := range tokens {
		var reg struct{ Token string }
		if _, err := do(ctx, "POST", h.url+"/peers/connect", admin, fmt.Sprintf(`{"name":"agent-%d"}`, i), &reg); err != nil {
			t.Fatal(err)
		}
		tokens[i] = reg.Token
	}

	var acked atomic.Int64
	sends := make([][]send, crashAgents)
	var wg sync.WaitGroup
	for i := range crashAgents {
		wg.Go(func() {
			for k := range crashSends {
				s := send{key: fmt.Sprintf("s%d-%d", i, k), to: (i + 1 + k%(crashAgents-1)) % crashAgents}
				body := fmt.Sprintf(`{"to":"agent-%d","body":%q}`, s.to, s.key)
				code, err := do(ctx, "POST", h.url+"/messages", tokens[i], body, nil, "Idempotency-Key", s.key)
				if err == nil && code == 201 {
					s.acked = true
					acked.Add(1)
				}
				sends[i] = append(sends[i], s)
				if err != nil {
					return // the hub is gone: this send's fate is unknown
				}
			}
		})
	}
	for acked.Load() < crashKillFrom {
		select {
		case <-ctx.Done():
			t.Fatalf("only %d sends acknowledged before the deadline", acked.Load())
		case <-time.After(time.Millisecond):
		}
	}
	h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.done
	wg.Wait()
	t.Logf("%d sends acknowledged before SIGKILL", acked.Load())

	h2 := serve(t, data)
	// Retry every send whose answer was lost, as a client would.
	retried := 0
	for i, ss := range sends {
		for j, s := range ss {
			if s.acked {
				continue
			}
			body := fmt.Sprintf(`{"to":"agent-%d","body":%q}`, s.to, s.key)
			if _, err := do(ctx, "POST", h2.url+"/messages", tokens[i], body, nil, "Idempotency-Key", s.key); err != nil {
				t.Fatalf("retry %s: %v", s.key, err)
			}
			sends[i][j].acked = true
			retried++
		}
	}
	t.Logf("%d sends retried after restart", retried)

	// Read every inbox from the start, page by page.
	got := map[string]int{}
	for i, tok := range tokens {
		since := int64(0)
		for {
			var page struct {
				Messages []struct {
					From string `json:"from"`
					Body string `json:"body"`
				} `json:"messages"`
				More bool  `json:"more"`
				Next int64 `json:"next"`
			}
			url := fmt.Sprintf("%s/inbox/agent-%d?since=%d&limit=500&peek=true", h2.url, i, since)
			if _, err := do(ctx, "GET", url, tok, "", &page); err != nil {
				t.Fatal(err)
			}
			for _, m := range page.Messages {
				if !strings.HasPrefix(m.Body, "s") {
					t.Errorf("agent-%d got an unexpected message %q", i, m.Body)
				}
				got[fmt.Sprintf("agent-%d<-%s", i, m.Body)]++
			}
			if !page.More {
				break
			}
			since = page.Next
		}
	}
	total := 0
	for _, ss := range sends {
		for _, s := range ss {
			total++
			if n := got[fmt.Sprintf("agent-%d<-%s", s.to, s.key)]; n != 1 {
				t.Errorf("%s to agent-%d arrived %d times, want once", s.key, s.to, n)
			}
		}
	}
	if len(got) != total {
		t.Errorf("inboxes hold %d distinct messages, %d were sent", len(got), total)
	}
}
