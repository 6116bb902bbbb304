package hub_test

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/bus"
	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/sqlite"
)

// benchHub is a service over a real SQLite file with the given
// synchronous mode, and the bus the store's commits feed.
func benchHub(b *testing.B, synchronous string) (*hub.Service, *bus.Bus) {
	b.Helper()
	bs := bus.New(0)
	st, err := sqlite.Open(context.Background(), sqlite.Options{
		Path:        filepath.Join(b.TempDir(), "parley.db"),
		Synchronous: synchronous,
		OnCommit:    func(evs []hub.Event) { bs.Publish(evs...) },
	})
	if err != nil {
		b.Fatalf("open store: %v", err)
	}
	b.Cleanup(func() { st.Close() })
	return hub.New(st, bs, hub.Options{}), bs
}

// benchAgent registers name and returns its caller and token.
func benchAgent(b *testing.B, svc *hub.Service, name string) (hub.Caller, string) {
	b.Helper()
	ctx := context.Background()
	reg, err := svc.Register(ctx, hub.RegisterRequest{Name: name})
	if err != nil {
		b.Fatalf("register %s: %v", name, err)
	}
	c, err := svc.Authenticate(ctx, reg.Token)
	if err != nil {
		b.Fatalf("authenticate %s: %v", name, err)
	}
	return c, reg.Token
}

const benchText = "Please review PR 12: the group commit change in internal/sqlite. Tests pass locally."

// BenchmarkSendToWake measures event delivery through the domain: a
// waiter blocked in Service.Wait, a Send to it, and the wait returning
// with the message (which it marks read, a second commit). One op is
// one message from the start of Send to the waiter's return.
func BenchmarkSendToWake(b *testing.B) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		b.Run("sync="+mode, func(b *testing.B) {
			svc, bs := benchHub(b, mode)
			alice, _ := benchAgent(b, svc, "alice")
			bob, _ := benchAgent(b, svc, "bob")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			woken := make(chan time.Time)
			go func() {
				for ctx.Err() == nil {
					res, err := svc.Wait(ctx, bob, hub.ReadOptions{}, time.Minute)
					if err != nil {
						return
					}
					if len(res.Messages) > 0 {
						woken <- time.Now()
					}
				}
			}()
			var total time.Duration
			for b.Loop() {
				// Let the waiter park: its subscription is the only one.
				for bs.Subscribers() == 0 {
					time.Sleep(10 * time.Microsecond)
				}
				t0 := time.Now()
				if _, err := svc.Send(ctx, alice, hub.SendRequest{To: []string{"bob"}, Body: benchText}); err != nil {
					b.Fatal(err)
				}
				total += (<-woken).Sub(t0)
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/wake")
		})
	}
}

// BenchmarkSend measures Service.Send of a direct message, validation,
// address resolution and durable commit included, from 32 goroutines
// per CPU so that group commit batches them.
func BenchmarkSend(b *testing.B) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		b.Run("sync="+mode, func(b *testing.B) {
			svc, _ := benchHub(b, mode)
			alice, _ := benchAgent(b, svc, "alice")
			benchAgent(b, svc, "bob")
			ctx := context.Background()
			b.SetParallelism(32)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := svc.Send(ctx, alice, hub.SendRequest{To: []string{"bob"}, Body: benchText}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkAuthenticate is what every request with an agent token pays
// before its handler runs: hash the token, look it up and load its agent.
func BenchmarkAuthenticate(b *testing.B) {
	svc, _ := benchHub(b, "NORMAL")
	tokens := make([]string, 100)
	for i := range tokens {
		_, tokens[i] = benchAgent(b, svc, "agent"+strconv.Itoa(i))
	}
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.Authenticate(ctx, tokens[n.Add(1)%int64(len(tokens))]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkReadEmpty is the most common read: an inbox with nothing new.
func BenchmarkReadEmpty(b *testing.B) {
	svc, _ := benchHub(b, "NORMAL")
	bob, _ := benchAgent(b, svc, "bob")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := svc.Read(ctx, bob, hub.ReadOptions{})
		if err != nil || len(res.Messages) != 0 {
			b.Fatalf("read: %d messages, %v", len(res.Messages), err)
		}
	}
}

// BenchmarkWaitConnect is what a wait costs before it blocks, with n
// agents known to presence: Connect announces presence changes by
// scanning every agent.
func BenchmarkWaitConnect(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run("agents="+strconv.Itoa(n), func(b *testing.B) {
			svc, _ := benchHub(b, "NORMAL")
			for i := range n {
				svc.Touch("idle" + strconv.Itoa(i))
			}
			bob, _ := benchAgent(b, svc, "bob")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				// A zero timeout checks once and returns: subscribe,
				// connect, read, release.
				if _, err := svc.Wait(ctx, bob, hub.ReadOptions{}, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
