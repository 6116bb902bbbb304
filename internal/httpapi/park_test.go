package httpapi_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/httpapi"
	"github.com/parley-dev/parley/internal/hub"
)

// rawWait sends GET path as name on a connection of its own and returns
// the connection, once the wait is parked off net/http.
func (e *env) rawWait(path, name string) net.Conn {
	e.t.Helper()
	base := e.server.Parked()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.http.URL, "http://"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\n\r\n", path, strings.TrimPrefix(e.http.URL, "http://"), e.authHeader(name))
	eventually(e.t, "the wait to park", func() bool { return e.server.Parked() > base })
	return conn
}

// readRaw reads what the hub sends on conn until it closes the
// connection, as a parked wait does after its answer, and parses it as
// one response.
func readRaw(tb testing.TB, conn net.Conn) (resp *http.Response, body, raw string) {
	tb.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(conn)
	if err != nil {
		tb.Fatalf("read until close: %v", err)
	}
	br := bufio.NewReader(bytes.NewReader(b))
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		tb.Fatalf("read response: %v\n%s", err, b)
	}
	bb, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read body: %v", err)
	}
	if br.Buffered() > 0 {
		tb.Fatalf("more after the answer: %q", b)
	}
	return resp, string(bb), string(b)
}

// sameHeaders reports the differences between the headers of a parked
// answer and of the normal path's: only Date may differ, and the parked
// one says Connection: close.
func sameHeaders(parked *http.Response, raw string, normal http.Header) string {
	if !parked.Close || !strings.Contains(raw, "\r\nConnection: close\r\n") {
		return "the parked answer does not say Connection: close"
	}
	p, n := parked.Header.Clone(), normal.Clone()
	if p.Get("Date") == "" || n.Get("Date") == "" {
		return "a Date header is missing"
	}
	for _, h := range []http.Header{p, n} {
		h.Del("Date")
	}
	var pb, nb bytes.Buffer
	_ = p.Write(&pb)
	_ = n.Write(&nb)
	if pb.String() != nb.String() {
		return fmt.Sprintf("parked headers:\n%s\nnormal headers:\n%s", pb.String(), nb.String())
	}
	return ""
}

// A parked wait answers byte for byte what the normal path answers: the
// same status, headers (plus Connection: close) and JSON. The normal
// path answers a peek wait whose mail is already there, or a wait of
// timeout 0, without parking.
func TestParkedWaitAnswersAsTheNormalPath(t *testing.T) {
	tests := []struct {
		name   string
		parked string // the wait that parks
		normal string // the same answer, without parking
		send   bool   // alice sends bob mail once the wait is parked
	}{
		{name: "woken with mail", parked: "/inbox/bob/wait?peek=1&timeout=10000", normal: "/inbox/bob/wait?peek=1&timeout=10000", send: true},
		{name: "woken with mail, previews", parked: "/inbox/bob/wait?peek=1&preview=3&timeout=10000", normal: "/inbox/bob/wait?peek=1&preview=3&timeout=10000", send: true},
		{name: "timed out", parked: "/inbox/bob/wait?timeout=1500", normal: "/inbox/bob/wait?timeout=0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			e.call("GET", "/inbox/bob", "", "bob") // read alice's first message
			conn := e.rawWait(tt.parked, "bob")
			if tt.send {
				e.call("POST", "/messages", `{"to":"bob","body":"while parked"}`, "alice")
			}
			resp, body, raw := readRaw(t, conn)
			normal := e.call("GET", tt.normal, "", "bob")
			if resp.StatusCode != http.StatusOK || normal.status != http.StatusOK {
				t.Fatalf("status %d (normal %d): %s", resp.StatusCode, normal.status, body)
			}
			if body != normal.body {
				t.Errorf("parked body:\n%s\nnormal body:\n%s", body, normal.body)
			}
			if diff := sameHeaders(resp, raw, normal.header); diff != "" {
				t.Error(diff)
			}
			if !strings.HasPrefix(raw, "HTTP/1.1 200 OK\r\n") {
				t.Errorf("status line of %q", raw)
			}
		})
	}
}

