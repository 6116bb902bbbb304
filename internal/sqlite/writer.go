package sqlite

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// States of a request. The writer and a caller whose context ends race to
// move a request out of queued; the winner decides whether it runs.
const (
	queued int32 = iota
	taken
	cancelled
)

// request is one Update waiting for the writer.
type request struct {
	fn func(hub.Tx) error
	// visible: the caller waits for the commit only, not for the sync
	// that makes it durable (UpdateVisible).
	visible bool
	state   atomic.Int32
	// done receives the outcome; buffered so the writer never waits on
	// a caller.
	done chan error

	// Set by the writer while the batch runs.
	err         error
	events      []hub.Event
	afterCommit []func()
}

// Update runs fn in a write transaction and returns once it is durable
// or has failed. fn runs on the writer goroutine, possibly in one
// transaction with other Updates; when it returns an error or panics,
// its changes are undone and the others' are not. fn must not keep the
// Tx after it returns, use it from another goroutine, or call Update.
//
// Readers see the changes as soon as the batch commits, which under
// Synchronous FULL is before the sync that makes them durable (see
// syncer): the sync runs off the writer, and Update returns after it.
//
// If ctx ends before the writer takes fn, Update returns ctx.Err() and fn
// never runs. Once fn is taken, Update waits for the commit, so its
// result always says what happened. Statements fn runs are not
// interrupted by ctx: an interrupted write would roll back the whole
// batch, everyone else's work included.
func (s *Store) Update(ctx context.Context, fn func(hub.Tx) error) error {
	return s.update(ctx, &request{fn: fn, done: make(chan error, 1)})
}

// UpdateVisible is Update for changes that may be lost to a power cut or
// a crash of the machine, but not of the process: it returns once they
// are committed and visible to readers, without waiting for the sync.
// They become durable with the next sync, which Updates committed after
// them wait for.
func (s *Store) UpdateVisible(ctx context.Context, fn func(hub.Tx) error) error {
	return s.update(ctx, &request{fn: fn, visible: true, done: make(chan error, 1)})
}

func (s *Store) update(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closing {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.reqs <- r:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(queued, cancelled) {
			return ctx.Err()
		}
		return <-r.done
	}
}

// run is the writer goroutine: it takes whatever is queued and commits
// it as one batch, until Close closes the queue and it is drained.
func (s *Store) run() {
	defer close(s.done)
	batch := make([]*request, 0, s.opts.MaxBatch)
	for {
		if len(batch) == 0 {
			r, ok := s.next()
			if !ok {
				if s.unindexed > 0 {
					s.indexBacklog()
				}
				return
			}
			if !r.state.CompareAndSwap(queued, taken) {
				continue
			}
			batch = append(batch, r)
		}
		batch = s.fill(batch)
		batch = s.fillWhileSyncing(batch)
		rest := s.commit(batch)
		s.noteWAL()
		// Keep the requests a failed batch did not run, at the front.
		n := copy(batch, rest)
		clear(batch[n:])
		batch = batch[:n]
	}
}

// fillWhileSyncing keeps adding requests to a batch of durable Updates
// while a sync is running, until it ends or the batch is full. Those
// Updates would wait for the next sync anyway, and one commit for all of
// them writes each hot page (an index's last leaf, the sender's row) to
// the WAL once instead of once per small commit: under load the WAL
// grew by about 40 KiB per message, more than the disk syncs. A request
// that needs no sync (UpdateVisible, a woken reader's read mark) commits
// at once, and so does every batch while no sync runs: an idle hub makes
// a send visible the moment it commits.
func (s *Store) fillWhileSyncing(batch []*request) []*request {
	if s.syncq == nil || !durableOnly(batch) {
		return batch
	}
	select {
	case <-s.synced: // a stale signal from a sync nobody waited for
	default:
	}
	for s.syncing.Load() && len(batch) < s.opts.MaxBatch {
		select {
		case r, ok := <-s.reqs:
			if !ok {
				return batch
			}
			batch = take(batch, r)
			if r.visible {
				return batch
			}
		case <-s.synced:
			return batch
		}
	}
	return batch
}

func durableOnly(batch []*request) bool {
	for _, r := range batch {
		if r.visible {
			return false
		}
	}
	return true
}

// take adds r to batch, unless its caller has given up on it.
func take(batch []*request, r *request) []*request {
	if r.state.CompareAndSwap(queued, taken) {
		return append(batch, r)
	}
	return batch
}

