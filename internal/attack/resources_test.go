package attack_test

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/hubserver"
)

// TestOversizedAndDeeplyNestedJSON: bodies over the limit get 413 and
// the limit named; JSON nested 100,000 deep is refused at once in one
// linear pass (no stack blowup), in every decoder; the hub stays up.
func TestOversizedAndDeeplyNestedJSON(t *testing.T) {
	e := start(t, nil)
	alice := e.register("alice")
	e.register("bob")
	before := e.state()
	huge := fmt.Sprintf(`{"to":"bob","body":%q}`, strings.Repeat("x", 5<<20))
	a := e.do("POST", "/messages", huge, alice)
	refused(t, "5 MiB send", a, http.StatusRequestEntityTooLarge, hub.CodeTooLarge)
	if !strings.Contains(a.msg, "limit") {
		t.Errorf("413 message %q does not name the limit", a.msg)
	}
	refused(t, "5 MiB channel post", e.do("POST", "/channels/c/send", strings.Repeat("[", 5<<20), alice), http.StatusRequestEntityTooLarge, hub.CodeTooLarge)

	const depth = 100_000
	arrays := strings.Repeat("[", depth) + strings.Repeat("]", depth)
	objects := strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
	for _, tc := range []struct{ name, method, path, body string }{
		{"nested arrays as a send", "POST", "/messages", arrays},
		{"nested arrays in an attachment", "POST", "/messages", `{"to":"bob","body":"x","attachments":[{"kind":"data","content":"c","x":` + arrays + `}]}`},
		{"nested objects as a send", "POST", "/messages", objects},
		{"nested arrays in params", "POST", "/commands/send", `{"target":"bob","action":"a","params":` + arrays + `}`},
		{"nested arrays as a channel post", "POST", "/channels/c/send", arrays},
		{"nested objects as a channel post", "POST", "/channels/c/send", objects},
		{"nested arrays as state", "PUT", "/state/k", `{"value":` + arrays + `}`},
		{"nested arrays as signal data", "POST", "/signals/s", `{"data":` + arrays + `}`},
		{"101 levels as a channel post", "POST", "/channels/c/send", strings.Repeat("[", 101) + strings.Repeat("]", 101)},
	} {
		refused(t, tc.name, e.do(tc.method, tc.path, tc.body, alice), http.StatusBadRequest, hub.CodeInvalid)
	}
	e.unchanged("oversized and nested bodies", before)
	okay(t, "100 levels are fine", e.do("POST", "/channels/c/send", strings.Repeat("[", 100)+strings.Repeat("]", 100), alice), nil)
	// A request header over the limit is refused before any handler.
	conn, err := net.Dial("tcp", e.host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\nX-Big: %s\r\n\r\n", e.host, strings.Repeat("h", 128<<10))
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 431 ") {
		t.Errorf("128 KiB header: %q, want 431", line)
	}
}

// TestPathTraversalNeverTouchesFiles: names of channels, signals, state
// keys, agents and dashboard assets with ../ are refused as names (or not
// found); nothing is created or read outside, or inside, the data
// directory.
func TestPathTraversalNeverTouchesFiles(t *testing.T) {
	e := start(t, nil)
	alice := e.register("alice")
	files := func() []string {
		var out []string
		filepath.WalkDir(filepath.Dir(e.dir), func(p string, d fs.DirEntry, err error) error {
			if err == nil {
				out = append(out, p)
			}
			return nil
		})
		slices.Sort(out)
		return out
	}
	beforeFiles := files()
	before := e.state()
	for _, name := range []string{"..%2F..%2Fetc%2Fpasswd", "..%2Fparley.db", "a%2Fb", "..", "%2E%2E", "%2e%2e%2fadmin.secret", "x%00y"} {
		for _, tc := range []struct{ method, path, body string }{
			{"POST", "/channels/" + name + "/send", `{"x":1}`},
			{"GET", "/channels/" + name + "/messages", ""},
			{"POST", "/signals/" + name, `{}`},
			{"GET", "/signals/" + name, ""},
			{"DELETE", "/signals/" + name, ""},
			{"PUT", "/state/" + name, `{"value":1}`},
			{"GET", "/state/" + name, ""},
			{"DELETE", "/state/" + name, ""},
			{"GET", "/peers/" + name, ""},
			{"GET", "/inbox/" + name, ""},
			{"GET", "/commands/" + name, ""},
		} {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			a := e.do(tc.method, tc.path, body, alice)
			switch {
			case a.status == http.StatusBadRequest && a.code == string(hub.CodeInvalidName):
			case a.status == http.StatusBadRequest && a.code == string(hub.CodeInvalid):
			case a.status == http.StatusNotFound || a.status == http.StatusMethodNotAllowed ||
				a.status == http.StatusMovedPermanently || a.status == http.StatusForbidden:
				// The mux cleaned the path to another route, or none.
			default:
				t.Errorf("%s %s: %s; want a refusal", tc.method, tc.path, a)
			}
		}
	}
	for _, p := range []string{"/dashboard/assets/..%2F..%2Fgo.mod", "/dashboard/assets/%2e%2e/%2e%2e/admin.secret", "/dashboard/assets/../web.go"} {
		a := e.do("GET", p, nil, "")
		if a.status == http.StatusOK {
			t.Errorf("GET %s: 200 %s", p, truncate(string(a.body), 100))
		}
	}
	e.unchanged("path traversal", before)
	if after := files(); !slices.Equal(after, beforeFiles) {
		t.Errorf("files changed:\nbefore %v\nafter  %v", beforeFiles, after)
	}
}

