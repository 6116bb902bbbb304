package hub

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxReasonLen bounds a lease's reason.
const maxReasonLen = 1024

// Lease reserves files, named by glob patterns, for one agent until it
// expires. An exclusive lease keeps every other agent from reserving an
// overlapping pattern; shared leases only conflict with exclusive ones.
// Each grant carries a fencing token that is larger than every token
// granted before it, also across restarts, so a holder whose lease ran
// out can be told apart from its successor.
type Lease struct {
	ID        int64    `json:"id"`
	Holder    string   `json:"holder"`
	Patterns  []string `json:"patterns"`
	Exclusive bool     `json:"exclusive"`
	Reason    string   `json:"reason,omitempty"`
	// Token is the fencing token of the grant; renewals keep it.
	Token     int64     `json:"fencing_token"`
	GrantedAt time.Time `json:"granted_at"`
	RenewedAt time.Time `json:"renewed_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at"`

	HolderID int64 `json:"-"`
}

// LeaseRequest asks for a lease. The holder is the Caller.
type LeaseRequest struct {
	// Patterns are globs relative to the repository root ("src/api/**").
	Patterns StringList `json:"patterns"`
	// TTL is how long the lease lasts; zero takes the hub's default.
	TTL Duration `json:"ttl,omitzero"`
	// Exclusive defaults to true.
	Exclusive *bool  `json:"exclusive,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// LeaseListOptions select the live leases ListLeases returns.
type LeaseListOptions struct {
	// Holder keeps only the leases of that agent.
	Holder string
	// Path keeps only leases with a pattern that matches it.
	Path string
}

// LeaseHit is a path that falls under a lease.
type LeaseHit struct {
	Path    string `json:"path"`
	Pattern string `json:"pattern"`
	Lease   Lease  `json:"lease"`
}

// Reserve grants a lease on the patterns, or refuses with a conflict
// naming the holder, pattern and expiry of the first lease in the way.
func (s *Service) Reserve(ctx context.Context, c Caller, req LeaseRequest) (Lease, error) {
	if !c.IsAgent() {
		return Lease{}, Errorf(CodeForbidden, "reserving files needs an agent")
	}
	if len(req.Patterns) == 0 {
		return Lease{}, Errorf(CodeInvalid, "patterns: give at least one glob, such as src/api/**")
	}
	if len(req.Patterns) > maxPatterns {
		return Lease{}, Errorf(CodeInvalid, "patterns: %d given, at most %d allowed", len(req.Patterns), maxPatterns)
	}
	patterns := make([]string, 0, len(req.Patterns))
	for _, p := range req.Patterns {
		np, err := NormalizePattern(p)
		if err != nil {
			return Lease{}, err
		}
		if !contains(patterns, np) {
			patterns = append(patterns, np)
		}
	}
	ttl, err := s.leaseTTL(req.TTL)
	if err != nil {
		return Lease{}, err
	}
	if err := checkText("reason", req.Reason, maxReasonLen); err != nil {
		return Lease{}, err
	}
	exclusive := req.Exclusive == nil || *req.Exclusive
	now := s.now()
	var l Lease
	err = s.store.Update(ctx, func(tx Tx) error {
		holder, err := tx.AgentByID(ctx, c.AgentID)
		if err != nil {
			return err
		}
		live, err := tx.Leases(ctx, now)
		if err != nil {
			return err
		}
		for _, other := range live {
			if other.HolderID == holder.ID || !exclusive && !other.Exclusive {
				continue
			}
			for _, p := range patterns {
				for _, q := range other.Patterns {
					if PatternsOverlap(p, q) {
						return leaseConflict(p, q, other)
					}
				}
			}
		}
		token, err := tx.NextCounter(ctx, CounterFencing)
		if err != nil {
			return err
		}
		l = Lease{
			Holder: holder.Name, HolderID: holder.ID, Patterns: patterns, Exclusive: exclusive,
			Reason: req.Reason, Token: token, GrantedAt: now, ExpiresAt: now.Add(ttl),
		}
		if l, err = tx.InsertLease(ctx, l); err != nil {
			return err
		}
		return appendEvents(ctx, tx, s.event(EventLeaseGranted, holder.Name, leaseSubject(l.ID), []string{holder.Name}, l))
	})
	if err != nil {
		return Lease{}, fmt.Errorf("reserve %s: %w", strings.Join(patterns, " "), err)
	}
	return l, nil
}

func leaseConflict(p, q string, other Lease) error {
	kind := "shared"
	if other.Exclusive {
		kind = "exclusive"
	}
	msg := fmt.Sprintf("%s overlaps %s, held by %q under %s lease %d until %s",
		p, q, other.Holder, kind, other.ID, other.ExpiresAt.Format(time.RFC3339))
	if other.Reason != "" {
		msg += " (" + truncate(other.Reason, 200) + ")"
	}
	return &Error{Code: CodeConflict, Message: msg}
}

func (s *Service) leaseTTL(d Duration) (time.Duration, error) {
	ttl := time.Duration(d)
	switch {
	case ttl == 0:
		return s.opts.Coordination.LeaseTTL, nil
	case ttl < time.Second:
		return 0, Errorf(CodeInvalid, "ttl %s: must be at least 1s", ttl)
	case ttl > s.opts.Coordination.MaxLeaseTTL:
		return 0, Errorf(CodeInvalid, "ttl %s: longer than the maximum %s", ttl, s.opts.Coordination.MaxLeaseTTL)
	}
	return ttl, nil
}

// RenewLease extends the caller's live lease to ttl from now (the hub's
// default when zero). The fencing token stays the same.
func (s *Service) RenewLease(ctx context.Context, c Caller, id int64, ttl Duration) (Lease, error) {
	if !c.IsAgent() {
		return Lease{}, Errorf(CodeForbidden, "renewing a lease needs its holder")
	}
	d, err := s.leaseTTL(ttl)
	if err != nil {
		return Lease{}, err
	}
	now := s.now()
	var l Lease
	err = s.store.Update(ctx, func(tx Tx) error {
		var err error
		if l, err = tx.Lease(ctx, id); err != nil {
			return notFound(err, "lease %d not found", id)
		}
		if l.HolderID != c.AgentID {
			return Errorf(CodeForbidden, "lease %d is held by %q; only it can renew", id, l.Holder)
		}
		if !now.Before(l.ExpiresAt) {
			return Errorf(CodeConflict, "lease %d expired at %s; reserve again", id, l.ExpiresAt.Format(time.RFC3339))
		}
		l.ExpiresAt, l.RenewedAt = now.Add(d), now
		if err := tx.UpdateLease(ctx, l); err != nil {
			return err
		}
		return appendEvents(ctx, tx, s.event(EventLeaseRenewed, l.Holder, leaseSubject(l.ID), []string{l.Holder}, l))
	})
	if err != nil {
		return Lease{}, fmt.Errorf("renew lease %d: %w", id, err)
	}
	return l, nil
}

// ReleaseLease ends a lease. The holder may release it; the admin, or
// anyone on an open hub who names no agent, may release any.
func (s *Service) ReleaseLease(ctx context.Context, c Caller, id int64) (Lease, error) {
	if err := s.needCaller(c, "releasing a lease"); err != nil {
		return Lease{}, err
	}
	var l Lease
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		if l, err = tx.Lease(ctx, id); err != nil {
			return notFound(err, "lease %d not found", id)
		}
		if c.IsAgent() && l.HolderID != c.AgentID && !c.Admin {
			return Errorf(CodeForbidden, "lease %d is held by %q; only it can release", id, l.Holder)
		}
		if err := tx.DeleteLease(ctx, id); err != nil {
			return err
		}
		return appendEvents(ctx, tx, s.event(EventLeaseReleased, c.Name, leaseSubject(l.ID), []string{l.Holder}, l))
	})
	if err != nil {
		return Lease{}, fmt.Errorf("release lease %d: %w", id, err)
	}
	return l, nil
}

// GetLease returns a live lease.
func (s *Service) GetLease(ctx context.Context, c Caller, id int64) (Lease, error) {
	if err := s.needCaller(c, "reading a lease"); err != nil {
		return Lease{}, err
	}
	now := s.now()
	var l Lease
	err := s.store.View(ctx, func(r Reader) error {
		var err error
		if l, err = r.Lease(ctx, id); err != nil {
			return notFound(err, "lease %d not found", id)
		}
		if !now.Before(l.ExpiresAt) {
			return Errorf(CodeNotFound, "lease %d expired at %s", id, l.ExpiresAt.Format(time.RFC3339))
		}
		return nil
	})
	if err != nil {
		return Lease{}, fmt.Errorf("get lease %d: %w", id, err)
	}
	return l, nil
}

// ListLeases returns live leases, oldest first.
func (s *Service) ListLeases(ctx context.Context, c Caller, opts LeaseListOptions) ([]Lease, error) {
	if err := s.needCaller(c, "listing leases"); err != nil {
		return nil, err
	}
	holder, err := NormalizeOptionalName("holder", opts.Holder)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var all []Lease
	err = s.store.View(ctx, func(r Reader) error {
		all, err = r.Leases(ctx, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	out := []Lease{}
	for _, l := range all {
		if holder != "" && l.Holder != holder {
			continue
		}
		if opts.Path != "" && leasePattern(l, opts.Path) == "" {
			continue
		}
		out = append(out, l)
	}
	return out, nil
}

// CheckPaths returns, for each path that falls under a live exclusive
// lease of another agent than the caller, the path and that lease. This
// is what `parley guard` refuses a commit on.
func (s *Service) CheckPaths(ctx context.Context, c Caller, paths []string) ([]LeaseHit, error) {
	if err := s.needCaller(c, "checking paths"); err != nil {
		return nil, err
	}
	if len(paths) > 100_000 {
		return nil, Errorf(CodeInvalid, "paths: at most 100000 allowed")
	}
	leases, err := s.ListLeases(ctx, c, LeaseListOptions{})
	if err != nil {
		return nil, err
	}
	hits := []LeaseHit{}
	for _, p := range paths {
		if p == "" || len(p) > 4096 {
			continue
		}
		for _, l := range leases {
			if !l.Exclusive || c.IsAgent() && l.HolderID == c.AgentID {
				continue
			}
			if pat := leasePattern(l, p); pat != "" {
				hits = append(hits, LeaseHit{Path: p, Pattern: pat, Lease: l})
				break
			}
		}
	}
	return hits, nil
}

// leasePattern returns the first pattern of l that matches name, or "".
func leasePattern(l Lease, name string) string {
	for _, p := range l.Patterns {
		if MatchPattern(p, name) {
			return p
		}
	}
	return ""
}

// expireLeasesTx removes leases past their expiry.
func (s *Service) expireLeasesTx(ctx context.Context, tx Tx, now time.Time) error {
	for {
		due, err := tx.ExpiredLeases(ctx, now, 500)
		if err != nil || len(due) == 0 {
			return err
		}
		for _, l := range due {
			if err := tx.DeleteLease(ctx, l.ID); err != nil {
				return err
			}
			ev := s.event(EventLeaseExpired, "", leaseSubject(l.ID), []string{l.Holder}, l)
			if err := appendEvents(ctx, tx, ev); err != nil {
				return err
			}
		}
		if len(due) < 500 {
			return nil
		}
	}
}

func leaseSubject(id int64) string { return strconv.FormatInt(id, 10) }
