package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// AppendEvent stores an event and returns it with its ID. The tx keeps it
// for the commit hook, which sees it only if the Update commits.
func (t *tx) AppendEvent(ctx context.Context, e hub.Event) (hub.Event, error) {
	var data []byte
	if len(e.Data) > 0 {
		data = e.Data
	}
	res, err := t.q.ExecContext(ctx, `INSERT INTO events (kind, time, actor, targets, subject, data) VALUES (?, ?, ?, ?, ?, ?)`,
		e.Kind, encodeTime(e.Time), e.Actor, encodeStrings(e.Targets), e.Subject, data)
	if err != nil {
		return hub.Event{}, fmt.Errorf("sqlite: append event %s: %w", e.Kind, err)
	}
	if e.ID, err = res.LastInsertId(); err != nil {
		return hub.Event{}, fmt.Errorf("sqlite: append event %s: %w", e.Kind, err)
	}
	t.events = append(t.events, e)
	return e, nil
}

// Events returns up to limit events with an ID above after, oldest
// first; limit <= 0 means all of them.
func (r *reader) Events(ctx context.Context, after int64, limit int) ([]hub.Event, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT id, kind, time, actor, targets, subject, data FROM events
		WHERE id > ? ORDER BY id LIMIT ?`, after, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: events: %w", err)
	}
	defer rows.Close()
	var out []hub.Event
	for rows.Next() {
		var e hub.Event
		var at int64
		var targets string
		var data []byte
		if err := rows.Scan(&e.ID, &e.Kind, &at, &e.Actor, &targets, &e.Subject, &data); err != nil {
			return nil, fmt.Errorf("sqlite: events: %w", err)
		}
		e.Time = decodeTime(at)
		if e.Targets, err = decodeStrings(targets); err != nil {
			return nil, fmt.Errorf("sqlite: event %d targets: %w", e.ID, err)
		}
		if len(data) > 0 {
			e.Data = json.RawMessage(data)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: events: %w", err)
	}
	return out, nil
}

// LastEventID returns the highest stored event ID, or 0.
func (r *reader) LastEventID(ctx context.Context) (int64, error) {
	var id int64
	if err := r.q.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM events`).Scan(&id); err != nil {
		return 0, fmt.Errorf("sqlite: last event id: %w", err)
	}
	return id, nil
}

// Expire removes held mail and forwards that expired at or before now,
// and every event older than the newest keepEvents (all of them when
// keepEvents <= 0).
func (t *tx) Expire(ctx context.Context, now time.Time, keepEvents int) error {
	ts := encodeTime(now)
	if _, err := t.q.ExecContext(ctx, `DELETE FROM held WHERE expires_at <= ?`, ts); err != nil {
		return fmt.Errorf("sqlite: expire held mail: %w", err)
	}
	if _, err := t.q.ExecContext(ctx, `DELETE FROM forwards WHERE expires_at <= ?`, ts); err != nil {
		return fmt.Errorf("sqlite: expire forwards: %w", err)
	}
	var err error
	if keepEvents <= 0 {
		_, err = t.q.ExecContext(ctx, `DELETE FROM events`)
	} else {
		// The keepEvents-th newest ID is the oldest kept. IDs are not
		// assumed dense: a Reset leaves a gap.
		_, err = t.q.ExecContext(ctx, `DELETE FROM events
			WHERE id < (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)`, keepEvents-1)
	}
	if err != nil {
		return fmt.Errorf("sqlite: expire events: %w", err)
	}
	return nil
}

// Reset removes every row of every table, those that later migrations
// add included: the tables come from the schema, not from a list here.
// Tables listed in keep_on_reset stay, and so does sqlite_sequence, so
// IDs keep growing across a reset and a follower resuming from an old
// event ID never sees an ID again.
func (t *tx) Reset(ctx context.Context) error {
	tables, err := t.tables(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: reset: %w", err)
	}
	t.agents.clear()
	for _, tb := range tables {
		stmt := `DELETE FROM ` + quoteIdent(tb.name)
		if tb.fts {
			// An external-content FTS5 table is emptied with its own
			// command; DELETE would try to read the (gone) content.
			stmt = `INSERT INTO ` + quoteIdent(tb.name) + `(` + quoteIdent(tb.name) + `) VALUES ('delete-all')`
		}
		if _, err := t.q.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlite: reset %s: %w", tb.name, err)
		}
	}
	return nil
}

type table struct {
	name string
	fts  bool
}

// tables lists the tables Reset empties, each after every table whose
// foreign keys refer to it, so no delete ever breaks a reference. SQLite's
// own tables, the shadow tables of virtual tables (their own commands
// maintain those) and the tables keep_on_reset lists are left out.
func (t *tx) tables(ctx context.Context) ([]table, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT l.name, l.type = 'virtual' AND s.sql LIKE '%USING fts5%'
		FROM pragma_table_list l JOIN sqlite_schema s ON s.name = l.name
		WHERE l.schema = 'main' AND l.type IN ('table', 'virtual') AND l.name NOT LIKE 'sqlite\_%' ESCAPE '\'
			AND l.name <> 'keep_on_reset' AND l.name NOT IN (SELECT name FROM keep_on_reset)
		ORDER BY l.name`)
	if err != nil {
		return nil, err
	}
	var all []table
	for rows.Next() {
		var tb table
		if err := rows.Scan(&tb.name, &tb.fts); err != nil {
			rows.Close()
			return nil, err
		}
		all = append(all, tb)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// parents[x] are the tables x refers to.
	parents := make(map[string][]string)
	for _, tb := range all {
		rows, err := t.q.QueryContext(ctx, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`, tb.name)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return nil, err
			}
			if !strings.EqualFold(p, tb.name) {
				parents[tb.name] = append(parents[tb.name], p)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	// Repeatedly take the tables no remaining table refers to. A cycle
	// would stall that; then take the first remaining table and let its
	// delete cascade or fail with a clear error.
	var order []table
	left := all
	for len(left) > 0 {
		referred := make(map[string]bool)
		for _, tb := range left {
			for _, p := range parents[tb.name] {
				referred[strings.ToLower(p)] = true
			}
		}
		var next []table
		n := len(order)
		for _, tb := range left {
			if referred[strings.ToLower(tb.name)] {
				next = append(next, tb)
			} else {
				order = append(order, tb)
			}
		}
		if len(order) == n {
			order, next = append(order, next[0]), next[1:]
		}
		left = next
	}
	return order, nil
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
