package httpapi

import (
	"net/http"

	"github.com/parley-dev/parley/internal/hub"
)

func (s *Server) routesAgents(mux router) {
	mux.HandleFunc("GET /peers/discover", s.handleDiscoverPeers)
	mux.HandleFunc("POST /peers/connect", s.handleRegister)
	mux.HandleFunc("GET /peers", s.handleListPeers)
	mux.HandleFunc("GET /peers/{name}", s.handleGetPeer)
	mux.HandleFunc("DELETE /peers/{name}", s.handleDeregister)
	mux.HandleFunc("POST /peers/{name}/rename", s.handleRename)
	mux.HandleFunc("POST /peers/{name}/status", s.handleSetStatus)
	mux.HandleFunc("POST /peers/{name}/disconnect", s.handleDisconnect)
	mux.HandleFunc("GET /whoami", s.handleWhoami)
}

// registerResponse is the answer to POST /peers/connect. id repeats the
// name for seed 001's clients.
type registerResponse struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Token        string    `json:"token"`
	Role         string    `json:"role"`
	Capabilities []string  `json:"capabilities"`
	Reclaimed    bool      `json:"reclaimed"`
	Delivered    int       `json:"delivered"`
	Agent        hub.Agent `json:"agent"`
}

// peersResponse lists peers.
type peersResponse struct {
	Peers []hub.Peer `json:"peers"`
	Count int        `json:"count"`
}

func (s *Server) handleDiscoverPeers(w http.ResponseWriter, r *http.Request) error {
	return s.listPeers(w, r, true)
}

func (s *Server) handleListPeers(w http.ResponseWriter, r *http.Request) error {
	return s.listPeers(w, r, false)
}

func (s *Server) listPeers(w http.ResponseWriter, r *http.Request, onlineOnly bool) error {
	p, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := s.requireAny(p); err != nil {
		return err
	}
	peers, err := s.svc.Peers(r.Context(), r.URL.Query().Get("role"), onlineOnly)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, peersResponse{Peers: peers, Count: len(peers)})
	return nil
}

// handleRegister registers an agent. The admin secret and the join
// secret may register any free name; an agent token may re-register its
// own name; under --open anyone may register. A taken name also needs
// its token, in the body or as the bearer.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if p.kind == anonymous && !s.svc.Open() {
		return hub.Errorf(hub.CodeUnauthenticated, "registering needs the admin secret or the join secret: Authorization: Bearer <secret>")
	}
	var req hub.RegisterRequest
	if err := s.decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if p.kind == agentToken {
		if req.Name == "" {
			req.Name = p.agent.Name
		}
		name, err := hub.NormalizeName("agent name", req.Name)
		if err != nil {
			return err
		}
		if name != p.agent.Name {
			return hub.Errorf(hub.CodeForbidden, "an agent token can only re-register its own name %q; registering another agent needs the admin or join secret", p.agent.Name)
		}
		if req.Token == "" {
			req.Token = p.token
		}
	}
	reg, err := s.svc.Register(r.Context(), req)
	if err != nil {
		return err
	}
	a := reg.Agent
	writeJSON(w, http.StatusCreated, registerResponse{
		ID: a.Name, Name: a.Name, Token: reg.Token, Role: a.Role, Capabilities: a.Capabilities,
		Reclaimed: reg.Reclaimed, Delivered: reg.Delivered, Agent: a,
	})
	return nil
}

func (s *Server) handleGetPeer(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := s.requireAny(p); err != nil {
		return err
	}
	peer, err := s.svc.Peer(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, peer)
	return nil
}

// pathAgent is the hint a path's {name} or {agent} gives.
func pathAgent(r *http.Request, wildcard string) hint {
	return hint{what: "agent in the path", name: r.PathValue(wildcard)}
}

func (s *Server) handleDeregister(w http.ResponseWriter, r *http.Request) error {
	c, err := s.auth(r, pathAgent(r, "name"))
	if err != nil {
		return err
	}
	if err := s.svc.Deregister(r.Context(), c); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ok)
	return nil
}

func (s *Server) handleRename(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticateAgent(r)
	if err != nil {
		return err
	}
	var body struct {
		Name string `json:"name"`
		From string `json:"from"`
	}
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	c, err := s.actAs(r, p, pathAgent(r, "name"), hint{what: "from", name: body.From})
	if err != nil {
		return err
	}
	a, err := s.svc.Rename(r.Context(), c, body.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) handleSetStatus(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticateAgent(r)
	if err != nil {
		return err
	}
	var body struct {
		hub.StatusUpdate
		From string `json:"from"`
	}
	if err := s.decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	c, err := s.actAs(r, p, pathAgent(r, "name"), hint{what: "from", name: body.From})
	if err != nil {
		return err
	}
	a, err := s.svc.SetStatus(r.Context(), c, body.StatusUpdate)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// handleDisconnect marks the caller offline at once: its bridge or
// session has ended and says goodbye instead of waiting out the presence
// timeout.
func (s *Server) handleDisconnect(w http.ResponseWriter, r *http.Request) error {
	c, err := s.auth(r, pathAgent(r, "name"))
	if err != nil {
		return err
	}
	if !c.IsAgent() {
		return hub.Errorf(hub.CodeForbidden, "disconnecting needs an agent token")
	}
	s.svc.Disconnect(r.Context(), c.Name)
	writeJSON(w, http.StatusOK, ok)
	return nil
}

func (s *Server) handleWhoami(w http.ResponseWriter, r *http.Request) error {
	c, err := s.auth(r)
	if err != nil {
		return err
	}
	peer, err := s.svc.Whoami(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, peer)
	return nil
}
