package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// openWithSyncHook opens a FULL store whose WAL syncs call hook instead.
func openWithSyncHook(t *testing.T, hook func() error) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{
		Path: filepath.Join(t.TempDir(), "p.db"), Synchronous: "FULL", syncHook: hook,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openWithHeldSyncs opens a store whose every sync signals entered,
// then waits until release has a value or is closed.
func openWithHeldSyncs(t *testing.T) (s *Store, entered, release chan struct{}) {
	entered, release = make(chan struct{}, 16), make(chan struct{})
	s = openWithSyncHook(t, func() error {
		entered <- struct{}{}
		<-release
		return nil
	})
	return s, entered, release
}

func insertAgent(name string) func(hub.Tx) error {
	return func(tx hub.Tx) error {
		_, err := tx.InsertAgent(context.Background(), hub.Agent{Name: name, RegisteredAt: time.Unix(1, 0)})
		return err
	}
}

func agentVisible(t *testing.T, s *Store, name string) bool {
	t.Helper()
	err := s.View(context.Background(), func(r hub.Reader) error {
		_, err := r.AgentByName(context.Background(), name)
		return err
	})
	if err != nil && !errors.Is(err, hub.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// TestUpdateWaitsForTheSync holds the WAL sync and checks the order the
// store promises: a committed Update is visible to readers at once but
// returns only after the sync; an UpdateVisible returns at its commit;
// batches committed while a sync runs share the next one.
func TestUpdateWaitsForTheSync(t *testing.T) {
	s, entered, release := openWithHeldSyncs(t)
	ctx := context.Background()

	first := make(chan error, 1)
	go func() { first <- s.Update(ctx, insertAgent("alice")) }()
	<-entered // committed, its sync is running
	if !agentVisible(t, s, "alice") {
		t.Errorf("committed Update not visible while its sync runs")
	}
	select {
	case err := <-first:
		t.Fatalf("Update returned before its sync: %v", err)
	case <-time.After(20 * time.Millisecond):
	}

	if err := s.UpdateVisible(ctx, insertAgent("bob")); err != nil {
		t.Fatalf("UpdateVisible while a sync runs: %v", err)
	}
	// A durable Update that comes during the sync commits after it, with
	// whatever else comes meanwhile (fillWhileSyncing).
	second := make(chan error, 1)
	go func() { second <- s.Update(ctx, insertAgent("carol")) }()
	time.Sleep(20 * time.Millisecond)
	if agentVisible(t, s, "carol") {
		t.Errorf("a durable Update committed while a sync ran")
	}

	syncsBefore := s.Stats().Syncs
	release <- struct{}{} // end the first sync
	if err := <-first; err != nil {
		t.Fatalf("first Update: %v", err)
	}
	<-entered // carol committed; the second sync covers bob and carol
	if !agentVisible(t, s, "carol") {
		t.Errorf("committed Update not visible while its sync runs")
	}
	release <- struct{}{}
	if err := <-second; err != nil {
		t.Fatalf("second Update: %v", err)
	}
	close(release)
	if got := s.Stats().Syncs - syncsBefore; got != 2 {
		t.Errorf("syncs for two sync groups: got %d, want 2", got)
	}
}

// TestSyncFailureReachesTheCaller: an Update whose sync fails says so,
// and the store goes on.
func TestSyncFailureReachesTheCaller(t *testing.T) {
	fail := true
	s := openWithSyncHook(t, func() error {
		if fail {
			fail = false // only the syncer goroutine reads and writes it
			return errors.New("disk on fire")
		}
		return nil
	})
	ctx := context.Background()
	err := s.Update(ctx, insertAgent("alice"))
	if err == nil || !strings.Contains(err.Error(), "not synced") || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Update with a failed sync: got %v, want a sync error", err)
	}
	if err := s.Update(ctx, insertAgent("bob")); err != nil {
		t.Fatalf("Update after a failed sync: %v", err)
	}
}

// TestNormalDoesNotSync: under NORMAL the store never syncs the WAL.
func TestNormalDoesNotSync(t *testing.T) {
	s, err := Open(context.Background(), Options{
		Path: filepath.Join(t.TempDir(), "p.db"), Synchronous: "NORMAL",
		syncHook: func() error { panic("synced under NORMAL") },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(context.Background(), insertAgent("alice")); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().Syncs; got != 0 {
		t.Errorf("syncs under NORMAL: got %d, want 0", got)
	}
}

// TestSyncFollowsAReplacedWAL: the store's handle follows the -wal file
// if it is ever replaced, so a sync never goes to a file SQLite left.
func TestSyncFollowsAReplacedWAL(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x-wal")
	w, err := openWAL(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.sync(); err != nil {
		t.Fatalf("sync after the file was replaced: %v", err)
	}
	st, _ := w.f.Stat()
	cur, _ := os.Stat(path)
	if !os.SameFile(st, cur) {
		t.Errorf("handle still on the replaced file")
	}
}

// TestBatchesGrowWhileSyncing: while a sync runs, durable Updates wait
// for it and commit together, once; an UpdateVisible does not wait.
func TestBatchesGrowWhileSyncing(t *testing.T) {
	s, entered, release := openWithHeldSyncs(t)
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- s.Update(ctx, insertAgent("first")) }()
	<-entered // its sync is running
	batches := s.Stats().Batches

	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- s.Update(ctx, insertAgent(fmt.Sprint("queued-", i))) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.reqs) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // the writer takes them all, and holds them
	}
	time.Sleep(20 * time.Millisecond)
	if agentVisible(t, s, "queued-0") {
		t.Errorf("a durable Update committed while a sync was running")
	}
	if err := s.UpdateVisible(ctx, insertAgent("visible")); err != nil {
		t.Fatal(err)
	}
	// The visible one commits at once, with whatever the writer held.
	if !agentVisible(t, s, "visible") {
		t.Errorf("UpdateVisible waited for the sync")
	}
	release <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	<-entered // the held batch's sync
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Stats().Batches - batches; got > 2 {
		t.Errorf("%d durable Updates and one visible during a sync took %d batches, want at most 2", n, got)
	}
}
