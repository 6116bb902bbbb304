package hub

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on agent fields.
const (
	maxCapabilities = 64
	maxFieldLen     = 1024
	maxStatusLen    = 256
)

// Register registers an agent, or re-registers an existing one whose
// token is presented. Callers must already have checked that the
// requester may register (admin or join secret, or open mode).
func (s *Service) Register(ctx context.Context, req RegisterRequest) (Registration, error) {
	if err := s.normalizeRegister(&req); err != nil {
		return Registration{}, err
	}
	var reg Registration
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		reg, err = s.registerTx(ctx, tx, req)
		return err
	})
	if err != nil {
		return Registration{}, err
	}
	s.Touch(reg.Agent.Name)
	return reg, nil
}

func (s *Service) normalizeRegister(req *RegisterRequest) error {
	var err error
	if req.Name, err = NormalizeOptionalName("agent name", req.Name); err != nil {
		return err
	}
	if req.Role, err = NormalizeOptionalName("role", req.Role); err != nil {
		return err
	}
	if len(req.Capabilities) > maxCapabilities {
		return Errorf(CodeInvalid, "capabilities: %d given, at most %d allowed", len(req.Capabilities), maxCapabilities)
	}
	for i, c := range req.Capabilities {
		if c == "" || len(c) > MaxNameLen || !utf8.ValidString(c) || strings.ContainsAny(c, "\r\n\x00") {
			return Errorf(CodeInvalid, "capabilities[%d]: must be 1 to %d characters of one line", i, MaxNameLen)
		}
	}
	for _, f := range []struct{ name, value string }{
		{"description", req.Description}, {"project", req.Project},
		{"client", req.Client}, {"host", req.Host},
	} {
		if len(f.value) > maxFieldLen || !utf8.ValidString(f.value) {
			return Errorf(CodeInvalid, "%s: must be valid UTF-8 of at most %d bytes", f.name, maxFieldLen)
		}
	}
	if req.PID < 0 {
		return Errorf(CodeInvalid, "pid: must not be negative")
	}
	if req.Capabilities == nil {
		req.Capabilities = []string{}
	}
	return nil
}

func (s *Service) registerTx(ctx context.Context, tx Tx, req RegisterRequest) (Registration, error) {
	now := s.now()
	if req.Name == "" {
		name, err := s.freeName(ctx, tx, baseName(req))
		if err != nil {
			return Registration{}, err
		}
		req.Name = name
	}
	existing, err := tx.AgentByName(ctx, req.Name)
	switch {
	case err == nil:
		return s.reclaimTx(ctx, tx, existing, req)
	case !errors.Is(err, ErrNotFound):
		return Registration{}, fmt.Errorf("register %q: %w", req.Name, err)
	}
	if fwd, err := tx.Forward(ctx, req.Name, now); err == nil {
		return Registration{}, Errorf(CodeNameTaken, "name %q forwards to %q until %s after a rename; choose another name", req.Name, fwd.To, fwd.ExpiresAt.Format("15:04 MST"))
	} else if !errors.Is(err, ErrNotFound) {
		return Registration{}, err
	}
	a, err := tx.InsertAgent(ctx, Agent{
		Name: req.Name, Role: req.Role, Capabilities: req.Capabilities,
		Description: req.Description, Project: req.Project, Client: req.Client,
		Host: req.Host, PID: req.PID, State: StateOnline,
		RegisteredAt: now, LastSeen: now,
	})
	if err != nil {
		return Registration{}, fmt.Errorf("register %q: %w", req.Name, err)
	}
	token, hash, err := newToken()
	if err != nil {
		return Registration{}, err
	}
	if err := tx.PutCredential(ctx, Credential{AgentID: a.ID, TokenHash: hash, Open: s.opts.Open, ExpiresAt: s.tokenExpiry(now)}); err != nil {
		return Registration{}, fmt.Errorf("register %q: %w", req.Name, err)
	}
	held, err := tx.TakeHeld(ctx, a.Name, now)
	if err != nil {
		return Registration{}, fmt.Errorf("register %q: held mail: %w", req.Name, err)
	}
	for _, id := range held {
		if _, err := tx.Deliver(ctx, id, a.ID); err != nil {
			return Registration{}, fmt.Errorf("register %q: deliver held %d: %w", req.Name, id, err)
		}
	}
	ev := s.event(EventAgentRegistered, a.Name, a.Name, nil, a)
	if err := appendEvents(ctx, tx, ev); err != nil {
		return Registration{}, err
	}
	return Registration{Agent: a, Token: token, Delivered: len(held)}, nil
}

