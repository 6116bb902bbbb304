package client_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
)

// These tests run the client against fake servers, for what a real hub
// does not easily produce: malformed answers, TLS, dropped streams.

func newClient(tb testing.TB, url string, opts client.Options) *client.Client {
	tb.Helper()
	c, err := client.New(url, opts)
	if err != nil {
		tb.Fatalf("client.New(%q): %v", url, err)
	}
	return c
}

func TestNewRejectsBadURLs(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"no scheme", "127.0.0.1:7878", "must start with http:// or https://"},
		{"ftp", "ftp://host:21", "must start with http:// or https://"},
		{"no host", "http://", "no host"},
		{"query", "http://host:1/?x=1", "must not have a query"},
		{"user", "http://u:p@host:1", "must not have a query, fragment or user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.New(tt.url, client.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New(%q) = %v, want error containing %q", tt.url, err, tt.want)
			}
		})
	}
	if _, err := client.New("http://h:1", client.Options{As: "Bad Name"}); !errors.Is(err, hub.ErrInvalidName) {
		t.Errorf("New with As %q = %v, want invalid_name", "Bad Name", err)
	}
	if _, err := client.New("http://h:1", client.Options{HTTPClient: http.DefaultClient, CAFile: "x.pem"}); err == nil {
		t.Error("New with HTTPClient and CAFile: no error")
	}
}

func TestURLKeepsPrefix(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Path
		io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL+"/parley/", client.Options{})
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got != "/parley/healthz" {
		t.Errorf("path = %q, want /parley/healthz", got)
	}
}

func TestErrorsCarryTheHubCode(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		header   map[string]string
		wantCode hub.Code
		wantMsg  string
		is       error
	}{
		{"hub json", 404, `{"error":{"code":"not_found","message":"agent \"zed\" is not registered"}}`, nil,
			hub.CodeNotFound, `agent "zed" is not registered`, hub.ErrNotFound},
		{"name taken", 409, `{"error":{"code":"name_taken","message":"name \"bob\" is taken"}}`, nil,
			hub.CodeNameTaken, `name "bob" is taken`, hub.ErrNameTaken},
		{"rate limited", 429, `{"error":{"code":"rate_limited","message":"slow down"}}`, map[string]string{"Retry-After": "3"},
			hub.CodeRateLimited, "slow down (retry after 3s)", hub.ErrRateLimited},
		{"proxy text", 502, "Bad Gateway from nginx", nil,
			hub.CodeUnavailable, "hub answered 502 Bad Gateway: Bad Gateway from nginx", hub.ErrUnavailable},
		{"empty 401", 401, "", nil, hub.CodeUnauthenticated, "hub answered 401 Unauthorized", hub.ErrUnauthenticated},
		{"json without code", 500, `{"oops":1}`, nil, hub.CodeInternal, `hub answered 500 Internal Server Error: {"oops":1}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c := newClient(t, srv.URL, client.Options{As: "bob"})
			_, err := c.Inbox(context.Background(), hub.ReadOptions{})
			var he *hub.Error
			if !errors.As(err, &he) {
				t.Fatalf("Inbox error = %#v, want a *hub.Error", err)
			}
			if he.Code != tt.wantCode || he.Message != tt.wantMsg {
				t.Errorf("got code %q message %q, want %q %q", he.Code, he.Message, tt.wantCode, tt.wantMsg)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
}

func TestTransportErrorsNameTheOperation(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	c := newClient(t, url, client.Options{Token: "pt_x", As: "bob"})
	ctx := context.Background()
	_, err := c.Send(ctx, hub.SendRequest{To: []string{"alice"}, Body: "hi"})
	if err == nil || !strings.HasPrefix(err.Error(), "send: ") {
		t.Errorf("Send error = %v, want it to start with \"send: \"", err)
	}
	var he *hub.Error
	if errors.As(err, &he) {
		t.Errorf("transport error decoded as hub error %v", he)
	}
	if _, err := c.Inbox(ctx, hub.ReadOptions{}); err == nil || !strings.HasPrefix(err.Error(), "inbox: ") {
		t.Errorf("Inbox error = %v, want it to start with \"inbox: \"", err)
	}
}

func TestMalformedAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"messages": [`)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, client.Options{As: "bob"})
	if _, err := c.Inbox(context.Background(), hub.ReadOptions{}); err == nil || !strings.Contains(err.Error(), "decode response") {
		t.Errorf("Inbox of truncated JSON = %v, want a decode error", err)
	}
}

// recorder is a fake hub that records each request's credentials and
// answers with a fixed body.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
	body string
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, r)
	rc.mu.Unlock()
	io.WriteString(w, rc.body)
}

func (rc *recorder) last() *http.Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.reqs[len(rc.reqs)-1]
}

