package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// testConn opens a plain connection to a fresh database.
func testConn(t *testing.T) *sql.Conn {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(filepath.Join(t.TempDir(), "m.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func version(t *testing.T, conn *sql.Conn) int {
	t.Helper()
	var v int
	if err := conn.QueryRowContext(context.Background(), "PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func tableExists(t *testing.T, conn *sql.Conn, name string) bool {
	t.Helper()
	var n int
	err := conn.QueryRowContext(context.Background(), "SELECT count(*) FROM sqlite_schema WHERE name = ?", name).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestMigrateFailureLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	conn := testConn(t)
	broken := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("CREATE TABLE a (x);")},
		"migrations/0002_b.sql": {Data: []byte("CREATE TABLE b (x); INSERT INTO nosuch VALUES (1);")},
	}
	if err := migrate(ctx, conn, broken); err == nil {
		t.Fatalf("migrate with a failing migration: got no error")
	}
	if got := version(t, conn); got != 1 {
		t.Errorf("version after a failed second migration: got %d, want 1", got)
	}
	if !tableExists(t, conn, "a") || tableExists(t, conn, "b") {
		t.Errorf("tables after a failed second migration: want a and not b")
	}

	fixed := fstest.MapFS{
		"migrations/0001_a.sql": broken["migrations/0001_a.sql"],
		"migrations/0002_b.sql": {Data: []byte("CREATE TABLE b (x);")},
	}
	for range 2 { // the second run has nothing to do
		if err := migrate(ctx, conn, fixed); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		if got := version(t, conn); got != 2 || !tableExists(t, conn, "b") {
			t.Errorf("after the fixed migration: got version %d, want 2 with table b", got)
		}
	}
}

func TestLoadMigrationsRejects(t *testing.T) {
	tests := []struct {
		name  string
		files []string
	}{
		{"gap", []string{"0001_a.sql", "0003_c.sql"}},
		{"duplicate", []string{"0001_a.sql", "0001_b.sql"}},
		{"not from one", []string{"0002_b.sql"}},
		{"bad name", []string{"0001_a.sql", "2_b.sql"}},
		{"upper case", []string{"0001_A.sql"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tt.files {
				fsys["migrations/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			}
			if _, err := loadMigrations(fsys); err == nil {
				t.Errorf("loadMigrations(%v): got no error", tt.files)
			}
		})
	}
}

func TestEmbeddedMigrationsLoad(t *testing.T) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].name != "0001_init.sql" {
		t.Fatalf("embedded migrations: got %d, want 0001_init.sql first", len(ms))
	}
}

func TestFTSQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"deploy", `"deploy"`},
		{"deploy frontend", `"deploy" AND "frontend"`},
		{`  spaced   out  `, `"spaced" AND "out"`},
		{`say "hi"`, `"say" AND """hi"""`},
		{`AND OR NOT`, `"AND" AND "OR" AND "NOT"`},
		{`deploy*`, `"deploy*"`},
		{`* -- ()`, ``},
		{"a\x00b", `"a" AND "b"`},
		{"日本語", `"日本語"`},
		{"", ""},
	}
	for _, tt := range tests {
		if got := ftsQuery(tt.in); got != tt.want {
			t.Errorf("ftsQuery(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStringsRoundTrip(t *testing.T) {
	tests := [][]string{
		nil,
		{""},
		{"", ""},
		{"bob"},
		{"bob", "role:review", "*"},
		{`quote"d`, `back\slash`, "new\nline", "ünïcode", "<html>&", `","`},
	}
	for _, list := range tests {
		enc := encodeStrings(list)
		got, err := decodeStrings(enc)
		if err != nil {
			t.Errorf("decodeStrings(%q): %v", enc, err)
			continue
		}
		if len(list) == 0 {
			if got != nil {
				t.Errorf("round trip of an empty list: got %q, want nil", got)
			}
			continue
		}
		if !reflect.DeepEqual(got, list) {
			t.Errorf("round trip of %q via %q: got %q", list, enc, got)
		}
		// Whatever path encoded it, it is JSON.
		var std []string
		if err := json.Unmarshal([]byte(enc), &std); err != nil || !reflect.DeepEqual(std, list) {
			t.Errorf("encodeStrings(%q) = %q: not the JSON of the list (%v)", list, enc, err)
		}
	}
}

func TestTimeRoundTrip(t *testing.T) {
	tests := []time.Time{
		{},
		time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("x", -7*3600)),
		time.Unix(0, 1),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Nanosecond),
	}
	for _, tm := range tests {
		if got := decodeTime(encodeTime(tm)); !got.Equal(tm) || got.IsZero() != tm.IsZero() {
			t.Errorf("time %v: got %v back", tm, got)
		}
	}
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := decodeTime(encodeTime(far)); !got.After(time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("far future: got %v, want it clamped to the latest time, not wrapped", got)
	}
}

// TestUnreadQueriesUseTheirIndex checks the plans of the unread queries:
// a read or count that walks the primary key costs the length of the
// agent's history, not of its unread mail.
func TestUnreadQueriesUseTheirIndex(t *testing.T) {
	ctx := context.Background()
	conn := testConn(t)
	if err := migrate(ctx, conn, migrationFiles); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, query string
		args        []any
	}{
		{"inbox", unreadInboxQuery, []any{1, 0, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := conn.QueryContext(ctx, "EXPLAIN QUERY PLAN "+tt.query, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(plan, "; ")
			if !strings.Contains(joined, "deliveries_unread") {
				t.Errorf("plan does not use deliveries_unread: %s", joined)
			}
		})
	}
}

// TestUnreadCountMigration: a database from before migration 0003 gets
// each agent's unread count from its deliveries, and the trigger keeps it.
func TestUnreadCountMigration(t *testing.T) {
	ctx := context.Background()
	conn := testConn(t)
	old := fstest.MapFS{}
	for _, name := range []string{"0001_init.sql", "0002_coordination.sql"} {
		data, err := migrationFiles.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		old["migrations/"+name] = &fstest.MapFile{Data: data}
	}
	if err := migrate(ctx, conn, old); err != nil {
		t.Fatal(err)
	}
	exec := func(q string) {
		t.Helper()
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO agents (id, name) VALUES (1, 'bob'), (2, 'carol')`)
	exec(`INSERT INTO messages (id, from_id, from_name, thread, created_at) VALUES (1, 2, 'carol', '1', 1), (2, 2, 'carol', '2', 1), (3, 2, 'carol', '3', 1)`)
	exec(`INSERT INTO deliveries (agent_id, seq, message_id, state) VALUES (1, 1, 1, 'unread'), (1, 2, 2, 'read'), (1, 3, 3, 'unread')`)
	if err := migrate(ctx, conn, migrationFiles); err != nil {
		t.Fatal(err)
	}
	unread := func(id int) int {
		t.Helper()
		var n int
		if err := conn.QueryRowContext(ctx, `SELECT unread FROM agents WHERE id = ?`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := unread(1); got != 2 {
		t.Errorf("bob's unread after migrating: got %d, want 2", got)
	}
	if got := unread(2); got != 0 {
		t.Errorf("carol's unread after migrating: got %d, want 0", got)
	}
	exec(`UPDATE deliveries SET state = 'acked' WHERE agent_id = 1 AND seq = 1`)
	exec(`UPDATE deliveries SET state = 'acked' WHERE agent_id = 1 AND seq = 2`) // was read
	if got := unread(1); got != 1 {
		t.Errorf("bob's unread after acking: got %d, want 1", got)
	}
}
