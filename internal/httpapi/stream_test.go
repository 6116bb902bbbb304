package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/httpapi"
)

// rawStream is an event stream read straight off its connection.
type rawStream struct {
	conn net.Conn
	resp *http.Response
	body *bufio.Reader
}

// rawEvents opens GET path as name on a connection of its own and reads
// the response head and the first comment.
func (e *env) rawEvents(path, name string) *rawStream {
	e.t.Helper()
	host := strings.TrimPrefix(e.http.URL, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\n\r\n", path, host, e.authHeader(name))
	rs := &rawStream{conn: conn}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if rs.resp, err = http.ReadResponse(bufio.NewReader(conn), nil); err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	if rs.resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: status %d", path, rs.resp.StatusCode)
	}
	rs.body = bufio.NewReader(rs.resp.Body)
	if got := rs.until(e.t, "\n\n"); got != ": connected\n\n" {
		e.t.Fatalf("GET %s: first %q, want the connected comment", path, got)
	}
	return rs
}

// until reads up to and including the next occurrence of end.
func (rs *rawStream) until(tb testing.TB, end string) string {
	tb.Helper()
	_ = rs.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for !strings.HasSuffix(b.String(), end) {
		c, err := rs.body.ReadByte()
		if err != nil {
			tb.Fatalf("read stream after %q: %v", b.String(), err)
		}
		b.WriteByte(c)
	}
	return b.String()
}

// nextEvent reads up to the next event, past comments and presence
// events, and returns its lines.
func (rs *rawStream) nextEvent(tb testing.TB) string {
	tb.Helper()
	for {
		block := rs.until(tb, "\n\n")
		if strings.HasPrefix(block, "id: ") && !strings.Contains(block, "event: agent.") {
			return block
		}
	}
}

// TestParkedStreamsHoldNoGoroutine: agents following their event
// streams hold no goroutine on the hub while no event comes; events
// still reach each of them, and a stream whose client leaves ends,
// releasing its subscription and the agent's presence.
func TestParkedStreamsHoldNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("without epoll each parked stream keeps a goroutine reading its connection")
	}
	const n = 40
	e := newEnv(t, envOptions{})
	names := e.registerMany("s", "streaming", n)
	subs := e.bus.Subscribers()
	streams := make([]*rawStream, n)
	streams[0] = e.rawEvents("/events?kind=message", names[0])
	base := runtime.NumGoroutine() // the watcher runs from the first on
	for i := 1; i < n; i++ {
		streams[i] = e.rawEvents("/events?kind=message", names[i])
	}
	if got := e.server.Parked(); got != n {
		t.Fatalf("%d streams parked, want %d", got, n)
	}
	eventually(t, "parked streams to hold no goroutine", func() bool { return runtime.NumGoroutine() < base+n/4 })
	e.clock.Add(2 * e.svc.Options().PresenceTimeout)
	if online := e.svc.OnlineNames(); !slices.Contains(online, names[n-1]) {
		t.Fatalf("%s is not online while its stream is open: %v", names[n-1], online)
	}

	e.mustJSON(e.call("POST", "/messages", `{"to":"role:streaming","body":"to all streams"}`, "alice"), 201, nil)
	for i, rs := range streams {
		if ev := rs.nextEvent(t); !strings.Contains(ev, "event: message.sent") || !strings.Contains(ev, "to all streams") {
			t.Fatalf("stream %d: %q", i, ev)
		}
	}

	for _, rs := range streams {
		rs.conn.Close()
	}
	eventually(t, "the streams to end", func() bool { return e.server.Parked() == 0 })
	eventually(t, "their subscriptions to close", func() bool { return e.bus.Subscribers() == subs })
	e.clock.Add(2 * e.svc.Options().PresenceTimeout)
	if online := e.svc.OnlineNames(); slices.Contains(online, names[0]) {
		t.Errorf("%s is still online after its stream ended", names[0])
	}
}

// TestParkedStreamEndsOnShutdown: the hub's shutdown ends parked
// streams at once, whether their clients read or not, and closes their
// connections. (A write stuck on a client that does not read is ended
// too: TestInterruptEndsAStuckWrite.)
func TestParkedStreamEndsOnShutdown(t *testing.T) {
	e := newEnv(t, envOptions{})
	reading := e.rawEvents("/events", "bob")
	stalled := e.rawEvents("/events?kind=message", "carol") // never read
	for i := range 50 {
		e.mustJSON(e.call("POST", "/messages", fmt.Sprintf(`{"to":"carol","body":"unread %d"}`, i), "alice"), 201, nil)
	}
	start := time.Now()
	if err := e.server.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %s", d)
	}
	_ = reading.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, reading.body); err != nil {
		t.Errorf("bob's stream did not end cleanly: %v", err)
	}
	_ = stalled.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, stalled.conn); err != nil && !isReset(err) {
		t.Errorf("carol's stream did not end: %v", err)
	}
	if got := e.server.Parked(); got != 0 {
		t.Errorf("%d streams still parked after shutdown", got)
	}
}

// isReset reports whether err is the peer resetting the connection,
// which closing a socket with unread data does.
func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// TestParkedStreamLogsOnce: a parked stream writes one access line, when
// it ends, with the bytes of its events, and the waiter limit counts it
// until then.
func TestParkedStreamLogsOnce(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, envOptions{
		limits: httpapi.Limits{MaxWaiters: 1},
		logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	rs := e.rawEvents("/events?kind=message", "bob")
	if r := e.call("GET", "/inbox/bob/wait?timeout=0", "", "bob"); r.status != http.StatusTooManyRequests {
		t.Fatalf("a wait beside a stream with MaxWaiters 1: %d, want 429", r.status)
	}
	e.mustJSON(e.call("POST", "/messages", `{"to":"bob","body":"logged"}`, "alice"), 201, nil)
	rs.nextEvent(t)
	if strings.Contains(logs.String(), "path=/events") {
		t.Fatalf("an access line before the stream ended:\n%s", logs.String())
	}
	rs.conn.Close()
	eventually(t, "the stream to end", func() bool { return e.server.Parked() == 0 })
	eventually(t, "its access line", func() bool { return strings.Contains(logs.String(), "path=/events status=200") })
	if n := strings.Count(logs.String(), "path=/events "); n != 1 {
		t.Errorf("%d access lines for one stream:\n%s", n, logs.String())
	}
	eventually(t, "the waiter limit to let go", func() bool {
		return e.call("GET", "/inbox/bob/wait?timeout=0", "", "bob").status == http.StatusOK
	})
}
