package mcpserver

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parley-dev/parley/internal/hub"
)

// Paths where the hub serves MCP.
const (
	// PathStreamable serves MCP over Streamable HTTP.
	PathStreamable = "/mcp"
	// PathSSE serves the older HTTP+SSE transport (seed 001's .mcp.json
	// with "type":"sse"): GET opens a session, POSTs carry its requests.
	PathSSE = "/mcp/sse"
	// HeaderAs names the agent the admin, or anyone on an open hub, acts
	// as; it matches the HTTP API's header.
	HeaderAs = "X-Parley-As"
	// DefaultSessionTimeout closes Streamable HTTP sessions idle this long.
	DefaultSessionTimeout = 30 * time.Minute
)

// HandlerOptions configure the hub's MCP endpoints.
type HandlerOptions struct {
	// AdminSecret and JoinSecret are the hub's secrets, as the HTTP API
	// knows them. A session authenticated by either may register agents.
	AdminSecret string
	JoinSecret  string
	// Tools is the tool profile (see ParseTools); all when empty.
	Tools string
	// Version and Started feed hub_status.
	Version string
	Started time.Time
	// SessionTimeout closes idle Streamable HTTP sessions
	// (DefaultSessionTimeout).
	SessionTimeout time.Duration
	Logger         *slog.Logger
}

// Handler serves MCP on the hub: Streamable HTTP at /mcp and HTTP+SSE at
// /mcp/sse. Each session gets its own server whose tools call the
// hub.Service in process, as the agent the session authenticated as.
//
// Authentication follows the HTTP API: an agent token (Bearer) makes the
// session that agent; the admin secret makes it X-Parley-As's agent, or
// an unbound session that may register; the join secret allows only
// registering; under --open a session needs no credential, acts as
// X-Parley-As when given, and registers with the register tool. Every
// request is authenticated, not only the one that opens a session; a
// session ID, on either transport, is bound to the credential that opened
// it; and a stream held open by an agent token (the HTTP+SSE session, a
// Streamable HTTP GET) ends when that token stops authenticating.
type Handler struct {
	svc    *hub.Service
	opts   HandlerOptions
	log    *slog.Logger
	key    []byte // binds session IDs to credentials
	cache  *mcp.SchemaCache
	stream *mcp.StreamableHTTPHandler
	sse    sseSessions // sse.go
}

// NewHandler returns the MCP endpoints of a hub over svc. The tool
// profile is checked here, so a bad one fails at start.
func NewHandler(svc *hub.Service, opts HandlerOptions) (*Handler, error) {
	if _, err := ParseTools(opts.Tools); err != nil {
		return nil, err
	}
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = DefaultSessionTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Started.IsZero() {
		opts.Started = time.Now()
	}
	h := &Handler{svc: svc, opts: opts, log: opts.Logger, key: make([]byte, 32), cache: mcp.NewSchemaCache()}
	if _, err := rand.Read(h.key); err != nil {
		return nil, err
	}
	h.stream = mcp.NewStreamableHTTPHandler(h.streamServer, &mcp.StreamableHTTPOptions{
		Logger:         opts.Logger,
		SessionTimeout: opts.SessionTimeout,
	})
	return h, nil
}

// Mount registers the endpoints on mux at PathStreamable and PathSSE.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.Handle(PathStreamable, h.Streamable())
	mux.Handle(PathSSE, h.SSE())
}

// Streamable returns the Streamable HTTP endpoint.
func (h *Handler) Streamable() http.Handler { return http.HandlerFunc(h.serveStreamable) }

// SSE returns the HTTP+SSE endpoint.
func (h *Handler) SSE() http.Handler { return http.HandlerFunc(h.serveSSE) }

// session is what authentication found out about a request, passed to
// the server constructor through the request context.
type session struct {
	local *Local
}

type sessionKey struct{}

const sessionIDHeader = "Mcp-Session-Id"