// fill adds queued requests to batch, without waiting, up to MaxBatch.
func (s *Store) fill(batch []*request) []*request {
	for len(batch) < s.opts.MaxBatch {
		select {
		case r, ok := <-s.reqs:
			if !ok {
				return batch
			}
			batch = take(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// commit runs the batch in one transaction and reports every outcome. It
// returns the requests it did not get to run because the transaction
// broke under them; the caller runs them in the next batch.
//
// Each function runs inside a savepoint, so an error or panic undoes only
// its own changes. A batch of one needs no savepoint: the transaction
// itself is rolled back.
func (s *Store) commit(batch []*request) (rest []*request) {
	s.batches.Add(1)
	s.batch = batchState{}
	q := s.wq
	if err := q.control("BEGIN IMMEDIATE"); err != nil {
		s.fail(batch, fmt.Errorf("sqlite: begin: %w", err))
		return nil
	}
	if len(batch) == 1 {
		r := batch[0]
		s.updates.Add(1)
		if r.err = s.runFn(r); r.err != nil {
			s.agents.clear()
			if err := q.control("ROLLBACK"); err != nil {
				s.log.Error("rollback", "err", err)
			}
			s.finish(batch)
			return nil
		}
		s.commitRan(batch)
		return nil
	}
	for i, r := range batch {
		if err := q.control("SAVEPOINT u"); err != nil {
			return s.abort(batch, i, err)
		}
		s.updates.Add(1)
		if r.err = s.runFn(r); r.err != nil {
			r.events, r.afterCommit = nil, nil
			s.agents.clear()
			if err := q.control("ROLLBACK TO u"); err != nil {
				return s.abort(batch, i+1, err)
			}
		}
		if err := q.control("RELEASE u"); err != nil {
			return s.abort(batch, i+1, err)
		}
	}
	s.commitRan(batch)
	return nil
}

// commitRan commits the transaction in which batch has run, indexing
// new messages for search first when that is due, then publishes its
// events and wakes its callers.
func (s *Store) commitRan(batch []*request) {
	indexed, err := s.ftsIndexed, error(nil)
	if s.batch.index || s.unindexed+s.batch.inserted >= maxIndexLag {
		indexed, err = s.indexMessages()
	} else if s.batch.inserted > 0 {
		// Before the COMMIT makes them visible: CatchUpSearch must
		// not miss a message a reader can already see.
		s.pendingIndex.Store(int64(s.unindexed + s.batch.inserted))
	}
	if err == nil {
		err = s.wq.control("COMMIT")
	}
	if err != nil {
		s.rollback()
		s.agents.clear()
		err = fmt.Errorf("sqlite: commit: %w", err)
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
		}
		s.finish(batch)
		return
	}
	if indexed != s.ftsIndexed {
		s.indexedTo(indexed)
	} else {
		s.unindexed += s.batch.inserted
	}
	// Before the events go out: whoever an event wakes finds what the
	// Updates arranged to hand over.
	s.runAfterCommit(batch)
	var events []hub.Event
	for _, r := range batch {
		if r.err == nil {
			events = append(events, r.events...)
		}
	}
	if len(events) > 0 && s.opts.OnCommit != nil {
		s.publish(events)
	}
	s.finishCommitted(batch)
}

// finishCommitted wakes the callers of a committed batch: at once those
// that need no sync (a failed Update, an UpdateVisible, any Update when
// the store does not sync), the others once the syncer has synced.
func (s *Store) finishCommitted(batch []*request) {
	if s.syncq == nil {
		s.finish(batch)
		return
	}
	var durable []*request
	for _, r := range batch {
		if r.err != nil || r.visible {
			r.done <- r.err
			r.events = nil
			continue
		}
		r.events = nil
		durable = append(durable, r)
	}
	if len(durable) > 0 {
		s.syncq <- durable
	}
}

// Search indexing is off the commit path of the Updates that insert
// messages: the writer indexes new messages when it has been idle for
// indexIdle, when maxIndexLag of them wait, or when a View's search finds
// the index behind and asks for it (CatchUpSearch). Indexing a
// message costs about a quarter of a one-message commit, and a batch of
// them costs much less per message than one each.
//
// indexIdle is long enough to mean the hub is idle, not between two
// steps of one exchange: agents answering each other send every few
// milliseconds, and at 2 ms the writer indexed nearly every message in a
// commit of its own, just as the next send came (send-to-wake p50
// against a spawned hub 0.72 → 0.66 ms, p99 1.8–2.8 → 1.6–2.5 ms;
// BENCHMARKS.md, fix 23). A search never waits for it: it asks first.
const (
	indexIdle   = 100 * time.Millisecond
	maxIndexLag = 1024
)

// indexMessages adds the messages above the index's high-water mark to
// the search index, in the open transaction, and returns the new mark;
// the caller keeps it once the COMMIT succeeds.
//
// It runs outside the savepoints of Updates: FTS5 flushes its pending
// index to disk at every savepoint once it has been written in a
// transaction. Message IDs only grow, so "above the mark" is exactly the
// new messages; those of Updates that failed were rolled back and are
// not there to index.
func (s *Store) indexMessages() (int64, error) {
	ctx := context.Background()
	if _, err := s.wq.ExecContext(ctx, `INSERT INTO messages_fts (rowid, subject, body)
		SELECT id, subject, body FROM messages WHERE id > ?`, s.ftsIndexed); err != nil {
		return 0, fmt.Errorf("index messages: %w", err)
	}
	var last int64
	if err := s.wq.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM messages`).Scan(&last); err != nil {
		return 0, fmt.Errorf("index messages: %w", err)
	}
	return max(last, s.ftsIndexed), nil
}

// indexBacklog indexes the messages committed without being indexed, in
// a transaction of its own, while the writer is idle.
func (s *Store) indexBacklog() {
	if err := s.wq.control("BEGIN IMMEDIATE"); err != nil {
		s.log.Error("index messages", "err", err)
		return
	}
	indexed, err := s.indexMessages()
	if err == nil {
		err = s.wq.control("COMMIT")
	}
	if err != nil {
		s.rollback()
		s.log.Error("index messages", "err", err)
		return
	}
	s.indexedTo(indexed)
	s.noteWAL()
}

// indexedTo records a committed index up to the message ID.
func (s *Store) indexedTo(id int64) {
	s.ftsIndexed, s.unindexed = id, 0
	s.pendingIndex.Store(0)
}

// next waits for the next request. While messages wait to be indexed, it
// indexes them once no request has come for indexIdle.
func (s *Store) next() (*request, bool) {
	if s.unindexed == 0 {
		r, ok := <-s.reqs
		return r, ok
	}
	s.idle.Reset(indexIdle)
	select {
	case r, ok := <-s.reqs:
		s.idle.Stop()
		return r, ok
	case <-s.idle.C:
	}
	s.indexBacklog()
	r, ok := <-s.reqs
	return r, ok
}

// CatchUpSearch returns once every message committed before the call is
// in the search index, which the writer otherwise brings up to date when
// idle: a View that starts after it returns finds them by search.
func (s *Store) CatchUpSearch(ctx context.Context) error {
	if s.pendingIndex.Load() == 0 {
		return nil
	}
	return s.UpdateVisible(ctx, func(hub.Tx) error {
		s.batch.index = true // on the writer, which owns batch
		return nil
	})
}

// batchState is what the Updates of one batch share. The writer owns it.
type batchState struct {
	// inserted counts the messages the batch's Updates inserted.
	inserted int
	// index asks for the search index to be brought up to date in the
	// batch's transaction.
	index bool
}

// abort ends a transaction that SQLite has already rolled back under us
// (a full disk, an I/O error): a savepoint statement failed. The first
// ran requests are lost and fail; the others have not run and are
// returned to run again.
func (s *Store) abort(batch []*request, ran int, cause error) []*request {
	s.log.Error("batch aborted", "err", cause, "ran", ran, "size", len(batch))
	s.rollback()
	s.agents.clear()
	if ran == 0 {
		// Nothing ran, so the same failure could recur forever: give up
		// on the first request to guarantee progress.
		ran = 1
	}
	err := fmt.Errorf("sqlite: transaction aborted: %w", cause)
	for _, r := range batch[:ran] {
		if r.err == nil {
			r.err = err
		}
	}
	s.finish(batch[:ran])
	return batch[ran:]
}

// rollback ends the open transaction, if SQLite has not already.
func (s *Store) rollback() {
	_ = s.wq.control("ROLLBACK") // fails when no transaction is open: fine
}

// runFn runs r's function on a fresh Tx, turning a panic into an error.
func (s *Store) runFn(r *request) (err error) {
	t := &tx{reader: reader{q: s.wq}, batch: &s.batch, agents: s.agents}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("update panicked", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("sqlite: update panicked: %v", p)
		}
		if err == nil {
			r.events, r.afterCommit = t.events, t.afterCommit
		}
	}()
	return r.fn(t)
}

// runAfterCommit runs the AfterCommit functions of the batch's Updates
// that committed. A panic there must not kill the writer.
func (s *Store) runAfterCommit(batch []*request) {
	for _, r := range batch {
		if r.err != nil {
			continue
		}
		for _, f := range r.afterCommit {
			func() {
				defer func() {
					if p := recover(); p != nil {
						s.log.Error("AfterCommit panicked", "panic", p, "stack", string(debug.Stack()))
					}
				}()
				f()
			}()
		}
		r.afterCommit = nil
	}
}

// publish hands committed events to OnCommit. A panic there must not kill
// the writer, or every later Update would hang.
func (s *Store) publish(events []hub.Event) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("OnCommit panicked", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	s.opts.OnCommit(events)
}

// fail reports err to every request of batch.
func (s *Store) fail(batch []*request, err error) {
	for _, r := range batch {
		r.err = err
	}
	s.finish(batch)
}

// finish wakes the callers of batch with their outcomes.
func (s *Store) finish(batch []*request) {
	for _, r := range batch {
		r.done <- r.err
		r.events, r.afterCommit = nil, nil
	}
}
