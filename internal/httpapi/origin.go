package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/parley-dev/parley/internal/hub"
)

// checkOrigin refuses a request that changes state (any method but GET,
// HEAD and OPTIONS) when a browser says it comes from a page of another
// origin: an Origin header that does not name this hub's own host and
// port ("null" included), or Sec-Fetch-Site cross-site or same-site. It
// holds on every bind, loopback or not, and covers /mcp and the
// dashboard, which share the mux.
//
// Programs (the CLI, bridges, MCP clients, curl) send neither header, so
// it never refuses them. Pages on another origin cannot read answers
// either: the hub sends no CORS headers, so browsers keep responses from
// them, and preflights for custom headers such as Authorization fail.
func (s *Server) checkOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if safeMethod(r.Method) {
			next.ServeHTTP(w, r)
			return
		}
		switch site := r.Header.Get("Sec-Fetch-Site"); site {
		case "", "same-origin", "none":
		default:
			s.writeError(w, r, hub.Errorf(hub.CodeForbidden, "a page of another site (Sec-Fetch-Site: %s) may not change anything on this hub", truncate(site, 40)))
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
			s.writeError(w, r, hub.Errorf(hub.CodeForbidden, "origin %q may not change anything on this hub: only its own pages (the dashboard) may", truncate(o, 100)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// safeMethod reports whether a method only reads.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin reports whether an Origin header names host (the request's
// Host: host and port).
func sameOrigin(origin, host string) bool {
	if origin == "null" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	return strings.EqualFold(u.Host, host)
}
