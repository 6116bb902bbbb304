// Package httpapi is Parley's HTTP API: the JSON routes of docs/API.md,
// the Server-Sent Events stream at /events, authentication, and the
// middleware (access log, panic recovery, JSON errors) around them.
//
// It only translates: every route decodes its input, resolves who the
// caller is, calls one hub.Service method and encodes the result. The
// rules live in package hub, so the MCP tools, the CLI and the dashboard
// behave exactly as the HTTP API does.
package httpapi

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// Defaults for Options.
const (
	// DefaultHeartbeat is how often an idle event stream gets a ": ping".
	DefaultHeartbeat = 15 * time.Second
	// DefaultWriteTimeout bounds one write to a stream, so a client that
	// stops reading cannot hold a goroutine forever.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultBodyTimeout bounds reading one request body.
	DefaultBodyTimeout = 60 * time.Second
	// DefaultWait is the long-poll timeout when a request names none.
	DefaultWait = 30 * time.Second
	// requestSlack is what a request body may hold beyond the message
	// limit: JSON escaping, field names, attachments' metadata.
	requestSlack = 64 << 10
)

// Options configure a Server. Zero fields take defaults.
type Options struct {
	// AdminSecret is the hub's admin secret (pa_...). Empty: no admin.
	AdminSecret string
	// JoinSecret lets other machines register agents. Empty: none.
	JoinSecret string
	// MaxBody is the largest request body in bytes. The default leaves
	// room for a message of the service's MaxBody after JSON escaping.
	MaxBody int64
	// LoopbackOnly refuses requests whose Host or Origin is not a
	// loopback name, against DNS rebinding. Set it when the hub listens
	// on a loopback address.
	LoopbackOnly bool
	// Version is reported by GET /status.
	Version string
	// Heartbeat is the interval of ": ping" comments on idle event
	// streams (DefaultHeartbeat).
	Heartbeat time.Duration
	// WriteTimeout bounds one write to an event stream (DefaultWriteTimeout).
	WriteTimeout time.Duration
	// BodyTimeout bounds reading one request body (DefaultBodyTimeout).
	BodyTimeout time.Duration
	// Limits bound requests per agent and per address, and open waits
	// per agent (limits.go); the zero value limits nothing.
	Limits Limits
	// Logger receives access logs and internal errors.
	Logger *slog.Logger
	// Now returns the current time; tests inject a clock.
	Now func() time.Time
}

// Server serves the HTTP API of one hub.Service. It is safe for
// concurrent use; create it with New.
type Server struct {
	svc     *hub.Service
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	limiter *limiter
	started time.Time
	// status holds the sections of GET /status, in order; route groups
	// add theirs when they register.
	status []statusSection
	// parking holds the long polls parked off net/http (park.go).
	parking *parking
}

// New returns a Server for svc with its routes registered.
func New(svc *hub.Service, opts Options) *Server {
	if opts.MaxBody <= 0 {
		opts.MaxBody = 2*int64(svc.Options().MaxBody) + requestSlack
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.BodyTimeout <= 0 {
		opts.BodyTimeout = DefaultBodyTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		svc:  svc,
		opts: opts,
		log:  opts.Logger,
		mux:  http.NewServeMux(),

		parking: newParking(),
	}
	s.limiter = newLimiter(opts.Limits, opts.AdminSecret)
	s.started = s.opts.Now()
	s.routes(router{s: s, mux: s.mux})
	return s
}

// routes registers every route group. A new group lives in a file of its
// own with a routesX method, and gets one line here.
func (s *Server) routes(mux router) {
	s.routesSystem(mux)
	s.routesAgents(mux)
	s.routesMessages(mux)
	s.routesEvents(mux)
	// Coordination groups (commands, channels, signals, proposals,
	// leases, state) each add their line here.
	s.routesCommands(mux)
	s.routesChannels(mux)
	s.routesSignals(mux)
	s.routesProposals(mux)
	s.routesLeases(mux)
	s.routesState(mux)
	s.routesTokens(mux)
}

// Handler returns the complete HTTP handler: the routes and anything
// added to ServeMux, behind access logging, panic recovery, the loopback
// check, the cross-origin check (origin.go), rate and wait limits
// (limits.go) and JSON errors for unknown routes.
func (s *Server) Handler() http.Handler {
	return s.logRequests(s.checkHost(s.checkOrigin(s.limit(http.HandlerFunc(s.dispatch)))))
}

// ServeMux returns the mux the routes live on. Handlers registered on it
// (the dashboard, MCP over HTTP) share the access log, panic recovery
// and loopback check of Handler. Patterns that conflict with the API's
// make ServeMux panic, as usual.
func (s *Server) ServeMux() *http.ServeMux { return s.mux }

// Service returns the service the server exposes.
func (s *Server) Service() *hub.Service { return s.svc }

// router registers handlers that return an error on a mux, wrapped in
// the error adapter, so route groups read like the standard library:
// mux.HandleFunc("POST /messages", s.handleSendMessage).
type router struct {
	s   *Server
	mux *http.ServeMux
}

// handlerFunc is an HTTP handler that returns its error for the adapter
// to send.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// HandleFunc registers h for pattern.
func (rt router) HandleFunc(pattern string, h handlerFunc) {
	rt.mux.Handle(pattern, rt.s.adapt(h))
}