// reclaimTx re-registers an agent that presents its token.
func (s *Service) reclaimTx(ctx context.Context, tx Tx, a Agent, req RegisterRequest) (Registration, error) {
	if req.Token == "" {
		return Registration{}, Errorf(CodeNameTaken, "name %q is taken; re-registering it needs its token", req.Name)
	}
	cred, err := s.credential(ctx, tx, req.Token)
	if err != nil || cred.AgentID != a.ID {
		return Registration{}, Errorf(CodeNameTaken, "name %q is taken and the token given is not its token", req.Name)
	}
	if now := s.now(); s.expiryDue(cred, now) {
		cred.ExpiresAt = s.tokenExpiry(now)
		if err := tx.PutCredential(ctx, cred); err != nil {
			return Registration{}, fmt.Errorf("re-register %q: %w", a.Name, err)
		}
	}
	a.Role, a.Capabilities, a.Description = req.Role, req.Capabilities, req.Description
	a.Project, a.Client, a.Host, a.PID = req.Project, req.Client, req.Host, req.PID
	a.LastSeen = s.now()
	if err := tx.UpdateAgent(ctx, a); err != nil {
		return Registration{}, fmt.Errorf("re-register %q: %w", a.Name, err)
	}
	ev := s.event(EventAgentRegistered, a.Name, a.Name, nil, a)
	if err := appendEvents(ctx, tx, ev); err != nil {
		return Registration{}, err
	}
	return Registration{Agent: a, Token: req.Token, Reclaimed: true}, nil
}

func baseName(req RegisterRequest) string {
	for _, s := range []string{req.Role, req.Client} {
		if n, err := NormalizeName("name", s); err == nil {
			return n
		}
	}
	return "agent"
}

// freeName returns base, or base-2, base-3... whichever is free.
func (s *Service) freeName(ctx context.Context, r Reader, base string) (string, error) {
	if len(base) > MaxNameLen-4 {
		base = base[:MaxNameLen-4]
	}
	now := s.now()
	for i := 1; i < 10000; i++ {
		name := base
		if i > 1 {
			name = base + "-" + strconv.Itoa(i)
		}
		_, err := r.AgentByName(ctx, name)
		if errors.Is(err, ErrNotFound) {
			if _, err := r.Forward(ctx, name, now); errors.Is(err, ErrNotFound) {
				return name, nil
			}
			continue
		}
		if err != nil {
			return "", err
		}
	}
	return "", Errorf(CodeNameTaken, "no free name starting with %q", base)
}

// FreeName returns name if no agent holds it, else the first free name
// with a numeric suffix.
func (s *Service) FreeName(ctx context.Context, name string) (string, error) {
	base, err := NormalizeName("agent name", name)
	if err != nil {
		return "", err
	}
	var free string
	err = s.store.View(ctx, func(r Reader) error {
		free, err = s.freeName(ctx, r, base)
		return err
	})
	return free, err
}

