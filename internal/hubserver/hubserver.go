// Package hubserver assembles a running hub in one place: data
// directory, lock, admin secret, SQLite store, event bus, domain service,
// and the HTTP server with the API, the dashboard and MCP over HTTP.
// `parley serve` and an MCP bridge that wins the hub election both call
// Start, so they run exactly the same thing.
package hubserver

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/parley-dev/parley/internal/bus"
	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/httpapi"
	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/sqlite"
	"github.com/parley-dev/parley/internal/web"
)

// Names of files in the data directory.
const (
	// LockFile is locked exclusively by the running hub; it holds its pid.
	LockFile = "lock"
	// DatabaseFile is the SQLite store.
	DatabaseFile = "parley.db"
	// SessionsFile keeps the dashboard's logins across restarts (package
	// web): hashes of session ids, nothing that logs anyone in.
	SessionsFile = "dashboard-sessions.json"
)

// Defaults for Config and the HTTP server.
const (
	DefaultShutdownTimeout = 5 * time.Second
	maxHeaderBytes         = 64 << 10
	minJoinSecretLen       = 16
)

var (
	// ErrLocked reports that another hub holds the data directory.
	ErrLocked = errors.New("data directory is locked")
	// ErrAddrInUse reports that the listen address is taken.
	ErrAddrInUse = errors.New("address already in use")
)

// Mount adds handlers to the hub's mux, such as the dashboard at
// /dashboard/ or MCP over HTTP at /mcp. It runs during Start, after the
// store, service and listener are ready and before the first request is
// served; h gives it the service, the admin secret and the URL.
// Handlers registered on mux share the access log, panic recovery and
// loopback checks of the API.
type Mount func(mux *http.ServeMux, h *Hub) error

// Config configures a hub. Zero fields take defaults, except DataDir and
// Addr.
type Config struct {
	// DataDir holds the store, the admin secret and the lock.
	DataDir string
	// Addr is the TCP address to listen on, such as 127.0.0.1:7878, or
	// 127.0.0.1:0 for any free port.
	Addr string
	// Open turns authentication off. Only allowed on a loopback Addr.
	Open bool
	// JoinSecret lets agents on other machines register. Required when
	// Addr is not a loopback address.
	JoinSecret string
	// Synchronous is the store's durability: "full" (default) or "normal".
	Synchronous string
	// Version is reported by GET /status.
	Version string
	// Logger receives every component's logs; nil discards them.
	Logger *slog.Logger

	// Passed to hub.Options; zero takes the hub's default.
	PresenceTimeout time.Duration
	ForwardTTL      time.Duration
	HoldTTL         time.Duration
	MaxBody         int // largest message body plus attachments, bytes
	Preview         int
	KeepEvents      int
	// Retain is how long messages are kept once their recipients are
	// done with them (hub.Options.Retain); zero keeps them forever, and
	// otherwise it is at least hub.MinRetain.
	Retain time.Duration
	// MaxUnread bounds each agent's unread messages (hub.Options.MaxUnread);
	// zero: no bound.
	MaxUnread int
	// Coordination configures commands, channels, proposals, leases
	// and shared state.
	Coordination hub.CoordinationOptions

	// MaxRequestBody is the largest HTTP request body (httpapi default).
	MaxRequestBody int64
	// ShutdownTimeout bounds the graceful HTTP shutdown of Close.
	ShutdownTimeout time.Duration
	// Mounts add more handlers to the mux, in order, after the API,
	// the dashboard (/dashboard/) and MCP (/mcp, /mcp/sse).
	Mounts []Mount

	// Security (security.go, SECURITY.md).
	// TLSCert and TLSKey are PEM files of the certificate and key to
	// serve HTTPS with; give both or neither.
	TLSCert string
	TLSKey  string
	// TokenTTL is how long an unused agent token stays valid
	// (hub.DefaultTokenTTL when 0; negative: forever).
	TokenTTL time.Duration
	// RateLimit is the requests per second allowed to each agent and to
	// each remote address (httpapi.DefaultRate when 0; negative: no rate
	// limit); RateBurst the requests at once above it (2×RateLimit when 0).
	RateLimit float64
	RateBurst int
	// MaxWaiters bounds the long-polls and event streams one agent holds
	// open (httpapi.DefaultMaxWaiters when 0; negative: no bound).
	MaxWaiters int
	// MaxConns bounds open connections (DefaultMaxConns, or less under a
	// low file limit, when 0; negative: no bound).
	MaxConns int
	// ReadHeaderTimeout closes connections whose request headers are not
	// complete in time (DefaultReadHeaderTimeout); IdleTimeout closes
	// idle keep-alive connections (DefaultIdleTimeout).
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// Now returns the current time for the service; tests inject a clock.
	Now func() time.Time
}

