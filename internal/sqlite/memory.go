package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-dev/parley/internal/hub"
)

// ReleaseMemory frees what the store's connections cache: SQLite keeps
// each connection's pages (up to 32 MiB for the writer, 8 MiB for each
// reader) for as long as the connection is open, so a hub that once
// served a burst keeps that memory however long it then idles. A hub
// that has gone quiet calls this; the next reads and writes take their
// pages from the operating system's file cache again, a few system
// calls each. Each reader is freed when it is free, the writer between
// batches, the checkpointer between checkpoints.
func (s *Store) ReleaseMemory(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	var errs []error
	if err := s.releaseReaders(ctx); err != nil {
		errs = append(errs, err)
	}
	// On the writer goroutine, which owns the write connection.
	err := s.UpdateVisible(ctx, func(hub.Tx) error { return s.wq.control("PRAGMA shrink_memory") })
	if err != nil {
		errs = append(errs, fmt.Errorf("sqlite: release the writer's memory: %w", err))
	}
	s.ckptMu.Lock()
	_, err = s.cconn.ExecContext(ctx, "PRAGMA shrink_memory")
	s.ckptMu.Unlock()
	if err != nil {
		errs = append(errs, fmt.Errorf("sqlite: release the checkpointer's memory: %w", err))
	}
	return errors.Join(errs...)
}

// releaseReaders frees the read connections' caches one at a time, each
// when it is free: holding one back while waiting for another would stall
// every View behind a long one. A connection still busy after two rounds
// is left as it is.
func (s *Store) releaseReaders(ctx context.Context) error {
	s.viewMu.RLock()
	defer s.viewMu.RUnlock()
	done := make(map[*connQuerier]bool, s.opts.ReadConns)
	for range 2 * s.opts.ReadConns {
		if len(done) == s.opts.ReadConns {
			return nil
		}
		q, err := s.takeReader(ctx)
		if err != nil {
			return err
		}
		if !done[q] {
			done[q] = true
			err = q.control("PRAGMA shrink_memory")
		}
		s.readers <- q
		if err != nil {
			return fmt.Errorf("sqlite: release a reader's memory: %w", err)
		}
	}
	return nil
}
