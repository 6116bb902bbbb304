package httpapi

import (
	"net/http"

	"github.com/parley-dev/parley/internal/hub"
)

func (s *Server) routesTokens(mux router) {
	mux.HandleFunc("POST /tokens/rotate", s.handleRotateToken)
	mux.HandleFunc("POST /admin/revoke", s.handleRevoke)
	mux.HandleFunc("POST /admin/release", s.handleRelease)
}

// rotateResponse is the answer to POST /tokens/rotate.
type rotateResponse struct {
	Name  string `json:"name"`
	Token string `json:"token"`
}

// handleRotateToken replaces the caller's token with a new one; the old
// one stops working at once.
func (s *Server) handleRotateToken(w http.ResponseWriter, r *http.Request) error {
	c, err := s.auth(r)
	if err != nil {
		return err
	}
	var body struct{}
	if err := s.decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	tok, err := s.svc.RotateToken(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rotateResponse{Name: c.Name, Token: tok})
	return nil
}

// adminBody names the agent an admin action is about; revoke calls it
// agent, release name, and either is accepted.
type adminBody struct {
	Agent string `json:"agent"`
	Name  string `json:"name"`
}

func (b adminBody) target() (string, error) {
	switch {
	case b.Agent != "" && b.Name != "" && b.Agent != b.Name:
		return "", hub.Errorf(hub.CodeInvalid, "agent %q and name %q differ; give one", b.Agent, b.Name)
	case b.Agent != "":
		return b.Agent, nil
	}
	return b.Name, nil
}

// adminResponse is the answer to an admin action: the audit record.
type adminResponse struct {
	OK    bool            `json:"ok"`
	Audit hub.AuditRecord `json:"audit"`
}

// adminCaller authenticates an admin action: the admin secret (acting as
// X-Parley-As or human), or anyone under --open. An agent token passes
// here and is refused by the service, which says why.
func (s *Server) adminCaller(w http.ResponseWriter, r *http.Request, body *adminBody) (hub.Caller, string, error) {
	p, err := s.authenticate(r)
	if err != nil {
		return hub.Caller{}, "", err
	}
	if p.kind == anonymous && !s.svc.Open() {
		return hub.Caller{}, "", hub.Errorf(hub.CodeUnauthenticated, "admin actions need the admin secret: Authorization: Bearer <admin secret>")
	}
	if p.kind == joinSecret && !s.svc.Open() {
		return hub.Caller{}, "", hub.Errorf(hub.CodeForbidden, "admin actions need the admin secret, not the join secret")
	}
	if err := s.decodeJSON(w, r, body, false); err != nil {
		return hub.Caller{}, "", err
	}
	target, err := body.target()
	if err != nil {
		return hub.Caller{}, "", err
	}
	if target == "" {
		return hub.Caller{}, "", hub.Errorf(hub.CodeInvalid, `name the agent: {"agent":"NAME"}`)
	}
	switch p.kind {
	case agentToken:
		return p.agent, target, nil
	case adminSecret:
		c, err := s.actAs(r, p)
		return c, target, err
	}
	return hub.Caller{}, target, nil // anonymous under --open
}

// handleRevoke revokes every token of an agent (admin).
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) error {
	var body adminBody
	c, target, err := s.adminCaller(w, r, &body)
	if err != nil {
		return err
	}
	rec, err := s.svc.RevokeTokens(r.Context(), c, target)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, adminResponse{OK: true, Audit: rec})
	return nil
}

// handleRelease frees a name by force (admin).
func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request) error {
	var body adminBody
	c, target, err := s.adminCaller(w, r, &body)
	if err != nil {
		return err
	}
	rec, err := s.svc.ReleaseName(r.Context(), c, target)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, adminResponse{OK: true, Audit: rec})
	return nil
}
