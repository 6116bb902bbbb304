package hubserver_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hubserver"
)

// A long poll parked off net/http (httpapi's park.go) still counts
// against the connection limit, as busy: making room for new
// connections never closes it, and it leaves the count when it ends.
func TestConnLimitCountsParkedWaits(t *testing.T) {
	h := start(t, hubserver.Config{MaxConns: 2})
	subs := h.Service().Bus().(interface{ Subscribers() int })
	base := subs.Subscribers()
	addr := strings.TrimPrefix(h.URL(), "http://")
	wait, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer wait.Close()
	fmt.Fprintf(wait, "GET /inbox/human/wait?timeout=1500 HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", addr, h.AdminSecret())
	for deadline := time.Now().Add(10 * time.Second); subs.Subscribers() == base; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the wait never parked")
		}
	}
	if n := h.OpenConns(); n != 1 {
		t.Fatalf("open connections with a parked wait: %d, want 1", n)
	}
	// Idle connections come and go; the limiter evicts them, not the wait.
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.ReadResponse(bufio.NewReader(wait), nil)
	if err != nil {
		t.Fatalf("the parked wait lost its connection: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Errorf("parked wait: %d, close %v", resp.StatusCode, resp.Close)
	}
	for deadline := time.Now().Add(10 * time.Second); h.OpenConns() > 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("open connections after the wait: %d, want at most the last idle one", h.OpenConns())
		}
	}
}
