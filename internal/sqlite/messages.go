package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/parley-dev/parley/internal/hub"
)

const messageColumns = `m.id, m.from_id, m.from_name, m.to_json, m.thread, m.reply_to, m.subject, m.body,
	m.importance, m.ack_required, m.attachments_json, m.created_at, m.idem_key`

// messageDest returns the scan destinations of messageColumns; finish
// decodes what they cannot hold directly.
type messageDest struct {
	to, attachments string
	ack, created    int64
}

func (d *messageDest) dest(m *hub.Message) []any {
	return []any{&m.ID, &m.FromID, &m.From, &d.to, &m.Thread, &m.ReplyTo, &m.Subject, &m.Body,
		&m.Importance, &d.ack, &d.attachments, &d.created, &m.IdempotencyKey}
}

func (d *messageDest) finish(m *hub.Message) error {
	var err error
	if m.To, err = decodeStrings(d.to); err != nil {
		return fmt.Errorf("message %d recipients: %w", m.ID, err)
	}
	if m.Attachments, err = decodeAttachments(d.attachments); err != nil {
		return fmt.Errorf("message %d attachments: %w", m.ID, err)
	}
	m.AckRequired = d.ack != 0
	m.CreatedAt = decodeTime(d.created)
	m.Size = len(m.Body)
	return nil
}

func scanMessage(sc scanner) (hub.Message, error) {
	var m hub.Message
	var d messageDest
	if err := sc.Scan(d.dest(&m)...); err != nil {
		return hub.Message{}, err
	}
	return m, d.finish(&m)
}

// inboundColumns are messageColumns followed by the delivery's.
const inboundColumns = messageColumns + `, d.seq, d.state, d.read_at`

func scanInbound(sc scanner) (hub.Inbound, error) {
	var in hub.Inbound
	var d messageDest
	var readAt int64
	if err := sc.Scan(append(d.dest(&in.Message), &in.Seq, &in.State, &readAt)...); err != nil {
		return hub.Inbound{}, err
	}
	in.ReadAt = decodeTime(readAt)
	return in, d.finish(&in.Message)
}

// sqlLimit is a LIMIT argument: SQLite reads a negative limit as none.
func sqlLimit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// The query of unread deliveries names the partial index of unread
// deliveries. Without statistics SQLite prefers the primary key, which
// walks an agent's whole read history; TestUnreadQueriesUseTheirIndex
// keeps it honest.
const (
	unreadInboxQuery = `SELECT ` + inboundColumns + ` FROM deliveries d INDEXED BY deliveries_unread
		JOIN messages m ON m.id = d.message_id
		WHERE d.agent_id = ? AND d.seq > ? AND d.state = 'unread' ORDER BY d.seq LIMIT ?`
)

