package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/sqlite"
)

// TestWALStaysBounded writes many times the bound through the store and
// checks after every round of writes that the -wal file stays below the
// bound although no commit checkpoints (wal_autocheckpoint is off). No
// reader runs alongside: a reader that holds an old snapshot for long (a
// goroutine descheduled mid-View on a starved machine) keeps any WAL
// from starting over, whoever checkpoints, so readers would make the
// bound a matter of scheduling.
func TestWALStaysBounded(t *testing.T) {
	const (
		pages    = 64   // CheckpointPages
		pageSize = 4096 // SQLite's default
		senders  = 8
		rounds   = 64
		perRound = 8 // sends per sender per round
	)
	// The writer checkpoints itself 4 thresholds after its last complete
	// checkpoint when it is idle, 8 at the latest; a reader holding an
	// older snapshot or the background checkpointer holding its lock
	// makes it try again after the next batch, and the WAL starts over
	// only at the writer's next transaction. 32 thresholds leave room for
	// that on a loaded machine; without checkpoints the file would hold
	// every page written, several times the bound.
	const bound = 32 * pages * pageSize
	body := strings.Repeat("checkpoint ", 400) // 4.4 KB: two pages of overflow each

	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wal.db")
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path, Synchronous: "normal", CheckpointPages: pages})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var alice, bob hub.Agent
	err = s.Update(ctx, func(tx hub.Tx) error {
		now := time.Now()
		if alice, err = tx.InsertAgent(ctx, hub.Agent{Name: "alice", Capabilities: []string{}, RegisteredAt: now, LastSeen: now}); err != nil {
			return err
		}
		bob, err = tx.InsertAgent(ctx, hub.Agent{Name: "bob", Capabilities: []string{}, RegisteredAt: now, LastSeen: now})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	written, largest := 0, int64(0)
	for round := range rounds {
		var wg sync.WaitGroup
		for range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perRound {
					err := s.Update(ctx, func(tx hub.Tx) error {
						m, err := tx.InsertMessage(ctx, hub.Message{
							From: alice.Name, FromID: alice.ID, To: []string{bob.Name}, Body: body,
							Importance: hub.ImportanceNormal, CreatedAt: time.Now(), Size: len(body),
						})
						if err != nil {
							return err
						}
						_, err = tx.Deliver(ctx, m.ID, bob.ID)
						return err
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		written += senders * perRound * len(body)
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		largest = max(largest, fi.Size())
		if fi.Size() > bound {
			t.Fatalf("after round %d (%d bytes of bodies written): -wal is %d bytes, want at most %d",
				round, written, fi.Size(), bound)
		}
	}
	if written < 2*bound {
		t.Fatalf("the test wrote %d bytes of bodies, too few to show a bound of %d", written, bound)
	}
	if n := s.CheckpointStats().Checkpoints; n == 0 {
		t.Errorf("no checkpoint ran")
	}
	t.Logf("%d bytes of bodies written, -wal at most %d bytes, %d checkpoints",
		written, largest, s.CheckpointStats().Checkpoints)
}

func TestCheckpointPagesValidate(t *testing.T) {
	err := sqlite.Options{Path: "x.db", CheckpointPages: -1}.Validate()
	if err == nil {
		t.Fatal("CheckpointPages -1: got no error")
	}
}
