package httpapi

import (
	"context"
	"net/http"

	"github.com/parley-dev/parley/internal/hub"
)

// statusSection adds one part of the hub's state to GET /status. Route
// groups append theirs to Server.status when they register, so the
// seed's "full state" grows with them.
type statusSection func(ctx context.Context, st map[string]any) error

func (s *Server) routesSystem(mux router) {
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /status", s.handleStatus)
	mux.HandleFunc("POST /reset", s.handleReset)
	s.status = append(s.status, s.statusPeers)
}

// handleHealth answers load balancers and hub discovery: no auth.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, ok)
	return nil
}

// handleStatus returns the hub's state (seed 001's GET /status).
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := s.requireAny(p); err != nil {
		return err
	}
	st := map[string]any{
		"version":  s.opts.Version,
		"uptime_s": int64(s.opts.Now().Sub(s.started).Seconds()),
		"open":     s.svc.Open(),
	}
	for _, section := range s.status {
		if err := section(r.Context(), st); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) statusPeers(ctx context.Context, st map[string]any) error {
	peers, err := s.svc.Peers(ctx, "", false)
	if err != nil {
		return err
	}
	online := 0
	for _, p := range peers {
		if p.Online {
			online++
		}
	}
	last, err := s.svc.LastEventID(ctx)
	if err != nil {
		return err
	}
	st["peers"] = peers
	st["count"] = len(peers)
	st["online"] = online
	// Followers start the event stream here instead of replaying history.
	st["last_event_id"] = last
	return nil
}

// handleReset clears everything (seed 001's POST /reset). It needs the
// admin secret, or nothing at all under --open.
func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticate(r)
	if err != nil {
		return err
	}
	var body struct{}
	if err := s.decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	var c hub.Caller // anonymous under --open
	switch {
	case p.kind == adminSecret:
		c = hub.Caller{Admin: true, Name: hub.HumanName}
	case p.kind == agentToken:
		c = p.agent
	case !s.svc.Open():
		if p.kind == anonymous {
			return hub.Errorf(hub.CodeUnauthenticated, "reset needs the admin secret: Authorization: Bearer <admin secret>")
		}
		return hub.Errorf(hub.CodeForbidden, "reset needs the admin secret")
	}
	if err := s.svc.Reset(r.Context(), c); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ok)
	return nil
}