// Inbox returns deliveries of one agent in sequence order. An unread-only
// read goes through the partial index of unread deliveries, named so that
// SQLite never walks an inbox's read history instead: without statistics
// it prefers the primary key.
func (r *reader) Inbox(ctx context.Context, q hub.InboxQuery) ([]hub.Inbound, error) {
	query := `SELECT ` + inboundColumns + ` FROM deliveries d JOIN messages m ON m.id = d.message_id
		WHERE d.agent_id = ? AND d.seq > ? ORDER BY d.seq LIMIT ?`
	if q.UnreadOnly {
		query = unreadInboxQuery
	}
	rows, err := r.q.QueryContext(ctx, query, q.AgentID, q.After, sqlLimit(q.Limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: inbox of agent %d: %w", q.AgentID, err)
	}
	defer rows.Close()
	var out []hub.Inbound
	for rows.Next() {
		in, err := scanInbound(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: inbox of agent %d: %w", q.AgentID, err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: inbox of agent %d: %w", q.AgentID, err)
	}
	return out, nil
}

// UnreadCount returns the number of the agent's unread deliveries, kept
// in the agents table (migration 0003); an unknown agent has none.
func (r *reader) UnreadCount(ctx context.Context, agentID int64) (int, error) {
	var n int
	err := r.q.QueryRowContext(ctx, `SELECT unread FROM agents WHERE id = ?`, agentID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: unread count of agent %d: %w", agentID, err)
	}
	return n, nil
}

// UnreadCounts returns the unread deliveries of every agent that has any.
func (r *reader) UnreadCounts(ctx context.Context) (map[int64]int, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT id, unread FROM agents WHERE unread > 0`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: unread counts: %w", err)
	}
	defer rows.Close()
	counts := make(map[int64]int)
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("sqlite: unread counts: %w", err)
		}
		counts[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: unread counts: %w", err)
	}
	return counts, nil
}

// Message returns the message with the ID.
func (r *reader) Message(ctx context.Context, id int64) (hub.Message, error) {
	m, err := scanMessage(r.q.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages m WHERE m.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return hub.Message{}, hub.Errorf(hub.CodeNotFound, "message %d not found", id)
	}
	if err != nil {
		return hub.Message{}, fmt.Errorf("sqlite: message %d: %w", id, err)
	}
	return m, nil
}

// Received returns the agent's delivery of a message.
func (r *reader) Received(ctx context.Context, agentID, messageID int64) (hub.Inbound, error) {
	in, err := scanInbound(r.q.QueryRowContext(ctx, `SELECT `+inboundColumns+` FROM deliveries d
		JOIN messages m ON m.id = d.message_id WHERE d.message_id = ? AND d.agent_id = ?`, messageID, agentID))
	if errors.Is(err, sql.ErrNoRows) {
		return hub.Inbound{}, hub.Errorf(hub.CodeNotFound, "message %d was not delivered to agent %d", messageID, agentID)
	}
	if err != nil {
		return hub.Inbound{}, fmt.Errorf("sqlite: delivery of message %d to agent %d: %w", messageID, agentID, err)
	}
	return in, nil
}

// Deliveries returns every recipient's state of a message: the agents it
// was delivered to, by name, then the names it is held for.
func (r *reader) Deliveries(ctx context.Context, messageID int64) ([]hub.DeliveryStatus, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT a.name, d.state, d.seq, d.acked_at, 0 FROM deliveries d
		JOIN agents a ON a.id = d.agent_id WHERE d.message_id = ?
		UNION ALL
		SELECT name, 'held', 0, 0, 1 FROM held WHERE message_id = ?
		ORDER BY 5, 1`, messageID, messageID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: deliveries of message %d: %w", messageID, err)
	}
	defer rows.Close()
	var out []hub.DeliveryStatus
	for rows.Next() {
		var ds hub.DeliveryStatus
		var acked, held int64
		if err := rows.Scan(&ds.To, &ds.State, &ds.Seq, &acked, &held); err != nil {
			return nil, fmt.Errorf("sqlite: deliveries of message %d: %w", messageID, err)
		}
		ds.AckedAt = decodeTime(acked)
		out = append(out, ds)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: deliveries of message %d: %w", messageID, err)
	}
	return out, nil
}

