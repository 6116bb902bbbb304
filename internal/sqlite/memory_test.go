package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// Releasing the connections' memory, while other reads and writes run,
// leaves every connection working and the data as it was.
func TestReleaseMemoryKeepsTheStoreWorking(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	ctx := t.Context()
	const agents = 50
	insert := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			err := s.Update(ctx, func(tx hub.Tx) error {
				_, err := tx.InsertAgent(ctx, hub.Agent{Name: fmt.Sprintf("a%d", i)})
				return err
			})
			if err != nil {
				t.Fatalf("insert a%d: %v", i, err)
			}
		}
	}
	insert(0, agents/2)

	var wg sync.WaitGroup
	wg.Go(func() { insert(agents/2, agents) })
	wg.Go(func() {
		for range 20 {
			if err := s.View(ctx, func(r hub.Reader) error {
				_, err := r.AgentByName(ctx, "a0")
				return err
			}); err != nil {
				t.Errorf("read while releasing: %v", err)
				return
			}
		}
	})
	for range 3 {
		if err := s.ReleaseMemory(ctx); err != nil {
			t.Fatalf("ReleaseMemory: %v", err)
		}
	}
	wg.Wait()

	for i := range agents {
		name := fmt.Sprintf("a%d", i)
		if err := s.View(ctx, func(r hub.Reader) error {
			a, err := r.AgentByName(ctx, name)
			if err == nil && a.Name != name {
				err = fmt.Errorf("got %q", a.Name)
			}
			return err
		}); err != nil {
			t.Errorf("read %s after releasing: %v", name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseMemory(ctx); err == nil {
		t.Error("ReleaseMemory on a closed store: no error")
	}
}

// Releasing memory does not wait for a reader that is busy, nor hold the
// others back meanwhile: a long read stalls nobody else.
func TestReleaseMemoryPassesABusyReader(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	ctx := t.Context()
	inside, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(release)
	wg.Go(func() {
		_ = s.View(ctx, func(hub.Reader) error {
			close(inside)
			<-release
			return nil
		})
	})
	<-inside
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.ReleaseMemory(rctx); err != nil {
		t.Fatalf("ReleaseMemory with one reader busy: %v", err)
	}
	if err := s.View(ctx, func(hub.Reader) error { return nil }); err != nil {
		t.Fatalf("a read after releasing, one reader still busy: %v", err)
	}
}
