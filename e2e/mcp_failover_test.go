//go:build unix

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hubPID returns the pid written in the data directory's lock file by
// the process that runs the hub, or 0.
func (e *mcpEnv) hubPID() int {
	b, err := os.ReadFile(filepath.Join(e.data, "lock"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// TestFailoverKill9 runs three `parley mcp` processes that share one data
// directory and one loopback port, as three agent sessions of one user
// do. It kills the one that runs the hub with SIGKILL while another keeps
// sending and a third waits: a surviving bridge takes over from the same
// store, the waiter's wait is retried and returns, every send that was
// acknowledged is delivered, and the killed session, started again,
// reclaims its name and its mail.
func TestFailoverKill9(t *testing.T) {
	e := newMCPEnv(t)
	agents := map[string]*mcpAgent{}
	for _, name := range []string{"north", "south", "west"} {
		agents[name] = e.start(name)
		agents[name].ok("whoami", nil) // registered before the next starts
	}
	var host *mcpAgent
	mcpEventually(t, "the lock names one of the bridges", func() bool {
		pid := e.hubPID()
		for _, a := range agents {
			if a.cmd.Process.Pid == pid {
				host = a
				return true
			}
		}
		return false
	})
	var survivors []*mcpAgent
	for _, a := range agents {
		if a != host {
			survivors = append(survivors, a)
		}
	}
	sender, waiter := survivors[0], survivors[1]
	t.Logf("%s (pid %d) runs the hub; %s sends, %s waits", host.name, host.cmd.Process.Pid, sender.name, waiter.name)
	if text := host.ok("hub_status", nil); !strings.Contains(text, "runs the hub") {
		t.Fatalf("hub_status of the hub's bridge: %q", text)
	}

	// Mail acknowledged before the crash, from the host and the sender.
	host.ok("send", map[string]any{"to": waiter.name, "body": "from the host before the crash"})
	host.ok("send", map[string]any{"to": host.name, "body": "note to self before the crash"})
	sender.ok("send", map[string]any{"to": host.name, "body": "for the host while it is away"})

	// The waiter reads what is there, then waits across the crash.
	if text := waiter.ok("read", nil); !strings.Contains(text, "from the host before the crash") {
		t.Fatalf("waiter's inbox before the crash: %q", text)
	}
	waited := make(chan string, 1)
	go func() {
		text, _, err := waiter.call("wait", map[string]any{"timeout_seconds": 45})
		if err != nil {
			text = "error: " + err.Error()
		}
		waited <- text
	}()

	// The sender keeps sending to the waiter through the crash; every send
	// that returned success is acknowledged and must arrive.
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			time.Sleep(10 * time.Millisecond)
			body := fmt.Sprintf("burst %d", i)
			text, isErr, err := sender.call("send", map[string]any{"to": waiter.name, "body": body})
			if err == nil && !isErr && strings.Contains(text, "Sent message") {
				mu.Lock()
				acked = append(acked, body)
				mu.Unlock()
			}
		}
	}()
	mcpEventually(t, "some sends are acknowledged before the crash", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 3
	})

	killed := time.Now()
	host.kill()
	mcpEventually(t, "a surviving bridge runs the hub", func() bool {
		pid := e.hubPID()
		return pid == sender.cmd.Process.Pid || pid == waiter.cmd.Process.Pid
	})
	t.Logf("takeover after %s", time.Since(killed).Round(time.Millisecond))
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	mcpEventually(t, "sends are acknowledged again after the takeover", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= before+3
	})
	close(stop)
	<-sending

	// The wait in flight was retried on the new hub and returned mail.
	select {
	case text := <-waited:
		if !strings.Contains(text, "burst") {
			t.Fatalf("the wait across the crash returned %q", text)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the wait in flight did not return after the takeover")
	}

	// Every acknowledged message reached the waiter, exactly once.
	seen := map[string]int{}
	for since := int64(0); ; {
		var page struct {
			Messages []struct {
				Body string `json:"body"`
			} `json:"messages"`
			More bool  `json:"more"`
			Next int64 `json:"next"`
		}
		waiter.structured("read", map[string]any{"since": since, "limit": 500}, &page)
		for _, m := range page.Messages {
			seen[m.Body]++
		}
		if !page.More {
			break
		}
		since = page.Next
	}
	mu.Lock()
	for _, body := range acked {
		if seen[body] != 1 {
			t.Errorf("acknowledged %q is in the waiter's inbox %d times, want once", body, seen[body])
		}
	}
	t.Logf("%d acknowledged sends, all delivered once", len(acked))
	mu.Unlock()

	// Both survivors keep working, with their names.
	for _, a := range survivors {
		if text := a.ok("whoami", nil); !strings.Contains(text, "You are "+a.name+" ") {
			t.Fatalf("whoami after failover: %q", text)
		}
	}
	waiter.ok("send", map[string]any{"to": sender.name, "body": "still here"})
	if text := sender.ok("wait", map[string]any{"timeout_seconds": 20}); !strings.Contains(text, "still here") {
		t.Fatalf("sender after failover: %q", text)
	}

	// The killed session starts again, as its client would restart it: it
	// reclaims its name with its stored token and finds its mail.
	back := e.start(host.name)
	if text := back.ok("whoami", nil); !strings.Contains(text, "You are "+host.name+" ") {
		t.Fatalf("restarted session: %q", text)
	}
	text := back.ok("read", map[string]any{"since": 0})
	for _, want := range []string{"note to self before the crash", "for the host while it is away"} {
		if !strings.Contains(text, want) {
			t.Fatalf("restarted session's inbox lacks %q: %q", want, text)
		}
	}
	mcpEventually(t, "all three are online", func() bool {
		peers := back.ok("peers", nil)
		return strings.Contains(peers, "north") && strings.Contains(peers, "south") && strings.Contains(peers, "west")
	})
}