// Validate reports the first invalid field, by name.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("hubserver: DataDir is empty")
	}
	if c.Addr == "" {
		return errors.New("hubserver: Addr is empty")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("hubserver: Addr %q: want host:port, such as 127.0.0.1:7878", c.Addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("hubserver: Addr %q: port %q is not a port number", c.Addr, port)
	}
	loopback := IsLoopback(host)
	if c.Open && !loopback {
		return fmt.Errorf("hubserver: Open: --open turns authentication off, so it is only allowed on a loopback address (127.0.0.1, ::1, localhost), not %q", c.Addr)
	}
	if !loopback && c.JoinSecret == "" {
		return fmt.Errorf("hubserver: JoinSecret: listening on %q lets other machines reach the hub, so it needs a join secret (--secret or PARLEY_SECRET) for them to register", c.Addr)
	}
	if c.JoinSecret != "" && len(c.JoinSecret) < minJoinSecretLen {
		return fmt.Errorf("hubserver: JoinSecret: %d characters is too short to guess-proof; use at least %d", len(c.JoinSecret), minJoinSecretLen)
	}
	if strings.ContainsAny(c.JoinSecret, " \t\r\n") {
		return errors.New("hubserver: JoinSecret: must not contain white space")
	}
	switch strings.ToLower(c.Synchronous) {
	case "", "full", "normal":
	default:
		return fmt.Errorf("hubserver: Synchronous %q: must be full or normal", c.Synchronous)
	}
	if err := c.validateSecurity(); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"PresenceTimeout", c.PresenceTimeout}, {"ForwardTTL", c.ForwardTTL},
		{"HoldTTL", c.HoldTTL}, {"ShutdownTimeout", c.ShutdownTimeout},
		{"Retain", c.Retain},
	} {
		if d.v < 0 {
			return fmt.Errorf("hubserver: %s %s: must not be negative", d.name, d.v)
		}
	}
	if c.Retain > 0 && c.Retain < hub.MinRetain {
		return fmt.Errorf("hubserver: Retain %s: must be 0 (forever) or at least %s", c.Retain, hub.MinRetain)
	}
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"MaxBody", int64(c.MaxBody)}, {"Preview", int64(c.Preview)},
		{"KeepEvents", int64(c.KeepEvents)}, {"MaxRequestBody", c.MaxRequestBody},
		{"MaxUnread", int64(c.MaxUnread)},
	} {
		if n.v < 0 {
			return fmt.Errorf("hubserver: %s %d: must not be negative", n.name, n.v)
		}
	}
	return nil
}

