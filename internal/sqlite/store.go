// Package sqlite implements hub.Store on one SQLite database file, through
// the pure-Go driver modernc.org/sqlite so that the parley binary stays
// static.
//
// Writes go through a single writer goroutine that owns the only write
// connection and commits concurrent Updates together (group commit): one
// fsync makes a whole batch durable, which is what lets one hub take tens
// of thousands of sends per second. Reads run on a separate pool of
// read-only connections, each View in its own read transaction, so
// readers never wait for the writer (WAL mode).
//
// The schema lives in numbered, embedded migrations (migrations/*.sql).
// The Reader and Tx implementations are the plain structs reader and tx;
// other files of this package add methods to them as the hub's
// interfaces grow.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-dev/parley/internal/hub"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ hub.Store = (*Store)(nil)

// Defaults for Options.
const (
	DefaultMaxBatch    = 256
	DefaultReadConns   = 4
	DefaultSynchronous = "FULL"
	// DefaultBusyTimeoutMS bounds how long a connection waits for a lock
	// another process holds, such as a hub that is still shutting down.
	DefaultBusyTimeoutMS = 5000
	// DefaultCheckpointPages is how many pages the writer appends to the
	// WAL before it asks the checkpointer to copy them into the database.
	DefaultCheckpointPages = 1000
)

// checkpointBacklog bounds the WAL when Updates never stop coming (see
// checkpoint.go): every CheckpointPages × checkpointBacklog pages the
// writer checkpoints itself, between batches, when no Update is queued
// or, twice as late, anyway.
const checkpointBacklog = 4

// ErrClosed is returned by View and Update once the store is closed. It
// matches hub.ErrUnavailable.
var ErrClosed = &hub.Error{Code: hub.CodeUnavailable, Message: "store is closed"}

// Options configure a Store. Zero fields take the Default values.
type Options struct {
	// Path is the database file. It and its -wal and -shm files are
	// created readable by the owner only.
	Path string
	// Synchronous is "FULL" (the default: Update returns once its
	// changes survive a power cut) or "NORMAL" (once they survive a crash
	// of the process; a power cut may lose the last ones). Under FULL the
	// store syncs the WAL itself, off the writer goroutine, so readers
	// see a batch as soon as it commits (sync.go).
	Synchronous string
	// OnCommit, when set, receives the events of every committed batch in
	// ID order, on the writer goroutine, before the Updates of the batch
	// return. It must not block for long and must not call Update.
	OnCommit func([]hub.Event)
	// MaxBatch is the most Updates committed in one transaction.
	MaxBatch int
	// ReadConns is the number of read connections.
	ReadConns int
	// CheckpointPages is how many pages written to the WAL start a
	// checkpoint. It runs on a goroutine and connection of the store
	// (PASSIVE: neither the writer nor readers wait for it), not in the
	// commit of the batch that crosses the threshold, as SQLite's
	// automatic checkpoint would.
	CheckpointPages int
	// Logger receives the store's logs.
	Logger *slog.Logger

	// syncHook, when set by a test of this package, runs in place of the
	// sync of the WAL file.
	syncHook func() error
}

// Validate reports the first invalid field.
func (o Options) Validate() error {
	if o.Path == "" {
		return errors.New("sqlite: Path is empty")
	}
	switch strings.ToUpper(o.Synchronous) {
	case "", "FULL", "NORMAL":
	default:
		return fmt.Errorf("sqlite: Synchronous %q: must be FULL or NORMAL", o.Synchronous)
	}
	if o.MaxBatch < 0 {
		return fmt.Errorf("sqlite: MaxBatch %d: must not be negative", o.MaxBatch)
	}
	if o.ReadConns < 0 {
		return fmt.Errorf("sqlite: ReadConns %d: must not be negative", o.ReadConns)
	}
	if o.CheckpointPages < 0 {
		return fmt.Errorf("sqlite: CheckpointPages %d: must not be negative", o.CheckpointPages)
	}
	return nil
}

