package hub

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Agent tokens expire, rotate and can be revoked; the admin can also free
// a name outright. This file holds those rules and the audit records of
// admin actions.
//
// Expiry slides: a token is valid until TokenTTL after its last use. A use
// moves the stored expiry forward only when it has fallen at least
// tokenTouch behind now+TokenTTL, so a busy agent costs at most one write
// per token per minute, and the hot path of authentication stays a read.

// DefaultTokenTTL is how long an unused agent token stays valid.
const DefaultTokenTTL = 30 * 24 * time.Hour

// tokenTouch is the least time between two writes extending one token.
const tokenTouch = time.Minute

// Admin actions, as AuditRecord.Action.
const (
	AuditReset   = "reset"
	AuditRevoke  = "revoke"
	AuditRelease = "release"
)

// AuditRecord is one admin action, as the audit log keeps it and as the
// data of its admin.* event. It never holds a token or a secret.
type AuditRecord struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	// Actor is the agent the caller acted as: "human" for the admin
	// secret unless it named another, "" for an anonymous caller of a hub
	// running with --open.
	Actor string `json:"actor"`
	// Admin is true when the caller presented the admin secret.
	Admin bool `json:"admin"`
	// Target is the agent or name acted on, when there is one.
	Target string `json:"target,omitempty"`
	// Detail says what changed.
	Detail string `json:"detail,omitempty"`
}

// tokenExpiry returns the expiry of a token used at now; zero when
// tokens never expire.
func (s *Service) tokenExpiry(now time.Time) time.Time {
	if s.opts.TokenTTL < 0 {
		return time.Time{}
	}
	return now.Add(s.opts.TokenTTL)
}

// expiryDue reports whether a credential used at now should have its
// expiry moved forward.
func (s *Service) expiryDue(c Credential, now time.Time) bool {
	if s.opts.TokenTTL < 0 {
		return false
	}
	if c.ExpiresAt.IsZero() {
		return true // issued before expiry was on
	}
	return s.tokenExpiry(now).Sub(c.ExpiresAt) >= min(tokenTouch, s.opts.TokenTTL/2)
}

// extendToken moves a valid credential's expiry to now+TokenTTL when it
// is due. Concurrent requests with one token write once; a failure is
// logged and does not fail the request, whose token is still valid.
func (s *Service) extendToken(ctx context.Context, c Credential) {
	now := s.now()
	if !s.expiryDue(c, now) {
		return
	}
	key := string(c.TokenHash)
	if _, busy := s.extending.LoadOrStore(key, struct{}{}); busy {
		return
	}
	defer s.extending.Delete(key)
	want := s.tokenExpiry(now)
	var expires time.Time
	err := s.store.Update(ctx, func(tx Tx) error {
		cur, err := tx.Credential(ctx, c.TokenHash)
		if errors.Is(err, ErrNotFound) {
			return nil // revoked or rotated meanwhile: never bring it back
		}
		if err != nil {
			return err
		}
		if !cur.ExpiresAt.IsZero() && !cur.ExpiresAt.Before(want) {
			expires = cur.ExpiresAt
			return nil
		}
		cur.ExpiresAt = want
		expires = want
		return tx.PutCredential(ctx, cur)
	})
	if err == nil && !expires.IsZero() {
		// The cache must learn the expiry, or every request would come
		// back here.
		s.tokens.extended(key, Credential{ExpiresAt: expires})
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("extend token expiry", "agent_id", c.AgentID, "err", err)
	}
}

// RotateToken replaces every token of the caller's agent with a new one
// and returns it. The old token is invalid from the moment this returns.
func (s *Service) RotateToken(ctx context.Context, c Caller) (string, error) {
	if !c.IsAgent() {
		return "", Errorf(CodeForbidden, "rotating a token needs the agent's own token")
	}
	token, hash, err := newToken()
	if err != nil {
		return "", err
	}
	now := s.now()
	err = s.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.AgentByID(ctx, c.AgentID); err != nil {
			return err
		}
		if err := tx.DeleteCredentials(ctx, c.AgentID); err != nil {
			return err
		}
		return tx.PutCredential(ctx, Credential{AgentID: c.AgentID, TokenHash: hash, Open: s.opts.Open, ExpiresAt: s.tokenExpiry(now)})
	})
	if err != nil {
		return "", fmt.Errorf("rotate token of %q: %w", c.Name, err)
	}
	s.tokens.forget()
	s.Touch(c.Name)
	return token, nil
}