// credential looks a token up and checks that it is valid now.
func (s *Service) credential(ctx context.Context, r Reader, token string) (Credential, error) {
	if token == "" {
		return Credential{}, Errorf(CodeUnauthenticated, "no agent token given")
	}
	cred, err := r.Credential(ctx, HashToken(token))
	if errors.Is(err, ErrNotFound) {
		return Credential{}, Errorf(CodeUnauthenticated, "unknown or revoked agent token")
	}
	if err != nil {
		return Credential{}, err
	}
	if cred.Open && !s.opts.Open {
		return Credential{}, Errorf(CodeUnauthenticated, "agent token was issued while authentication was off; register again")
	}
	if !cred.ExpiresAt.IsZero() && !s.now().Before(cred.ExpiresAt) {
		return Credential{}, Errorf(CodeUnauthenticated, "agent token has expired: it was not used for longer than the hub's token lifetime; the admin can free the name (parley admin release NAME) so that it registers again")
	}
	return cred, nil
}

// Authenticate returns the caller a token belongs to.
func (s *Service) Authenticate(ctx context.Context, token string) (Caller, error) {
	key := string(HashToken(token))
	if ct, ok := s.tokens.get(key); ok && s.credentialValid(ct.cred) {
		s.extendToken(ctx, ct.cred)
		s.Touch(ct.caller.Name)
		return ct.caller, nil
	}
	gen := s.tokens.gen()
	var c Caller
	var cred Credential
	err := s.store.View(ctx, func(r Reader) error {
		var err error
		cred, err = s.credential(ctx, r, token)
		if err != nil {
			return err
		}
		a, err := r.AgentByID(ctx, cred.AgentID)
		if errors.Is(err, ErrNotFound) {
			return Errorf(CodeUnauthenticated, "the token's agent no longer exists")
		}
		if err != nil {
			return err
		}
		c = Caller{AgentID: a.ID, Name: a.Name}
		return nil
	})
	if err != nil {
		return Caller{}, err
	}
	s.tokens.put(gen, key, cachedToken{caller: c, cred: cred})
	s.extendToken(ctx, cred)
	s.Touch(c.Name)
	return c, nil
}

// credentialValid reports whether a cached credential may still be used
// now; one that looks expired is looked up again, since its expiry may
// have moved.
func (s *Service) credentialValid(c Credential) bool {
	if c.Open && !s.opts.Open {
		return false
	}
	return c.ExpiresAt.IsZero() || s.now().Before(c.ExpiresAt)
}