// IsLoopback reports whether host (no port) is a loopback name or
// address. An empty host means every interface, which is not.
func IsLoopback(host string) bool {
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Hub is a running hub. Its methods are safe for concurrent use.
type Hub struct {
	cfg         Config
	log         *slog.Logger
	adminSecret string
	lock        *dirLock
	store       *sqlite.Store
	svc         *hub.Service
	api         *httpapi.Server
	ln          net.Listener
	srv         *http.Server
	url         string

	baseCancel context.CancelFunc // ends requests: SSE streams, long-polls
	runCancel  context.CancelFunc // stops svc.Run
	runDone    chan struct{}
	serveDone  chan struct{}
	serveErr   error        // set before serveDone closes
	conns      *connLimiter // nil when unbounded
	audit      *auditLog

	closeOnce sync.Once
	closeErr  error
}

// Start assembles and starts a hub: it creates the data directory,
// locks it (ErrLocked if another hub has it), creates or reads the admin
// secret, binds Addr (ErrAddrInUse if taken), opens the store, starts
// the service and serves HTTP. On error everything started is undone.
// ctx bounds the start only: the hub runs until Close.
func Start(ctx context.Context, cfg Config) (_ *Hub, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	h := &Hub{cfg: cfg, log: cfg.Logger.With("component", "hubserver")}
	// closers undo what started, in reverse order, if Start fails.
	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				if cerr := closers[i](); cerr != nil {
					h.log.Warn("undo failed start", "err", cerr)
				}
			}
		}
	}()

	if err := config.EnsureDir(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("hubserver: data directory: %w", err)
	}
	tlsConfig, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	if h.lock, err = lockDir(cfg.DataDir); err != nil {
		return nil, err
	}
	closers = append(closers, h.lock.release)

	if h.adminSecret, err = adminSecret(cfg.DataDir, h.log); err != nil {
		return nil, err
	}

	if h.ln, err = listen(cfg.Addr); err != nil {
		return nil, err
	}
	closers = append(closers, func() error { return ignoreClosed(h.ln.Close()) })
	h.url = "http://" + h.ln.Addr().String()
	if tlsConfig != nil {
		h.url = "https://" + h.ln.Addr().String()
	}
	if n := cfg.maxConns(); n > 0 {
		h.conns = newConnLimiter(n, h.log)
		h.ln = h.conns.listener(h.ln)
	}
	if err := secureFiles(cfg.DataDir); err != nil {
		return nil, err
	}
	if h.audit, err = openAudit(cfg.DataDir, h.log); err != nil {
		return nil, err
	}
	closers = append(closers, h.audit.close)

	b := bus.New(0)
	h.store, err = sqlite.Open(ctx, sqlite.Options{
		Path:        filepath.Join(cfg.DataDir, DatabaseFile),
		Synchronous: cfg.Synchronous,
		OnCommit:    func(evs []hub.Event) { b.Publish(evs...) },
		Logger:      cfg.Logger.With("component", "sqlite"),
	})
	if err != nil {
		return nil, fmt.Errorf("hubserver: open store: %w", err)
	}
	closers = append(closers, h.store.Close)

	h.svc = hub.New(h.store, b, cfg.serviceOptions(h.audit.write))
	if _, err := h.svc.EnsureAgent(ctx, hub.HumanName, "human"); err != nil {
		return nil, fmt.Errorf("hubserver: %w", err)
	}

	runCtx, runCancel := context.WithCancel(context.WithoutCancel(ctx))
	h.runCancel, h.runDone = runCancel, make(chan struct{})
	go func() {
		defer close(h.runDone)
		trimmed := make(chan struct{})
		go func() {
			defer close(trimmed)
			trimMemory(runCtx, h.log, func() {
				if err := h.store.ReleaseMemory(runCtx); err != nil && runCtx.Err() == nil {
					h.log.Warn("release the store's memory", "err", err)
				}
			})
		}()
		defer func() { <-trimmed }()
		if err := h.svc.Run(runCtx); err != nil {
			h.log.Error("service stopped", "err", err)
		}
	}()
	closers = append(closers, func() error { runCancel(); <-h.runDone; return nil })

	if err := h.route(tlsConfig != nil); err != nil {
		return nil, err
	}
	h.serve(ctx, tlsConfig)
	h.log.Info("hub started", "url", h.url, "data", cfg.DataDir, "open", cfg.Open)
	return h, nil
}

// serviceOptions are the options of the hub's service, with audit as its
// audit log.
func (c Config) serviceOptions(audit func(hub.AuditRecord)) hub.Options {
	return hub.Options{
		Open:            c.Open,
		PresenceTimeout: c.PresenceTimeout,
		ForwardTTL:      c.ForwardTTL,
		HoldTTL:         c.HoldTTL,
		MaxBody:         c.MaxBody,
		Preview:         c.Preview,
		KeepEvents:      c.KeepEvents,
		Retain:          c.Retain,
		MaxUnread:       c.MaxUnread,
		TokenTTL:        c.TokenTTL,
		Audit:           audit,
		Now:             c.Now,
		Coordination:    c.Coordination,
		Logger:          c.Logger.With("component", "hub"),
	}
}