// requireAdmin refuses a caller without the admin secret, unless the hub
// runs with authentication off.
func (s *Service) requireAdmin(c Caller, what string) error {
	if !c.Admin && !s.opts.Open {
		return Errorf(CodeForbidden, "%s needs the admin secret", what)
	}
	return nil
}

// RevokeTokens makes every token of the named agent invalid at once. The
// agent keeps its name and mail; nobody can act as it until the admin
// releases the name (ReleaseName) and it registers again. Only the admin
// may revoke.
func (s *Service) RevokeTokens(ctx context.Context, c Caller, name string) (AuditRecord, error) {
	if err := s.requireAdmin(c, "revoking tokens"); err != nil {
		return AuditRecord{}, err
	}
	name, err := NormalizeName("agent name", name)
	if err != nil {
		return AuditRecord{}, err
	}
	rec := s.auditRecord(AuditRevoke, c, name, "every token of the agent revoked")
	err = s.store.Update(ctx, func(tx Tx) error {
		a, err := tx.AgentByName(ctx, name)
		if errors.Is(err, ErrNotFound) {
			return Errorf(CodeNotFound, "agent %q is not registered", name)
		}
		if err != nil {
			return err
		}
		if err := tx.DeleteCredentials(ctx, a.ID); err != nil {
			return err
		}
		ev := s.event(EventAdminRevoke, c.Name, name, []string{name}, rec)
		ev.Revokes = a.ID
		return appendEvents(ctx, tx, ev)
	})
	if err != nil {
		return AuditRecord{}, fmt.Errorf("revoke tokens of %q: %w", name, err)
	}
	s.tokens.forget()
	s.audit(rec)
	return rec, nil
}

// ReleaseName frees a name by force: the agent holding it is removed
// with its tokens and mail, as if it had deregistered, or a forward left
// by a rename is dropped. Only the admin may release a name; the
// dashboard's agent human cannot be released.
func (s *Service) ReleaseName(ctx context.Context, c Caller, name string) (AuditRecord, error) {
	if err := s.requireAdmin(c, "releasing a name"); err != nil {
		return AuditRecord{}, err
	}
	name, err := NormalizeName("agent name", name)
	if err != nil {
		return AuditRecord{}, err
	}
	if name == HumanName {
		return AuditRecord{}, Errorf(CodeInvalid, "%q is the dashboard's agent; it cannot be released", name)
	}
	now := s.now()
	var rec AuditRecord
	err = s.store.Update(ctx, func(tx Tx) error {
		a, err := tx.AgentByName(ctx, name)
		switch {
		case err == nil:
			if err := s.failCommandsOfTx(ctx, tx, a, now); err != nil {
				return err
			}
			if err := tx.DeleteAgent(ctx, a.ID); err != nil {
				return err
			}
			rec = s.auditRecord(AuditRelease, c, name, "agent removed with its tokens and mail")
			gone := s.event(EventAgentDeregistered, name, name, nil, nil)
			released := s.event(EventAdminRelease, c.Name, name, []string{name}, rec)
			gone.Revokes, released.Revokes = a.ID, a.ID
			return appendEvents(ctx, tx, gone, released)
		case !errors.Is(err, ErrNotFound):
			return err
		}
		fwd, err := tx.Forward(ctx, name, now)
		if errors.Is(err, ErrNotFound) {
			return Errorf(CodeNotFound, "no agent and no forward holds the name %q", name)
		}
		if err != nil {
			return err
		}
		if err := tx.DeleteForward(ctx, name); err != nil {
			return err
		}
		rec = s.auditRecord(AuditRelease, c, name, fmt.Sprintf("forward to %q removed", fwd.To))
		return appendEvents(ctx, tx, s.event(EventAdminRelease, c.Name, name, []string{name}, rec))
	})
	if err != nil {
		return AuditRecord{}, fmt.Errorf("release %q: %w", name, err)
	}
	s.tokens.forget()
	s.mu.Lock()
	delete(s.presence, name)
	s.mu.Unlock()
	s.audit(rec)
	return rec, nil
}

func (s *Service) auditRecord(action string, c Caller, target, detail string) AuditRecord {
	return AuditRecord{Time: s.now(), Action: action, Actor: c.Name, Admin: c.Admin, Target: target, Detail: detail}
}