func (o *Options) setDefaults() {
	o.Synchronous = strings.ToUpper(o.Synchronous)
	if o.Synchronous == "" {
		o.Synchronous = DefaultSynchronous
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.ReadConns == 0 {
		o.ReadConns = DefaultReadConns
	}
	if o.CheckpointPages == 0 {
		o.CheckpointPages = DefaultCheckpointPages
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is a hub.Store on SQLite. It is safe for concurrent use. Its zero
// value is not usable; call Open.
type Store struct {
	opts Options
	log  *slog.Logger

	wdb   *sql.DB // holds the one write connection
	wconn *sql.Conn

	// Owned by the writer goroutine (and by Open before it starts).
	wq     *connQuerier
	batch  batchState
	agents *agentCache
	// ftsIndexed is the highest message ID in the search index;
	// unindexed counts the messages committed above it (about: a failed
	// Update's count stays), and idle times the wait before indexing
	// them (writer.go).
	ftsIndexed int64
	unindexed  int
	idle       *time.Timer
	// pendingIndex mirrors unindexed for CatchUpSearch, set before the
	// commit that makes the messages visible.
	pendingIndex atomic.Int64
	// walPages counts the pages the writer has appended to the WAL since
	// its last checkpoint.
	walPages int
	// ownPages counts the pages appended since the writer's own last
	// checkpoint.
	ownPages  int
	ckptCount atomic.Int64

	// The background checkpointer: its connection, its queue of requests
	// (one pending at most), and done, closed when it has ended.
	cdb      *sql.DB
	cconn    *sql.Conn
	ckptReq  chan struct{}
	ckptDone chan struct{}
	// ckptMu is held by whoever runs a checkpoint, the checkpointer or
	// the writer (checkpoint.go).
	ckptMu sync.Mutex

	rdb *sql.DB
	// readers holds the read connections not in use by a View. A View
	// takes one for its whole transaction, so each connection's prepared
	// statements are used by one goroutine at a time.
	readers chan *connQuerier

	// mu guards closing against Updates that are enqueueing: Update holds
	// it shared while it sends on reqs, Close exclusively while it closes
	// reqs, so no send ever hits a closed channel.
	mu      sync.RWMutex
	closing bool
	reqs    chan *request
	done    chan struct{} // closed when the writer goroutine has ended

	// viewMu is held shared by every View for its whole run and
	// exclusively by Close while it closes the connections. Close takes
	// mu and viewMu one after the other, never both.
	viewMu    sync.RWMutex
	closed    atomic.Bool // set once Close has started
	closeOnce sync.Once
	closeErr  error

	// Under Synchronous FULL, the syncer's queue of committed batches
	// waiting for durability, closed by Close after the writer has ended;
	// syncDone is closed when the syncer has ended. wal is its handle on
	// the -wal file. All nil under NORMAL.
	syncq    chan syncGroup
	syncDone chan struct{}
	wal      *walFile
	// syncing is set while the syncer syncs; synced receives a signal
	// after each sync, for a writer that holds a batch back meanwhile
	// (fillWhileSyncing).
	syncing atomic.Bool
	synced  chan struct{}

	batches atomic.Int64
	updates atomic.Int64
	syncs   atomic.Int64
}

// CheckpointStats counts the store's checkpoints since Open.
type CheckpointStats struct {
	// Checkpoints is the number of checkpoints run, in the background
	// and by the writer.
	Checkpoints int64
}

// CheckpointStats returns counts of the store's checkpoints.
func (s *Store) CheckpointStats() CheckpointStats {
	return CheckpointStats{Checkpoints: s.ckptCount.Load()}
}

// Stats counts the work of the writer since Open.
type Stats struct {
	// Batches is the number of transactions the writer committed or tried.
	Batches int64
	// Updates is the number of Update functions it ran.
	Updates int64
	// Syncs is the number of syncs of the WAL file (Synchronous FULL).
	Syncs int64
}

// Stats returns counts of the writer's work; Updates/Batches is the mean
// batch size, which shows how well group commit is working, and
// Batches/Syncs how many batches one sync made durable.
func (s *Store) Stats() Stats {
	return Stats{Batches: s.batches.Load(), Updates: s.updates.Load(), Syncs: s.syncs.Load()}
}

// Open opens the database at opts.Path, creating it if needed, applies
// pending migrations and starts the writer. The caller must Close it.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	path, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", opts.Path, err)
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s := &Store{
		opts:     opts,
		log:      opts.Logger,
		reqs:     make(chan *request, 4*opts.MaxBatch),
		done:     make(chan struct{}),
		readers:  make(chan *connQuerier, opts.ReadConns),
		agents:   newAgentCache(),
		ckptReq:  make(chan struct{}, 1),
		idle:     time.NewTimer(time.Hour),
		ckptDone: make(chan struct{}),
	}
	if err := s.openConns(ctx, path); err != nil {
		s.closeConns()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// SQLite creates -wal and -shm with the mode of the database file,
	// but tighten them in case they predate us.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.closeConns()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
	}
	if opts.Synchronous == "FULL" {
		if s.wal, err = openWAL(path + "-wal"); err != nil {
			s.closeConns()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		s.syncq = make(chan syncGroup, 64)
		s.synced = make(chan struct{}, 1)
		s.syncDone = make(chan struct{})
		go s.syncer()
	}
	go s.run()
	go s.checkpointer()
	return s, nil
}

// createPrivate creates the database file with mode 0600 unless it
// exists, and makes sure its mode is 0600 either way: the umask may leave
// it wider, and an existing file may have been created by other means.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

// dsn returns the driver's data source name for path with the given
// pragmas. The path goes in a file: URI, escaped, so that no character of
// it is taken for a parameter.
func dsn(path string, pragmas ...string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path // Windows: file:///C:/...
	}
	return u.String()
}

func (s *Store) openConns(ctx context.Context, path string) error {
	common := []string{
		fmt.Sprintf("busy_timeout(%d)", DefaultBusyTimeoutMS),
		"journal_mode(WAL)",
		// Under FULL too: the store syncs the WAL itself, off the writer
		// goroutine (sync.go).
		"synchronous(NORMAL)",
		"foreign_keys(1)",
		// After a checkpoint, truncate a WAL that a burst grew past 64 MiB
		// rather than keep the disk space forever.
		"journal_size_limit(67108864)",
		// No checkpoint in the commit of whichever batch crosses 1,000
		// pages: the store runs them off the commit path (checkpoint.go).
		"wal_autocheckpoint(0)",
	}

	var err error
	// The writer touches the right edge of every index and the pages of
	// many inboxes in each batch; a cache larger than the 2 MiB default
	// saves reads of those pages from the OS on every commit. temp_store
	// MEMORY keeps the savepoint journal of each Update in memory: on
	// disk it costs a write system call per page each Update changes.
	if s.wdb, err = sql.Open("sqlite", dsn(path, append(common, "cache_size(-32768)", "temp_store(MEMORY)")...)); err != nil {
		return err
	}
	// One connection, held for the life of the store: every write, the
	// migrations included, runs on it, so prepared statements stay valid
	// and no two writers ever contend for SQLite's write lock.
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	if s.wconn, err = s.wdb.Conn(ctx); err != nil {
		return err
	}
	if err := migrate(ctx, s.wconn, migrationFiles); err != nil {
		return err
	}
	s.wq = newConnQuerier(s.wconn, true)
	// The search index's own table of document sizes has a row for each
	// indexed message; index whatever the last run left unindexed now.
	var stored int64
	err = s.wconn.QueryRowContext(ctx, `SELECT coalesce((SELECT max(id) FROM messages), 0),
		coalesce((SELECT max(id) FROM messages_fts_docsize), 0)`).Scan(&stored, &s.ftsIndexed)
	if err != nil {
		return err
	}
	if stored > s.ftsIndexed {
		s.indexBacklog()
	}

	if s.rdb, err = sql.Open("sqlite", dsn(path, append(common, "cache_size(-8192)", "query_only(1)")...)); err != nil {
		return err
	}
	s.rdb.SetMaxOpenConns(s.opts.ReadConns)
	s.rdb.SetMaxIdleConns(s.opts.ReadConns)
	s.rdb.SetConnMaxLifetime(0)
	s.rdb.SetConnMaxIdleTime(0)
	for range s.opts.ReadConns {
		c, err := s.rdb.Conn(ctx)
		if err != nil {
			return err
		}
		s.readers <- newConnQuerier(c, false)
	}

	// The background checkpointer's connection.
	if s.cdb, err = sql.Open("sqlite", dsn(path, common...)); err != nil {
		return err
	}
	s.cdb.SetMaxOpenConns(1)
	s.cdb.SetMaxIdleConns(1)
	s.cdb.SetConnMaxLifetime(0)
	s.cdb.SetConnMaxIdleTime(0)
	s.cconn, err = s.cdb.Conn(ctx)
	return err
}

// closeConns closes the read pool and the checkpointer's connection first,
// then the write connection: the last connection to close checkpoints the
// WAL and removes -wal and -shm.
func (s *Store) closeConns() error {
	var errs []error
	for range len(s.readers) {
		rq := <-s.readers
		rq.close()
		errs = append(errs, rq.conn.Close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	if s.cconn != nil {
		errs = append(errs, s.cconn.Close())
	}
	if s.cdb != nil {
		errs = append(errs, s.cdb.Close())
	}
	if s.wal != nil {
		errs = append(errs, s.wal.close())
	}
	if s.wq != nil {
		s.wq.close()
	}
	if s.wconn != nil {
		errs = append(errs, s.wconn.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	return errors.Join(errs...)
}

// Close waits for queued Updates to commit, stops the writer and closes
// the database. It is safe to call more than once; later calls return the
// first call's result. View and Update fail with ErrClosed afterwards.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.mu.Lock()
		s.closing = true
		close(s.reqs)
		s.mu.Unlock()
		<-s.done
		// The writer has ended: nothing is handed to the syncer or asks
		// for checkpoints any more.
		if s.syncq != nil {
			close(s.syncq)
			<-s.syncDone
		}
		close(s.ckptReq)
		<-s.ckptDone
		// Wait for the Views in flight; later ones see closed.
		s.viewMu.Lock()
		defer s.viewMu.Unlock()
		if err := s.closeConns(); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", err)
		}
	})
	return s.closeErr
}

// takeReader waits for a free read connection; the caller gives it back
// to s.readers.
func (s *Store) takeReader(ctx context.Context) (*connQuerier, error) {
	select {
	case q := <-s.readers:
		return q, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// View runs fn in a read transaction: everything fn reads comes from one
// snapshot of the database. fn must not keep the Reader after it returns.
func (s *Store) View(ctx context.Context, fn func(hub.Reader) error) error {
	s.viewMu.RLock()
	defer s.viewMu.RUnlock()
	if s.closed.Load() {
		return ErrClosed
	}
	q, err := s.takeReader(ctx)
	if err != nil {
		return err
	}
	defer func() { s.readers <- q }()
	if err := q.control("BEGIN"); err != nil {
		return fmt.Errorf("sqlite: begin read: %w", err)
	}
	// Deferred so that a panicking fn still ends the transaction; a read
	// transaction has nothing to commit.
	defer func() {
		if err := q.control("ROLLBACK"); err != nil {
			s.log.Error("end read transaction", "err", err)
		}
	}()
	return fn(&reader{q: q})
}
