package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/sqlite"
	"github.com/parley-dev/parley/internal/storetest"
)

// open opens a Store in dir for a test and closes it at the end.
func open(tb testing.TB, dir string, onCommit func([]hub.Event)) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{
		Path:     filepath.Join(dir, "parley.db"),
		OnCommit: onCommit,
	})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB, dir string, onCommit func([]hub.Event)) hub.Store {
		return open(tb, dir, onCommit)
	})
}

// TestConformanceSmallBatches runs the suite with batches of at most two
// and a single read connection, so the paths of a full batch and of a
// View waiting for a connection are exercised too.
func TestConformanceSmallBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("the default configuration is enough in -short mode")
	}
	storetest.Run(t, func(tb testing.TB, dir string, onCommit func([]hub.Event)) hub.Store {
		s, err := sqlite.Open(context.Background(), sqlite.Options{
			Path: filepath.Join(dir, "parley.db"), OnCommit: onCommit,
			MaxBatch: 2, ReadConns: 1, Synchronous: "normal",
		})
		if err != nil {
			tb.Fatalf("open: %v", err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	})
}

func TestFileModes(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	// A write makes sure the WAL exists.
	if err := s.Update(t.Context(), func(tx hub.Tx) error {
		_, err := tx.InsertAgent(t.Context(), hub.Agent{Name: "alice"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"parley.db", "parley.db-wal", "parley.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("stat %s: %v", name, err)
			continue
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s: got mode %#o, want 0600", name, got)
		}
	}
}

func TestExistingFileModeTightened(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "parley.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	open(t, dir, nil)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("existing database file: got mode %#o, want 0600", got)
	}
}

// userVersion reads the schema version of the database file directly.
func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrationsIdempotentOnReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "parley.db")
	s := open(t, dir, nil)
	if err := s.Update(t.Context(), func(tx hub.Tx) error {
		_, err := tx.InsertAgent(t.Context(), hub.Agent{Name: "alice"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	first := userVersion(t, path)
	if first < 1 {
		t.Fatalf("schema version after first open: got %d, want >= 1", first)
	}
	for i := range 2 {
		s := open(t, dir, nil)
		if err := s.View(t.Context(), func(r hub.Reader) error {
			_, err := r.AgentByName(t.Context(), "alice")
			return err
		}); err != nil {
			t.Errorf("reopen %d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got := userVersion(t, path); got != first {
			t.Errorf("schema version after reopen %d: got %d, want %d", i, got, first)
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "parley.db")
	open(t, dir, nil).Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 9999"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := sqlite.Open(t.Context(), sqlite.Options{Path: path})
	if err == nil {
		s.Close()
		t.Fatalf("open of a database with a newer schema: got no error")
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts sqlite.Options
		ok   bool
	}{
		{"defaults", sqlite.Options{Path: "x.db"}, true},
		{"normal", sqlite.Options{Path: "x.db", Synchronous: "NORMAL"}, true},
		{"lower case", sqlite.Options{Path: "x.db", Synchronous: "full"}, true},
		{"no path", sqlite.Options{}, false},
		{"synchronous off", sqlite.Options{Path: "x.db", Synchronous: "OFF"}, false},
		{"negative batch", sqlite.Options{Path: "x.db", MaxBatch: -1}, false},
		{"negative read conns", sqlite.Options{Path: "x.db", ReadConns: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.opts.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate(%+v): got %v, want ok=%v", tt.opts, err, tt.ok)
			}
		})
	}
}

// TestGroupCommitBatches checks that concurrent Updates share
// transactions: that is the point of the single writer.
func TestGroupCommitBatches(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s.Update(t.Context(), func(hub.Tx) error { <-release; return nil })
	})
	// Wait until the writer holds the blocker, then queue the others.
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Updates < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	const n = 50
	for i := range n {
		wg.Go(func() {
			if err := s.Update(t.Context(), func(tx hub.Tx) error {
				_, err := tx.AppendEvent(t.Context(), hub.Event{Kind: hub.EventAgentStatus, Time: time.Now()})
				return err
			}); err != nil {
				t.Errorf("update %d: %v", i, err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // let them queue
	close(release)
	wg.Wait()
	st := s.Stats()
	if st.Updates != n+1 {
		t.Errorf("updates: got %d, want %d", st.Updates, n+1)
	}
	if st.Batches >= st.Updates/2 {
		t.Errorf("batches: got %d for %d updates, want far fewer", st.Batches, st.Updates)
	}
}

// TestOnCommitPanic checks that a panicking commit hook does not stop the
// writer.
func TestOnCommitPanic(t *testing.T) {
	calls := 0
	s := open(t, t.TempDir(), func([]hub.Event) {
		calls++
		panic("hook")
	})
	for range 2 {
		if err := s.Update(t.Context(), func(tx hub.Tx) error {
			_, err := tx.AppendEvent(t.Context(), hub.Event{Kind: hub.EventAgentStatus, Time: time.Now()})
			return err
		}); err != nil {
			t.Fatalf("update: %v", err)
		}
	}
	if calls != 2 {
		t.Errorf("hook calls: got %d, want 2", calls)
	}
}

// TestCloseDrains checks that Close commits what was queued before it,
// and that later Updates fail with ErrClosed.
func TestCloseDrains(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s.Update(t.Context(), func(hub.Tx) error { <-release; return nil })
	})
	const n = 20
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(t.Context(), func(tx hub.Tx) error {
				_, err := tx.AppendEvent(t.Context(), hub.Event{Kind: hub.EventAgentStatus, Time: time.Now()})
				return err
			})
		})
	}
	for s.Stats().Updates < 1 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if err := <-closed; err != nil {
		t.Fatalf("close: %v", err)
	}
	committed := 0
	for _, err := range errs {
		switch {
		case err == nil:
			committed++
		case !errors.Is(err, sqlite.ErrClosed):
			t.Errorf("update during Close: got %v, want success or ErrClosed", err)
		}
	}
	err := s.Update(t.Context(), func(hub.Tx) error { return nil })
	if !errors.Is(err, sqlite.ErrClosed) || !errors.Is(err, hub.ErrUnavailable) {
		t.Errorf("Update after Close: got %v, want ErrClosed matching hub.ErrUnavailable", err)
	}

	s2 := open(t, dir, nil)
	var last int64
	if err := s2.View(t.Context(), func(r hub.Reader) error {
		evs, err := r.Events(t.Context(), 0, 100)
		last = int64(len(evs))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if last != int64(committed) {
		t.Errorf("events after reopen: got %d, want the %d that committed", last, committed)
	}
}

// FuzzSearch feeds arbitrary text to the search: it must never fail.
func FuzzSearch(f *testing.F) {
	for _, s := range []string{`"`, `AND`, `*`, `(`, "\x00", `日本語`, `a"b`, `NEAR(a b)`, `col:x`, "\xff"} {
		f.Add(s)
	}
	s := open(f, f.TempDir(), nil)
	if err := s.Update(f.Context(), func(tx hub.Tx) error {
		a, err := tx.InsertAgent(f.Context(), hub.Agent{Name: "alice"})
		if err != nil {
			return err
		}
		_, err = tx.InsertMessage(f.Context(), hub.Message{FromID: a.ID, From: "alice", Body: `rock "and" roll (live)* 日本語`})
		return err
	}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, search string) {
		err := s.View(t.Context(), func(r hub.Reader) error {
			_, err := r.Messages(t.Context(), hub.HistoryQuery{Search: search, ViewerID: 1, Limit: 5})
			return err
		})
		if err != nil {
			t.Errorf("search %q: %v", search, err)
		}
	})
}

// rawDB opens the store's file on a second, plain connection, as a later
// migration or an operator would see it.
func rawDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "parley.db")+"?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM "` + table + `"`).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// TestResetTablesOfLaterMigrations checks that Reset empties tables it
// has never heard of, in an order their foreign keys accept, and keeps
// those listed in keep_on_reset.
func TestResetTablesOfLaterMigrations(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	ctx := t.Context()
	if err := s.Update(ctx, func(tx hub.Tx) error {
		a, err := tx.InsertAgent(ctx, hub.Agent{Name: "alice"})
		if err != nil {
			return err
		}
		_, err = tx.InsertMessage(ctx, hub.Message{FromID: a.ID, From: "alice", Body: "indexed words"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, dir)
	for _, stmt := range []string{
		// The parent's name sorts first and the child's key has no ON
		// DELETE: a reset that went by name would fail.
		`CREATE TABLE z_child (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL REFERENCES a_parent (id))`,
		`CREATE TABLE a_parent (id INTEGER PRIMARY KEY)`,
		`CREATE TABLE kept (n INTEGER)`,
		`INSERT INTO keep_on_reset (name) VALUES ('kept')`,
		`INSERT INTO a_parent (id) VALUES (1)`,
		`INSERT INTO z_child (id, parent) VALUES (1, 1)`,
		`INSERT INTO kept (n) VALUES (7)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := s.Update(ctx, func(tx hub.Tx) error { return tx.Reset(ctx) }); err != nil {
		t.Fatalf("reset: %v", err)
	}
	for _, table := range []string{"z_child", "a_parent", "agents", "messages"} {
		if n := count(t, db, table); n != 0 {
			t.Errorf("%s after Reset: got %d rows, want 0", table, n)
		}
	}
	if n := count(t, db, "kept"); n != 1 {
		t.Errorf("kept after Reset: got %d rows, want 1", n)
	}
	if n := count(t, db, "keep_on_reset"); n == 0 {
		t.Errorf("keep_on_reset after Reset: got no rows, want its list kept")
	}
	checkFTS(t, db)
}

// checkFTS runs FTS5's integrity check, which compares the index with
// the messages it indexes.
func checkFTS(t *testing.T, db *sql.DB) {
	t.Helper()
	if _, err := db.Exec(`INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)`); err != nil {
		t.Errorf("search index integrity: %v", err)
	}
}

// TestSearchIndexInStep checks that the index, which the writer updates
// once per batch, matches the messages after batches with failures, a
// reset, and a reopen.
func TestSearchIndexInStep(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	ctx := t.Context()
	var alice hub.Agent
	if err := s.Update(ctx, func(tx hub.Tx) error {
		var err error
		alice, err = tx.InsertAgent(ctx, hub.Agent{Name: "alice"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	send := func(n int) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				s.Update(ctx, func(tx hub.Tx) error {
					if _, err := tx.InsertMessage(ctx, hub.Message{FromID: alice.ID, From: "alice", Body: "word number"}); err != nil {
						return err
					}
					if i%4 == 0 {
						return errors.New("fail after insert")
					}
					return nil
				})
			})
		}
		wg.Wait()
	}
	search := func() int {
		var n int
		if err := s.CatchUpSearch(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.View(ctx, func(r hub.Reader) error {
			ms, err := r.Messages(ctx, hub.HistoryQuery{Search: "word"})
			n = len(ms)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	send(40)
	if got := search(); got != 30 {
		t.Errorf("search after 40 sends, 10 failed: got %d, want 30", got)
	}
	if err := s.Update(ctx, func(tx hub.Tx) error { return tx.Reset(ctx) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx hub.Tx) error {
		var err error
		alice, err = tx.InsertAgent(ctx, hub.Agent{Name: "alice"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	send(8)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, nil)
	send(8)
	if got := search(); got != 12 {
		t.Errorf("search after reset, 16 sends, 4 failed, and a reopen: got %d, want 12", got)
	}
	checkFTS(t, rawDB(t, dir))
}

// TestSearchIndexOffTheCommitPath: sends are indexed for search off
// their commits, but never left behind: the writer indexes when idle, on
// Close, and at once for CatchUpSearch, which costs nothing when the
// index is up to date.
func TestSearchIndexOffTheCommitPath(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := open(t, dir, nil)
	var alice hub.Agent
	if err := s.Update(ctx, func(tx hub.Tx) error {
		var err error
		alice, err = tx.InsertAgent(ctx, hub.Agent{Name: "alice"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	send := func(body string) {
		t.Helper()
		if err := s.Update(ctx, func(tx hub.Tx) error {
			_, err := tx.InsertMessage(ctx, hub.Message{FromID: alice.ID, From: "alice", Body: body})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	found := func(s *sqlite.Store, word string) int {
		t.Helper()
		var n int
		if err := s.View(ctx, func(r hub.Reader) error {
			ms, err := r.Messages(ctx, hub.HistoryQuery{Search: word})
			n = len(ms)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}

	send("idle tangerine")
	deadline := time.Now().Add(5 * time.Second)
	for found(s, "tangerine") == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if found(s, "tangerine") != 1 {
		t.Fatalf("a message was not indexed while the writer was idle")
	}
	// The idle writer's index commit is visible a moment before the
	// writer notes that nothing waits to be indexed: a CatchUpSearch in
	// that moment asks for one more (empty) batch. After one has
	// returned, the store knows the index is up to date.
	if err := s.CatchUpSearch(ctx); err != nil {
		t.Fatal(err)
	}

	before := s.Stats().Batches
	if err := s.CatchUpSearch(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().Batches; got != before {
		t.Errorf("CatchUpSearch with the index up to date wrote %d batches", got-before)
	}

	send("prompt kumquat")
	if err := s.CatchUpSearch(ctx); err != nil {
		t.Fatal(err)
	}
	if got := found(s, "kumquat"); got != 1 {
		t.Errorf("search after CatchUpSearch: got %d, want 1", got)
	}

	send("closing quince")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir, nil)
	if got := found(s2, "quince"); got != 1 {
		t.Errorf("search after Close and reopen, without catching up: got %d, want 1", got)
	}
}

// TestExpiredMessagesLeaveTheSearchIndex checks that the search index
// stays consistent with the messages when old ones are removed, both
// those already indexed and those the writer had not indexed yet. A
// search alone would not notice: it joins the index with the messages.
func TestExpiredMessagesLeaveTheSearchIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir, nil)
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var alice, bob hub.Agent
	send := func(body string) {
		t.Helper()
		err := s.Update(ctx, func(tx hub.Tx) error {
			m, err := tx.InsertMessage(ctx, hub.Message{From: alice.Name, FromID: alice.ID, To: []string{bob.Name},
				Subject: "report", Body: body, Importance: hub.ImportanceNormal, CreatedAt: old, Size: len(body)})
			if err != nil {
				return err
			}
			_, err = tx.DeliverRead(ctx, m.ID, bob.ID, old)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := s.Update(ctx, func(tx hub.Tx) error {
		var err error
		if alice, err = tx.InsertAgent(ctx, hub.Agent{Name: "alice", Capabilities: []string{}}); err != nil {
			return err
		}
		bob, err = tx.InsertAgent(ctx, hub.Agent{Name: "bob", Capabilities: []string{}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"zebra one", "zebra two", "lion three"} {
		send(body)
	}
	if err := s.CatchUpSearch(ctx); err != nil {
		t.Fatal(err)
	}
	send("zebra four, not indexed yet")
	var removed int
	err = s.Update(ctx, func(tx hub.Tx) error {
		var err error
		_, removed, err = tx.ExpireMessages(ctx, old.Add(time.Hour), 0, 100)
		return err
	})
	if err != nil || removed != 4 {
		t.Fatalf("ExpireMessages: removed %d, %v, want 4", removed, err)
	}
	if err := s.CatchUpSearch(ctx); err != nil {
		t.Fatal(err)
	}
	send("zebra five")
	if err := s.CatchUpSearch(ctx); err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx hub.Tx) error {
		_, removed, err = tx.ExpireMessages(ctx, old.Add(time.Hour), 0, 100)
		return err
	})
	if err != nil || removed != 1 {
		t.Fatalf("second ExpireMessages: removed %d, %v, want 1", removed, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, dir)
	// rank 1: check the index against the messages it was built from.
	if _, err := db.Exec(`INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)`); err != nil {
		t.Errorf("search index after expiry: %v", err)
	}
	for table, want := range map[string]int{"messages": 0, "deliveries": 0, "messages_fts_docsize": 0} {
		if got := count(t, db, table); got != want {
			t.Errorf("%s: %d rows, want %d", table, got, want)
		}
	}
}

// TestExpireMessagesBoundsItsWork checks that one ExpireMessages call
// removes no more than about a megabyte of text, however large its
// limit, and says where the next call goes on.
func TestExpireMessagesBoundsItsWork(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), nil)
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	body := strings.Repeat("large ", 50_000) // 300,000 bytes
	err := s.Update(ctx, func(tx hub.Tx) error {
		alice, err := tx.InsertAgent(ctx, hub.Agent{Name: "alice", Capabilities: []string{}})
		if err != nil {
			return err
		}
		bob, err := tx.InsertAgent(ctx, hub.Agent{Name: "bob", Capabilities: []string{}})
		if err != nil {
			return err
		}
		for range 10 {
			m, err := tx.InsertMessage(ctx, hub.Message{From: alice.Name, FromID: alice.ID, To: []string{bob.Name},
				Body: body, Importance: hub.ImportanceNormal, CreatedAt: old, Size: len(body)})
			if err != nil {
				return err
			}
			if _, err := tx.DeliverRead(ctx, m.ID, bob.ID, old); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var calls []int
	after := int64(0)
	for range 20 {
		var next int64
		var removed int
		if err := s.Update(ctx, func(tx hub.Tx) error {
			var err error
			next, removed, err = tx.ExpireMessages(ctx, old.Add(time.Hour), after, 1000)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		calls = append(calls, removed)
		if after = next; next == 0 {
			break
		}
	}
	// 3 × 300,000 bytes fit in a megabyte; a fourth would not.
	if want := []int{3, 3, 3, 1}; !slices.Equal(calls, want) {
		t.Errorf("messages removed per call: %v, want %v", calls, want)
	}
}