func TestCredentials(t *testing.T) {
	rec := &recorder{body: `{}`}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	ctx := context.Background()
	tests := []struct {
		name           string
		opts           client.Options
		call           func(c *client.Client) error
		wantAuth, want string // Authorization and X-Parley-As
		wantPath       string
	}{
		{"token", client.Options{Token: "pt_t", As: "bob", AdminSecret: "pa_a"},
			func(c *client.Client) error { _, err := c.Inbox(ctx, hub.ReadOptions{}); return err },
			"Bearer pt_t", "bob", "/inbox/bob"},
		{"admin as agent", client.Options{AdminSecret: "pa_a", As: "Carol"},
			func(c *client.Client) error { _, err := c.Inbox(ctx, hub.ReadOptions{}); return err },
			"Bearer pa_a", "carol", "/inbox/carol"},
		{"admin alone is human", client.Options{AdminSecret: "pa_a"},
			func(c *client.Client) error { _, err := c.Inbox(ctx, hub.ReadOptions{}); return err },
			"Bearer pa_a", "", "/inbox/human"},
		{"open", client.Options{As: "dave"},
			func(c *client.Client) error { _, err := c.Inbox(ctx, hub.ReadOptions{Peek: true}); return err },
			"", "dave", "/inbox/dave"},
		{"register prefers the join secret", client.Options{Token: "pt_t", AdminSecret: "pa_a", JoinSecret: "join"},
			func(c *client.Client) error { _, err := c.Register(ctx, hub.RegisterRequest{Name: "x"}); return err },
			"Bearer join", "", "/peers/connect"},
		{"register with the admin secret", client.Options{Token: "pt_t", AdminSecret: "pa_a"},
			func(c *client.Client) error { _, err := c.Register(ctx, hub.RegisterRequest{Name: "x"}); return err },
			"Bearer pa_a", "", "/peers/connect"},
		{"join secret only registers", client.Options{JoinSecret: "join", As: "x"},
			func(c *client.Client) error { _, err := c.Peers(ctx, ""); return err },
			"", "x", "/peers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, srv.URL, tt.opts)
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			r := rec.last()
			if got := r.Header.Get("Authorization"); got != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tt.wantAuth)
			}
			if got := r.Header.Get("X-Parley-As"); got != tt.want {
				t.Errorf("X-Parley-As = %q, want %q", got, tt.want)
			}
			if r.URL.Path != tt.wantPath {
				t.Errorf("path = %q, want %q", r.URL.Path, tt.wantPath)
			}
			if ua := r.Header.Get("User-Agent"); ua != client.DefaultUserAgent {
				t.Errorf("User-Agent = %q, want %q", ua, client.DefaultUserAgent)
			}
		})
	}
}

