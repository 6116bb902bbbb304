package sqlite

import (
	"context"
	"database/sql"

	msqlite "modernc.org/sqlite"
)

// WAL checkpoints run off the commit path. SQLite's automatic checkpoint
// (wal_autocheckpoint, 1,000 pages) runs inside the COMMIT of whichever
// batch crosses the threshold: that batch's callers wait for the pages to
// be copied into the database and synced, several milliseconds every ~90
// commits, which was most of the send-to-wake p99 under NORMAL. The
// connections turn it off. Instead the writer counts the pages it appends
// and, every Options.CheckpointPages, asks the checkpointer goroutine for
// a PASSIVE checkpoint on a connection of its own: it copies the WAL into
// the database while the writer goes on committing, and neither the
// writer nor a reader waits for it.
//
// That copies the pages, but it does not by itself bound the -wal file:
// SQLite starts the WAL over from its beginning only when the writer
// begins a transaction after a checkpoint has copied all of it, which a
// checkpoint running alongside a writer that never pauses never does.
// Whenever the hub pauses (most of the time) the background checkpoint
// completes and the WAL starts over. For a writer that never pauses, the
// writer itself checkpoints every CheckpointPages × checkpointBacklog
// pages, between batches, preferably while no Update is queued: the
// background has copied nearly everything by then, so this one copies
// only the last batches' pages. Its checkpoint is PASSIVE too; when a
// reader still holds an older snapshot it tries again after the next
// batch. So the file stays within a few times CheckpointPages pages
// (journal_size_limit truncates it after a burst).

// noteWAL runs on the writer after each batch.
func (s *Store) noteWAL() {
	n := s.walWritten()
	s.walPages += n
	s.ownPages += n
	own := checkpointBacklog * s.opts.CheckpointPages
	// Once the writer's own checkpoint is due, the background one is not
	// asked again, so that it does not hold the checkpoint lock when the
	// writer wants it.
	if s.walPages >= s.opts.CheckpointPages && s.ownPages < own {
		select {
		case s.ckptReq <- struct{}{}:
			s.walPages = 0
		default: // one is queued already
		}
	}
	if s.ownPages < own || (len(s.reqs) > 0 && s.ownPages < 2*own) {
		return
	}
	// A background checkpoint in progress holds SQLite's checkpoint lock,
	// and the writer's PASSIVE one would give up at once: skip it then,
	// unless the WAL is twice overdue. Then wait for the background one
	// to end, however the machine schedules it, so that the file stays
	// bounded.
	if s.ownPages < 2*own {
		if !s.ckptMu.TryLock() {
			return
		}
	} else {
		s.ckptMu.Lock()
	}
	complete := s.checkpointOn(s.wq.QueryRowContext)
	s.ckptMu.Unlock()
	s.walWritten() // the checkpoint's own writes are not WAL frames
	if complete {
		s.ownPages = 0
	}
	// Otherwise a reader still had an older snapshot, or the background
	// checkpoint still held its lock: try again after
	// the next batch (the readers' transactions are short).
}

// walWritten returns the pages the write connection has written since the
// last call: in WAL mode, every page a commit (or a cache spill) writes is
// one WAL frame.
func (s *Store) walWritten() int {
	var n int
	err := s.wconn.Raw(func(dc any) error {
		st, ok := dc.(msqlite.DBStatus)
		if !ok {
			return nil
		}
		cur, _, err := st.Status(msqlite.DBStatusCacheWrite, true)
		n = cur
		return err
	})
	if err != nil {
		s.log.Warn("wal pages", "err", err)
	}
	return n
}

// checkpointer runs the checkpoints the writer asks for until Close
// closes ckptReq.
func (s *Store) checkpointer() {
	defer close(s.ckptDone)
	for range s.ckptReq {
		s.ckptMu.Lock()
		s.checkpointOn(s.cconn.QueryRowContext)
		s.ckptMu.Unlock()
	}
}

// checkpointOn copies the WAL into the database through queryRow, as far
// as the readers allow, without waiting for any of them or for another
// checkpoint, and reports whether it copied all of it.
func (s *Store) checkpointOn(queryRow func(context.Context, string, ...any) *sql.Row) bool {
	var busy, logPages, done sql.NullInt64
	err := queryRow(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logPages, &done)
	s.ckptCount.Add(1)
	if err != nil {
		s.log.Warn("wal checkpoint", "err", err)
		return false
	}
	s.log.Debug("wal checkpoint", "busy", busy.Int64, "wal_pages", logPages.Int64, "copied", done.Int64)
	return busy.Int64 == 0 && done.Int64 == logPages.Int64
}
