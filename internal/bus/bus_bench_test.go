package bus_test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/bus"
	"github.com/parley-dev/parley/internal/hub"
)

// benchEvent is a message.sent event as the hub publishes it.
func benchEvent(actor string, targets []string) hub.Event {
	return hub.Event{
		ID: 1, Kind: hub.EventMessageSent, Time: time.Now(), Actor: actor, Targets: targets,
		Subject: "42", Data: []byte(`{"id":42,"from":"alice","body":"hi"}`),
	}
}

// waiterFilter is the filter of an inbox wait (hub.Service.Wait).
func waiterFilter(name string) hub.Filter {
	return hub.Filter{Kinds: []string{hub.EventMessageSent, hub.EventAgentRegistered}, Agents: []string{name}}
}

// BenchmarkPublishFanout publishes one event addressed to n agents, each
// with a waiting subscription, as a broadcast does; every subscription
// receives it (the receives are part of the measured work).
func BenchmarkPublishFanout(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) {
			bs := bus.New(0)
			targets := make([]string, n)
			subs := make([]hub.Subscription, n)
			for i := range n {
				targets[i] = "agent" + strconv.Itoa(i)
				subs[i] = bs.Subscribe(waiterFilter(targets[i]))
			}
			e := benchEvent("sender", targets)
			b.ReportAllocs()
			for b.Loop() {
				bs.Publish(e)
				for _, s := range subs {
					<-s.C()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

// BenchmarkPublishAmongIdle publishes a direct message while n other
// agents wait for mail and one event-stream follower watches
// everything: with subscriptions indexed by agent, the cost must not
// grow with n.
func BenchmarkPublishAmongIdle(b *testing.B) {
	for _, n := range []int{0, 1000, 10_000} {
		b.Run("idle="+strconv.Itoa(n), func(b *testing.B) {
			bs := bus.New(0)
			for i := range n {
				bs.Subscribe(waiterFilter("idle" + strconv.Itoa(i)))
			}
			follower := bs.Subscribe(hub.Filter{})
			bob := bs.Subscribe(waiterFilter("bob"))
			e := benchEvent("alice", []string{"bob"})
			b.ReportAllocs()
			for b.Loop() {
				bs.Publish(e)
				<-bob.C()
				<-follower.C()
			}
		})
	}
}

// BenchmarkPublishAmongStreams publishes a direct message while n agents
// follow event streams as their bridges do (the kinds pushed into a
// session, Private to the agent), each stream also watching for its
// agent's revocation (hub.UntilRevoked: a few admin kinds): with
// subscriptions indexed by kind and private events by agent, neither
// the watches nor the other agents' streams are visited.
func BenchmarkPublishAmongStreams(b *testing.B) {
	for _, n := range []int{0, 1000, 10_000} {
		b.Run("streams="+strconv.Itoa(n), func(b *testing.B) {
			bs := bus.New(0)
			for i := range n {
				bs.Subscribe(hub.Filter{Kinds: []string{hub.EventAdminRevoke, hub.EventAdminRelease, hub.EventAgentDeregistered, hub.EventHubReset}})
				bs.Subscribe(hub.Filter{Private: "agent" + strconv.Itoa(i),
					Kinds: []string{hub.EventHubReset, hub.EventMessageSent, hub.EventCommandSent, hub.EventSignalEmitted}})
			}
			bob := bs.Subscribe(waiterFilter("bob"))
			e := benchEvent("alice", []string{"bob"})
			b.ReportAllocs()
			for b.Loop() {
				bs.Publish(e)
				<-bob.C()
			}
		})
	}
}

// BenchmarkSubscribeClose is what every wait pays to subscribe and
// unsubscribe, with n other waiters parked; B/op shows the memory a
// parked waiter's subscription holds.
func BenchmarkSubscribeClose(b *testing.B) {
	for _, n := range []int{0, 10_000} {
		b.Run("parked="+strconv.Itoa(n), func(b *testing.B) {
			bs := bus.New(0)
			for i := range n {
				bs.Subscribe(waiterFilter("idle" + strconv.Itoa(i)))
			}
			f := waiterFilter("bob")
			b.ReportAllocs()
			for b.Loop() {
				bs.Subscribe(f).Close()
			}
		})
	}
}

// BenchmarkPublishParallel publishes direct messages from every
// goroutine to their own waiting agent at once: the bus's lock under
// concurrent commits and wake-ups.
func BenchmarkPublishParallel(b *testing.B) {
	bs := bus.New(0)
	b.ReportAllocs()
	var id atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		name := "agent" + strconv.FormatInt(id.Add(1), 10)
		s := bs.Subscribe(waiterFilter(name))
		e := benchEvent("sender", []string{name})
		for pb.Next() {
			bs.Publish(e)
			<-s.C()
		}
	})
}
