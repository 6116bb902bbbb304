package attack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/hubserver"
)

// env is a real hub under attack and an honest HTTP client of it.
type env struct {
	t     testing.TB
	h     *hubserver.Hub
	url   string
	host  string // host:port, as Host headers name it
	admin string
	dir   string
	hc    *http.Client
}

// start runs a hub on 127.0.0.1:0 with a temporary data directory;
// edit adjusts its configuration first.
func start(t testing.TB, edit func(*hubserver.Config)) *env {
	t.Helper()
	cfg := hubserver.Config{
		DataDir:     filepath.Join(t.TempDir(), "data"),
		Addr:        "127.0.0.1:0",
		Synchronous: "normal",
		Version:     "attack",
	}
	if edit != nil {
		edit(&cfg)
	}
	h, err := hubserver.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start hub: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	t.Cleanup(func() {
		hc.CloseIdleConnections()
		if err := h.Close(); err != nil {
			t.Errorf("close hub: %v", err)
		}
	})
	return &env{t: t, h: h, url: h.URL(), host: h.Addr(), admin: h.AdminSecret(), dir: cfg.DataDir, hc: hc}
}

// answer is a response, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
	code   string // error code, when the body is the API's error JSON
	msg    string
}

func (a answer) String() string {
	return fmt.Sprintf("%d %s", a.status, truncate(string(a.body), 300))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// do sends one request. body is sent as is (a string or []byte); cred,
// when not empty, goes in a Bearer Authorization header; hdr holds more
// header names and values in pairs.
func (e *env) do(method, path string, body any, cred string, hdr ...string) answer {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: b}
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &eb) == nil {
		a.code, a.msg = eb.Error.Code, eb.Error.Message
	}
	return a
}

// refused asserts a refusal with status and code, as JSON.
func refused(t testing.TB, what string, a answer, status int, code hub.Code) {
	t.Helper()
	if a.status != status || a.code != string(code) {
		t.Errorf("%s: got %s; want %d %s", what, a, status, code)
		return
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	if a.msg == "" {
		t.Errorf("%s: refusal without a message: %s", what, a)
	}
}

// okay asserts a 2xx answer and decodes it into v when v is not nil.
func okay(t testing.TB, what string, a answer, v any) {
	t.Helper()
	if a.status/100 != 2 {
		t.Fatalf("%s: got %s; want 2xx", what, a)
	}
	if v != nil {
		if err := json.Unmarshal(a.body, v); err != nil {
			t.Fatalf("%s: decode %s: %v", what, a, err)
		}
	}
}

// register registers name with the admin secret and returns its token.
func (e *env) register(name string) string {
	e.t.Helper()
	var r struct {
		Name  string `json:"name"`
		Token string `json:"token"`
	}
	okay(e.t, "register "+name, e.do("POST", "/peers/connect", map[string]string{"name": name}, e.admin), &r)
	if r.Name != name || !strings.HasPrefix(r.Token, "pt_") {
		e.t.Fatalf("register %s: got name %q token %q", name, r.Name, r.Token)
	}
	return r.Token
}

// state is what a refused request must leave as it was: every stored
// change writes an event, so the newest event that is not a presence
// change, plus the agents and their unread mail.
type state struct {
	lastEvent int64
	agents    []string
}

func (s state) String() string {
	return fmt.Sprintf("last event %d, agents %v", s.lastEvent, s.agents)
}

func (e *env) state() state {
	e.t.Helper()
	ctx := context.Background()
	svc := e.h.Service()
	evs, err := svc.Events(ctx, 0, 0, hub.Filter{})
	if err != nil {
		e.t.Fatal(err)
	}
	var st state
	for _, ev := range evs {
		if ev.Kind != hub.EventAgentOnline && ev.Kind != hub.EventAgentOffline {
			st.lastEvent = ev.ID
		}
	}
	peers, err := svc.Peers(ctx, "", false)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, p := range peers {
		st.agents = append(st.agents, fmt.Sprintf("%s role=%q status=%q unread=%d", p.Name, p.Role, p.StatusText, p.Unread))
	}
	slices.Sort(st.agents)
	return st
}

// unchanged asserts that nothing changed since before.
func (e *env) unchanged(what string, before state) {
	e.t.Helper()
	if after := e.state(); after.lastEvent != before.lastEvent || !slices.Equal(after.agents, before.agents) {
		e.t.Errorf("%s changed the hub:\nbefore %v\nafter  %v", what, before, after)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, for logs.
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

// eventually polls cond until it holds, or fails after a generous bound.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
