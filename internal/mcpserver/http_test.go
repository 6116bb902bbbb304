package mcpserver_test

import (
	"bytes"
	"context"
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

// TestHTTPSessionBoundToCredential checks that a Streamable HTTP session
// ID is only usable with the credential that opened the session.
func TestHTTPSessionBoundToCredential(t *testing.T) {
	e := newEnv(t, hub.Options{})
	srv := e.httpHub()
	_, aliceTok := e.register("alice", "")
	_, bobTok := e.register("bob", "")

	post := func(token, sessionID, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+mcpserver.PathStreamable, bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if sessionID != "" {
			req.Header.Set("Mcp-Session-Id", sessionID)
			req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := post(aliceTok, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
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
