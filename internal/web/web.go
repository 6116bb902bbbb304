// Package web serves Parley's dashboard: the page a person opens to watch
// agents talk and to take part as the agent "human".
//
// Everything the page needs is embedded in the binary (plain HTML, CSS and
// JavaScript, no build step, nothing fetched at run time). The page never
// holds a hub credential: it talks to /dashboard/api/..., which this
// package checks against a session cookie (plus a CSRF token and the
// Origin for anything that changes state) and forwards, in process, to the
// hub's HTTP API as the admin acting as "human". The event stream is
// forwarded the same way at /dashboard/api/events.
//
// A person logs in with the admin secret, or with a one-time link that
// `parley dashboard` asks the running hub for (POST /dashboard/login-links
// with the admin secret as bearer token). Under --open no login is needed.
package web

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Prefix is the path under which the dashboard is served. A Handler
// expects full request paths: mount it at Prefix and Prefix+"/" without
// stripping anything.
const Prefix = "/dashboard"

// Defaults for Options.
const (
	DefaultSessionTTL  = 24 * time.Hour
	DefaultLinkTTL     = 10 * time.Minute
	DefaultMaxSessions = 1000
)

// Names of the cookie and header that carry the session and its CSRF
// token, and of the agent the dashboard acts as.
const (
	SessionCookie = "parley_session"
	CSRFHeader    = "X-Parley-CSRF"
	HumanName     = "human"
)

// Options configure a Handler.
type Options struct {
	// API is the hub's HTTP API. Calls to /dashboard/api/... reach it
	// with the prefix stripped. Required.
	API http.Handler
	// AdminSecret is what a person types to log in, and the credential
	// the dashboard's API calls carry. Required unless Open.
	AdminSecret string
	// Open turns login off, as `parley serve --open` turns authentication
	// off: anyone who reaches the page may use it.
	Open bool
	// Secure marks the session cookie Secure; set it when the hub serves
	// TLS. Requests that arrive over TLS get a Secure cookie anyway.
	Secure bool
	// SessionTTL is how long a login lasts.
	SessionTTL time.Duration
	// LinkTTL is how long a one-time login link stays valid.
	LinkTTL time.Duration
	// MaxSessions bounds the sessions and the pending links kept in
	// memory; the oldest go first.
	MaxSessions int
	// SessionFile is where logins are kept so that they outlive a
	// restart of the hub (the SHA-256 of each session id and its expiry,
	// bound to AdminSecret). Empty: logins live in memory only, and a
	// restarted hub asks people to log in again.
	SessionFile string
	// Now returns the current time; tests inject a clock.
	Now func() time.Time
	// Logger receives the dashboard's logs.
	Logger *slog.Logger
}

// Validate reports the first option that is missing or wrong.
func (o Options) Validate() error {
	if o.API == nil {
		return errors.New("web: Options.API is required")
	}
	if !o.Open && o.AdminSecret == "" {
		return errors.New("web: Options.AdminSecret is required unless Open")
	}
	if o.SessionTTL < 0 || o.LinkTTL < 0 || o.MaxSessions < 0 {
		return errors.New("web: Options.SessionTTL, LinkTTL and MaxSessions must not be negative")
	}
	return nil
}

func (o *Options) setDefaults() {
	if o.SessionTTL == 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.LinkTTL == 0 {
		o.LinkTTL = DefaultLinkTTL
	}
	if o.MaxSessions == 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Handler serves the dashboard. It is an http.Handler and is safe for
// concurrent use.
type Handler struct {
	opts     Options
	log      *slog.Logger
	mux      *http.ServeMux
	sessions *sessions
	assets   *assets
	index    *template.Template
	login    *template.Template
}

// sessionFileOf is where opts keep logins, or nil for memory only. With
// login off (Open) there is nothing worth keeping.
func sessionFileOf(opts Options) *sessionFile {
	if opts.SessionFile == "" || opts.Open {
		return nil
	}
	return &sessionFile{path: opts.SessionFile, binding: bindingOf(opts.AdminSecret)}
}

// New returns a Handler, or an error if opts are not valid.
func New(opts Options) (*Handler, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	as, err := loadAssets()
	if err != nil {
		return nil, err
	}
	h := &Handler{
		opts:     opts,
		log:      opts.Logger,
		mux:      http.NewServeMux(),
		sessions: newSessions(opts.MaxSessions, sessionFileOf(opts), opts.Logger, opts.Now()),
		assets:   as,
	}
	funcs := template.FuncMap{"asset": as.url}
	if h.index, err = template.New("index.html").Funcs(funcs).ParseFS(pages, "pages/index.html"); err != nil {
		return nil, err
	}
	if h.login, err = template.New("login.html").Funcs(funcs).ParseFS(pages, "pages/login.html"); err != nil {
		return nil, err
	}
	h.mux.HandleFunc("GET "+Prefix, h.handleRedirectIndex)
	h.mux.HandleFunc("GET "+Prefix+"/{$}", h.handleIndex)
	h.mux.HandleFunc("GET "+Prefix+"/login", h.handleLoginPage)
	h.mux.HandleFunc("POST "+Prefix+"/login", h.handleLogin)
	h.mux.HandleFunc("POST "+Prefix+"/logout", h.handleLogout)
	h.mux.HandleFunc("POST "+Prefix+"/login-links", h.handleNewLoginLink)
	h.mux.HandleFunc("GET "+Prefix+"/assets/{path...}", h.handleAsset)
	h.mux.HandleFunc(Prefix+"/api/", h.handleAPI)
	h.mux.HandleFunc(Prefix+"/", h.handleNotFound)
	return h, nil
}

// Register mounts h on mux at Prefix and at everything under it.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle(Prefix, h)
	mux.Handle(Prefix+"/", h)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	h.mux.ServeHTTP(w, r)
}

