package sqlite

import (
	"context"
	"database/sql"
)

// querier runs SQL for a reader or tx. Both implementations prepare each
// distinct query text once and reuse it, so queries must be constant
// text with their values bound as arguments: never build SQL from input.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// connQuerier runs statements on one connection, preparing each query
// text the first time and reusing it after. One goroutine at a time uses
// it (the writer, or the View holding the read connection), so its cache
// needs no lock.
//
// On the write connection (write set) it ignores the context it is
// given: an interrupted write inside a batch makes SQLite roll back the
// whole transaction, the other callers' work included, and a caller whose
// Update was taken is promised an outcome anyway. A context that is never
// done also spares the driver a watcher goroutine per statement. Reads
// honour their context.
type connQuerier struct {
	conn  *sql.Conn
	write bool
	stmts map[string]*sql.Stmt
}

func newConnQuerier(conn *sql.Conn, write bool) *connQuerier {
	return &connQuerier{conn: conn, write: write, stmts: make(map[string]*sql.Stmt)}
}

func (q *connQuerier) ctx(ctx context.Context) context.Context {
	if q.write || ctx == nil {
		return context.Background()
	}
	return ctx
}

func (q *connQuerier) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := q.stmts[query]; ok {
		return st, nil
	}
	st, err := q.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	q.stmts[query] = st
	return st, nil
}

// control runs a transaction control statement (BEGIN, SAVEPOINT...).
func (q *connQuerier) control(query string) error {
	_, err := q.ExecContext(context.Background(), query)
	return err
}

// ExecContext runs a statement, prepared once per connection.
func (q *connQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = q.ctx(ctx)
	st, err := q.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext runs a query, prepared once per connection.
func (q *connQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = q.ctx(ctx)
	st, err := q.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs a query for one row, prepared once per connection.
func (q *connQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = q.ctx(ctx)
	st, err := q.stmt(ctx, query)
	if err != nil {
		// Unprepared, the query reports its own error through the Row.
		return q.conn.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (q *connQuerier) close() {
	for _, st := range q.stmts {
		st.Close()
	}
	clear(q.stmts)
}
