package sqlite_test

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/sqlite"
)

// inboxSizes are the inbox sizes BenchmarkInboxScale compares; pass
// -args -inbox-sizes=10000,1000000 for the size of the target.
var inboxSizes = flag.String("inbox-sizes", "10000,100000", "inbox sizes of BenchmarkInboxScale, comma-separated")

// fillInbox delivers n messages from alice to bob, 500 per Update, and
// marks them all read, as the inbox of an agent with a long history is.
func fillInbox(b *testing.B, s *sqlite.Store, alice, bob hub.Agent, n int) {
	b.Helper()
	ctx := context.Background()
	for done := 0; done < n; {
		batch := min(500, n-done)
		err := s.Update(ctx, func(tx hub.Tx) error {
			seqs := make([]int64, 0, batch)
			for range batch {
				m, err := tx.InsertMessage(ctx, hub.Message{
					From: alice.Name, FromID: alice.ID, To: []string{bob.Name}, Body: benchBody,
					Importance: hub.ImportanceNormal, CreatedAt: time.Now(),
				})
				if err != nil {
					return err
				}
				seq, err := tx.Deliver(ctx, m.ID, bob.ID)
				if err != nil {
					return err
				}
				seqs = append(seqs, seq)
			}
			return tx.MarkRead(ctx, bob.ID, seqs, time.Now())
		})
		if err != nil {
			b.Fatal(err)
		}
		done += batch
	}
}

// BenchmarkInboxScale measures the reads of an inbox whose history is
// all read, at each size of -inbox-sizes: the reads must not slow down
// as history grows (unread-only reads and counts use a partial index).
//   - unread: the unread page a plain read asks for (none here);
//   - count: the unread count every read returns;
//   - since: a page of 50 from a random point of the history.
func BenchmarkInboxScale(b *testing.B) {
	var sizes []int
	for _, f := range strings.Split(*inboxSizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 100 {
			b.Fatalf("-inbox-sizes: %q is not a size of at least 100", f)
		}
		sizes = append(sizes, n)
	}
	for _, size := range sizes {
		b.Run(fmt.Sprintf("stored=%d", size), func(b *testing.B) {
			s, alice, bob := benchStore(b, "NORMAL")
			fillInbox(b, s, alice, bob, size)
			ctx := context.Background()
			view := func(b *testing.B, fn func(i int, r hub.Reader) error) {
				i := 0
				for b.Loop() {
					i++
					if err := s.View(ctx, func(r hub.Reader) error { return fn(i, r) }); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.Run("unread", func(b *testing.B) {
				view(b, func(_ int, r hub.Reader) error {
					in, err := r.Inbox(ctx, hub.InboxQuery{AgentID: bob.ID, UnreadOnly: true, Limit: 51})
					if err == nil && len(in) != 0 {
						return fmt.Errorf("%d unread, want none", len(in))
					}
					return err
				})
			})
			b.Run("count", func(b *testing.B) {
				view(b, func(_ int, r hub.Reader) error {
					_, err := r.UnreadCount(ctx, bob.ID)
					return err
				})
			})
			b.Run("since", func(b *testing.B) {
				view(b, func(i int, r hub.Reader) error {
					after := int64(i*7919) % int64(size-50)
					in, err := r.Inbox(ctx, hub.InboxQuery{AgentID: bob.ID, After: after, Limit: 50})
					if err == nil && len(in) != 50 {
						return fmt.Errorf("got %d deliveries after %d, want 50", len(in), after)
					}
					return err
				})
			})
		})
	}
}

// BenchmarkCredential is the store's share of authenticating a request:
// the credential by token hash and its agent, in one View.
func BenchmarkCredential(b *testing.B) {
	s, alice, _ := benchStore(b, "NORMAL")
	ctx := context.Background()
	hash := hub.HashToken("pt_bench-token")
	err := s.Update(ctx, func(tx hub.Tx) error {
		return tx.PutCredential(ctx, hub.Credential{AgentID: alice.ID, TokenHash: hash})
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		err := s.View(ctx, func(r hub.Reader) error {
			c, err := r.Credential(ctx, hash)
			if err != nil {
				return err
			}
			_, err = r.AgentByID(ctx, c.AgentID)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBroadcastDeliver is the write of one broadcast: a message,
// one delivery per recipient and its event, in one Update.
func BenchmarkBroadcastDeliver(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run("recipients="+strconv.Itoa(n), func(b *testing.B) {
			s, alice, _ := benchStore(b, "NORMAL")
			ctx := context.Background()
			var ids []int64
			err := s.Update(ctx, func(tx hub.Tx) error {
				for i := range n {
					a, err := tx.InsertAgent(ctx, hub.Agent{Name: "r" + strconv.Itoa(i), Capabilities: []string{}, RegisteredAt: time.Now()})
					if err != nil {
						return err
					}
					ids = append(ids, a.ID)
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				err := s.Update(ctx, func(tx hub.Tx) error {
					m, err := tx.InsertMessage(ctx, hub.Message{
						From: alice.Name, FromID: alice.ID, To: []string{"*"}, Body: benchBody,
						Importance: hub.ImportanceNormal, CreatedAt: time.Now(),
					})
					if err != nil {
						return err
					}
					for _, id := range ids {
						if _, err := tx.Deliver(ctx, m.ID, id); err != nil {
							return err
						}
					}
					_, err = tx.AppendEvent(ctx, hub.Event{Kind: hub.EventMessageSent, Time: time.Now(), Actor: alice.Name, Subject: strconv.FormatInt(m.ID, 10)})
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}
