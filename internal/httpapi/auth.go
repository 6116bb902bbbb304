package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/parley-dev/parley/internal/hub"
)

// HeaderAs names the agent the admin (or, under --open, anyone) acts as.
const HeaderAs = "X-Parley-As"

// principalKind is what the bearer credential of a request proved.
type principalKind int

const (
	anonymous   principalKind = iota // no credential
	agentToken                       // an agent's token
	adminSecret                      // the hub's admin secret
	joinSecret                       // the join secret: may only register
)

// principal is who presented which credential. It says nothing yet about
// the agent a call acts as; actAs resolves that.
type principal struct {
	kind  principalKind
	agent hub.Caller // the token's agent, when kind is agentToken
	token string     // the agent token itself, when kind is agentToken
}

// hint is a name a request gives for the acting agent besides its
// credential: a body's from or a path's {agent}.
type hint struct {
	what string // how the error names it: "from", "agent in the path"
	name string
}

// authenticate checks the Authorization header. A header that is
// present must be a valid Bearer credential, in every mode.
func (s *Server) authenticate(r *http.Request) (principal, error) {
	if as := r.Header.Get(HeaderAs); as != "" {
		if _, err := hub.NormalizeName(HeaderAs, as); err != nil {
			return principal{}, err
		}
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return principal{kind: anonymous}, nil
	}
	scheme, cred, found := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	if !found || !strings.EqualFold(scheme, "Bearer") || cred == "" {
		return principal{}, hub.Errorf(hub.CodeUnauthenticated, `Authorization header must be "Bearer <token>"`)
	}
	admin := s.opts.AdminSecret != "" && secretEqual(cred, s.opts.AdminSecret)
	join := s.opts.JoinSecret != "" && secretEqual(cred, s.opts.JoinSecret)
	switch {
	case admin:
		return principal{kind: adminSecret}, nil
	case join:
		return principal{kind: joinSecret}, nil
	}
	c, err := s.svc.Authenticate(r.Context(), cred)
	if err != nil {
		return principal{}, err
	}
	return principal{kind: agentToken, agent: c, token: cred}, nil
}

// secretEqual compares a presented secret with a configured one in
// constant time, whatever their lengths.
func secretEqual(got, want string) bool {
	g := sha256.Sum256([]byte(got))
	w := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// requireAny refuses anonymous callers unless the hub is open.
func (s *Server) requireAny(p principal) error {
	if p.kind == anonymous && !s.svc.Open() {
		return hub.Errorf(hub.CodeUnauthenticated, "this call needs a credential: Authorization: Bearer <agent token or admin secret>")
	}
	return nil
}

// authenticateAgent authenticates a request that must act as an agent,
// and refuses at once a credential that can never do so, before the
// handler reads the body.
func (s *Server) authenticateAgent(r *http.Request) (principal, error) {
	p, err := s.authenticate(r)
	if err != nil {
		return principal{}, err
	}
	if s.svc.Open() {
		return p, nil
	}
	switch p.kind {
	case anonymous:
		return principal{}, errNeedToken
	case joinSecret:
		return principal{}, errJoinOnly
	}
	return p, nil
}

var (
	errNeedToken = hub.Errorf(hub.CodeUnauthenticated, "this call needs an agent token: Authorization: Bearer <token>")
	errJoinOnly  = hub.Errorf(hub.CodeForbidden, "the join secret may only register agents (POST /peers/connect); use the agent token registration returned")
)

// auth authenticates the request and returns the agent it acts as; see
// actAs.
func (s *Server) auth(r *http.Request, hints ...hint) (hub.Caller, error) {
	p, err := s.authenticateAgent(r)
	if err != nil {
		return hub.Caller{}, err
	}
	return s.actAs(r, p, hints...)
}

// actAs returns the agent a call acts as:
//   - an agent token: that agent; X-Parley-As and every hint must name it;
//   - the admin secret: the agent named by X-Parley-As, else human, with
//     admin rights; hints must name the same agent;
//   - under --open without a credential: the first of X-Parley-As and the
//     hints that is given; the others must agree with it;
//   - anything else is refused.
func (s *Server) actAs(r *http.Request, p principal, hints ...hint) (hub.Caller, error) {
	all := make([]hint, 0, len(hints)+1)
	if as := r.Header.Get(HeaderAs); as != "" {
		all = append(all, hint{what: HeaderAs, name: as})
	}
	for _, h := range hints {
		if h.name != "" {
			all = append(all, h)
		}
	}
	names := make([]string, len(all))
	for i, h := range all {
		n, err := hub.NormalizeName(h.what, h.name)
		if err != nil {
			return hub.Caller{}, err
		}
		names[i] = n
	}
	kind := p.kind
	if kind == joinSecret && s.svc.Open() {
		kind = anonymous
	}
	switch kind {
	case agentToken:
		for i, h := range all {
			if names[i] != p.agent.Name {
				return hub.Caller{}, hub.Errorf(hub.CodeForbidden, "%s does not match your token: %q given, the token is %q's", h.what, h.name, p.agent.Name)
			}
		}
		return p.agent, nil
	case adminSecret:
		name := hub.HumanName
		if len(all) > 0 && all[0].what == HeaderAs {
			name = names[0]
		}
		for i, h := range all {
			if names[i] != name {
				return hub.Caller{}, hub.Errorf(hub.CodeForbidden, "%s does not match the agent you act as: %q given, you act as %q (choose with %s)", h.what, h.name, name, HeaderAs)
			}
		}
		c, err := s.svc.CallerFor(r.Context(), name)
		if err != nil {
			return hub.Caller{}, err
		}
		c.Admin = true
		return c, nil
	case joinSecret:
		return hub.Caller{}, errJoinOnly
	}
	if !s.svc.Open() {
		return hub.Caller{}, errNeedToken
	}
	if len(all) == 0 {
		return hub.Caller{}, hub.Errorf(hub.CodeUnauthenticated, "say which agent you are: an agent token, the %s header, or from in the body", HeaderAs)
	}
	for i, h := range all[1:] {
		if names[i+1] != names[0] {
			return hub.Caller{}, hub.Errorf(hub.CodeForbidden, "%s does not match %s: %q given, %q acts", h.what, all[0].what, h.name, all[0].name)
		}
	}
	return s.svc.CallerFor(r.Context(), names[0])
}
