package mcpserver

import (
	"context"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parley-dev/parley/internal/hub"
)

// The hub serves the HTTP+SSE transport itself, over the SDK's
// SSEServerTransport, rather than through the SDK's SSEHandler: that
// handler picks session IDs it does not reveal, so a POST could not be
// tied to the credential that opened its session. Here, as on
// Streamable HTTP, a session ID carries a MAC of the opening credential's
// fingerprint (newSessionID), a POST with another credential is refused,
// and the stream of a session opened with an agent token ends when that
// token stops authenticating (hub.Service.UntilRevoked).

// sseSessions are the open HTTP+SSE sessions by ID. It is safe for
// concurrent use; the zero value is empty and ready.
type sseSessions struct {
	mu sync.Mutex
	m  map[string]*mcp.SSEServerTransport
}

func (s *sseSessions) add(id string, t *mcp.SSEServerTransport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]*mcp.SSEServerTransport)
	}
	s.m[id] = t
}

func (s *sseSessions) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

func (s *sseSessions) get(id string) *mcp.SSEServerTransport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}

// serveSSE serves PathSSE: a GET opens a session and streams its
// messages; a POST to the endpoint the stream announced carries one
// request of that session.
func (h *Handler) serveSSE(w http.ResponseWriter, r *http.Request) {
	if rebound(r) {
		writeError(w, hub.Errorf(hub.CodeForbidden, "Host %q is not this hub's address", r.Host))
		return
	}
	opts, fp, err := h.authenticate(r)
	if err != nil {
		writeError(w, err)
		return
	}
	switch r.Method {
	case http.MethodGet:
		h.openSSE(w, r, opts, fp)
	case http.MethodPost:
		h.postSSE(w, r, fp)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// openSSE runs one HTTP+SSE session for as long as its GET lasts, the
// agent's tokens authenticate (when it opened with one) and the hub runs.
func (h *Handler) openSSE(w http.ResponseWriter, r *http.Request, opts LocalOptions, fp string) {
	ctx := r.Context()
	if opts.Token != "" {
		var stop context.CancelFunc
		ctx, stop = h.svc.UntilRevoked(ctx, opts.Token)
		defer stop()
	}
	// The GET lasts as long as the session: its agent stays online.
	opts.HoldPresence = true
	local := NewLocal(h.svc, opts)
	defer local.Close()
	srv := h.server(local, nil)
	if srv == nil {
		writeError(w, hub.Errorf(hub.CodeInternal, "the MCP server could not start"))
		return
	}
	id := h.newSessionID(fp)
	endpoint, err := r.URL.Parse("?sessionid=" + id)
	if err != nil {
		writeError(w, err)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no")
	t := &mcp.SSEServerTransport{Endpoint: endpoint.RequestURI(), Response: w}
	h.sse.add(id, t)
	defer h.sse.remove(id)
	ss, err := srv.Connect(ctx, t, nil)
	if err != nil {
		h.log.Warn("mcp sse connect", "err", err)
		return
	}
	ended := make(chan struct{})
	go func() {
		_ = ss.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-ctx.Done():
		ss.Close()
		<-ended
	}
}

// postSSE hands a POSTed message to its session, if the credential that
// sent it opened the session.
func (h *Handler) postSSE(w http.ResponseWriter, r *http.Request, fp string) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	id := r.URL.Query().Get("sessionid")
	if id == "" {
		writeError(w, hub.Errorf(hub.CodeInvalid, "sessionid must be given: POST to the endpoint the SSE stream announced"))
		return
	}
	t := h.sse.get(id)
	if t == nil {
		writeError(w, hub.Errorf(hub.CodeNotFound, "MCP session not found: it ended, or never was"))
		return
	}
	if !h.validSessionID(id, fp) {
		writeError(w, hub.Errorf(hub.CodeForbidden, "this MCP session belongs to another credential"))
		return
	}
	t.ServeHTTP(w, r)
}

// rebound reports a request that reached a loopback address under
// another host name, as a browser does after DNS rebinding. The SDK's
// handlers refuse those; so does serveSSE.
func rebound(r *http.Request) bool {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return ok && addr != nil && isLoopback(addr.String()) && !isLoopback(r.Host)
}

// isLoopback reports whether a host or host:port is localhost or a
// loopback address.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.Trim(hostport, "[]")
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
