package mcpserver_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/mcpserver"
)

const (
	testAdmin = "pa_test-admin-secret-0123456789"
	testJoin  = "join-secret-0123456789"
)

// headerTransport adds headers to every request, as an MCP client
// configured with "headers" in .mcp.json does.
type headerTransport struct {
	headers map[string]string
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.headers {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func httpClient(headers map[string]string) *http.Client {
	return &http.Client{Transport: headerTransport{headers: headers}}
}

// httpHub serves the MCP endpoints of e's service.
func (e *env) httpHub() *httptest.Server {
	e.t.Helper()
	h, err := mcpserver.NewHandler(e.svc, mcpserver.HandlerOptions{AdminSecret: testAdmin, JoinSecret: testJoin, Version: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Mount(mux)
	srv := httptest.NewServer(mux)
	e.t.Cleanup(srv.Close)
	return srv
}

// dial connects an MCP client over transport kind ("streamable" or
// "sse") with headers.
func (e *env) dial(srv *httptest.Server, kind string, headers map[string]string) (*session, error) {
	var t mcp.Transport
	var opts *mcp.ClientSessionOptions
	switch kind {
	case "streamable":
		t = &mcp.StreamableClientTransport{Endpoint: srv.URL + mcpserver.PathStreamable, HTTPClient: httpClient(headers), MaxRetries: -1}
	case "sse":
		t = &mcp.SSEClientTransport{Endpoint: srv.URL + mcpserver.PathSSE, HTTPClient: httpClient(headers)}
		// The HTTP+SSE transport is of the 2024-11-05 revision.
		opts = &mcp.ClientSessionOptions{ProtocolVersion: "2024-11-05"}
	}
	// The SSE client's stream lives as long as the context of Connect, so
	// it ends with the test, not with the dial.
	ctx, cancel := context.WithCancel(context.Background())
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "http-client", Version: "1"}, nil).Connect(ctx, t, opts)
	if err != nil {
		cancel()
		return nil, err
	}
	e.t.Cleanup(func() {
		cs.Close()
		cancel()
	})
	return &session{e: e, cs: cs}, nil
}

func TestHTTPTransportsAndAuth(t *testing.T) {
	for _, kind := range []string{"streamable", "sse"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, hub.Options{})
			srv := e.httpHub()
			_, tok := e.register("alice", "lead")
			e.register("bob", "backend")

			// An agent token: the session is that agent.
			alice, err := e.dial(srv, kind, map[string]string{"Authorization": "Bearer " + tok})
			if err != nil {
				t.Fatalf("connect with a token: %v", err)
			}
			mustContain(t, "whoami", alice.ok("whoami", nil), "You are alice")
			tools, err := alice.cs.ListTools(context.Background(), nil)
			if err != nil || len(tools.Tools) != len(mcpserver.AllTools()) {
				t.Fatalf("list tools: %d tools, err %v", len(tools.Tools), err)
			}
			mustContain(t, "send", alice.ok("send", map[string]any{"to": "bob", "body": "over " + kind}), "Delivered to: bob")
			// The agent cannot take another agent's name.
			alice.fails("register", map[string]any{"name": "bob"}, "taken")

			// The admin secret: an unbound session that may register.
			adm, err := e.dial(srv, kind, map[string]string{"Authorization": "Bearer " + testAdmin})
			if err != nil {
				t.Fatalf("connect with the admin secret: %v", err)
			}
			adm.fails("send", map[string]any{"to": "bob", "body": "x"}, "call register first")
			mustContain(t, "register", adm.ok("register", map[string]any{"name": "web-" + kind}), "Registered as web-"+kind)
			mustContain(t, "send", adm.ok("send", map[string]any{"to": "bob", "body": "from the web"}), "Delivered to: bob")

			// The admin secret with X-Parley-As acts as that agent.
			as, err := e.dial(srv, kind, map[string]string{"Authorization": "Bearer " + testAdmin, "X-Parley-As": "bob"})
			if err != nil {
				t.Fatalf("connect as bob: %v", err)
			}
			text := as.ok("read", nil)
			mustContain(t, "bob's inbox", text, "over "+kind, "from alice (authenticated)", "from the web", "from web-"+kind+" (authenticated)")

			// The join secret may only register.
			join, err := e.dial(srv, kind, map[string]string{"Authorization": "Bearer " + testJoin})
			if err != nil {
				t.Fatalf("connect with the join secret: %v", err)
			}
			mustContain(t, "register", join.ok("register", map[string]any{"role": "ops"}), "Registered as ops")

			// No credential, a wrong one, or a token that does not match
			// X-Parley-As: refused.
			for name, h := range map[string]map[string]string{
				"none":        nil,
				"bad token":   {"Authorization": "Bearer pt_nope"},
				"not bearer":  {"Authorization": "Basic abc"},
				"as mismatch": {"Authorization": "Bearer " + tok, "X-Parley-As": "bob"},
			} {
				if _, err := e.dial(srv, kind, h); err == nil {
					t.Errorf("%s: connected, want refused", name)
				}
			}
		})
	}
}