// MessageByKey finds a message by its sender and idempotency key.
func (r *reader) MessageByKey(ctx context.Context, fromID int64, key string) (hub.Message, error) {
	if key == "" {
		return hub.Message{}, hub.Errorf(hub.CodeNotFound, "no message without an idempotency key can be found by it")
	}
	m, err := scanMessage(r.q.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages m
		WHERE m.from_id = ? AND m.idem_key = ? AND m.idem_key <> ''`, fromID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return hub.Message{}, hub.Errorf(hub.CodeNotFound, "no message from agent %d with that idempotency key", fromID)
	}
	if err != nil {
		return hub.Message{}, fmt.Errorf("sqlite: message by key from agent %d: %w", fromID, err)
	}
	return m, nil
}

// Messages returns messages newest first, as q selects: every filter set
// in q applies. Messages are indexed for search when their batch commits,
// so a search inside an Update does not find messages inserted in the
// same batch.
func (r *reader) Messages(ctx context.Context, q hub.HistoryQuery) ([]hub.Message, error) {
	query, args, ok := historyQuery(q)
	if !ok {
		return nil, nil
	}
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: messages: %w", err)
	}
	defer rows.Close()
	var out []hub.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: messages: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: messages: %w", err)
	}
	return out, nil
}

// historyQuery returns the SQL and arguments of q; ok is false when q
// can match nothing (a search without a word). The text depends only on
// which filters are set, so there are a few dozen shapes, each prepared
// once.
//
// Each shape lets SQLite read newest first and stop at the limit, rather
// than collect every match and sort it:
//   - a search is driven by the FTS index, in descending rowid order;
//   - a conversation takes the newest of each direction (messages from
//     one agent delivered to the other) separately, each along the
//     sender's index, and merges the two;
//   - anything else reads messages by ID, or by the thread index.
func historyQuery(q hub.HistoryQuery) (query string, args []any, ok bool) {
	var match string
	if q.Search != "" {
		if match = ftsQuery(q.Search); match == "" {
			return "", nil, false
		}
	}
	// The filters every shape applies to m.
	var where []string
	var filterArgs []any
	if q.Thread != "" {
		where = append(where, `m.thread = ?`)
		filterArgs = append(filterArgs, q.Thread)
	}
	if q.ViewerID != 0 {
		where = append(where, `(m.from_id = ? OR EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.agent_id = ?))`)
		filterArgs = append(filterArgs, q.ViewerID, q.ViewerID)
	}
	limit := sqlLimit(q.Limit)

	if q.SelfID != 0 || q.PeerID != 0 {
		branch := func(from, to int64) string {
			w := []string{`m.from_id = ?`, `EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.agent_id = ?)`}
			args = append(args, from, to)
			w = append(w, where...)
			args = append(args, filterArgs...)
			if match != "" {
				w = append(w, `m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)`)
				args = append(args, match)
			}
			if q.Before > 0 {
				w = append(w, `m.id < ?`)
				args = append(args, q.Before)
			}
			args = append(args, limit)
			return `SELECT id FROM (SELECT m.id FROM messages m WHERE ` + strings.Join(w, ` AND `) + ` ORDER BY m.id DESC LIMIT ?)`
		}
		mine := branch(q.SelfID, q.PeerID)
		theirs := branch(q.PeerID, q.SelfID)
		args = append(args, limit)
		return `SELECT ` + messageColumns + ` FROM messages m WHERE m.id IN (` + mine + ` UNION ALL ` + theirs + `)
			ORDER BY m.id DESC LIMIT ?`, args, true
	}

	if match != "" {
		w := []string{`f.messages_fts MATCH ?`}
		args = append(args, match)
		if q.Before > 0 {
			w = append(w, `f.rowid < ?`)
			args = append(args, q.Before)
		}
		w = append(w, where...)
		args = append(append(args, filterArgs...), limit)
		return `SELECT ` + messageColumns + ` FROM messages_fts f JOIN messages m ON m.id = f.rowid
			WHERE ` + strings.Join(w, ` AND `) + ` ORDER BY f.rowid DESC LIMIT ?`, args, true
	}

	args = filterArgs
	if q.Before > 0 {
		where = append(where, `m.id < ?`)
		args = append(args, q.Before)
	}
	query = `SELECT ` + messageColumns + ` FROM messages m`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	return query + ` ORDER BY m.id DESC LIMIT ?`, append(args, limit), true
}

// ftsQuery turns plain words into an FTS5 query that matches messages
// containing all of them. Each word becomes an FTS string (inner quotes
// doubled), so no input is ever read as FTS syntax: AND, *, ( and " are
// searched for as text. "" means there is no word to search for.
//
// Two inputs need more than quoting. FTS5 reads its query as a C string,
// so a NUL byte would end it inside a string: NUL separates words here.
// And a word without a single letter or digit ("*", "--") has no token,
// and FTS5 matches an empty phrase with nothing, which would make the
// whole AND fail: such words are dropped, as the tokenizer drops them
// from the text.
func ftsQuery(search string) string {
	words := strings.FieldsFunc(search, func(r rune) bool { return r == 0 || unicode.IsSpace(r) })
	var b strings.Builder
	for _, w := range words {
		if !strings.ContainsFunc(w, isTokenRune) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(" AND ")
		}
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(w, `"`, `""`))
		b.WriteByte('"')
	}
	return b.String()
}

// isTokenRune reports whether the unicode61 tokenizer keeps r in a token:
// its default categories are L*, N* and Co.
func isTokenRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Co, r)
}