// TestSlowloris: a client that never finishes its request headers, even
// one that keeps trickling bytes, is cut off by the hub after
// ReadHeaderTimeout without an answer, while the hub serves others.
func TestSlowloris(t *testing.T) {
	e := start(t, func(c *hubserver.Config) { c.ReadHeaderTimeout = 300 * time.Millisecond })
	for _, trickle := range []bool{false, true} {
		conn, err := net.Dial("tcp", e.host)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: "+e.host+"\r\n"); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wrote sync.WaitGroup
		if trickle {
			// One header byte every 20 ms, for as long as the hub listens;
			// the headers never end.
			wrote.Go(func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
					if _, err := conn.Write([]byte("X")); err != nil {
						return
					}
				}
			})
		}
		// Meanwhile an honest client is served.
		okay(t, "healthz during slowloris", e.do("GET", "/healthz", nil, ""), nil)
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // a bound, not the expectation
		// The hub closes the connection: silently, or after a 400 for
		// the headers it could not finish (Go's server does that when
		// bytes arrived), never with a served request.
		got, err := io.ReadAll(conn)
		close(stop)
		wrote.Wait()
		conn.Close()
		if err != nil {
			t.Fatalf("slowloris (trickle %v): %v after %q; want the hub to close the connection", trickle, err, got)
		}
		if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 400 ") {
			t.Fatalf("slowloris (trickle %v): the hub answered %q", trickle, got)
		}
	}
	okay(t, "healthz after", e.do("GET", "/healthz", nil, ""), nil)
}