// The hub's shutdown ends parked waits at once, as it ends waits that
// net/http holds: 503 "request canceled", subscription released.
func TestShutdownEndsParkedWaits(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.call("GET", "/inbox/bob", "", "bob")
	base := e.bus.Subscribers()
	conns := []net.Conn{e.rawWait("/inbox/bob/wait?timeout=600000", "bob"), e.rawWait("/inbox/carol/wait?timeout=600000", "carol")}
	start := time.Now()
	if err := e.server.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for _, conn := range conns {
		// A wait caught between its first read and parking finishes on
		// net/http's goroutine, which keeps the connection: read one
		// answer, not until the connection closes.
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("after shutdown: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"code":"unavailable"`) {
			t.Errorf("after shutdown: %d %s", resp.StatusCode, body)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %s", d)
	}
	if n := e.bus.Subscribers(); n != base {
		t.Errorf("%d subscriptions left after shutdown", n-base)
	}
	// A wait that comes later is not parked, and ends at once.
	r := e.call("GET", "/inbox/bob/wait?timeout=600000", "", "bob")
	if code, _ := errorOf(t, r); r.status != http.StatusServiceUnavailable || code != "unavailable" {
		t.Errorf("wait after shutdown: %d %s", r.status, r.body)
	}
}

// A client that leaves while parked ends its wait: the subscription
// closes, the agent's presence is released and the waiter limit frees
// its place.
func TestParkedClientLeaves(t *testing.T) {
	e := newEnv(t, envOptions{limits: httpapi.Limits{MaxWaiters: 1}})
	timeout := e.svc.Options().PresenceTimeout
	e.call("GET", "/inbox/bob", "", "bob")
	base := e.bus.Subscribers()
	conn := e.rawWait("/inbox/bob/wait?timeout=600000", "bob")
	if r := e.call("GET", "/inbox/bob/wait?timeout=0", "", "bob"); r.status != http.StatusTooManyRequests {
		t.Fatalf("a second wait with MaxWaiters 1: %d, want 429", r.status)
	}
	e.clock.Add(2 * timeout)
	if !slices.Contains(e.svc.OnlineNames(), "bob") {
		t.Fatal("bob is not online while parked")
	}
	conn.Close()
	eventually(t, "the subscription to close", func() bool { return e.bus.Subscribers() == base })
	e.clock.Add(2 * timeout)
	if slices.Contains(e.svc.OnlineNames(), "bob") {
		t.Error("bob is still online after leaving")
	}
	eventually(t, "the waiter limit to let go", func() bool {
		return e.call("GET", "/inbox/bob/wait?timeout=0", "", "bob").status == http.StatusOK
	})
}

// The Go client waits again and again, each wait parked and answered on
// a connection of its own, under a waiter limit of one: the limit lets
// go of each wait before its answer reaches the client. Each parked
// wait logs one access line, when it ends.
func TestClientWaitsAcrossParkedWaits(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, envOptions{
		limits: httpapi.Limits{MaxWaiters: 1},
		logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	e.call("GET", "/inbox/bob", "", "bob")
	c, err := client.New(e.http.URL, client.Options{Token: e.tokens["bob"], As: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 30
	for i := range rounds {
		eventually(t, "the last wait to end", func() bool { return e.server.Parked() == 0 })
		base := e.server.Parked()
		got := make(chan error, 1)
		go func() {
			res, err := c.Wait(context.Background(), hub.ReadOptions{}, 10*time.Second)
			if err == nil && (len(res.Messages) != 1 || res.Messages[0].Body != fmt.Sprint("round ", i)) {
				err = fmt.Errorf("got %+v", res.Messages)
			}
			got <- err
		}()
		eventually(t, "the wait to park", func() bool { return e.server.Parked() > base })
		e.call("POST", "/messages", fmt.Sprintf(`{"to":"bob","body":"round %d"}`, i), "alice")
		if err := <-got; err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	lines := strings.Count(logs.String(), "path=/inbox/bob/wait status=200")
	if lines != rounds {
		t.Errorf("%d access lines for the waits, want %d:\n%s", lines, rounds, logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Where the connection cannot be taken from net/http (HTTP/2, or a
// ResponseWriter that cannot hijack), the wait parks on net/http's
// goroutine as before and the connection stays open.
func TestWaitFallsBackWithoutHijack(t *testing.T) {
	tests := []struct {
		name  string
		serve func(h http.Handler) *httptest.Server
		proto string
	}{
		{name: "HTTP/2", proto: "HTTP/2.0", serve: func(h http.Handler) *httptest.Server {
			s := httptest.NewUnstartedServer(h)
			s.EnableHTTP2 = true
			s.StartTLS()
			return s
		}},
		{name: "no Hijacker", proto: "HTTP/1.1", serve: func(h http.Handler) *httptest.Server {
			return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.ServeHTTP(struct{ http.ResponseWriter }{w}, r)
			}))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			e.call("GET", "/inbox/bob", "", "bob")
			hs := tt.serve(e.server.Handler())
			defer hs.Close()
			hc := hs.Client()
			base := e.bus.Subscribers()
			type answer struct {
				resp *http.Response
				body string
				err  error
			}
			got := make(chan answer, 1)
			go func() {
				req, _ := http.NewRequest("GET", hs.URL+"/inbox/bob/wait?timeout=10000", nil)
				req.Header.Set("Authorization", e.authHeader("bob"))
				resp, err := hc.Do(req)
				if err != nil {
					got <- answer{err: err}
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				got <- answer{resp, string(b), err}
			}()
			eventually(t, "the wait to park", func() bool { return e.bus.Subscribers() > base })
			e.call("POST", "/messages", `{"to":"bob","body":"no hijack"}`, "alice")
			a := <-got
			if a.err != nil {
				t.Fatal(a.err)
			}
			if a.resp.StatusCode != http.StatusOK || !strings.Contains(a.body, "no hijack") {
				t.Fatalf("%d %s", a.resp.StatusCode, a.body)
			}
			if a.resp.Proto != tt.proto || a.resp.Close {
				t.Errorf("proto %s, close %v; want %s, kept open", a.resp.Proto, a.resp.Close, tt.proto)
			}
		})
	}
}

// TestQuickWaitStaysOnItsConnection: a wait answered within the grace
// before parking is answered by net/http on its keep-alive connection,
// and the next request reuses it.
func TestQuickWaitStaysOnItsConnection(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.call("GET", "/inbox/bob", "", "bob") // read alice's first message
	client := e.http.Client()
	// The wait is handed its message when the send commits, before the
	// send's own answer (after the sync): the test must not end, and
	// close the connections, under a send still running.
	var senders sync.WaitGroup
	defer senders.Wait()
	senders.Go(func() {
		time.Sleep(20 * time.Millisecond)
		e.call("POST", "/messages", `{"to":"bob","body":"quick"}`, "alice")
	})
	var reused []bool
	for i := range 2 {
		req, _ := http.NewRequest("GET", e.http.URL+"/inbox/bob/wait?timeout=10000", nil)
		req.Header.Set("Authorization", e.authHeader("bob"))
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = append(reused, info.Reused) }}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		if i == 1 {
			senders.Go(func() {
				time.Sleep(20 * time.Millisecond)
				e.call("POST", "/messages", `{"to":"bob","body":"again"}`, "alice")
			})
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("wait %d: status %d, close %v; want 200 on a kept connection", i, resp.StatusCode, resp.Close)
		}
	}
	if e.server.Parked() != 0 || len(reused) != 2 || !reused[1] {
		t.Errorf("parked %d, connections reused %v; want none parked and the second wait on the first's connection", e.server.Parked(), reused)
	}
}

// A wait that finds crowdedGrace others in their grace period parks at
// once: mail that comes right after its first read is answered from the
// parked wait, with Connection: close, where an uncrowded wait would
// answer on its kept connection (TestQuickWaitStaysOnItsConnection).
func TestCrowdedWaitParksAtOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.server.SetCrowdedGrace(0)
	e.call("GET", "/inbox/bob", "", "bob") // read alice's first message
	done := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest("GET", e.http.URL+"/inbox/bob/wait?timeout=10000", nil)
		req.Header.Set("Authorization", e.authHeader("bob"))
		resp, err := e.http.Client().Do(req)
		if err != nil {
			t.Error(err)
			done <- nil
			return
		}
		done <- resp
	}()
	// Parked, not only subscribed: a send between the subscription and
	// the first read would be found by that read, on net/http's goroutine.
	eventually(t, "the wait to park", func() bool { return e.server.Parked() > 0 })
	e.call("POST", "/messages", `{"to":"bob","body":"right away"}`, "alice")
	resp := <-done
	if resp == nil {
		return
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !resp.Close || !strings.Contains(string(b), "right away") {
		t.Fatalf("crowded wait: %d close=%v %s; want the message from a parked wait", resp.StatusCode, resp.Close, b)
	}
}

// TestParkedWaitAnswersWhenTheClientSendsMore: a client that sends more
// on a parked wait's connection (a pipelined request) gets the wait's
// answer at once, an empty inbox, and the connection closed; nothing of
// its mail is lost, it is read by the next wait.
func TestParkedWaitAnswersWhenTheClientSendsMore(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.call("GET", "/inbox/bob", "", "bob") // read alice's first message
	conn := e.rawWait("/inbox/bob/wait?timeout=600000", "bob")
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body, _ := readRaw(t, conn)
	if resp.StatusCode != http.StatusOK || !resp.Close || !strings.Contains(body, `"messages":[]`) {
		t.Fatalf("answer to a parked wait whose client sent more: %d close=%v %s", resp.StatusCode, resp.Close, body)
	}
	e.call("POST", "/messages", `{"to":"bob","body":"after"}`, "alice")
	var res hub.ReadResult
	e.mustJSON(e.call("GET", "/inbox/bob/wait?timeout=1000", "", "bob"), http.StatusOK, &res)
	if len(res.Messages) != 1 || res.Messages[0].Body != "after" {
		t.Errorf("the next wait: %+v, want the message sent after", res.Messages)
	}
}

// On Linux a parked wait holds no goroutine: one epoll goroutine watches
// every parked connection, and a wake runs a short-lived one. Then a
// message wakes them all and each answers.
func TestParkedWaitsHoldNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("without epoll each parked wait keeps a goroutine reading its connection")
	}
	const n = 40
	e := newEnv(t, envOptions{})
	names := e.registerMany("w", "parked", n)
	conns := make([]net.Conn, n)
	conns[0] = e.rawWait("/inbox/"+names[0]+"/wait?timeout=600000", names[0])
	base := runtime.NumGoroutine() // the watcher runs from the first wait on
	host := strings.TrimPrefix(e.http.URL, "http://")
	for i := 1; i < n; i++ { // all at once: each parks after 250 ms
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "GET /inbox/%s/wait?timeout=600000 HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\n\r\n", names[i], host, e.authHeader(names[i]))
		conns[i] = conn
	}
	eventually(t, "every wait to park", func() bool { return e.server.Parked() == n })
	// net/http's goroutines of the requests before they parked may take a
	// moment to end.
	eventually(t, "parked waits to hold no goroutine", func() bool { return runtime.NumGoroutine() < base+n/4 })
	e.call("POST", "/messages", `{"to":"role:parked","body":"wake up"}`, "alice")
	for i, conn := range conns {
		resp, body, _ := readRaw(t, conn)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "wake up") {
			t.Fatalf("wait %d: %d %s", i, resp.StatusCode, body)
		}
	}
}