func TestHTTPOpenHub(t *testing.T) {
	e := newEnv(t, hub.Options{Open: true})
	srv := e.httpHub()
	e.register("bob", "")
	// Seed 001's .mcp.json has no headers: on an open hub that works.
	s, err := e.dial(srv, "sse", nil)
	if err != nil {
		t.Fatalf("connect without credentials to an open hub: %v", err)
	}
	mustContain(t, "peers", s.ok("peers", map[string]any{"include_offline": true}), "bob")
	mustContain(t, "register", s.ok("register", map[string]any{"role": "linux-client"}), "Registered as linux-client")
	s.ok("command_send", map[string]any{"target": "bob", "action": "start_server"})
}

const streamableInitialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`

// streamable sends one Streamable HTTP request with token, in the session
// sid when it is set. The response's body is closed with the test.
func streamable(ctx context.Context, tb testing.TB, srv *httptest.Server, method, token, sid, body string) *http.Response {
	tb.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, srv.URL+mcpserver.PathStreamable, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestHTTPSessionBoundToCredential checks that a Streamable HTTP session
// ID is only usable with the credential that opened the session.
func TestHTTPSessionBoundToCredential(t *testing.T) {
	e := newEnv(t, hub.Options{})
	srv := e.httpHub()
	_, aliceTok := e.register("alice", "")
	_, bobTok := e.register("bob", "")

	post := func(token, sessionID, body string) *http.Response {
		return streamable(context.Background(), t, srv, http.MethodPost, token, sessionID, body)
	}
	resp := post(aliceTok, "", streamableInitialize)
	io.Copy(io.Discard, resp.Body)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: status %d, session %q", resp.StatusCode, sid)
	}
	resp = post(bobTok, sid, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "another credential") {
		t.Fatalf("bob using alice's session: status %d %s, want 403", resp.StatusCode, body)
	}
	resp = post(aliceTok, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("alice using her session: status %d", resp.StatusCode)
	}
}

// TestHTTPPresence checks that an SSE session holds its agent online.
func TestHTTPPresence(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
	e := newEnv(t, hub.Options{Now: clock})
	srv := e.httpHub()
	_, tok := e.register("alice", "")
	s, err := e.dial(srv, "sse", map[string]string{"Authorization": "Bearer " + tok})
	if err != nil {
		t.Fatal(err)
	}
	s.ok("whoami", nil)
	advance(time.Hour) // far past the presence timeout
	p, err := e.svc.Peer(context.Background(), "alice")
	if err != nil || !p.Online {
		t.Fatalf("alice with an open SSE session: online %v, err %v", p.Online, err)
	}
	s.cs.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		advance(time.Hour)
		p, err := e.svc.Peer(context.Background(), "alice")
		if err == nil && !p.Online {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("alice stays online after her SSE session closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sseStream is the raw event stream of an HTTP+SSE session's GET.
type sseStream struct {
	body     *bufio.Reader
	endpoint string // where the session's POSTs go, absolute
}

// openSSE opens an HTTP+SSE session with token and reads the endpoint
// event. The stream ends with the test, or within 10s at the latest.
func openSSE(t testing.TB, srv *httptest.Server, token string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+mcpserver.PathSSE, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("open SSE session: status %d, want 200", resp.StatusCode)
	}
	s := &sseStream{body: bufio.NewReader(resp.Body)}
	name, data, err := s.next()
	if err != nil || name != "endpoint" || !strings.Contains(data, "sessionid=") {
		t.Fatalf("first event: %q %q, %v; want the endpoint", name, data, err)
	}
	s.endpoint = srv.URL + data
	return s
}

// next reads the stream's next event.
func (s *sseStream) next() (name, data string, err error) {
	for {
		line, err := s.body.ReadString('\n')
		if err != nil {
			return name, data, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "" && (name != "" || data != ""):
			return name, data, nil
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		}
	}
}

// post POSTs a JSON-RPC message to url with token and returns the status
// and body.
func post(t testing.TB, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const sseInitialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`

