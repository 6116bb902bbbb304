package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// logWriter records the status, size and error code of a response for
// the access log. It passes Flush and deadlines through (Unwrap), so
// event streams work behind it.
type logWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
	code   hub.Code // error code, when an error was sent
	start  time.Time
	// park is set when the handler took the connection out of net/http
	// (park.go): the request ends when what it parked has answered.
	park *parkedConn
}

// whenDone runs f when the request w answers is over: now, called from
// a middleware's defer, or when what it parked has answered (park.go).
func whenDone(w http.ResponseWriter, f func()) {
	if lw, ok := w.(*logWriter); ok && lw.park != nil {
		lw.park.after = append(lw.park.after, f)
		return
	}
	f()
}

// WriteHeader records the first status and passes it on.
func (w *logWriter) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write counts the bytes written, and a 200 when nothing set a status.
func (w *logWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush implements http.Flusher.
func (w *logWriter) Flush() {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests writes one access log line per request and turns a panic
// into a 500. It logs method, path, status, size, duration and the
// error code: never headers, query strings or bodies, which may carry
// tokens.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lw := &logWriter{ResponseWriter: w, start: s.opts.Now()}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logPanic(r.Context(), r.Method, r.URL.Path, v)
				if !lw.wrote && lw.park == nil {
					lw.code = hub.CodeInternal
					writeJSON(lw, http.StatusInternalServerError, errorBody{Error: errorDetail{Code: hub.CodeInternal, Message: "internal error"}})
				}
			}
			if lw.park != nil {
				// What was parked answers, and logs, when it ends.
				close(lw.park.handled)
				return
			}
			s.accessLog(r.Context(), r.Method, r.URL.Path, r.RemoteAddr, lw.start, lw.status, lw.bytes, lw.code)
		}()
		next.ServeHTTP(lw, r)
	})
}

// logPanic logs a panic recovered while serving a request.
func (s *Server) logPanic(ctx context.Context, method, path string, v any) {
	s.log.LogAttrs(ctx, slog.LevelError, "panic serving request",
		slog.String("method", method), slog.String("path", path),
		slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
}

// accessLog writes the access log line of one request.
func (s *Server) accessLog(ctx context.Context, method, path, remote string, start time.Time, status int, bytes int64, code hub.Code) {
	level := slog.LevelInfo
	if path == "/healthz" && status == http.StatusOK {
		level = slog.LevelDebug // bridges probe it every second
	}
	if !s.log.Enabled(ctx, level) {
		return // a hub at warn level builds no access line
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("path", path),
		slog.Int("status", status),
		slog.Int64("bytes", bytes),
		slog.Duration("dur", s.opts.Now().Sub(start)),
		slog.String("remote", remote),
	}
	if code != "" {
		attrs = append(attrs, slog.String("code", string(code)))
	}
	s.log.LogAttrs(ctx, level, "http", attrs...)
}

// checkHost refuses, when LoopbackOnly is set, requests whose Host is
// not a loopback name and requests from a browser page whose Origin is
// not one: a page on another site must not reach a hub on 127.0.0.1,
// by DNS rebinding or by a cross-site form post.
func (s *Server) checkHost(next http.Handler) http.Handler {
	if !s.opts.LoopbackOnly {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopbackHost(r.Host) {
			s.writeError(w, r, hub.Errorf(hub.CodeForbidden, "host %q is not allowed: this hub answers only on loopback addresses (localhost, 127.0.0.1, [::1])", r.Host))
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "null" {
			u, err := url.Parse(o)
			if err != nil || !isLoopbackHost(u.Host) {
				s.writeError(w, r, hub.Errorf(hub.CodeForbidden, "origin %q is not allowed: only pages served from a loopback address may call this hub", o))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// isLoopbackHost reports whether hostport names this machine through a
// loopback address: localhost, *.localhost, 127.0.0.0/8 or ::1.
func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" {
		return false
	}
	lower := strings.ToLower(host)
	if lower == "localhost" || strings.HasSuffix(lower, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