// audit hands a committed admin action to Options.Audit and the log.
func (s *Service) audit(rec AuditRecord) {
	s.log.Info("admin action", "action", rec.Action, "actor", rec.Actor, "admin", rec.Admin, "target", rec.Target, "detail", rec.Detail)
	if s.opts.Audit != nil {
		s.opts.Audit(rec)
	}
}

// RevokeGrace is how long a stream ended by a hub reset (see UntilRevoked)
// lives on, so that it can still tell its client about the reset.
const RevokeGrace = time.Second

// revokeKinds are the events after which a token may no longer
// authenticate.
var revokeKinds = []string{EventAdminRevoke, EventAdminRelease, EventAgentDeregistered, EventHubReset}

// UntilRevoked returns a context that ends with ctx, or as soon as token
// no longer authenticates: its agent's tokens revoked, its name released,
// the agent deregistered, or the hub reset (RevokeGrace after the reset,
// so that a stream can still pass the reset on). A stream authenticated
// by an agent token runs under it, so a revoked agent stops at once
// rather than when it reconnects. The token is checked again once the
// watch is in place, so a revocation between authenticating the stream
// and this call is not missed. The watch follows the token, not a name,
// so it survives the agent renaming itself. Call the CancelFunc when the
// stream ends; it stops the watch.
//
// The watch holds no goroutine while nothing happens (every agent's
// stream has one): the bus calls it with each admin event, and a check
// of the token runs on a short-lived goroutine, one at a time. Once the
// watch knows the token's agent (from the token cache, which the
// caller's authentication filled, else from its first check), events
// that end another agent (Event.Revokes) are left alone: ending one
// agent costs its own streams a check, not every stream of the hub.
func (s *Service) UntilRevoked(ctx context.Context, token string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	w := &revokeWatch{s: s, ctx: ctx, cancel: cancel, token: token}
	if ct, ok := s.tokens.get(string(HashToken(token))); ok {
		w.agent.Store(ct.caller.AgentID) // the caller has just authenticated
	}
	sub := s.bus.Subscribe(Filter{Kinds: revokeKinds, Notify: w.event})
	stop := context.AfterFunc(ctx, sub.Close)
	w.recheck() // what happened before the subscription
	return ctx, func() {
		cancel()
		if stop() {
			sub.Close()
		}
	}
}

// revokeWatch is one stream's watch of its token (UntilRevoked).
type revokeWatch struct {
	s      *Service
	ctx    context.Context
	cancel context.CancelFunc
	token  string
	// agent is the ID of the token's agent, once a check has found it.
	agent atomic.Int64
	// checking is set while a check runs; again asks it for one more.
	checking, again atomic.Bool
}

// event is the bus's call: under its lock, so it only starts work.
func (w *revokeWatch) event(e Event) {
	if e.Kind == EventHubReset {
		time.AfterFunc(RevokeGrace, w.cancel)
		return
	}
	if id := w.agent.Load(); id != 0 && e.Revokes != 0 && e.Revokes != id {
		return // another agent's tokens: this one's are as they were
	}
	w.recheck()
}

// recheck checks the token on a goroutine of its own, or asks the
// running check to look again.
func (w *revokeWatch) recheck() {
	w.again.Store(true)
	if w.checking.CompareAndSwap(false, true) {
		go w.check()
	}
}

func (w *revokeWatch) check() {
	for {
		w.again.Store(false)
		if w.ctx.Err() != nil {
			return
		}
		revoked, agent := w.s.tokenRevoked(w.ctx, w.token)
		if revoked {
			w.cancel()
			return
		}
		if agent != 0 {
			w.agent.Store(agent)
		}
		w.checking.Store(false)
		if !w.again.Load() || !w.checking.CompareAndSwap(false, true) {
			return
		}
	}
}

// tokenRevoked reports whether token no longer authenticates and, when
// it does, the ID of its agent. Unlike Authenticate it does not count as
// a use of the token. A failure to read the store is not a revocation.
func (s *Service) tokenRevoked(ctx context.Context, token string) (revoked bool, agent int64) {
	err := s.store.View(ctx, func(r Reader) error {
		cred, err := s.credential(ctx, r, token)
		if err != nil {
			return err
		}
		a, err := r.AgentByID(ctx, cred.AgentID)
		agent = a.ID
		return err
	})
	switch {
	case errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrNotFound):
		return true, 0
	case err != nil:
		return false, 0
	}
	return false, agent
}
