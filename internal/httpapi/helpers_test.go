package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/bus"
	"github.com/parley-dev/parley/internal/clocktest"
	"github.com/parley-dev/parley/internal/httpapi"
	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/sqlite"
)

const (
	testAdmin   = "pa_test-admin-secret-0123456789abcdef"
	testJoin    = "join-secret-0123456789"
	testMaxBody = 8 << 10 // request bodies, in tests
	testMsgMax  = 2 << 10 // message bodies, in tests
)

// env is one hub behind a real HTTP server, on a fresh SQLite file.
type env struct {
	t      testing.TB
	svc    *hub.Service
	bus    *bus.Bus
	server *httpapi.Server
	http   *httptest.Server
	clock  *clocktest.Clock
	tokens map[string]string // agent name -> token
	msgID  int64             // a message from alice to bob
}

type envOptions struct {
	open      bool
	busBuffer int
	heartbeat time.Duration
	// bare skips registering alice, bob and carol.
	bare bool
	// limits are the server's rate limits (none when zero).
	limits httpapi.Limits
	// logger receives the server's logs (none when nil).
	logger *slog.Logger
}

// newEnv starts a hub with agents alice (role backend), bob (role
// frontend) and carol (role frontend), and one message from alice to bob.
func newEnv(tb testing.TB, o envOptions) *env {
	tb.Helper()
	ctx := context.Background()
	b := bus.New(o.busBuffer)
	store, err := sqlite.Open(ctx, sqlite.Options{
		Path:        filepath.Join(tb.TempDir(), "parley.db"),
		Synchronous: "normal",
		OnCommit:    func(evs []hub.Event) { b.Publish(evs...) },
	})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	clk := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	svc := hub.New(store, b, hub.Options{Open: o.open, MaxBody: testMsgMax, Now: clk.Now})
	if _, err := svc.EnsureAgent(ctx, hub.HumanName, "human"); err != nil {
		tb.Fatalf("ensure human: %v", err)
	}
	srv := httpapi.New(svc, httpapi.Options{
		AdminSecret:  testAdmin,
		JoinSecret:   testJoin,
		MaxBody:      testMaxBody,
		LoopbackOnly: true,
		Version:      "test",
		Heartbeat:    o.heartbeat,
		Now:          clk.Now,
		Limits:       o.limits,
		Logger:       o.logger,
	})
	hs := httptest.NewServer(srv.Handler())
	e := &env{t: tb, svc: svc, bus: b, server: srv, http: hs, clock: clk, tokens: map[string]string{}}
	tb.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		// Waits parked off net/http (park.go) are the server's to end.
		if err := srv.Shutdown(context.Background()); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
		if err := store.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	if !o.bare {
		e.register("alice", "backend")
		e.register("bob", "frontend")
		e.register("carol", "frontend")
		var res hub.SendResult
		e.mustJSON(e.call("POST", "/messages", `{"to":"bob","body":"hello bob"}`, "alice"), http.StatusCreated, &res)
		e.msgID = res.Message.ID
	}
	return e
}

// register registers name with the admin secret and keeps its token.
func (e *env) register(name, role string) string {
	e.t.Helper()
	body := fmt.Sprintf(`{"name":%q,"role":%q}`, name, role)
	var reg struct {
		Name  string `json:"name"`
		Token string `json:"token"`
	}
	e.mustJSON(e.call("POST", "/peers/connect", body, "admin"), http.StatusCreated, &reg)
	e.tokens[reg.Name] = reg.Token
	return reg.Token
}

// registerMany registers n agents of role, named prefix00, prefix01...,
// and returns their names.
func (e *env) registerMany(prefix, role string, n int) []string {
	e.t.Helper()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%02d", prefix, i)
		e.register(names[i], role)
	}
	return names
}

// response is what a call returned.
type response struct {
	status int
	header http.Header
	body   string
}

// call sends a request. cred is an agent name (its token), "admin",
// "join", "" for none, "upper:<name>" for the name's token in upper
// case, or "raw:<Authorization header>". Extra headers come in pairs.
func (e *env) call(method, path, body, cred string, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatalf("new request %s %s: %v", method, path, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth := e.authHeader(cred); auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (e *env) authHeader(cred string) string {
	switch {
	case cred == "":
		return ""
	case cred == "admin":
		return "Bearer " + testAdmin
	case cred == "join":
		return "Bearer " + testJoin
	case strings.HasPrefix(cred, "raw:"):
		return strings.TrimPrefix(cred, "raw:")
	case strings.HasPrefix(cred, "upper:"):
		return "Bearer " + strings.ToUpper(e.tokens[strings.TrimPrefix(cred, "upper:")])
	}
	tok, ok := e.tokens[cred]
	if !ok {
		e.t.Fatalf("no token for %q", cred)
	}
	return "Bearer " + tok
}

// mustJSON checks the status and decodes the body into v.
func (e *env) mustJSON(r response, status int, v any) {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d; body: %s", r.status, status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(r.body), v); err != nil {
			e.t.Fatalf("decode %s: %v", r.body, err)
		}
	}
}

