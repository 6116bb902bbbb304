package hub

import (
	"context"
	"time"
)

// Touch records that the named agent was active now: a request counts as
// a heartbeat.
func (s *Service) Touch(name string) {
	if name == "" {
		return
	}
	s.mu.Lock()
	p := s.presenceLocked(name)
	p.lastSeen = s.now()
	s.mu.Unlock()
}

// Connect marks the named agent online for as long as the returned
// release function has not been called: a bridge, event stream or wait
// holds the agent's connection.
func (s *Service) Connect(ctx context.Context, name string) (release func()) {
	s.mu.Lock()
	p := s.presenceLocked(name)
	p.conns++
	p.lastSeen = s.now()
	goodbyes := p.goodbyes
	s.mu.Unlock()
	s.announcePresence(ctx, name)
	var done bool
	// Release the entry captured here, not a lookup by name: the agent may
	// have been renamed while connected (renamePresence moves the entry).
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if done {
			return
		}
		done = true
		if p.goodbyes != goodbyes {
			return // a goodbye came since: this connection no longer counts
		}
		if p.conns > 0 {
			p.conns--
			p.lastSeen = s.now()
		}
	}
}

// Disconnect marks the named agent offline at once, whatever its last
// request: its bridge has said goodbye. The connections it still holds
// are on their way out; they no longer keep it online, nor does their
// closing, which may reach the hub after the goodbye.
func (s *Service) Disconnect(ctx context.Context, name string) {
	s.mu.Lock()
	if p := s.presence[name]; p != nil {
		p.lastSeen = time.Time{}
		p.conns = 0
		p.goodbyes++
	}
	s.mu.Unlock()
	s.announcePresence(ctx, name)
}

func (s *Service) presenceLocked(name string) *presence {
	p := s.presence[name]
	if p == nil {
		p = &presence{}
		s.presence[name] = p
	}
	return p
}

func (s *Service) isOnlineLocked(p *presence, now time.Time) bool {
	return p.conns > 0 || now.Sub(p.lastSeen) < s.opts.PresenceTimeout
}

// presenceOf reports whether the agent is online and when it was last seen.
func (s *Service) presenceOf(name string) (online bool, lastSeen time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.presence[name]
	if p == nil {
		return false, time.Time{}
	}
	return s.isOnlineLocked(p, s.now()), p.lastSeen
}

// OnlineNames returns the names of the agents online now.
func (s *Service) OnlineNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var names []string
	for name, p := range s.presence {
		if s.isOnlineLocked(p, now) {
			names = append(names, name)
		}
	}
	return names
}

func (s *Service) renamePresence(old, new string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.presence[old]; p != nil {
		delete(s.presence, old)
		s.presence[new] = p
	}
}

// announcePresence raises agent.online and agent.offline events for
// agents whose presence changed since the last announcement: the named
// ones, or every agent when none is named (the periodic sweep). Naming
// the agent keeps a connect's cost independent of how many agents exist.
func (s *Service) announcePresence(ctx context.Context, names ...string) {
	now := s.now()
	var events []Event
	s.mu.Lock()
	check := s.presence
	if len(names) > 0 {
		check = make(map[string]*presence, len(names))
		for _, n := range names {
			if p := s.presence[n]; p != nil {
				check[n] = p
			}
		}
	}
	for name, p := range check {
		online := s.isOnlineLocked(p, now)
		if online == p.online {
			continue
		}
		p.online = online
		kind := EventAgentOffline
		if online {
			kind = EventAgentOnline
		}
		events = append(events, s.event(kind, name, name, nil, nil))
	}
	s.mu.Unlock()
	if len(events) == 0 {
		return
	}
	err := s.store.Update(ctx, func(tx Tx) error { return appendEvents(ctx, tx, events...) })
	if err != nil && ctx.Err() == nil {
		s.log.Warn("announce presence", "err", err)
	}
}
