package bus_test

import (
	"slices"
	"sync/atomic"
	"testing"

	"github.com/parley-dev/parley/internal/bus"
	"github.com/parley-dev/parley/internal/hub"
)

// drain returns the kinds of the events waiting on sub, without blocking.
func drain(sub hub.Subscription) []string {
	var kinds []string
	for {
		select {
		case e, ok := <-sub.C():
			if !ok {
				return append(kinds, "closed")
			}
			kinds = append(kinds, e.Kind+":"+e.Subject)
		default:
			return kinds
		}
	}
}

func TestPublishRoutesByFilter(t *testing.T) {
	events := []hub.Event{
		{Kind: "message.sent", Actor: "alice", Targets: []string{"bob", "carol"}, Subject: "1"},
		{Kind: "agent.online", Actor: "dave", Subject: "dave"},
		{Kind: "signal.emitted", Actor: "bob", Subject: "ready"},
	}
	tests := []struct {
		name   string
		filter hub.Filter
		want   []string
	}{
		{"everything", hub.Filter{}, []string{"message.sent:1", "agent.online:dave", "signal.emitted:ready"}},
		{"a target", hub.Filter{Agents: []string{"carol"}}, []string{"message.sent:1"}},
		{"an actor", hub.Filter{Agents: []string{"bob"}}, []string{"message.sent:1", "signal.emitted:ready"}},
		{"actor and target of one event, delivered once", hub.Filter{Agents: []string{"alice", "bob"}}, []string{"message.sent:1", "signal.emitted:ready"}},
		{"kind prefix", hub.Filter{Kinds: []string{"agent"}}, []string{"agent.online:dave"}},
		{"exact kind", hub.Filter{Kinds: []string{"message.sent"}}, []string{"message.sent:1"}},
		{"a kind and its prefix, delivered once", hub.Filter{Kinds: []string{"message.sent", "message", "message"}}, []string{"message.sent:1"}},
		{"two kinds", hub.Filter{Kinds: []string{"signal", "agent.online"}}, []string{"agent.online:dave", "signal.emitted:ready"}},
		{"a kind that is not a prefix at a dot", hub.Filter{Kinds: []string{"mess"}}, nil},
		{"kind and subject", hub.Filter{Kinds: []string{"signal"}, Subjects: []string{"nope"}}, nil},
		{"agent and kind", hub.Filter{Agents: []string{"bob"}, Kinds: []string{"signal"}}, []string{"signal.emitted:ready"}},
		{"subject", hub.Filter{Subjects: []string{"ready"}}, []string{"signal.emitted:ready"}},
		{"nobody", hub.Filter{Agents: []string{"erin"}}, nil},
		{"private: its mail and public events", hub.Filter{Private: "carol"}, []string{"message.sent:1", "agent.online:dave", "signal.emitted:ready"}},
		{"private: no one else's mail", hub.Filter{Private: "dave"}, []string{"agent.online:dave", "signal.emitted:ready"}},
		{"private with kinds, its own public event once", hub.Filter{Private: "bob", Kinds: []string{"message.sent", "signal"}}, []string{"message.sent:1", "signal.emitted:ready"}},
		{"private with kinds, someone else's mail", hub.Filter{Private: "dave", Kinds: []string{"message", "agent"}}, []string{"agent.online:dave"}},
		{"private, the sender", hub.Filter{Private: "alice", Kinds: []string{"message"}}, []string{"message.sent:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bus.New(16)
			sub := b.Subscribe(tt.filter)
			defer sub.Close()
			b.Publish(events...)
			if got := drain(sub); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// Subscriptions indexed by kind leave the index when closed, and all of
// them all together are counted once each.
func TestKindIndexSubscribeAndClose(t *testing.T) {
	b := bus.New(4)
	a := b.Subscribe(hub.Filter{Kinds: []string{"message", "agent"}})
	c := b.Subscribe(hub.Filter{Kinds: []string{"message.sent"}})
	if n := b.Subscribers(); n != 2 {
		t.Fatalf("Subscribers %d, want 2", n)
	}
	a.Close()
	b.Publish(hub.Event{Kind: "message.sent", Subject: "1"}, hub.Event{Kind: "agent.online", Subject: "x"})
	if got := drain(a); !slices.Equal(got, []string{"closed"}) {
		t.Errorf("closed subscription got %v", got)
	}
	if got := drain(c); !slices.Equal(got, []string{"message.sent:1"}) {
		t.Errorf("open subscription got %v", got)
	}
	c.Close()
	p := b.Subscribe(hub.Filter{Private: "bob", Kinds: []string{"message.sent", "signal"}})
	q := b.Subscribe(hub.Filter{Private: "bob"})
	if n := b.Subscribers(); n != 2 {
		t.Fatalf("Subscribers %d with two private ones, want 2", n)
	}
	p.Close()
	q.Close()
	if n := b.Subscribers(); n != 0 {
		t.Fatalf("Subscribers %d after closing all, want 0", n)
	}
	b.Publish(hub.Event{Kind: "message.sent", Actor: "bob", Subject: "2"}, hub.Event{Kind: "signal.emitted", Actor: "bob"})
	if got := drain(q); !slices.Equal(got, []string{"closed"}) {
		t.Errorf("closed private subscription got %v", got)
	}
}

func TestSlowSubscriberIsClosedOthersKeepGoing(t *testing.T) {
	b := bus.New(2)
	slow := b.Subscribe(hub.Filter{Agents: []string{"bob"}})
	fast := b.Subscribe(hub.Filter{Agents: []string{"bob"}})
	for i := range 3 {
		b.Publish(hub.Event{Kind: "message.sent", Targets: []string{"bob"}, Subject: string(rune('a' + i))})
		if i == 1 {
			drain(fast) // fast keeps up; slow does not
		}
	}
	if got := drain(slow); !slices.Equal(got, []string{"message.sent:a", "message.sent:b", "closed"}) {
		t.Fatalf("slow subscriber got %v, want its buffer and then closed", got)
	}
	if got := drain(fast); !slices.Equal(got, []string{"message.sent:c"}) {
		t.Fatalf("fast subscriber got %v, want [message.sent:c]", got)
	}
	if n := b.Subscribers(); n != 1 {
		t.Fatalf("subscribers = %d, want 1 after the slow one was dropped", n)
	}
}

func TestCloseIsIdempotentAndUnsubscribes(t *testing.T) {
	b := bus.New(4)
	all := b.Subscribe(hub.Filter{})
	one := b.Subscribe(hub.Filter{Agents: []string{"bob", "carol"}})
	if n := b.Subscribers(); n != 2 {
		t.Fatalf("subscribers = %d, want 2", n)
	}
	one.Close()
	one.Close()
	all.Close()
	if n := b.Subscribers(); n != 0 {
		t.Fatalf("subscribers = %d after Close, want 0", n)
	}
	b.Publish(hub.Event{Kind: "message.sent", Targets: []string{"bob"}})
	if got := drain(one); !slices.Equal(got, []string{"closed"}) {
		t.Fatalf("closed subscription got %v", got)
	}
}

func TestConcurrentPublishAndSubscribe(t *testing.T) {
	b := bus.New(1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			b.Publish(hub.Event{Kind: "message.sent", Actor: "a", Targets: []string{"b"}})
		}
	}()
	for range 200 {
		s := b.Subscribe(hub.Filter{Agents: []string{"b"}})
		s.Close()
	}
	<-done
}

func TestSubscriptionBufferOverridesDefault(t *testing.T) {
	b := bus.New(64)
	small := b.Subscribe(hub.Filter{Agents: []string{"bob"}, Buffer: 1})
	for _, subject := range []string{"1", "2"} {
		b.Publish(hub.Event{Kind: "message.sent", Targets: []string{"bob"}, Subject: subject})
	}
	if got := drain(small); !slices.Equal(got, []string{"message.sent:1", "closed"}) {
		t.Fatalf("a subscription with a buffer of 1 got %v, want one event and then closed", got)
	}
}

// TestNotifySubscription: a subscription with Notify has each matching
// event reported by a call instead of on its channel, and never falls
// behind; Close still closes its channel.
func TestNotifySubscription(t *testing.T) {
	b := bus.New(1)
	var calls atomic.Int32
	s := b.Subscribe(hub.Filter{Agents: []string{"bob"}, Notify: func(hub.Event) { calls.Add(1) }})
	for range 5 {
		b.Publish(hub.Event{Kind: hub.EventMessageSent, Targets: []string{"bob"}})
	}
	b.Publish(hub.Event{Kind: hub.EventMessageSent, Targets: []string{"carol"}})
	if got := calls.Load(); got != 5 {
		t.Errorf("calls for 5 events to bob and 1 to carol: %d, want 5", got)
	}
	if b.Subscribers() != 1 {
		t.Errorf("the subscription was dropped: %d subscribers", b.Subscribers())
	}
	s.Close()
	if _, open := <-s.C(); open {
		t.Error("channel open after Close")
	}
	b.Publish(hub.Event{Kind: hub.EventMessageSent, Targets: []string{"bob"}})
	if got := calls.Load(); got != 5 {
		t.Errorf("called after Close: %d calls", got)
	}
}
