package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/parley-dev/parley/internal/hub"
)

// codeMethodNotAllowed answers a known path with the wrong method. It is
// a transport error, so it is not one of hub's codes.
const codeMethodNotAllowed hub.Code = "method_not_allowed"

// statusByCode maps every error code to its HTTP status. Codes missing
// here are answered with 500.
var statusByCode = map[hub.Code]int{
	hub.CodeInvalid:         http.StatusBadRequest,
	hub.CodeInvalidName:     http.StatusBadRequest,
	hub.CodeUnauthenticated: http.StatusUnauthorized,
	hub.CodeForbidden:       http.StatusForbidden,
	hub.CodeNotFound:        http.StatusNotFound,
	hub.CodeNameTaken:       http.StatusConflict,
	hub.CodeConflict:        http.StatusConflict,
	hub.CodeTooLarge:        http.StatusRequestEntityTooLarge,
	hub.CodeRateLimited:     http.StatusTooManyRequests,
	hub.CodeUnavailable:     http.StatusServiceUnavailable,
	hub.CodeInternal:        http.StatusInternalServerError,
	codeMethodNotAllowed:    http.StatusMethodNotAllowed,
}

// StatusOf returns the HTTP status for an error code.
func StatusOf(code hub.Code) int {
	if st, ok := statusByCode[code]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    hub.Code `json:"code"`
	Message string   `json:"message"`
}

// adapt turns a handler that returns an error into an http.Handler that
// sends the error as JSON.
func (s *Server) adapt(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// writeError sends err as `{"error":{"code","message"}}` with its status.
// Internal failures are logged here, once, with their cause; the client
// only gets hub.PublicMessage.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeErrorFor(r.Context(), w, r.Method, r.URL.Path, err)
}

// writeErrorFor is writeError for a request known by its context,
// method and path; it returns the code it sent.
func (s *Server) writeErrorFor(ctx context.Context, w http.ResponseWriter, method, path string, err error) hub.Code {
	code := hub.ErrorCode(err)
	msg := hub.PublicMessage(err)
	if code == hub.CodeInternal && isCanceled(ctx, err) {
		// The client left or the hub is shutting down: nothing to log.
		code, msg = hub.CodeUnavailable, "request canceled"
	}
	status := StatusOf(code)
	if status >= 500 && code != hub.CodeUnavailable {
		s.log.LogAttrs(ctx, slog.LevelError, "request failed",
			slog.String("method", method), slog.String("path", path),
			slog.String("code", string(code)), slog.Any("err", err))
	}
	if lw, ok := w.(*logWriter); ok {
		lw.code = code
		if lw.wrote {
			// A stream already started: the status cannot change.
			return code
		}
	}
	switch code {
	case hub.CodeUnauthenticated:
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
	case hub.CodeRateLimited:
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "1")
		}
	}
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg}})
	return code
}

// isCanceled reports whether err comes from the request's context ending.
func isCanceled(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// writeJSON sends v as JSON with status. It encodes before writing, so a
// value that cannot be encoded yields a clean 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: errorDetail{Code: hub.CodeInternal, Message: "internal error"}})
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ok is the body of calls that return nothing else.
var ok = map[string]bool{"ok": true}

// dispatch serves a request from the mux, answering unknown paths and
// wrong methods with JSON errors rather than the mux's plain text.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	// The mux's own 404 or 405 handler: keep its status and Allow header.
	probe := &statusProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if allow := probe.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	if probe.status == http.StatusMethodNotAllowed {
		s.writeError(w, r, hub.Errorf(codeMethodNotAllowed, "method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, probe.header.Get("Allow")))
		return
	}
	s.writeError(w, r, hub.Errorf(hub.CodeNotFound, "no route %s %s (see docs/API.md)", r.Method, r.URL.Path))
}

// statusProbe records what a handler would answer and discards the body.
type statusProbe struct {
	header http.Header
	status int
}

// Header implements http.ResponseWriter.
func (p *statusProbe) Header() http.Header { return p.header }

// Write implements http.ResponseWriter; it discards b.
func (p *statusProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}

// WriteHeader implements http.ResponseWriter; the first status counts.
func (p *statusProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}