// TestSSESessionBoundToCredential checks that an HTTP+SSE session only
// takes POSTs from the credential that opened it.
func TestSSESessionBoundToCredential(t *testing.T) {
	e := newEnv(t, hub.Options{})
	srv := e.httpHub()
	_, aliceTok := e.register("alice", "")
	_, bobTok := e.register("bob", "")
	alice := openSSE(t, srv, aliceTok)

	tests := []struct {
		name       string
		url, token string
		wantStatus int
		wantBody   string
	}{
		{"another agent's token", alice.endpoint, bobTok, http.StatusForbidden, "another credential"},
		{"the admin secret", alice.endpoint, testAdmin, http.StatusForbidden, "another credential"},
		{"the join secret", alice.endpoint, testJoin, http.StatusForbidden, "another credential"},
		{"no session id", srv.URL + mcpserver.PathSSE, aliceTok, http.StatusBadRequest, "sessionid"},
		{"an unknown session", srv.URL + mcpserver.PathSSE + "?sessionid=00.00", aliceTok, http.StatusNotFound, "not found"},
		{"the opening token", alice.endpoint, aliceTok, http.StatusAccepted, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, tt.url, tt.token, sseInitialize)
			if status != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("got %d %q, want %d with %q", status, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
	// Only alice's initialize reached the session, and it answers on the
	// stream.
	name, data, err := alice.next()
	if err != nil || name != "message" || !strings.Contains(data, `"id":1`) || !strings.Contains(data, "serverInfo") {
		t.Fatalf("after alice's initialize: event %q %q, %v; want its result", name, data, err)
	}
}

// TestStreamsEndOnRevoke checks that a stream held open by an agent
// token, on either MCP transport, ends when the agent's tokens are
// revoked, also after the agent renamed itself, and not when another
// agent's are.
func TestStreamsEndOnRevoke(t *testing.T) {
	ctx := context.Background()
	admin := hub.Caller{Admin: true}
	tests := []struct {
		name   string
		open   func(t testing.TB, srv *httptest.Server, token string) *sseStream
		rename string // the agent renames itself to this before the revoke
	}{
		{"sse", openSSE, ""},
		{"sse after a rename", openSSE, "alice2"},
		{"streamable GET", openStreamableGET, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, hub.Options{})
			srv := e.httpHub()
			alice, aliceTok := e.register("alice", "")
			e.register("bob", "")
			s := tt.open(t, srv, aliceTok)
			name := alice.Name
			if tt.rename != "" {
				if _, err := e.svc.Rename(ctx, alice, tt.rename); err != nil {
					t.Fatal(err)
				}
				name = tt.rename
			}

			// Another agent's revocation leaves the stream open.
			if _, err := e.svc.RevokeTokens(ctx, admin, "bob"); err != nil {
				t.Fatal(err)
			}
			if s.endpoint != "" {
				if status, body := post(t, s.endpoint, aliceTok, sseInitialize); status != http.StatusAccepted {
					t.Fatalf("POST after bob's revocation: %d %s, want 202", status, body)
				}
				if ev, _, err := s.next(); err != nil || ev != "message" {
					t.Fatalf("after bob's revocation: event %q, %v; want alice's answer", ev, err)
				}
			}

			if _, err := e.svc.RevokeTokens(ctx, admin, name); err != nil {
				t.Fatal(err)
			}
			var err error
			for err == nil {
				_, _, err = s.next()
			}
			if !errors.Is(err, io.EOF) {
				t.Fatalf("after the revocation: %v; want the stream to end", err)
			}
			if s.endpoint != "" {
				if status, _ := post(t, s.endpoint, aliceTok, sseInitialize); status != http.StatusUnauthorized {
					t.Fatalf("POST with the revoked token: status %d, want 401", status)
				}
			}
		})
	}
}

// openStreamableGET opens a Streamable HTTP session with token and its
// GET stream for server messages. The returned stream has no endpoint.
func openStreamableGET(t testing.TB, srv *httptest.Server, token string) *sseStream {
	t.Helper()
	do := func(ctx context.Context, method, sid, body string) *http.Response {
		return streamable(ctx, t, srv, method, token, sid, body)
	}
	ctx := context.Background()
	resp := do(ctx, http.MethodPost, "", streamableInitialize)
	io.Copy(io.Discard, resp.Body)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: status %d, session %q", resp.StatusCode, sid)
	}
	if resp := do(ctx, http.MethodPost, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); resp.StatusCode/100 != 2 {
		t.Fatalf("initialized: status %d", resp.StatusCode)
	}
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	t.Cleanup(cancel)
	resp = do(gctx, http.MethodGet, sid, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET stream: status %d, want 200", resp.StatusCode)
	}
	return &sseStream{body: bufio.NewReader(resp.Body)}
}
