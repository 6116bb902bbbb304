package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// This file and coordination_*.go implement the coordination methods of
// hub.Reader and hub.Tx: commands, channels, signals, proposals, leases,
// shared state and durable counters (schema in 0002_coordination.sql).

const commandColumns = `id, from_id, from_name, target, target_id, target_role, action, params, status,
	result, error, claimed_by, claimed_by_id, created_at, claimed_at, finished_at, deadline`

func scanCommand(sc scanner) (hub.Command, error) {
	var c hub.Command
	var params string
	var result sql.NullString
	var created, claimed, finished, deadline int64
	err := sc.Scan(&c.ID, &c.FromID, &c.From, &c.Target, &c.TargetID, &c.TargetRole, &c.Action, &params, &c.Status,
		&result, &c.Error, &c.ClaimedBy, &c.ClaimedByID, &created, &claimed, &finished, &deadline)
	if err != nil {
		return hub.Command{}, err
	}
	c.Params = json.RawMessage(params)
	if result.Valid {
		c.Result = json.RawMessage(result.String)
	}
	c.CreatedAt, c.ClaimedAt = decodeTime(created), decodeTime(claimed)
	c.FinishedAt, c.Deadline = decodeTime(finished), decodeTime(deadline)
	return c, nil
}

// nullJSON is how an optional JSON value is stored: NULL when absent.
func nullJSON(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Command returns one command.
func (r *reader) Command(ctx context.Context, id int64) (hub.Command, error) {
	c, err := scanCommand(r.q.QueryRowContext(ctx, `SELECT `+commandColumns+` FROM commands WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return hub.Command{}, hub.Errorf(hub.CodeNotFound, "command %d not found", id)
	}
	if err != nil {
		return hub.Command{}, fmt.Errorf("sqlite: command %d: %w", id, err)
	}
	return c, nil
}

// Commands returns commands newest first, as q selects.
func (r *reader) Commands(ctx context.Context, q hub.CommandQuery) ([]hub.Command, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT `+commandColumns+` FROM commands
		WHERE (?1 = 0 OR from_id = ?1)
			AND (?2 = '' OR status = ?2)
			AND (?3 = 0 OR id < ?3)
			AND (?4 = 0 OR target_id = ?4 OR claimed_by_id = ?4 OR (?5 <> '' AND target_role = ?5 AND status = 'pending'))
		ORDER BY id DESC LIMIT ?6`,
		q.FromID, q.Status, q.Before, q.ForAgentID, q.ForRole, sqlLimit(q.Limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: commands: %w", err)
	}
	cmds, err := collect(rows, scanCommand)
	if err != nil {
		return nil, fmt.Errorf("sqlite: commands: %w", err)
	}
	return cmds, nil
}

// CountCommands counts commands in a status.
func (r *reader) CountCommands(ctx context.Context, status string) (int, error) {
	var n int
	if err := r.q.QueryRowContext(ctx, `SELECT count(*) FROM commands WHERE status = ?`, status).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count commands: %w", err)
	}
	return n, nil
}

// NextCommand returns the oldest live pending command for the agent or
// its role. Each half of the search uses its own partial index.
func (r *reader) NextCommand(ctx context.Context, agentID int64, role string, now time.Time) (hub.Command, error) {
	c, err := scanCommand(r.q.QueryRowContext(ctx, `SELECT `+commandColumns+` FROM commands WHERE id = (
		SELECT min(id) FROM (
			SELECT min(id) AS id FROM commands
				WHERE status = 'pending' AND target_id = ?1 AND (deadline = 0 OR deadline > ?3)
			UNION ALL
			SELECT min(id) FROM commands
				WHERE status = 'pending' AND ?2 <> '' AND target_role = ?2 AND (deadline = 0 OR deadline > ?3)))`,
		agentID, role, encodeTime(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return hub.Command{}, hub.Errorf(hub.CodeNotFound, "no pending command")
	}
	if err != nil {
		return hub.Command{}, fmt.Errorf("sqlite: next command: %w", err)
	}
	return c, nil
}

// DueCommands returns live commands whose deadline is at or before now.
func (r *reader) DueCommands(ctx context.Context, now time.Time, limit int) ([]hub.Command, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT `+commandColumns+` FROM commands
		WHERE status IN ('pending', 'claimed') AND deadline <> 0 AND deadline <= ? ORDER BY deadline, id LIMIT ?`,
		encodeTime(now), sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: due commands: %w", err)
	}
	cmds, err := collect(rows, scanCommand)
	if err != nil {
		return nil, fmt.Errorf("sqlite: due commands: %w", err)
	}
	return cmds, nil
}

// InsertCommand stores a new command and returns it with its ID.
func (t *tx) InsertCommand(ctx context.Context, c hub.Command) (hub.Command, error) {
	res, err := t.q.ExecContext(ctx, `INSERT INTO commands (from_id, from_name, target, target_id, target_role, action,
		params, status, result, error, claimed_by, claimed_by_id, created_at, claimed_at, finished_at, deadline)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.FromID, c.From, c.Target, c.TargetID, c.TargetRole, c.Action, string(c.Params), c.Status,
		nullJSON(c.Result), c.Error, c.ClaimedBy, c.ClaimedByID, encodeTime(c.CreatedAt), encodeTime(c.ClaimedAt),
		encodeTime(c.FinishedAt), encodeTime(c.Deadline))
	if err != nil {
		return hub.Command{}, fmt.Errorf("sqlite: insert command: %w", err)
	}
	if c.ID, err = res.LastInsertId(); err != nil {
		return hub.Command{}, fmt.Errorf("sqlite: insert command: %w", err)
	}
	return c, nil
}

// UpdateCommand stores the changing fields of a command.
func (t *tx) UpdateCommand(ctx context.Context, c hub.Command) error {
	res, err := t.q.ExecContext(ctx, `UPDATE commands SET status = ?, result = ?, error = ?, claimed_by = ?,
		claimed_by_id = ?, claimed_at = ?, finished_at = ? WHERE id = ?`,
		c.Status, nullJSON(c.Result), c.Error, c.ClaimedBy, c.ClaimedByID, encodeTime(c.ClaimedAt),
		encodeTime(c.FinishedAt), c.ID)
	if err != nil {
		return fmt.Errorf("sqlite: update command %d: %w", c.ID, err)
	}
	return affected(res, "command", c.ID)
}

// affected turns an update of no row into a not-found error.
func affected(res sql.Result, what string, id any) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s %v: %w", what, id, err)
	}
	if n == 0 {
		return hub.Errorf(hub.CodeNotFound, "%s %v not found", what, id)
	}
	return nil
}

const channelColumns = `c.name, c.last_seq, c.created_at, c.last_post_at,
	(SELECT count(*) FROM channel_posts p WHERE p.channel = c.name)`

func scanChannel(sc scanner) (hub.Channel, error) {
	var ch hub.Channel
	var created, last int64
	if err := sc.Scan(&ch.Name, &ch.LastSeq, &created, &last, &ch.Count); err != nil {
		return hub.Channel{}, err
	}
	ch.CreatedAt, ch.LastPostAt = decodeTime(created), decodeTime(last)
	return ch, nil
}

// Channel returns one channel's summary.
func (r *reader) Channel(ctx context.Context, name string) (hub.Channel, error) {
	ch, err := scanChannel(r.q.QueryRowContext(ctx, `SELECT `+channelColumns+` FROM channels c WHERE c.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return hub.Channel{}, hub.Errorf(hub.CodeNotFound, "channel %q not found", name)
	}
	if err != nil {
		return hub.Channel{}, fmt.Errorf("sqlite: channel %q: %w", name, err)
	}
	return ch, nil
}

// Channels lists every channel by name.
func (r *reader) Channels(ctx context.Context) ([]hub.Channel, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT `+channelColumns+` FROM channels c ORDER BY c.name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: channels: %w", err)
	}
	chs, err := collect(rows, scanChannel)
	if err != nil {
		return nil, fmt.Errorf("sqlite: channels: %w", err)
	}
	return chs, nil
}

func scanPost(sc scanner) (hub.ChannelPost, error) {
	var p hub.ChannelPost
	var data string
	var created int64
	if err := sc.Scan(&p.Channel, &p.Seq, &p.From, &data, &created); err != nil {
		return hub.ChannelPost{}, err
	}
	p.Data, p.CreatedAt = json.RawMessage(data), decodeTime(created)
	return p, nil
}

// ChannelPosts returns posts after a sequence number, oldest first.
func (r *reader) ChannelPosts(ctx context.Context, channel string, after int64, limit int) ([]hub.ChannelPost, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT channel, seq, from_name, data, created_at FROM channel_posts
		WHERE channel = ? AND seq > ? ORDER BY seq LIMIT ?`, channel, after, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: posts of %q: %w", channel, err)
	}
	posts, err := collect(rows, scanPost)
	if err != nil {
		return nil, fmt.Errorf("sqlite: posts of %q: %w", channel, err)
	}
	return posts, nil
}

// AppendPost appends a post with the channel's next sequence number.
func (t *tx) AppendPost(ctx context.Context, p hub.ChannelPost) (hub.ChannelPost, error) {
	at := encodeTime(p.CreatedAt)
	err := t.q.QueryRowContext(ctx, `INSERT INTO channels (name, last_seq, created_at, last_post_at) VALUES (?1, 1, ?2, ?2)
		ON CONFLICT (name) DO UPDATE SET last_seq = last_seq + 1, last_post_at = excluded.last_post_at
		RETURNING last_seq`, p.Channel, at).Scan(&p.Seq)
	if err != nil {
		return hub.ChannelPost{}, fmt.Errorf("sqlite: post to %q: %w", p.Channel, err)
	}
	_, err = t.q.ExecContext(ctx, `INSERT INTO channel_posts (channel, seq, from_name, data, created_at) VALUES (?, ?, ?, ?, ?)`,
		p.Channel, p.Seq, p.From, string(p.Data), at)
	if err != nil {
		return hub.ChannelPost{}, fmt.Errorf("sqlite: post to %q: %w", p.Channel, err)
	}
	return p, nil
}

// TrimChannels drops posts beyond the newest keep of a channel (of every
// channel when channel is empty) and posts older than before.
func (t *tx) TrimChannels(ctx context.Context, channel string, keep int, before time.Time) (int, error) {
	var total int64
	run := func(query string, args ...any) error {
		res, err := t.q.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("sqlite: trim channels: %w", err)
		}
		n, err := res.RowsAffected()
		total += n
		return err
	}
	if keep > 0 {
		var err error
		if channel != "" {
			err = run(`DELETE FROM channel_posts WHERE channel = ?1
				AND seq <= (SELECT last_seq FROM channels WHERE name = ?1) - ?2`, channel, keep)
		} else {
			err = run(`DELETE FROM channel_posts
				WHERE seq <= (SELECT last_seq FROM channels c WHERE c.name = channel_posts.channel) - ?`, keep)
		}
		if err != nil {
			return 0, err
		}
	}
	if !before.IsZero() {
		var err error
		if channel != "" {
			err = run(`DELETE FROM channel_posts WHERE channel = ? AND created_at < ?`, channel, encodeTime(before))
		} else {
			err = run(`DELETE FROM channel_posts WHERE created_at < ?`, encodeTime(before))
		}
		if err != nil {
			return 0, err
		}
	}
	return int(total), nil
}

func scanSignal(sc scanner) (hub.Signal, error) {
	var s hub.Signal
	var data sql.NullString
	var at int64
	if err := sc.Scan(&s.Name, &data, &s.By, &at, &s.Count); err != nil {
		return hub.Signal{}, err
	}
	if data.Valid {
		s.Data = json.RawMessage(data.String)
	}
	s.Emitted, s.EmittedAt = true, decodeTime(at)
	return s, nil
}

// Signal returns an emitted signal.
func (r *reader) Signal(ctx context.Context, name string) (hub.Signal, error) {
	s, err := scanSignal(r.q.QueryRowContext(ctx, `SELECT name, data, by_name, emitted_at, count FROM signals WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return hub.Signal{}, hub.Errorf(hub.CodeNotFound, "signal %q not emitted", name)
	}
	if err != nil {
		return hub.Signal{}, fmt.Errorf("sqlite: signal %q: %w", name, err)
	}
	return s, nil
}

// Signals lists emitted signals by name.
func (r *reader) Signals(ctx context.Context) ([]hub.Signal, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT name, data, by_name, emitted_at, count FROM signals ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: signals: %w", err)
	}
	sigs, err := collect(rows, scanSignal)
	if err != nil {
		return nil, fmt.Errorf("sqlite: signals: %w", err)
	}
	return sigs, nil
}

// PutSignal stores a signal, replacing one of the same name.
func (t *tx) PutSignal(ctx context.Context, s hub.Signal) error {
	_, err := t.q.ExecContext(ctx, `INSERT OR REPLACE INTO signals (name, data, by_name, emitted_at, count) VALUES (?, ?, ?, ?, ?)`,
		s.Name, nullJSON(s.Data), s.By, encodeTime(s.EmittedAt), s.Count)
	if err != nil {
		return fmt.Errorf("sqlite: put signal %q: %w", s.Name, err)
	}
	return nil
}

// DeleteSignal removes a signal.
func (t *tx) DeleteSignal(ctx context.Context, name string) error {
	res, err := t.q.ExecContext(ctx, `DELETE FROM signals WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("sqlite: delete signal %q: %w", name, err)
	}
	return affected(res, "signal", name)
}

// NextCounter increments a durable counter and returns its new value.
func (t *tx) NextCounter(ctx context.Context, name string) (int64, error) {
	var v int64
	err := t.q.QueryRowContext(ctx, `INSERT INTO counters (name, value) VALUES (?, 1)
		ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value`, name).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("sqlite: counter %q: %w", name, err)
	}
	return v, nil
}

// CoordinationDue reports whether a command, proposal, lease or channel
// post is due for the periodic expiry.
func (r *reader) CoordinationDue(ctx context.Context, now, postsBefore time.Time) (bool, error) {
	var due bool
	err := r.q.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM commands WHERE status IN ('pending', 'claimed') AND deadline <> 0 AND deadline <= ?1)
		OR EXISTS (SELECT 1 FROM proposals WHERE status = 'open' AND deadline <> 0 AND deadline <= ?1)
		OR EXISTS (SELECT 1 FROM leases WHERE expires_at <= ?1)
		OR EXISTS (SELECT 1 FROM channel_posts WHERE created_at < ?2)`,
		encodeTime(now), encodeTime(postsBefore)).Scan(&due)
	if err != nil {
		return false, fmt.Errorf("sqlite: coordination due: %w", err)
	}
	return due, nil
}
