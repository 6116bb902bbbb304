package hub

import (
	"encoding/json"
	"strings"
	"time"
)

// Event kinds. The part before the dot names the concept, so a filter
// "message" matches every message event.
const (
	EventAgentRegistered   = "agent.registered"
	EventAgentRenamed      = "agent.renamed"
	EventAgentDeregistered = "agent.deregistered"
	EventAgentOnline       = "agent.online"
	EventAgentOffline      = "agent.offline"
	EventAgentStatus       = "agent.status"
	EventMessageSent       = "message.sent"
	EventMessageAcked      = "message.acked"
	EventHubReset          = "hub.reset"
	// Admin actions; each is also written to the audit log (tokens.go).
	EventAdminReset   = "admin.reset"
	EventAdminRevoke  = "admin.revoke"
	EventAdminRelease = "admin.release"
)

// Event is one change in the hub. Events are stored with the change that
// raised them, so a follower can resume after the last ID it saw.
type Event struct {
	ID   int64     `json:"id"`
	Kind string    `json:"kind"`
	Time time.Time `json:"time"`
	// Actor is the agent that caused the event, if any.
	Actor string `json:"actor,omitempty"`
	// Targets are the agents the event is addressed to or concerns; they
	// are what waiters and per-agent filters match on.
	Targets []string `json:"targets,omitempty"`
	// Subject names the object: a channel, signal, key, command or message id.
	Subject string          `json:"subject,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	// Revokes is the ID of the agent whose tokens the event ends, on the
	// live events of a revocation, a release and a deregistration; 0 on
	// every other event, and on events read back from the store. A
	// revocation watch (UntilRevoked) uses it to leave other agents'
	// events alone instead of checking its token in the store.
	Revokes int64 `json:"-"`
}

// Concerns reports whether the event involves the named agent.
func (e Event) Concerns(agent string) bool {
	if e.Actor == agent {
		return true
	}
	for _, t := range e.Targets {
		if t == agent {
			return true
		}
	}
	return false
}

// Filter selects events. Empty fields match everything. A kind matches
// exactly or as a prefix before a dot ("message" matches "message.sent").
type Filter struct {
	Kinds  []string
	Agents []string
	// Subjects, when set, match Event.Subject exactly.
	Subjects []string
	// Buffer is how many events the subscription may hold before the bus
	// drops it as too slow; 0 takes the bus's default. A waiter that only
	// needs to be woken sets a small one, so that thousands of parked
	// waiters cost little memory.
	Buffer int `json:"-"`
	// Private, when set, names the agent a stream shows events to: of
	// the private kinds (PrivateKind), only those that concern it pass,
	// since they carry its mail. A bus reaches such a subscription for
	// those kinds through its index of agents, so that a message costs
	// the streams of its sender and recipients, not every stream.
	Private string `json:"-"`
	// Notify, when set, is called with each matching event instead of
	// sending it to the subscription's channel: on the publisher's
	// goroutine, under the bus's lock, so it must return at once. A
	// parked wait uses it to be woken, and a stream's revocation watch
	// to be told, without a goroutine of its own.
	Notify func(Event) `json:"-"`
}

// PrivateKind reports whether events of kind concern only the agents
// they name: message events, which carry a preview of the body. Every
// other event is public to the agents of the hub.
func PrivateKind(kind string) bool { return strings.HasPrefix(kind, "message.") }

// Match reports whether e passes the filter.
func (f Filter) Match(e Event) bool {
	if !f.MatchKindAndSubject(e) {
		return false
	}
	if f.Private != "" && PrivateKind(e.Kind) && !e.Concerns(f.Private) {
		return false
	}
	if len(f.Agents) > 0 {
		found := false
		for _, a := range f.Agents {
			if e.Concerns(a) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// MatchKindAndSubject is Match without the agent test, for a bus that
// has already found the subscription through one of its agents.
func (f Filter) MatchKindAndSubject(e Event) bool {
	if len(f.Kinds) > 0 && !matchKind(f.Kinds, e.Kind) {
		return false
	}
	return len(f.Subjects) == 0 || contains(f.Subjects, e.Subject)
}

func matchKind(kinds []string, kind string) bool {
	for _, k := range kinds {
		if KindCovers(k, kind) {
			return true
		}
	}
	return false
}

// KindCovers reports whether a filter's kind k matches an event's kind:
// exactly, or as a prefix before a dot ("message" covers "message.sent").
func KindCovers(k, kind string) bool {
	return k == kind || len(kind) > len(k) && kind[len(k)] == '.' && kind[:len(k)] == k
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Bus fans committed events out to subscribers in the order they were
// committed. Implementations must be safe for concurrent use and must not
// block Publish on a slow subscriber.
type Bus interface {
	// Publish delivers events to every matching subscription.
	Publish(events ...Event)
	// Subscribe returns a subscription to events that match f. Its channel
	// is closed when the subscription falls too far behind or is closed;
	// a subscriber that needs every event then catches up from the Store.
	Subscribe(f Filter) Subscription
}

// Subscription is a live feed of events.
type Subscription interface {
	C() <-chan Event
	Close()
}