func (h *Handler) serveStreamable(w http.ResponseWriter, r *http.Request) {
	opts, fp, err := h.authenticate(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if id := r.Header.Get(sessionIDHeader); id != "" && !h.validSessionID(id, fp) {
		writeError(w, hub.Errorf(hub.CodeForbidden, "this MCP session belongs to another credential"))
		return
	}
	ctx := r.Context()
	if r.Method == http.MethodGet && opts.Token != "" {
		// A GET holds a stream open for server messages: a revoked
		// agent's ends at once.
		var stop context.CancelFunc
		ctx, stop = h.svc.UntilRevoked(ctx, opts.Token)
		defer stop()
	}
	sess := &session{local: NewLocal(h.svc, opts)}
	ctx = context.WithValue(ctx, sessionKey{}, sess)
	ctx = context.WithValue(ctx, fingerprintKey{}, fp)
	h.stream.ServeHTTP(w, r.WithContext(ctx))
}

type fingerprintKey struct{}

// streamServer builds the server of a new Streamable HTTP session.
func (h *Handler) streamServer(r *http.Request) *mcp.Server {
	sess, _ := r.Context().Value(sessionKey{}).(*session)
	fp, _ := r.Context().Value(fingerprintKey{}).(string)
	if sess == nil {
		return nil
	}
	return h.server(sess.local, func() string { return h.newSessionID(fp) })
}

func (h *Handler) server(l *Local, sessionID func() string) *mcp.Server {
	srv, err := New(l, Options{
		Tools:        h.opts.Tools,
		Version:      h.opts.Version,
		Logger:       h.log,
		SchemaCache:  h.cache,
		GetSessionID: sessionID,
	})
	if err != nil {
		h.log.Error("mcp server", "err", err)
		return nil
	}
	return srv
}

// authenticate resolves the request's credential into the options of a
// session's backend, and returns a fingerprint of the credential that
// Streamable HTTP session IDs are bound to.
func (h *Handler) authenticate(r *http.Request) (LocalOptions, string, error) {
	opts := LocalOptions{Version: h.opts.Version, Started: h.opts.Started}
	ctx := r.Context()
	as := r.Header.Get(HeaderAs)
	cred := ""
	if v := r.Header.Get("Authorization"); v != "" {
		scheme, c, ok := strings.Cut(v, " ")
		c = strings.TrimSpace(c)
		if !ok || !strings.EqualFold(scheme, "Bearer") || c == "" {
			return opts, "", hub.Errorf(hub.CodeUnauthenticated, `Authorization header must be "Bearer <token>"`)
		}
		cred = c
	}
	sum := sha256.Sum256([]byte("parley-mcp\x00" + cred + "\x00" + strings.ToLower(as)))
	fp := hex.EncodeToString(sum[:])
	switch {
	case cred != "" && secretEqual(cred, h.opts.AdminSecret):
		opts.MayRegister = true
		opts.Caller.Admin = true
		if as != "" {
			c, err := h.svc.CallerFor(ctx, as)
			if err != nil {
				return opts, "", err
			}
			c.Admin = true
			opts.Caller = c
		}
	case cred != "" && secretEqual(cred, h.opts.JoinSecret):
		opts.MayRegister = true
	case cred != "":
		c, err := h.svc.Authenticate(ctx, cred)
		if err != nil {
			return opts, "", err
		}
		if as != "" {
			if n, err := hub.NormalizeName(HeaderAs, as); err != nil || n != c.Name {
				return opts, "", hub.Errorf(hub.CodeForbidden, "%s does not match your token: %q given, the token is %q's", HeaderAs, as, c.Name)
			}
		}
		opts.Caller, opts.Token = c, cred
	case h.svc.Open():
		opts.MayRegister = true
		if as != "" {
			c, err := h.svc.CallerFor(ctx, as)
			if err != nil {
				return opts, "", err
			}
			opts.Caller = c
		}
	default:
		return opts, "", hub.Errorf(hub.CodeUnauthenticated, "MCP on this hub needs a credential: Authorization: Bearer <agent token> (register with `parley register`), or start the hub with --open")
	}
	return opts, fp, nil
}

// secretEqual compares a presented secret with a configured one in
// constant time; an empty configured secret matches nothing.
func secretEqual(got, want string) bool {
	if want == "" {
		return false
	}
	g := sha256.Sum256([]byte(got))
	w := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// newSessionID returns a random session ID that carries a MAC of the
// credential fingerprint, so that only that credential can use it.
func (h *Handler) newSessionID(fp string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	id := hex.EncodeToString(b[:])
	return id + "." + h.mac(id, fp)
}

func (h *Handler) mac(id, fp string) string {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(fp))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

func (h *Handler) validSessionID(sid, fp string) bool {
	id, mac, ok := strings.Cut(sid, ".")
	return ok && hmac.Equal([]byte(mac), []byte(h.mac(id, fp)))
}

// writeError writes the HTTP API's JSON error for err.
func writeError(w http.ResponseWriter, err error) {
	code := hub.ErrorCode(err)
	status := http.StatusInternalServerError
	switch code {
	case hub.CodeInvalid, hub.CodeInvalidName:
		status = http.StatusBadRequest
	case hub.CodeUnauthenticated:
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
	case hub.CodeForbidden:
		status = http.StatusForbidden
	case hub.CodeNotFound:
		status = http.StatusNotFound
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": string(code), "message": hub.PublicMessage(err)}})
}