// contentSecurityPolicy allows only the dashboard's own files: no inline
// script or style, no other origin, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func setSecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	// One-time login tokens sit in URLs; never send them elsewhere. (Not
	// no-referrer: browsers then send "Origin: null" on same-origin
	// posts, which the cross-site check refuses.)
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
}

func (h *Handler) handleRedirectIndex(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, Prefix+"/", http.StatusMovedPermanently)
}

func (h *Handler) handleNotFound(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "404 page not found", http.StatusNotFound)
}

// handleIndex serves the application page to a logged-in person and the
// login page to anyone else.
func (h *Handler) handleIndex(w http.ResponseWriter, r *http.Request) {
	s := h.session(r)
	if s == nil && h.opts.Open {
		s = h.startSession(w, r)
	}
	if s == nil {
		http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
		return
	}
	h.render(w, h.index, http.StatusOK, struct {
		CSRF string
		Open bool
		Name string
	}{s.csrf, h.opts.Open, HumanName})
}

func (h *Handler) render(w http.ResponseWriter, t *template.Template, status int, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := t.Execute(w, data); err != nil {
		h.log.Warn("render page", "page", t.Name(), "err", err)
	}
}

// handleAPI forwards a logged-in person's call to the hub's API as the
// admin acting as human. Calls that may change state must also carry the
// session's CSRF token and come from the dashboard's own origin.
func (h *Handler) handleAPI(w http.ResponseWriter, r *http.Request) {
	s := h.session(r)
	if s == nil {
		writeError(w, http.StatusUnauthorized, "unauthenticated", "log in to the dashboard first")
		return
	}
	if !safeMethod(r.Method) {
		if err := checkSameOrigin(r); err != nil {
			h.log.Warn("refused cross-site dashboard call", "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"), "reason", err)
			writeError(w, http.StatusForbidden, "forbidden", err.Error())
			return
		}
		if !s.checkCSRF(r.Header.Get(CSRFHeader)) {
			h.log.Warn("refused dashboard call without CSRF token", "method", r.Method, "path", r.URL.Path)
			writeError(w, http.StatusForbidden, "forbidden", "missing or wrong CSRF token; reload the dashboard")
			return
		}
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = strings.TrimPrefix(r.URL.Path, Prefix+"/api")
	if r.URL.RawPath != "" {
		r2.URL.RawPath = strings.TrimPrefix(r.URL.RawPath, Prefix+"/api")
	}
	if r2.URL.Path == "" {
		r2.URL.Path = "/"
	}
	r2.RequestURI = r2.URL.RequestURI()
	r2.Header.Del("Cookie")
	r2.Header.Del(CSRFHeader)
	r2.Header.Del("Authorization")
	if h.opts.AdminSecret != "" {
		r2.Header.Set("Authorization", "Bearer "+h.opts.AdminSecret)
	}
	r2.Header.Set("X-Parley-As", HumanName)
	h.opts.API.ServeHTTP(w, r2)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkSameOrigin refuses a request that a browser made on behalf of
// another site. A request needs an Origin naming this host, or, from a
// browser that leaves Origin out, Sec-Fetch-Site: same-origin.
func checkSameOrigin(r *http.Request) error {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return errors.New("cross-site request refused (Sec-Fetch-Site: " + site + ")")
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		if r.Header.Get("Sec-Fetch-Site") == "same-origin" {
			return nil
		}
		return errors.New("cross-site request refused: no Origin header")
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || origin == "null" {
		return errors.New("cross-site request refused: bad Origin")
	}
	if !strings.EqualFold(u.Host, r.Host) {
		return errors.New("cross-site request refused: Origin " + origin + " is not this dashboard")
	}
	return nil
}

// handleNewLoginLink returns a one-time login URL to a caller that holds
// the admin secret, for `parley dashboard`.
func (h *Handler) handleNewLoginLink(w http.ResponseWriter, r *http.Request) {
	if h.opts.AdminSecret == "" || !h.isAdmin(r) {
		writeError(w, http.StatusUnauthorized, "unauthenticated", "a login link needs the admin secret as bearer token")
		return
	}
	path, expires := h.NewLoginLink()
	scheme := "http"
	if r.TLS != nil || h.opts.Secure {
		scheme = "https"
	}
	u := scheme + "://" + r.Host + path
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(struct {
		URL       string    `json:"url"`
		Path      string    `json:"path"`
		ExpiresAt time.Time `json:"expires_at"`
	}{u, path, expires})
}

func (h *Handler) isAdmin(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(h.opts.AdminSecret)) == 1
}

// NewLoginLink returns the path (with query) of a login link that works
// once, until the returned time. Prefix it with the hub's base URL.
func (h *Handler) NewLoginLink() (path string, expires time.Time) {
	now := h.opts.Now()
	expires = now.Add(h.opts.LinkTTL)
	tok := h.sessions.newLink(now, expires)
	return Prefix + "/login?token=" + url.QueryEscape(tok), expires
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, msg
	json.NewEncoder(w).Encode(body)
}
