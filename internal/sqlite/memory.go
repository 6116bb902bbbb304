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
// calls each. The readers are freed once none is in use, the writer
// between batches, the checkpointer between checkpoints.
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

// releaseReaders takes every read connection, frees each one's cache,
// and gives them all back.
func (s *Store) releaseReaders(ctx context.Context) error {
	s.viewMu.RLock()
	defer s.viewMu.RUnlock()
	held := make([]*connQuerier, 0, s.opts.ReadConns)
	defer func() {
		for _, q := range held {
			s.readers <- q
		}
	}()
	for range s.opts.ReadConns {
		select {
		case q := <-s.readers:
			held = append(held, q)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, q := range held {
		if err := q.control("PRAGMA shrink_memory"); err != nil {
			return fmt.Errorf("sqlite: release a reader's memory: %w", err)
		}
	}
	return nil
}
