package sqlite_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/sqlite"
)

// benchStore opens a store with the given synchronous mode and two agents.
func benchStore(b *testing.B, synchronous string) (s *sqlite.Store, alice, bob hub.Agent) {
	b.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{
		Path:        filepath.Join(b.TempDir(), "bench.db"),
		Synchronous: synchronous,
		OnCommit:    func([]hub.Event) {}, // as the bus would, without its cost
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	err = s.Update(ctx, func(tx hub.Tx) error {
		now := time.Now()
		if alice, err = tx.InsertAgent(ctx, hub.Agent{Name: "alice", Capabilities: []string{}, RegisteredAt: now, LastSeen: now}); err != nil {
			return err
		}
		bob, err = tx.InsertAgent(ctx, hub.Agent{Name: "bob", Capabilities: []string{}, RegisteredAt: now, LastSeen: now})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return s, alice, bob
}

const benchBody = "Please review PR 12: the group commit change in internal/sqlite. Tests pass locally."

// sendDirect does in one Update what hub.Service.Send does for a direct
// message: look up sender and recipient, insert the message, deliver it,
// append the event.
func sendDirect(ctx context.Context, s *sqlite.Store, from, to hub.Agent) error {
	return s.Update(ctx, func(tx hub.Tx) error {
		sender, err := tx.AgentByID(ctx, from.ID)
		if err != nil {
			return err
		}
		rcpt, err := tx.AgentByName(ctx, to.Name)
		if err != nil {
			return err
		}
		now := time.Now()
		m, err := tx.InsertMessage(ctx, hub.Message{
			From: sender.Name, FromID: sender.ID, To: []string{rcpt.Name}, Body: benchBody,
			Importance: hub.ImportanceNormal, CreatedAt: now, Size: len(benchBody),
		})
		if err != nil {
			return err
		}
		if _, err := tx.Deliver(ctx, m.ID, rcpt.ID); err != nil {
			return err
		}
		_, err = tx.AppendEvent(ctx, hub.Event{
			Kind: hub.EventMessageSent, Time: now, Actor: sender.Name, Targets: []string{rcpt.Name},
			Subject: strconv.FormatInt(m.ID, 10), Data: []byte(`{"id":1}`),
		})
		return err
	})
}

// runSends runs sendDirect from goroutines = parallelism × GOMAXPROCS
// senders and reports throughput and the mean batch size.
func runSends(b *testing.B, s *sqlite.Store, from, to hub.Agent, parallelism int) {
	ctx := context.Background()
	before := s.Stats()
	b.SetParallelism(parallelism)
	b.ResetTimer()
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := sendDirect(ctx, s, from, to); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	reportCPU(b, cpu)
	after := s.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if n := after.Batches - before.Batches; n > 0 {
		b.ReportMetric(float64(after.Updates-before.Updates)/float64(n), "updates/batch")
	}
}

// reportCPU reports the process's CPU time per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	if used := cpuTime() - start; used > 0 {
		b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/op")
	}
}

// BenchmarkUpdateInsertMessage measures durable direct messages per
// second through Update (synchronous=FULL), with few and with many
// concurrent senders: with many, group commit shares each fsync among a
// batch.
func BenchmarkUpdateInsertMessage(b *testing.B) {
	for _, p := range []int{1, 32, 256} {
		b.Run("parallelism="+strconv.Itoa(p), func(b *testing.B) {
			s, alice, bob := benchStore(b, "FULL")
			runSends(b, s, alice, bob, p)
		})
	}
}

// BenchmarkSynchronousFullVsNormal compares synchronous=FULL with NORMAL, for one
// sender at a time (a commit per message) and for 64 concurrent senders
// (group commit).
func BenchmarkSynchronousFullVsNormal(b *testing.B) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		b.Run(mode, func(b *testing.B) {
			b.Run("serial", func(b *testing.B) {
				s, alice, bob := benchStore(b, mode)
				ctx := context.Background()
				cpu := cpuTime()
				for b.Loop() {
					if err := sendDirect(ctx, s, alice, bob); err != nil {
						b.Fatal(err)
					}
				}
				reportCPU(b, cpu)
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
			b.Run("parallel", func(b *testing.B) {
				s, alice, bob := benchStore(b, mode)
				runSends(b, s, alice, bob, 32)
			})
		})
	}
}

// BenchmarkInboxRead measures reading one page of 50 from an inbox of
// 10,000 deliveries, in a View: catching up from a sequence number, and
// the unread page a plain read returns.
func BenchmarkInboxRead(b *testing.B) {
	const stored, page = 10_000, 50
	s, alice, bob := benchStore(b, "NORMAL")
	ctx := context.Background()
	// Fill in batches of 500 sends per Update, to keep setup short.
	for i := 0; i < stored; i += 500 {
		err := s.Update(ctx, func(tx hub.Tx) error {
			for range 500 {
				m, err := tx.InsertMessage(ctx, hub.Message{
					From: alice.Name, FromID: alice.ID, To: []string{bob.Name}, Body: benchBody,
					Importance: hub.ImportanceNormal, CreatedAt: time.Now(),
				})
				if err != nil {
					return err
				}
				if _, err := tx.Deliver(ctx, m.ID, bob.ID); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	read := func(b *testing.B, q func(i int) hub.InboxQuery) {
		i := 0
		cpu := cpuTime()
		for b.Loop() {
			i++
			err := s.View(ctx, func(r hub.Reader) error {
				in, err := r.Inbox(ctx, q(i))
				if err == nil && len(in) != page {
					b.Fatalf("got %d deliveries, want %d", len(in), page)
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
		b.ReportMetric(float64(b.N*page)/b.Elapsed().Seconds(), "deliveries/s")
	}
	b.Run("since", func(b *testing.B) {
		read(b, func(i int) hub.InboxQuery {
			return hub.InboxQuery{AgentID: bob.ID, After: int64(i*997) % (stored - page), Limit: page}
		})
	})
	b.Run("unread", func(b *testing.B) {
		read(b, func(int) hub.InboxQuery {
			return hub.InboxQuery{AgentID: bob.ID, UnreadOnly: true, Limit: page}
		})
	})
}
