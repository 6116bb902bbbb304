// Package bus is the hub's in-process event bus: it fans committed
// events out to subscribers (waiters, event streams, push into agent
// sessions) without ever blocking the publisher.
package bus

import (
	"maps"
	"strings"
	"sync"

	"github.com/parley-dev/parley/internal/hub"
)

// DefaultBuffer is how many events a subscription holds before it is
// considered too slow and closed.
const DefaultBuffer = 256

// Bus implements hub.Bus. Subscriptions that name agents are indexed by
// agent, and the others by the kinds they name, so publishing costs the
// number of interested subscribers, not the number of all subscribers:
// every agent's event stream watches for revocations (hub.UntilRevoked),
// and those thousands of watches must not be visited for every message.
// The zero value is not usable; call New.
type Bus struct {
	buffer int

	mu      sync.RWMutex // guards the maps and each sub's closed flag
	byAgent map[string]map[*sub]struct{}
	byKind  map[string]map[*sub]struct{} // no agents: under each kind named
	all     map[*sub]struct{}            // no agents, no kinds
}

var _ hub.Bus = (*Bus)(nil)

// New returns a Bus whose subscriptions buffer up to buffer events
// (DefaultBuffer when buffer <= 0).
func New(buffer int) *Bus {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &Bus{
		buffer:  buffer,
		byAgent: make(map[string]map[*sub]struct{}),
		byKind:  make(map[string]map[*sub]struct{}),
		all:     make(map[*sub]struct{}),
	}
}

type sub struct {
	bus    *Bus
	filter hub.Filter
	ch     chan hub.Event
	closed bool
}

// C implements hub.Subscription.
func (s *sub) C() <-chan hub.Event { return s.ch }

// Close ends the subscription; it is safe to call more than once.
func (s *sub) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	s.bus.removeLocked(s)
}

// Subscribe implements hub.Bus.
func (b *Bus) Subscribe(f hub.Filter) hub.Subscription {
	size := b.buffer
	if f.Buffer > 0 {
		size = f.Buffer
	}
	if f.Notify != nil {
		size = 0 // never sent to: it only closes
	}
	f.Kinds = widestKinds(f.Kinds)
	s := &sub{bus: b, filter: f, ch: make(chan hub.Event, size)}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case len(f.Agents) > 0:
		for _, a := range f.Agents {
			addTo(b.byAgent, a, s)
		}
		return s
	case f.Private != "":
		// Its private events come through the agent index (see send).
		addTo(b.byAgent, f.Private, s)
	}
	if len(f.Kinds) == 0 {
		b.all[s] = struct{}{}
		return s
	}
	for _, k := range publicKinds(f) {
		addTo(b.byKind, k, s)
	}
	return s
}

// publicKinds is the part of f.Kinds a subscription is indexed under by
// kind: all of them, but for a Private one the kinds that are wholly
// private, which reach it through the agent index.
func publicKinds(f hub.Filter) []string {
	if f.Private == "" {
		return f.Kinds
	}
	var out []string
	for _, k := range f.Kinds {
		if !hub.PrivateKind(k) && !hub.PrivateKind(k+".") {
			out = append(out, k)
		}
	}
	return out
}

func addTo(index map[string]map[*sub]struct{}, key string, s *sub) {
	m := index[key]
	if m == nil {
		m = make(map[*sub]struct{})
		index[key] = m
	}
	m[s] = struct{}{}
}

func removeFrom(index map[string]map[*sub]struct{}, key string, s *sub) {
	if m := index[key]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(index, key)
		}
	}
}

// widestKinds drops the kinds another kind of the list covers ("message"
// covers "message.sent") and repeats, so that an event's kind reaches a
// subscription through one entry of the kind index only.
func widestKinds(kinds []string) []string {
	var out []string
	for i, k := range kinds {
		covered := false
		for j, o := range kinds {
			if j != i && (hub.KindCovers(o, k) && o != k || o == k && j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, k)
		}
	}
	return out
}

func (b *Bus) removeLocked(s *sub) {
	if s.closed {
		return
	}
	s.closed = true
	close(s.ch)
	delete(b.all, s)
	if len(s.filter.Agents) > 0 {
		for _, a := range s.filter.Agents {
			removeFrom(b.byAgent, a, s)
		}
		return
	}
	if s.filter.Private != "" {
		removeFrom(b.byAgent, s.filter.Private, s)
	}
	for _, k := range publicKinds(s.filter) {
		removeFrom(b.byKind, k, s)
	}
}

// Publish implements hub.Bus. A subscription whose buffer is full is
// closed, so its owner notices and catches up from the store.
func (b *Bus) Publish(events ...hub.Event) {
	var slow []*sub
	b.mu.RLock()
	for _, e := range events {
		slow = b.deliverLocked(e, b.all, slow)
		if len(b.byKind) > 0 {
			// The event's kind and each prefix of it before a dot.
			for i := len(e.Kind); i > 0; i = strings.LastIndexByte(e.Kind[:i], '.') {
				slow = b.deliverLocked(e, b.byKind[e.Kind[:i]], slow)
			}
		}
		if len(b.byAgent) == 0 {
			continue
		}
		var done map[*sub]struct{}
		visit := func(name string) {
			m := b.byAgent[name]
			if len(m) == 0 {
				return
			}
			if done == nil {
				done = make(map[*sub]struct{})
			}
			for s := range m {
				if _, ok := done[s]; ok {
					continue
				}
				done[s] = struct{}{}
				slow = b.send(s, e, true, slow)
			}
		}
		if e.Actor != "" {
			visit(e.Actor)
		}
		for _, t := range e.Targets {
			visit(t)
		}
	}
	b.mu.RUnlock()
	if len(slow) > 0 {
		b.mu.Lock()
		for _, s := range slow {
			b.removeLocked(s)
		}
		b.mu.Unlock()
	}
}

func (b *Bus) deliverLocked(e hub.Event, subs map[*sub]struct{}, slow []*sub) []*sub {
	for s := range subs {
		slow = b.send(s, e, false, slow)
	}
	return slow
}

// send offers e to s. indexed says s was found through one of e's
// agents, so only its kinds and subjects remain to be checked: checking
// the agents again would cost a pass over every target per subscriber,
// quadratic in a broadcast.
func (b *Bus) send(s *sub, e hub.Event, indexed bool, slow []*sub) []*sub {
	if s.closed {
		return slow
	}
	if len(s.filter.Agents) == 0 && s.filter.Private != "" && indexed != hub.PrivateKind(e.Kind) {
		// A Private subscription takes private events from the agent
		// index and the others from the kind index, never both.
		return slow
	}
	if indexed && !s.filter.MatchKindAndSubject(e) || !indexed && !s.filter.Match(e) {
		return slow
	}
	if s.filter.Notify != nil {
		s.filter.Notify(e)
		return slow
	}
	select {
	case s.ch <- e:
	default:
		slow = append(slow, s)
	}
	return slow
}

// Subscribers returns the number of live subscriptions.
func (b *Bus) Subscribers() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	seen := maps.Clone(b.all)
	for _, index := range []map[string]map[*sub]struct{}{b.byAgent, b.byKind} {
		for _, m := range index {
			for s := range m {
				seen[s] = struct{}{}
			}
		}
	}
	return len(seen)
}