// route builds the hub's handler over its service: the HTTP API, the
// dashboard, MCP and Config.Mounts. secure says whether it serves TLS.
func (h *Hub) route(secure bool) error {
	cfg := h.cfg
	h.api = httpapi.New(h.svc, httpapi.Options{
		AdminSecret:  h.adminSecret,
		JoinSecret:   cfg.JoinSecret,
		MaxBody:      cfg.MaxRequestBody,
		LoopbackOnly: IsLoopback(hostOf(cfg.Addr)),
		Limits:       cfg.limits(),
		Version:      cfg.Version,
		Logger:       cfg.Logger.With("component", "http"),
	})
	// The dashboard at /dashboard/ reaches the API in process as the admin
	// acting as human (package web).
	dash, err := web.New(web.Options{
		API: h.api.Handler(), AdminSecret: h.adminSecret, Open: cfg.Open, Secure: secure,
		SessionFile: filepath.Join(cfg.DataDir, SessionsFile),
		Logger:      cfg.Logger.With("component", "web"),
	})
	if err != nil {
		return fmt.Errorf("hubserver: dashboard: %w", err)
	}
	dash.Register(h.api.ServeMux())
	if err := mount(mountMCP, h); err != nil {
		return fmt.Errorf("hubserver: MCP: %w", err)
	}
	for i, m := range cfg.Mounts {
		if err := mount(m, h); err != nil {
			return fmt.Errorf("hubserver: Mounts[%d]: %w", i, err)
		}
	}
	return nil
}

// serve serves the hub's handler on its listener, with TLS when
// tlsConfig is set, until Close. Requests run under a base context that
// Close ends, so that streams and long polls end with the hub.
func (h *Hub) serve(ctx context.Context, tlsConfig *tls.Config) {
	cfg := h.cfg
	baseCtx, baseCancel := context.WithCancel(context.WithoutCancel(ctx))
	h.baseCancel = baseCancel
	h.srv = &http.Server{
		Handler:           h.api.Handler(),
		ReadHeaderTimeout: orDefault(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		IdleTimeout:       orDefault(cfg.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    maxHeaderBytes,
		TLSConfig:         tlsConfig,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(cfg.Logger.With("component", "http").Handler(), slog.LevelWarn),
	}
	if h.conns != nil {
		h.srv.ConnState = h.conns.connState
	}
	if !IsLoopback(hostOf(cfg.Addr)) && tlsConfig == nil {
		h.log.Warn("listening beyond this machine without TLS: the join secret and agent tokens cross the network in clear text; use --tls-cert and --tls-key (SECURITY.md)", "addr", cfg.Addr)
	}
	h.serveDone = make(chan struct{})
	go func() {
		defer close(h.serveDone)
		var err error
		if tlsConfig != nil {
			err = h.srv.ServeTLS(h.ln, "", "")
		} else {
			err = h.srv.Serve(h.ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.serveErr = err
			h.log.Error("http server stopped", "err", err)
		}
	}()
}

// mount runs m, turning a panic of the mux (conflicting patterns) into
// an error.
func mount(m Mount, h *Hub) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%v", v)
		}
	}()
	return m(h.api.ServeMux(), h)
}

func hostOf(addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	return host
}