// CallerFor returns the caller acting as the named agent, for open mode
// and for the dashboard's human. It does not authenticate.
func (s *Service) CallerFor(ctx context.Context, name string) (Caller, error) {
	name, err := NormalizeName("agent name", name)
	if err != nil {
		return Caller{}, err
	}
	var a Agent
	err = s.store.View(ctx, func(r Reader) error {
		a, err = r.AgentByName(ctx, name)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Caller{}, Errorf(CodeNotFound, "agent %q is not registered", name)
	}
	if err != nil {
		return Caller{}, err
	}
	s.Touch(a.Name)
	return Caller{AgentID: a.ID, Name: a.Name}, nil
}

// EnsureAgent registers name if no agent holds it, without a token. The
// hub uses it for the dashboard's human.
func (s *Service) EnsureAgent(ctx context.Context, name, client string) (Agent, error) {
	name, err := NormalizeName("agent name", name)
	if err != nil {
		return Agent{}, err
	}
	var a Agent
	err = s.store.Update(ctx, func(tx Tx) error {
		a, err = tx.AgentByName(ctx, name)
		if err == nil || !errors.Is(err, ErrNotFound) {
			return err
		}
		now := s.now()
		a, err = tx.InsertAgent(ctx, Agent{Name: name, Client: client, Capabilities: []string{}, State: StateOnline, RegisteredAt: now, LastSeen: now})
		if err != nil {
			return err
		}
		held, err := tx.TakeHeld(ctx, name, now)
		if err != nil {
			return err
		}
		for _, id := range held {
			if _, err := tx.Deliver(ctx, id, a.ID); err != nil {
				return err
			}
		}
		return appendEvents(ctx, tx, s.event(EventAgentRegistered, name, name, nil, a))
	})
	if err != nil {
		return Agent{}, fmt.Errorf("ensure agent %q: %w", name, err)
	}
	return a, nil
}

// Whoami returns the caller's agent.
func (s *Service) Whoami(ctx context.Context, c Caller) (Peer, error) {
	if !c.IsAgent() {
		return Peer{}, Errorf(CodeForbidden, "this call needs an agent token")
	}
	var p Peer
	err := s.store.View(ctx, func(r Reader) error {
		a, err := r.AgentByID(ctx, c.AgentID)
		if err != nil {
			return err
		}
		n, err := r.UnreadCount(ctx, a.ID)
		if err != nil {
			return err
		}
		p = s.peer(a, n)
		return nil
	})
	return p, err
}

// Peers lists registered agents with presence; role filters when set,
// onlineOnly drops offline agents.
func (s *Service) Peers(ctx context.Context, role string, onlineOnly bool) ([]Peer, error) {
	role, err := NormalizeOptionalName("role", role)
	if err != nil {
		return nil, err
	}
	var agents []Agent
	var unread map[int64]int
	err = s.store.View(ctx, func(r Reader) error {
		if agents, err = r.Agents(ctx, role); err != nil {
			return err
		}
		unread, err = r.UnreadCounts(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list peers: %w", err)
	}
	peers := make([]Peer, 0, len(agents))
	for _, a := range agents {
		p := s.peer(a, unread[a.ID])
		if onlineOnly && !p.Online {
			continue
		}
		peers = append(peers, p)
	}
	return peers, nil
}

// Peer returns one agent with presence.
func (s *Service) Peer(ctx context.Context, name string) (Peer, error) {
	name, err := NormalizeName("agent name", name)
	if err != nil {
		return Peer{}, err
	}
	var p Peer
	err = s.store.View(ctx, func(r Reader) error {
		a, err := r.AgentByName(ctx, name)
		if errors.Is(err, ErrNotFound) {
			return Errorf(CodeNotFound, "agent %q is not registered", name)
		}
		if err != nil {
			return err
		}
		n, err := r.UnreadCount(ctx, a.ID)
		p = s.peer(a, n)
		return err
	})
	return p, err
}

func (s *Service) peer(a Agent, unread int) Peer {
	online, lastSeen := s.presenceOf(a.Name)
	p := Peer{Agent: a, Online: online, Presence: StateOffline, Unread: unread, PeerID: a.Name}
	if online {
		p.Presence = a.State
		if p.Presence == "" {
			p.Presence = StateOnline
		}
	}
	if lastSeen.After(p.LastSeen) {
		p.LastSeen = lastSeen
	}
	return p
}

// SetStatus changes the caller's status text or state.
func (s *Service) SetStatus(ctx context.Context, c Caller, u StatusUpdate) (Agent, error) {
	if !c.IsAgent() {
		return Agent{}, Errorf(CodeForbidden, "this call needs an agent token")
	}
	if u.State != nil {
		switch *u.State {
		case StateOnline, StateBusy, StateIdle:
		default:
			return Agent{}, Errorf(CodeInvalid, "state %q: must be online, busy or idle", *u.State)
		}
	}
	if u.Status != nil && (len(*u.Status) > maxStatusLen || !utf8.ValidString(*u.Status)) {
		return Agent{}, Errorf(CodeInvalid, "status: must be valid UTF-8 of at most %d bytes", maxStatusLen)
	}
	var a Agent
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		if a, err = tx.AgentByID(ctx, c.AgentID); err != nil {
			return err
		}
		if u.Status != nil {
			a.StatusText = *u.Status
		}
		if u.State != nil {
			a.State = *u.State
		}
		if err := tx.UpdateAgent(ctx, a); err != nil {
			return err
		}
		return appendEvents(ctx, tx, s.event(EventAgentStatus, a.Name, a.Name, nil,
			map[string]string{"status": a.StatusText, "state": a.State}))
	})
	if err != nil {
		return Agent{}, fmt.Errorf("set status of %q: %w", c.Name, err)
	}
	s.Touch(a.Name)
	return a, nil
}

// Rename gives the caller a new name. Mail to the old name forwards to
// the new one for ForwardTTL.
func (s *Service) Rename(ctx context.Context, c Caller, newName string) (Agent, error) {
	if !c.IsAgent() {
		return Agent{}, Errorf(CodeForbidden, "only an agent can rename itself")
	}
	newName, err := NormalizeName("new name", newName)
	if err != nil {
		return Agent{}, err
	}
	now := s.now()
	var a Agent
	var old string
	err = s.store.Update(ctx, func(tx Tx) error {
		var err error
		if a, err = tx.AgentByID(ctx, c.AgentID); err != nil {
			return err
		}
		old = a.Name
		if old == newName {
			return Errorf(CodeInvalid, "agent is already named %q", newName)
		}
		if _, err := tx.AgentByName(ctx, newName); err == nil {
			return Errorf(CodeNameTaken, "name %q is taken", newName)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if fwd, err := tx.Forward(ctx, newName, now); err == nil && fwd.AgentID != a.ID {
			return Errorf(CodeNameTaken, "name %q still forwards to %q", newName, fwd.To)
		}
		if err := tx.DeleteForward(ctx, newName); err != nil {
			return err
		}
		a.Name = newName
		if err := tx.UpdateAgent(ctx, a); err != nil {
			return err
		}
		if err := renameVoterTx(ctx, tx, old, newName); err != nil {
			return err
		}
		fwd := Forward{From: old, AgentID: a.ID, To: newName, ExpiresAt: now.Add(s.opts.ForwardTTL)}
		if err := tx.PutForward(ctx, fwd); err != nil {
			return err
		}
		return appendEvents(ctx, tx, s.event(EventAgentRenamed, newName, old, nil, fwd))
	})
	if err != nil {
		return Agent{}, fmt.Errorf("rename %q: %w", c.Name, err)
	}
	s.tokens.forget()
	s.renamePresence(old, newName)
	return a, nil
}

// Deregister removes the caller's agent, its token and its mail. Its
// name becomes free.
func (s *Service) Deregister(ctx context.Context, c Caller) error {
	if !c.IsAgent() {
		return Errorf(CodeForbidden, "only an agent can deregister itself")
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		a, err := tx.AgentByID(ctx, c.AgentID)
		if err != nil {
			return err
		}
		if err := s.failCommandsOfTx(ctx, tx, a, s.now()); err != nil {
			return err
		}
		if err := tx.DeleteAgent(ctx, a.ID); err != nil {
			return err
		}
		gone := s.event(EventAgentDeregistered, a.Name, a.Name, nil, nil)
		gone.Revokes = a.ID
		return appendEvents(ctx, tx, gone)
	})
	if err != nil {
		return fmt.Errorf("deregister %q: %w", c.Name, err)
	}
	s.tokens.forget()
	s.mu.Lock()
	delete(s.presence, c.Name)
	s.mu.Unlock()
	return nil
}

// Reset removes everything from the hub. Only the admin may reset.
func (s *Service) Reset(ctx context.Context, c Caller) error {
	if !c.Admin && !s.opts.Open {
		return Errorf(CodeForbidden, "reset needs the admin secret")
	}
	rec := s.auditRecord(AuditReset, c, "", "every agent, message and record removed")
	err := s.store.Update(ctx, func(tx Tx) error {
		if err := tx.Reset(ctx); err != nil {
			return err
		}
		return appendEvents(ctx, tx, s.event(EventHubReset, c.Name, "", nil, nil),
			s.event(EventAdminReset, c.Name, "", nil, rec))
	})
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	s.tokens.forget()
	s.audit(rec)
	s.mu.Lock()
	clear(s.presence)
	s.mu.Unlock()
	// The dashboard's human always exists.
	_, err = s.EnsureAgent(ctx, HumanName, "human")
	return err
}