// errorOf returns the code and message of an error response.
func errorOf(tb testing.TB, r response) (code, msg string) {
	tb.Helper()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Error.Code == "" {
		tb.Fatalf("not an error body (status %d): %s", r.status, r.body)
	}
	return body.Error.Code, body.Error.Message
}

// fingerprint summarises the hub's state: every stored event, and each
// agent's name, role, status, state, capabilities and unread count. Any
// change a request makes shows in it (reads change unread counts).
func (e *env) fingerprint() string {
	e.t.Helper()
	ctx := context.Background()
	evs, err := e.svc.Events(ctx, 0, 100000, hub.Filter{})
	if err != nil {
		e.t.Fatalf("events: %v", err)
	}
	var b strings.Builder
	for _, ev := range evs {
		if ev.Kind == hub.EventAgentOnline || ev.Kind == hub.EventAgentOffline {
			continue // presence follows requests, not state
		}
		fmt.Fprintf(&b, "%d %s %s %s\n", ev.ID, ev.Kind, ev.Actor, ev.Subject)
	}
	peers, err := e.svc.Peers(ctx, "", false)
	if err != nil {
		e.t.Fatalf("peers: %v", err)
	}
	for _, p := range peers {
		fmt.Fprintf(&b, "%s role=%s status=%q state=%s caps=%v unread=%d\n", p.Name, p.Role, p.StatusText, p.State, p.Capabilities, p.Unread)
	}
	return b.String()
}

// scenario is one API test case: a request and what must come back.
type scenario struct {
	name   string
	open   bool // run against a hub with authentication off
	setup  func(e *env)
	method string
	// path and body: "{msg}" becomes the id of alice's message to bob,
	// "{bobtoken}" bob's token.
	path   string
	body   string
	cred   string   // see env.call
	header []string // extra headers, in pairs
	// want is the status; wantCode the error code when it is an error.
	want     int
	wantCode string
	// contains are substrings the body must contain; excludes must not.
	contains []string
	excludes []string
	// changes says the request may change state; errors never may.
	changes bool
	check   func(e *env, r response)
}

// run runs the scenario on shared, when it is set and the scenario
// neither sets up nor changes anything, else on a fresh hub.
func (sc scenario) run(t *testing.T, shared *env) {
	t.Helper()
	t.Run(sc.name, func(t *testing.T) {
		e := shared
		if e == nil || sc.setup != nil || sc.changes {
			e = newEnv(t, envOptions{open: sc.open})
		}
		if sc.setup != nil {
			sc.setup(e)
		}
		pairs := []string{"{msg}", fmt.Sprint(e.msgID)}
		for name, tok := range e.tokens {
			pairs = append(pairs, "{"+name+"token}", tok)
		}
		rep := strings.NewReplacer(pairs...)
		before := e.fingerprint()
		r := e.call(sc.method, rep.Replace(sc.path), rep.Replace(sc.body), sc.cred, sc.header...)
		if r.status != sc.want {
			t.Fatalf("%s %s: status %d, want %d; body: %s", sc.method, sc.path, r.status, sc.want, r.body)
		}
		if sc.wantCode != "" {
			if code, _ := errorOf(t, r); code != sc.wantCode {
				t.Errorf("code %q, want %q; body: %s", code, sc.wantCode, r.body)
			}
		}
		for _, s := range sc.contains {
			if !strings.Contains(r.body, s) {
				t.Errorf("body lacks %q: %s", s, r.body)
			}
		}
		for _, s := range sc.excludes {
			if strings.Contains(r.body, s) {
				t.Errorf("body has %q: %s", s, r.body)
			}
		}
		if !sc.changes {
			if after := e.fingerprint(); after != before {
				t.Errorf("state changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		}
		if sc.check != nil {
			sc.check(e, r)
		}
	})
}

// runScenarios runs each scenario. Those that change nothing share one
// hub per mode, which the fingerprint check keeps honest: a scenario
// that changed state would fail itself.
func runScenarios(t *testing.T, scs []scenario) {
	t.Helper()
	names := map[string]bool{}
	shared := map[bool]*env{}
	for _, sc := range scs {
		if names[sc.name] {
			t.Fatalf("duplicate scenario name %q", sc.name)
		}
		names[sc.name] = true
		if shared[sc.open] == nil {
			shared[sc.open] = newEnv(t, envOptions{open: sc.open})
		}
		sc.run(t, shared[sc.open])
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func containsAll(s string, subs ...string) bool {
	return !slices.ContainsFunc(subs, func(sub string) bool { return !strings.Contains(s, sub) })
}