func TestQueries(t *testing.T) {
	rec := &recorder{body: `{}`}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c := newClient(t, srv.URL, client.Options{As: "bob"})
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		want string // path?query
	}{
		{"inbox", func() error { _, err := c.Inbox(ctx, hub.ReadOptions{}); return err }, "/inbox/bob"},
		{"inbox since 0", func() error {
			_, err := c.Inbox(ctx, hub.ReadOptions{HasSince: true, Peek: true, Limit: 5, Preview: 100})
			return err
		}, "/inbox/bob?limit=5&peek=true&preview=100&since=0"},
		{"wait", func() error { _, err := c.Wait(ctx, hub.ReadOptions{}, 1500*time.Millisecond); return err }, "/inbox/bob/wait?timeout=1500"},
		{"thread", func() error { _, err := c.Thread(ctx, "t 1", hub.Page{Before: 9, Limit: 2}); return err }, "/threads/t%201?before=9&limit=2"},
		{"history", func() error { _, err := c.Conversation(ctx, "alice", hub.Page{}); return err }, "/history/alice"},
		{"search", func() error { _, err := c.Search(ctx, "deploy & go", hub.Page{Limit: 3}); return err }, "/search?limit=3&q=deploy+%26+go"},
		{"peers by role", func() error { _, err := c.Peers(ctx, "backend"); return err }, "/peers?role=backend"},
		{"ack", func() error { return c.Ack(ctx, 12) }, "/messages/12/ack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			if got := rec.last().URL.RequestURI(); got != tt.want {
				t.Errorf("request = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := c.Wait(ctx, hub.ReadOptions{}, hub.MaxWait+1); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("Wait beyond the maximum = %v, want invalid_argument", err)
	}
}

func TestCaptureJSON(t *testing.T) {
	const body = `{"messages":[],"more":false,"next":0,"unread":0,"extra":"kept"}` + "\n"
	srv := httptest.NewServer(&recorder{body: body})
	defer srv.Close()
	c := newClient(t, srv.URL, client.Options{As: "bob"})
	var raw json.RawMessage
	res, err := c.Inbox(client.CaptureJSON(context.Background(), &raw), hub.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != body {
		t.Errorf("captured %q, want %q", raw, body)
	}
	if res.Messages == nil {
		t.Errorf("decoded result lost its messages: %+v", res)
	}
}

func TestCAFile(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"ok":true}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	ctx := context.Background()

	plain := newClient(t, srv.URL, client.Options{})
	if err := plain.Health(ctx); err == nil || !strings.HasPrefix(err.Error(), "health: ") {
		t.Errorf("Health without the CA = %v, want a certificate error", err)
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	trusted := newClient(t, srv.URL, client.Options{CAFile: ca})
	if err := trusted.Health(ctx); err != nil {
		t.Errorf("Health with the CA file: %v", err)
	}

	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	if _, err := client.New(srv.URL, client.Options{CAFile: bad}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("New with a bad CA file = %v", err)
	}
	if _, err := client.New(srv.URL, client.Options{CAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Error("New with a missing CA file: no error")
	}
}

// sseServer serves scripted event streams: each connection gets the next
// script, and the Last-Event-ID it sent is recorded.
type sseServer struct {
	mu      sync.Mutex
	scripts []string
	lastIDs []string
	queries []string
}

func (s *sseServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.lastIDs = append(s.lastIDs, r.Header.Get("Last-Event-ID"))
	s.queries = append(s.queries, r.URL.RawQuery)
	script := ""
	if len(s.scripts) > 0 {
		script, s.scripts = s.scripts[0], s.scripts[1:]
	}
	s.mu.Unlock()
	if script == "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	io.WriteString(w, script)
}

func event(id int64, kind, subject string) string {
	b, _ := json.Marshal(hub.Event{ID: id, Kind: kind, Subject: subject})
	return fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", id, kind, b)
}

func TestEventsParseAndResume(t *testing.T) {
	srv := &sseServer{scripts: []string{
		": connected\n\n" + event(1, hub.EventMessageSent, "7") + ": ping\n\r\n" +
			// an event whose data spans two lines, with CRLF endings
			"id: 2\r\nevent: agent.online\r\ndata: {\"kind\":\"agent.online\",\r\ndata: \"subject\":\"bob\"}\r\n\r\n",
		event(3, hub.EventAgentRenamed, "carol"),
	}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := newClient(t, ts.URL, client.Options{As: "bob"})
	ctx := context.Background()
	st, err := c.Events(ctx, client.EventOptions{Kinds: []string{"message", "agent"}, Agents: []string{"bob"}, LastEventID: 0, Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want := []hub.Event{
		{ID: 1, Kind: hub.EventMessageSent, Subject: "7"},
		{ID: 2, Kind: hub.EventAgentOnline, Subject: "bob"},
		{ID: 3, Kind: hub.EventAgentRenamed, Subject: "carol"},
	}
	for i, w := range want {
		ev, err := st.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ev.ID != w.ID || ev.Kind != w.Kind || ev.Subject != w.Subject {
			t.Errorf("event %d = %+v, want %+v", i, ev, w)
		}
	}
	if st.LastID() != 3 {
		t.Errorf("LastID = %d, want 3", st.LastID())
	}
	srv.mu.Lock()
	if len(srv.lastIDs) < 2 || srv.lastIDs[0] != "" || srv.lastIDs[1] != "2" {
		t.Errorf("Last-Event-ID headers = %q, want \"\" then \"2\"", srv.lastIDs)
	}
	if srv.queries[0] != "agent=bob&kind=message%2Cagent" {
		t.Errorf("query = %q", srv.queries[0])
	}
	srv.mu.Unlock()
	st.Close()
	if _, err := st.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("Next after Close = %v, want context.Canceled", err)
	}
}

func TestEventsWithoutReconnectEnd(t *testing.T) {
	ts := httptest.NewServer(&sseServer{scripts: []string{event(5, hub.EventHubReset, "")}})
	defer ts.Close()
	c := newClient(t, ts.URL, client.Options{})
	st, err := c.Events(context.Background(), client.EventOptions{LastEventID: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got []int64
	var last error
	for ev, err := range st.All() {
		if err != nil {
			last = err
			break
		}
		got = append(got, ev.ID)
	}
	if len(got) != 1 || got[0] != 5 {
		t.Errorf("events = %v, want [5]", got)
	}
	if !errors.Is(last, io.EOF) {
		t.Errorf("end of stream = %v, want io.EOF", last)
	}
}

func TestEventsRefused(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"code":"invalid_argument","message":"kind \"A\": bad"}}`)
	}))
	defer ts.Close()
	c := newClient(t, ts.URL, client.Options{})
	if _, err := c.Events(context.Background(), client.EventOptions{Kinds: []string{"A"}}); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("Events = %v, want invalid_argument", err)
	}
}
