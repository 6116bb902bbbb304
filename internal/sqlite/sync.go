package sqlite

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// Durability under Synchronous FULL.
//
// SQLite's own FULL syncs the WAL inside COMMIT, on the writer goroutine,
// while it holds the write lock: readers see a batch only after the sync,
// and the writer idles for its length (0.8 ms at the median, 7 ms at p99
// on a virtual disk) while the next batch waits. The store instead opens
// every connection with synchronous=NORMAL, under which a commit writes
// its WAL frames without syncing, and syncs the WAL file itself on a
// goroutine of its own, the syncer. Each batch is visible to readers as
// soon as it commits and durable once a later sync of the WAL file
// returns; Update returns only then.
//
// This is as durable as FULL: a WAL transaction is durable once its
// frames, commit frame included, are on disk, and one fdatasync of the
// -wal file puts everything written to it before the call there. The
// header of a restarted WAL is written before the frames that follow it,
// so the same sync covers it; SQLite under NORMAL still syncs the WAL
// before a checkpoint copies it into the database, and the database
// after. What changes is the order of two things: an agent may read a
// message before its sender has been told it is stored. After a crash of
// the process nothing is lost (the frames are in the page cache); after a
// power cut, a message whose sender never got an answer may be gone
// although a waiter saw it, as if the sender had crashed before sending.
// Whatever the waiter then wrote (a read mark, an ack, a reply) commits
// after that message, and no Update returns before a sync that covers
// both.
//
// While one sync runs the writer commits further batches; the next sync
// covers all of them, so a slow fsync makes bigger sync groups rather
// than a stalled writer.

// walFile is the store's own handle on the -wal file, for syncing it.
type walFile struct {
	path string
	f    *os.File
}

func openWAL(path string) (*walFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open WAL for syncing: %w", err)
	}
	return &walFile{path: path, f: f}, nil
}

// sync makes everything written to the WAL file so far durable. SQLite
// keeps the file for as long as the store has it open, but if it was
// ever replaced (the last connection closed and a new one made a new
// file), syncing the old inode would sync nothing: check, and follow.
func (w *walFile) sync() error {
	cur, err := os.Stat(w.path)
	if err != nil {
		return fmt.Errorf("sync WAL: %w", err)
	}
	if held, err := w.f.Stat(); err != nil || !os.SameFile(cur, held) {
		f, err := os.OpenFile(w.path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("sync WAL: reopen: %w", err)
		}
		w.f.Close()
		w.f = f
	}
	if err := fdatasync(w.f); err != nil {
		return fmt.Errorf("sync WAL: %w", err)
	}
	return nil
}

func (w *walFile) close() error {
	if w == nil {
		return nil
	}
	return w.f.Close()
}

// syncGroup is what the writer hands the syncer: the Updates of one
// committed batch that wait for durability.
type syncGroup = []*request

// syncer syncs the WAL for the committed batches the writer hands it, as
// many as are waiting per sync, and wakes their callers in commit order.
// It ends when Close closes syncq, after the writer has ended.
func (s *Store) syncer() {
	defer close(s.syncDone)
	var group []*request
	for first := range s.syncq {
		// The writer hands a batch over after publishing its events, so
		// the goroutines they woke (a waiter's check, a stream's step)
		// are queued on the writer's thread behind this one, which would
		// otherwise run first and hold that thread in the system call
		// for the whole sync. Yielding lets them run there at once; the
		// sync goes to whichever thread is free. Send-to-wake p50:
		// 0.600 → 0.525 ms in process, 0.797 → 0.752 ms against a
		// spawned hub (BENCHMARKS.md, fix 20).
		runtime.Gosched()
		group = append(group[:0], first...)
		group = s.drainSyncQueue(group)
		s.syncing.Store(true)
		err := s.syncWAL()
		s.syncing.Store(false)
		select {
		case s.synced <- struct{}{}:
		default:
		}
		if err != nil {
			s.log.Error("sync WAL", "err", err, "updates", len(group))
			err = fmt.Errorf("sqlite: committed but not synced: %w", err)
		}
		s.syncs.Add(1)
		for _, r := range group {
			r.done <- err
		}
		clear(group)
	}
}

// drainSyncQueue appends the groups already queued, without waiting.
func (s *Store) drainSyncQueue(group []*request) []*request {
	for {
		select {
		case more, ok := <-s.syncq:
			if !ok {
				return group
			}
			group = append(group, more...)
		default:
			return group
		}
	}
}

// syncWAL runs the sync, or the test hook in its place.
func (s *Store) syncWAL() error {
	if s.opts.syncHook != nil {
		return s.opts.syncHook()
	}
	if s.wal == nil {
		return errors.New("no WAL file")
	}
	return s.wal.sync()
}