// listen binds addr, reporting a taken port as ErrAddrInUse.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if isAddrInUse(err) {
			return nil, fmt.Errorf("hubserver: listen on %s: %w (another program, perhaps another hub, uses it)", addr, ErrAddrInUse)
		}
		return nil, fmt.Errorf("hubserver: listen on %s: %w", addr, err)
	}
	return ln, nil
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// adminSecret reads the admin secret of a data directory, creating it
// on first start: "pa_" and 32 random bytes in base64url, mode 0600.
func adminSecret(dir string, log *slog.Logger) (string, error) {
	path := config.AdminSecretPath(dir)
	secret, err := config.ReadSecret(path)
	switch {
	case err == nil:
		if !strings.HasPrefix(secret, "pa_") || len(secret) < 20 {
			return "", fmt.Errorf("hubserver: admin secret %s is malformed (want pa_...); remove it to have a new one created", path)
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return "", fmt.Errorf("hubserver: admin secret %s is readable by others and cannot be fixed: %w", path, err)
			}
			log.Warn("admin secret was readable by others; made it 0600", "path", path)
		}
		return secret, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("hubserver: admin secret: %w", err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("hubserver: admin secret: %w", err)
	}
	secret = "pa_" + base64.RawURLEncoding.EncodeToString(b[:])
	if err := config.WriteSecret(path, []byte(secret+"\n")); err != nil {
		return "", fmt.Errorf("hubserver: admin secret: %w", err)
	}
	log.Info("created admin secret", "path", path)
	return secret, nil
}

// Addr returns the address the hub listens on, with the real port when
// Config.Addr asked for port 0.
func (h *Hub) Addr() string { return h.ln.Addr().String() }

// URL returns the hub's base URL, such as http://127.0.0.1:7878, or
// https://... when it serves TLS.
func (h *Hub) URL() string { return h.url }

// OpenConns returns the connections the hub holds open now, or -1 when
// it does not bound them (Config.MaxConns negative).
func (h *Hub) OpenConns() int {
	if h.conns == nil {
		return -1
	}
	return h.conns.count()
}

// Service returns the hub's domain service, for in-process callers such
// as the MCP tools of a bridge that became the hub.
func (h *Hub) Service() *hub.Service { return h.svc }

// AdminSecret returns the admin secret. Never log it.
func (h *Hub) AdminSecret() string { return h.adminSecret }

// AdminSecretPath returns where the admin secret is stored.
func (h *Hub) AdminSecretPath() string { return config.AdminSecretPath(h.cfg.DataDir) }

// DataDir returns the hub's data directory.
func (h *Hub) DataDir() string { return h.cfg.DataDir }

// Open reports whether authentication is off.
func (h *Hub) Open() bool { return h.cfg.Open }

// Logger returns the logger the hub's components derive theirs from.
func (h *Hub) Logger() *slog.Logger { return h.cfg.Logger }

// Done is closed when the HTTP server has stopped, by Close or because
// it failed; Err then says why.
func (h *Hub) Done() <-chan struct{} { return h.serveDone }

// Err returns why the HTTP server stopped on its own, or nil.
func (h *Hub) Err() error {
	select {
	case <-h.serveDone:
		return h.serveErr
	default:
		return nil
	}
}

// Close stops the hub: it ends event streams and long-polls, shuts the
// HTTP server down gracefully within ShutdownTimeout, stops the service,
// closes the store and releases the lock, in that order. It is safe to
// call more than once; later calls return the first result.
func (h *Hub) Close() error {
	h.closeOnce.Do(func() {
		var errs []error
		h.baseCancel()
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.ShutdownTimeout)
		// Long polls parked off net/http (httpapi's park.go) are not the
		// http.Server's to end: end them first, so none parks while it
		// shuts down.
		if err := h.api.Shutdown(ctx); err != nil {
			h.log.Warn("parked long polls did not end in time", "err", err)
		}
		if err := h.srv.Shutdown(ctx); err != nil {
			h.log.Warn("graceful shutdown timed out; closing connections", "err", err)
			if err := h.srv.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close http server: %w", err))
			}
		}
		cancel()
		<-h.serveDone
		h.runCancel()
		<-h.runDone
		if err := h.audit.close(); err != nil {
			errs = append(errs, fmt.Errorf("close audit log: %w", err))
		}
		if err := h.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
		if err := h.lock.release(); err != nil {
			errs = append(errs, fmt.Errorf("release lock: %w", err))
		}
		h.closeErr = errors.Join(errs...)
		h.log.Info("hub stopped", "data", h.cfg.DataDir)
	})
	return h.closeErr
}