// InsertMessage stores m and returns it with its ID, and with its own ID
// as Thread when m starts a thread. The writer adds it to the search
// index when the batch commits.
func (t *tx) InsertMessage(ctx context.Context, m hub.Message) (hub.Message, error) {
	attachments, err := encodeAttachments(m.Attachments)
	if err != nil {
		return hub.Message{}, fmt.Errorf("sqlite: insert message: attachments: %w", err)
	}
	// A message that starts a thread names it after its own ID. The
	// insert computes that ID as SQLite will assign it (AUTOINCREMENT: one
	// more than the larger of sqlite_sequence and the largest rowid), so
	// no second write rewrites a row that may hold a megabyte of body.
	res, err := t.q.ExecContext(ctx, `INSERT INTO messages (thread, from_id, from_name, to_json, reply_to, subject, body,
		importance, ack_required, attachments_json, created_at, idem_key) VALUES (
		CASE WHEN ?1 = '' THEN CAST(1 + max(
			coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),
			coalesce((SELECT max(id) FROM messages), 0)) AS TEXT) ELSE ?1 END,
		?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.Thread, m.FromID, m.From, encodeStrings(m.To), m.ReplyTo, m.Subject, m.Body,
		m.Importance, boolInt(m.AckRequired), attachments, encodeTime(m.CreatedAt), m.IdempotencyKey)
	if isUnique(err) {
		return hub.Message{}, hub.Errorf(hub.CodeConflict, "agent %d already sent a message with that idempotency key", m.FromID)
	}
	if err != nil {
		return hub.Message{}, fmt.Errorf("sqlite: insert message: %w", err)
	}
	if m.ID, err = res.LastInsertId(); err != nil {
		return hub.Message{}, fmt.Errorf("sqlite: insert message: %w", err)
	}
	t.batch.inserted++ // to index later
	if m.Thread == "" {
		m.Thread = strconv.FormatInt(m.ID, 10)
	}
	m.Size = len(m.Body)
	return m, nil
}

// Deliver adds an unread delivery of a message to an agent, numbered
// with the agent's next sequence number, and returns that number.
func (t *tx) Deliver(ctx context.Context, messageID, agentID int64) (int64, error) {
	return t.deliver(ctx, messageID, agentID, time.Time{})
}

// DeliverRead adds a delivery of a message to an agent that is read
// already, at the given time: the agent had it handed over as it was
// sent. It is Deliver and MarkRead in one, at half their cost.
func (t *tx) DeliverRead(ctx context.Context, messageID, agentID int64, at time.Time) (int64, error) {
	if at.IsZero() {
		return 0, errors.New("sqlite: deliver read: no read time")
	}
	return t.deliver(ctx, messageID, agentID, at)
}

// deliver is Deliver, or DeliverRead when readAt is set.
func (t *tx) deliver(ctx context.Context, messageID, agentID int64, readAt time.Time) (int64, error) {
	state, unread := hub.DeliveryUnread, 1
	if !readAt.IsZero() {
		state, unread = hub.DeliveryRead, 0
	}
	var seq int64
	var err error
	if a, ok := t.agents.byID[agentID]; ok {
		// The writer's cache holds the agent as stored, so its next number
		// is known: a plain UPDATE costs less than one with RETURNING
		// (about 5 µs of the writer's time per delivery).
		seq = a.LastSeq + 1
		var res sql.Result
		if res, err = t.q.ExecContext(ctx, `UPDATE agents SET last_seq = ?, unread = unread + ? WHERE id = ?`, seq, unread, agentID); err == nil {
			if n, _ := res.RowsAffected(); n != 1 {
				err = sql.ErrNoRows
			}
		}
	} else {
		err = t.q.QueryRowContext(ctx, `UPDATE agents SET last_seq = last_seq + 1, unread = unread + ?
		WHERE id = ? RETURNING last_seq`, unread, agentID).Scan(&seq)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return 0, hub.Errorf(hub.CodeNotFound, "agent %d not found", agentID)
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: deliver message %d to agent %d: %w", messageID, agentID, err)
	}
	t.agents.setSeq(agentID, seq)
	_, err = t.q.ExecContext(ctx, `INSERT INTO deliveries (agent_id, seq, message_id, state, read_at) VALUES (?, ?, ?, ?, ?)`,
		agentID, seq, messageID, state, encodeTime(readAt))
	switch {
	case isForeignKey(err):
		return 0, hub.Errorf(hub.CodeNotFound, "message %d not found", messageID)
	case isUnique(err):
		return 0, hub.Errorf(hub.CodeConflict, "message %d was already delivered to agent %d", messageID, agentID)
	case err != nil:
		return 0, fmt.Errorf("sqlite: deliver message %d to agent %d: %w", messageID, agentID, err)
	}
	return seq, nil
}

// Hold keeps a message for a name nobody has registered, until expires.
// Holding it again for the same name moves the expiry.
func (t *tx) Hold(ctx context.Context, messageID int64, name string, expires time.Time) error {
	_, err := t.q.ExecContext(ctx, `INSERT OR REPLACE INTO held (name, message_id, expires_at) VALUES (?, ?, ?)`,
		name, messageID, encodeTime(expires))
	if isForeignKey(err) {
		return hub.Errorf(hub.CodeNotFound, "message %d not found", messageID)
	}
	if err != nil {
		return fmt.Errorf("sqlite: hold message %d for %q: %w", messageID, name, err)
	}
	return nil
}

// TakeHeld removes everything held for name and returns the IDs of what
// had not expired at now, oldest first. Expired mail goes too: it would
// never be delivered anyway.
func (t *tx) TakeHeld(ctx context.Context, name string, now time.Time) ([]int64, error) {
	rows, err := t.q.QueryContext(ctx, `DELETE FROM held WHERE name = ? RETURNING message_id, expires_at`, name)
	if err != nil {
		return nil, fmt.Errorf("sqlite: take held for %q: %w", name, err)
	}
	defer rows.Close()
	cutoff := encodeTime(now)
	var ids []int64
	for rows.Next() {
		var id, expires int64
		if err := rows.Scan(&id, &expires); err != nil {
			return nil, fmt.Errorf("sqlite: take held for %q: %w", name, err)
		}
		if expires > cutoff {
			ids = append(ids, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: take held for %q: %w", name, err)
	}
	// RETURNING promises no order.
	slices.Sort(ids)
	return ids, nil
}

// MarkRead marks the agent's unread deliveries with the given sequence
// numbers read. Others (unknown, already read or acked) stay as they are.
func (t *tx) MarkRead(ctx context.Context, agentID int64, seqs []int64, at time.Time) error {
	if len(seqs) == 0 {
		return nil
	}
	_, err := t.q.ExecContext(ctx, `UPDATE deliveries SET state = 'read', read_at = ?
		WHERE agent_id = ? AND seq IN (SELECT value FROM json_each(?)) AND state = 'unread'`,
		encodeTime(at), agentID, int64List(seqs))
	if err != nil {
		return fmt.Errorf("sqlite: mark read for agent %d: %w", agentID, err)
	}
	return nil
}

// MarkUnread marks the agent's read deliveries with the given sequence
// numbers unread again. Others (unknown, unread or acked) stay as they
// are. The trigger of migration 0003 counts only deliveries leaving the
// unread state, so the agent's count is raised here.
func (t *tx) MarkUnread(ctx context.Context, agentID int64, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	res, err := t.q.ExecContext(ctx, `UPDATE deliveries SET state = 'unread', read_at = 0
		WHERE agent_id = ? AND seq IN (SELECT value FROM json_each(?)) AND state = 'read'`,
		agentID, int64List(seqs))
	if err != nil {
		return fmt.Errorf("sqlite: mark unread for agent %d: %w", agentID, err)
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return err
	}
	if _, err := t.q.ExecContext(ctx, `UPDATE agents SET unread = unread + ? WHERE id = ?`, n, agentID); err != nil {
		return fmt.Errorf("sqlite: mark unread for agent %d: %w", agentID, err)
	}
	return nil
}

// AfterCommit arranges for f to run once the transaction has committed:
// on the writer goroutine, before the committed events are published and
// before the sync that makes the transaction durable, so f must be quick
// and must not call the store. f does not run if the Update fails.
func (t *tx) AfterCommit(f func()) {
	t.afterCommit = append(t.afterCommit, f)
}

// Ack marks the agent's delivery of a message acked. An ack implies a
// read, so an unread delivery gets its read time too.
func (t *tx) Ack(ctx context.Context, agentID, messageID int64, at time.Time) error {
	ts := encodeTime(at)
	res, err := t.q.ExecContext(ctx, `UPDATE deliveries SET state = 'acked', acked_at = ?,
		read_at = CASE WHEN read_at = 0 THEN ? ELSE read_at END
		WHERE message_id = ? AND agent_id = ?`, ts, ts, messageID, agentID)
	if err != nil {
		return fmt.Errorf("sqlite: ack message %d for agent %d: %w", messageID, agentID, err)
	}
	return mustAffect(res, hub.Errorf(hub.CodeNotFound, "message %d was not delivered to agent %d", messageID, agentID))
}

// What one ExpireMessages call may remove, beyond its limit of messages:
// removing a message from the search index reads its text again, and
// each of its deliveries is a row to delete. 256 one-line messages took
// 4 ms; 256 of 1 MiB, 2.3 s, and 256 broadcasts to 200 agents, 0.2 s,
// all of it holding the writer.
const (
	expireMaxBytes      = 1 << 20
	expireMaxDeliveries = 4096
)

// ExpireMessages removes the old messages no recipient needs any more;
// see hub.Tx. It walks messages by ID, the order they were stored in,
// so it reads at most limit rows (whole: created_at and ack_required
// come after the body) and their entries in the index of deliveries by
// message, whatever the size of the store. What it removes is also
// bounded by expireMaxBytes and expireMaxDeliveries.
func (t *tx) ExpireMessages(ctx context.Context, before time.Time, after int64, limit int) (next int64, removed int, err error) {
	if limit <= 0 {
		return 0, 0, nil
	}
	rows, err := t.q.QueryContext(ctx, `SELECT m.id, m.created_at < ?1,
			NOT EXISTS (SELECT 1 FROM deliveries d
				WHERE d.message_id = m.id
				AND (d.state = 'unread' OR (m.ack_required AND d.state <> 'acked')))
			AND NOT EXISTS (SELECT 1 FROM held h WHERE h.message_id = m.id),
			octet_length(m.subject) + octet_length(m.body),
			(SELECT count(*) FROM deliveries d WHERE d.message_id = m.id)
		FROM messages m WHERE m.id > ?2 ORDER BY m.id LIMIT ?3`,
		encodeTime(before), after, limit)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: expire messages: %w", err)
	}
	var done []int64
	var bytes, deliveries int64
	looked, stopped, spent := 0, false, false
	for rows.Next() {
		var id, size, n int64
		var old, unneeded bool
		if err := rows.Scan(&id, &old, &unneeded, &size, &n); err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("sqlite: expire messages: %w", err)
		}
		if !old {
			stopped = true // too young, and so is everything after it
			break
		}
		if unneeded && len(done) > 0 && (bytes+size > expireMaxBytes || deliveries+n > expireMaxDeliveries) {
			spent = true // this one starts the next call
			break
		}
		looked++
		next = id
		if unneeded {
			done = append(done, id)
			bytes += size
			deliveries += n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("sqlite: expire messages: %w", err)
	}
	if stopped || !spent && looked < limit {
		next = 0 // start over: the old messages kept may be done with later
	}
	if len(done) == 0 {
		return next, 0, nil
	}
	ids := int64List(done)
	// The search index stores no text of its own (content = 'messages'):
	// a row leaves it only by a 'delete' that repeats the indexed text,
	// and only rows it holds may be deleted. Messages above the writer's
	// index mark are not in it yet, and once gone never will be.
	if _, err := t.q.ExecContext(ctx, `INSERT INTO messages_fts (messages_fts, rowid, subject, body)
		SELECT 'delete', m.id, m.subject, m.body FROM messages m
		WHERE m.id IN (SELECT value FROM json_each(?))
		AND EXISTS (SELECT 1 FROM messages_fts_docsize s WHERE s.id = m.id)`, ids); err != nil {
		return 0, 0, fmt.Errorf("sqlite: expire messages: unindex: %w", err)
	}
	// Deliveries go with their message (ON DELETE CASCADE); none of them
	// is unread, so no agent's unread count changes.
	res, err := t.q.ExecContext(ctx, `DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))`, ids)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: expire messages: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: expire messages: %w", err)
	}
	return next, int(n), nil
}