// TestThousandsOfIdleConnections: 2,000 connections that send nothing
// cannot crowd the hub out: it keeps at most MaxConns, closing the oldest
// idle ones to make room, so a normal request still succeeds, and
// connections busy with a long-poll are never the ones closed.
func TestThousandsOfIdleConnections(t *testing.T) {
	const maxConns, idle, busy = 200, 2000, 5
	e := start(t, func(c *hubserver.Config) { c.MaxConns = maxConns })
	tokens := make([]string, busy)
	for i := range tokens {
		tokens[i] = e.register(fmt.Sprintf("waiter%d", i))
	}
	sender := e.register("sender")

	// Busy connections: long-polls parked before the flood.
	results := make(chan int, busy)
	for i, tok := range tokens {
		go func() {
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/inbox/waiter%d/wait?timeout=30000", e.url, i), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
			if err != nil {
				results <- -1
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			results <- resp.StatusCode
		}()
	}
	eventually(t, "the long-polls are parked", func() bool { return waitingOn(e) >= busy })

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range idle {
		c, err := net.Dial("tcp", e.host)
		if err != nil {
			t.Fatalf("dial after %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	eventually(t, "the hub holds at most MaxConns", func() bool { return e.h.OpenConns() <= maxConns })
	okay(t, "a normal request", e.do("GET", "/healthz", nil, ""), nil)
	if n := e.h.OpenConns(); n > maxConns {
		t.Errorf("hub holds %d connections, want at most %d", n, maxConns)
	}
	// The parked long-polls survived the flood: wake them all.
	for i := range busy {
		okay(t, "wake", e.do("POST", "/messages", fmt.Sprintf(`{"to":"waiter%d","body":"wake"}`, i), sender), nil)
	}
	for range busy {
		select {
		case st := <-results:
			if st != http.StatusOK {
				t.Errorf("a long-poll ended with %d, want 200", st)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a long-poll did not return")
		}
	}
}

// waitingOn counts the hub's parked waiters, from its bus.
func waitingOn(e *env) int {
	if c, ok := e.h.Service().Bus().(interface{ Subscribers() int }); ok {
		return c.Subscribers()
	}
	return 0
}

// flood sends requests made by next until one is answered 429, at most
// limit times, and returns the 2xx count and the 429.
func flood(t *testing.T, limit int, next func(i int) answer) (accepted int, limited answer) {
	t.Helper()
	for i := range limit {
		a := next(i)
		switch {
		case a.status/100 == 2:
			accepted++
		case a.status == http.StatusTooManyRequests:
			return accepted, a
		default:
			t.Fatalf("flood request %d: %s", i, a)
		}
	}
	t.Fatalf("%d requests, none limited", limit)
	return 0, answer{}
}

func checkLimited(t *testing.T, what string, a answer) {
	t.Helper()
	refused(t, what, a, http.StatusTooManyRequests, hub.CodeRateLimited)
	if s, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("%s: Retry-After %q, want whole seconds", what, a.header.Get("Retry-After"))
	}
}

// TestRequestFlood: an agent that floods is answered 429 with
// Retry-After; other agents are not; and the flooder can still read its
// own mail.
func TestRequestFlood(t *testing.T) {
	e := start(t, func(c *hubserver.Config) { c.RateLimit, c.RateBurst = 20, 20 })
	flooder := e.register("flooder")
	calm := e.register("calm")
	okay(t, "mail for the flooder", e.do("POST", "/messages", `{"to":"flooder","body":"read me"}`, calm), nil)
	n, limited := flood(t, 2000, func(int) answer { return e.do("GET", "/whoami", nil, flooder) })
	checkLimited(t, "flood", limited)
	if n < 20 {
		t.Errorf("limited after %d requests, want the burst of 20 first", n)
	}
	okay(t, "another agent", e.do("GET", "/whoami", nil, calm), nil)
	var r hub.ReadResult
	okay(t, "the flooder reads its mail", e.do("GET", "/inbox/flooder", nil, flooder), &r)
	if len(r.Messages) != 1 {
		t.Errorf("flooder's inbox %+v", r.Messages)
	}
}

// TestRegistrationFlood: registrations with a secret are limited like any
// request; exactly the accepted ones exist afterwards.
func TestRegistrationFlood(t *testing.T) {
	e := start(t, func(c *hubserver.Config) { c.RateLimit, c.RateBurst = 20, 20 })
	before := e.state()
	n, limited := flood(t, 2000, func(i int) answer {
		return e.do("POST", "/peers/connect", fmt.Sprintf(`{"name":"flood%d"}`, i), e.admin)
	})
	checkLimited(t, "registration flood", limited)
	after := e.state()
	if got := len(after.agents) - len(before.agents); got != n {
		t.Errorf("%d registrations accepted, %d agents added", n, got)
	}
	for _, a := range after.agents {
		if strings.HasPrefix(a, fmt.Sprintf("flood%d ", n)) {
			t.Errorf("the refused registration flood%d exists", n)
		}
	}
}

// TestBroadcastFlood: broadcasts are limited like other sends, and each
// accepted broadcast reaches every agent exactly once; none is half
// delivered.
func TestBroadcastFlood(t *testing.T) {
	e := start(t, func(c *hubserver.Config) { c.RateLimit, c.RateBurst = 20, 20 })
	flooder := e.register("flooder")
	readers := map[string]string{}
	for _, name := range []string{"r1", "r2", "r3"} {
		readers[name] = e.register(name)
	}
	n, limited := flood(t, 2000, func(i int) answer {
		return e.do("POST", "/messages", fmt.Sprintf(`{"to":"*","body":"flood %d"}`, i), flooder)
	})
	checkLimited(t, "broadcast flood", limited)
	for name, tok := range readers {
		var r hub.ReadResult
		okay(t, name+" reads", e.do("GET", "/inbox/"+name+"?limit=500", nil, tok), &r)
		if len(r.Messages) != n {
			t.Errorf("%s got %d broadcasts, want %d", name, len(r.Messages), n)
		}
	}
}

// TestTooManyWaiters: one agent may hold MaxWaiters long-polls; the next
// is refused with 429 while others' waits still work.
func TestTooManyWaiters(t *testing.T) {
	const maxWaiters = 4
	e := start(t, func(c *hubserver.Config) { c.MaxWaiters = maxWaiters })
	greedy := e.register("greedy")
	other := e.register("other")
	done := make(chan int, maxWaiters)
	for range maxWaiters {
		go func() {
			// peek: one message wakes every wait, none takes it from the others.
			req, _ := http.NewRequest("GET", e.url+"/inbox/greedy/wait?timeout=30000&peek=true", nil)
			req.Header.Set("Authorization", "Bearer "+greedy)
			resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
			if err != nil {
				done <- -1
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			done <- resp.StatusCode
		}()
	}
	eventually(t, "the waits are parked", func() bool { return waitingOn(e) >= maxWaiters })
	a := e.do("GET", "/inbox/greedy/wait?timeout=0", nil, greedy)
	refused(t, "one wait too many", a, http.StatusTooManyRequests, hub.CodeRateLimited)
	refused(t, "an event stream too many", e.do("GET", "/events", nil, greedy), http.StatusTooManyRequests, hub.CodeRateLimited)
	okay(t, "another agent waits", e.do("GET", "/inbox/other/wait?timeout=0", nil, other), nil)
	okay(t, "greedy still reads", e.do("GET", "/inbox/greedy", nil, greedy), nil)
	okay(t, "wake", e.do("POST", "/messages", `{"to":"greedy","body":"wake"}`, other), nil)
	for range maxWaiters {
		if st := <-done; st != http.StatusOK {
			t.Errorf("a wait ended with %d", st)
		}
	}
	okay(t, "a wait after the others ended", e.do("GET", "/inbox/greedy/wait?timeout=0", nil, greedy), nil)
}

// TestStalledStreamDoesNotBlockSends: an event stream whose reader
// stops reading must not hold the hub: sends go on at full speed while
// it stalls (the bus drops a subscriber that falls behind, and writes to
// the stream have a deadline).
func TestStalledStreamDoesNotBlockSends(t *testing.T) {
	e := start(t, nil)
	alice := e.register("alice")
	bob := e.register("bob")
	conn, err := net.Dial("tcp", e.host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Open a stream and never read it.
	fmt.Fprintf(conn, "GET /events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", e.host, bob)
	br := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("stream: %q %v", line, err)
	}
	body := fmt.Sprintf(`{"to":"bob","body":%q}`, strings.Repeat("y", 32<<10))
	for i := range 300 {
		a := e.do("POST", "/messages", body, alice)
		if a.status != http.StatusCreated {
			t.Fatalf("send %d while a stream stalls: %s", i, a)
		}
	}
}

// TestDataFilesArePrivate: the data directory is 0700 and every file in
// it (store, WAL, shared memory, lock, admin secret, audit log) 0600.
func TestDataFilesArePrivate(t *testing.T) {
	if os.PathSeparator != '/' {
		t.Skip("file modes are Unix")
	}
	e := start(t, nil)
	alice := e.register("alice")
	okay(t, "send", e.do("POST", "/messages", `{"to":"alice","body":"x"}`, alice), nil)
	okay(t, "revoke", e.do("POST", "/admin/revoke", `{"agent":"alice"}`, e.admin), nil)
	seen := map[string]bool{}
	filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := d.Info()
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		seen[d.Name()] = true
		return nil
	})
	for _, name := range []string{hubserver.DatabaseFile, hubserver.DatabaseFile + "-wal", hubserver.DatabaseFile + "-shm", hubserver.LockFile, "admin.secret", hubserver.AuditFile} {
		if !seen[name] {
			t.Errorf("%s was not checked: it does not exist", name)
		}
	}
}