// Every long poll parks off net/http, not only the inbox's: a command
// wait, a wait for a command's result, a channel wait, a signal wait, a
// state watch and a proposal wait each park when nothing comes in time,
// and answer what the same request answers on net/http once their event
// has come.
func TestCoordinationWaitsPark(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(e *env)
		who    string
		wait   string // the request that parks
		event  func(e *env)
		normal string // the same answer without parking: "" asks wait again, "-" skips
		want   string // in the answer
	}{
		{name: "command", who: "bob", wait: "/commands/bob/wait?timeout=600000",
			event: func(e *env) {
				e.mustJSON(e.call("POST", "/commands/send", `{"target":"bob","action":"build"}`, "alice"), 201, nil)
			},
			normal: "-", want: `"action":"build"`},
		{name: "command result", who: "alice", wait: "/commands/1/result?timeout=600000",
			setup: func(e *env) {
				e.mustJSON(e.call("POST", "/commands/send", `{"target":"bob","action":"build"}`, "alice"), 201, nil)
				e.mustJSON(e.call("GET", "/commands/bob/wait?timeout=0", "", "bob"), 200, nil)
			},
			event: func(e *env) {
				e.mustJSON(e.call("POST", "/commands/1/ack", `{"result":{"built":true}}`, "bob"), 200, nil)
			},
			normal: "/commands/1/result", want: `"built":true`},
		{name: "channel", who: "bob", wait: "/channels/results/wait?since=0&timeout=600000",
			event: func(e *env) {
				e.mustJSON(e.call("POST", "/channels/results/send", `{"ok":true}`, "alice"), 201, nil)
			},
			want: `"ok":true`},
		{name: "signal", who: "bob", wait: "/signals/ready/wait?timeout=600000",
			event: func(e *env) {
				e.mustJSON(e.call("POST", "/signals/ready", `{"data":{"port":7400}}`, "alice"), 200, nil)
			},
			want: `"emitted":true`},
		{name: "state", who: "bob", wait: "/state/phase/wait?after=0&timeout=600000",
			event: func(e *env) {
				e.mustJSON(e.call("PUT", "/state/phase", `{"value":"build"}`, "alice"), 200, nil)
			},
			want: `"changed":true`},
		{name: "proposal", who: "alice", wait: "/proposals/1/wait?timeout=600000",
			event: func(e *env) {
				e.mustJSON(e.call("POST", "/proposals/1/vote", `{"choice":"approve"}`, "bob"), 200, nil)
			},
			want: `"status":"decided"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			e.mustJSON(e.call("POST", "/proposals", `{"question":"Ship?","voters":"bob","deadline":"1h"}`, "alice"), 201, nil)
			if tt.setup != nil {
				tt.setup(e)
			}
			conn := e.rawWait(tt.wait, tt.who)
			tt.event(e)
			resp, body, raw := readRaw(t, conn)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, tt.want) {
				t.Fatalf("parked answer %d: %s", resp.StatusCode, body)
			}
			if tt.normal == "-" {
				return // a second wait would claim another command
			}
			normal := e.call("GET", cmp.Or(tt.normal, tt.wait), "", tt.who)
			if body != normal.body {
				t.Errorf("parked body:\n%s\nnormal body:\n%s", body, normal.body)
			}
			if diff := sameHeaders(resp, raw, normal.header); diff != "" {
				t.Error(diff)
			}
			eventually(t, "the parked wait to end", func() bool { return e.server.Parked() == 0 })
		})
	}
}

// A parked command wait that times out answers as a wait of timeout 0
// with no command does: timed out, no command.
func TestParkedCommandWaitTimesOut(t *testing.T) {
	e := newEnv(t, envOptions{})
	conn := e.rawWait("/commands/bob/wait?timeout=1500", "bob")
	resp, body, _ := readRaw(t, conn)
	normal := e.call("GET", "/commands/bob/wait?timeout=0", "", "bob")
	if resp.StatusCode != http.StatusOK || body != normal.body || !strings.Contains(body, `"timed_out":true`) {
		t.Fatalf("parked %d %s; normal %d %s", resp.StatusCode, body, normal.status, normal.body)
	}
}
