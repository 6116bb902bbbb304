package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// reader implements hub.Reader on a querier: a read connection in a
// View, the write connection in an Update. Other files of the package add
// the methods of further hub interfaces to it.
type reader struct {
	q querier
}

// tx implements hub.Tx for one Update function. It records the events the
// function appends, for the commit hook, and the functions it asks to run
// once it has committed (AfterCommit).
type tx struct {
	reader
	events      []hub.Event
	afterCommit []func()
	batch       *batchState
	agents      *agentCache
}

var (
	_ hub.Reader = (*reader)(nil)
	_ hub.Tx     = (*tx)(nil)
)

const agentColumns = `id, name, role, capabilities, description, project, client, host,
	pid, status_text, state, registered_at, last_seen, last_seq`

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanAgent(sc scanner) (hub.Agent, error) {
	var a hub.Agent
	var caps string
	var registered, seen int64
	err := sc.Scan(&a.ID, &a.Name, &a.Role, &caps, &a.Description, &a.Project, &a.Client, &a.Host,
		&a.PID, &a.StatusText, &a.State, &registered, &seen, &a.LastSeq)
	if err != nil {
		return hub.Agent{}, err
	}
	if a.Capabilities, err = decodeStrings(caps); err != nil {
		return hub.Agent{}, fmt.Errorf("agent %d capabilities: %w", a.ID, err)
	}
	if a.Capabilities == nil {
		// Agents always list their capabilities, if only as [].
		a.Capabilities = []string{}
	}
	a.RegisteredAt, a.LastSeen = decodeTime(registered), decodeTime(seen)
	return a, nil
}

// AgentByID returns the agent with the ID.
func (r *reader) AgentByID(ctx context.Context, id int64) (hub.Agent, error) {
	a, err := scanAgent(r.q.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return hub.Agent{}, hub.Errorf(hub.CodeNotFound, "agent %d not found", id)
	}
	if err != nil {
		return hub.Agent{}, fmt.Errorf("sqlite: agent %d: %w", id, err)
	}
	return a, nil
}

// AgentByName returns the agent with the name.
func (r *reader) AgentByName(ctx context.Context, name string) (hub.Agent, error) {
	a, err := scanAgent(r.q.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return hub.Agent{}, hub.Errorf(hub.CodeNotFound, "agent %q not found", name)
	}
	if err != nil {
		return hub.Agent{}, fmt.Errorf("sqlite: agent %q: %w", name, err)
	}
	return a, nil
}

// AgentByID returns the agent with the ID, from the writer's cache when
// it is there.
func (t *tx) AgentByID(ctx context.Context, id int64) (hub.Agent, error) {
	if a, ok := t.agents.byIDGet(id); ok {
		return a, nil
	}
	a, err := t.reader.AgentByID(ctx, id)
	if err == nil {
		t.agents.put(a)
	}
	return a, err
}

// AgentByName returns the agent with the name, from the writer's cache
// when it is there.
func (t *tx) AgentByName(ctx context.Context, name string) (hub.Agent, error) {
	if a, ok := t.agents.byNameGet(name); ok {
		return a, nil
	}
	a, err := t.reader.AgentByName(ctx, name)
	if err == nil {
		t.agents.put(a)
	}
	return a, err
}

// Agents lists agents by name, only those of role when it is not empty.
func (r *reader) Agents(ctx context.Context, role string) ([]hub.Agent, error) {
	var rows *sql.Rows
	var err error
	if role == "" {
		rows, err = r.q.QueryContext(ctx, `SELECT `+agentColumns+` FROM agents ORDER BY name`)
	} else {
		rows, err = r.q.QueryContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE role = ? ORDER BY name`, role)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: agents: %w", err)
	}
	defer rows.Close()
	var agents []hub.Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: agents: %w", err)
		}
		agents = append(agents, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: agents: %w", err)
	}
	return agents, nil
}

// Credential returns the credential with the token hash.
func (r *reader) Credential(ctx context.Context, tokenHash []byte) (hub.Credential, error) {
	c := hub.Credential{TokenHash: tokenHash}
	var open, expires int64
	err := r.q.QueryRowContext(ctx, `SELECT agent_id, open, expires_at FROM credentials WHERE token_hash = ?`, tokenHash).
		Scan(&c.AgentID, &open, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return hub.Credential{}, hub.Errorf(hub.CodeNotFound, "credential not found")
	}
	if err != nil {
		return hub.Credential{}, fmt.Errorf("sqlite: credential: %w", err)
	}
	c.Open, c.ExpiresAt = open != 0, decodeTime(expires)
	return c, nil
}

// Forward returns the forward from a former name if it has not expired
// at now.
func (r *reader) Forward(ctx context.Context, name string, now time.Time) (hub.Forward, error) {
	f := hub.Forward{From: name}
	var expires int64
	err := r.q.QueryRowContext(ctx, `SELECT agent_id, to_name, expires_at FROM forwards WHERE from_name = ? AND expires_at > ?`,
		name, encodeTime(now)).Scan(&f.AgentID, &f.To, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return hub.Forward{}, hub.Errorf(hub.CodeNotFound, "no forward from %q", name)
	}
	if err != nil {
		return hub.Forward{}, fmt.Errorf("sqlite: forward from %q: %w", name, err)
	}
	f.ExpiresAt = decodeTime(expires)
	return f, nil
}

// InsertAgent stores a new agent and returns it with its ID. LastSeq
// starts at 0 whatever a says: only Deliver moves it.
func (t *tx) InsertAgent(ctx context.Context, a hub.Agent) (hub.Agent, error) {
	res, err := t.q.ExecContext(ctx, `INSERT INTO agents (name, role, capabilities, description, project, client, host,
		pid, status_text, state, registered_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.Name, a.Role, encodeStrings(a.Capabilities), a.Description, a.Project, a.Client, a.Host,
		a.PID, a.StatusText, a.State, encodeTime(a.RegisteredAt), encodeTime(a.LastSeen))
	if isUnique(err) {
		return hub.Agent{}, hub.Errorf(hub.CodeNameTaken, "name %q is taken", a.Name)
	}
	if err != nil {
		return hub.Agent{}, fmt.Errorf("sqlite: insert agent %q: %w", a.Name, err)
	}
	if a.ID, err = res.LastInsertId(); err != nil {
		return hub.Agent{}, fmt.Errorf("sqlite: insert agent %q: %w", a.Name, err)
	}
	a.LastSeq = 0
	if a.Capabilities == nil {
		a.Capabilities = []string{}
	}
	t.agents.put(a)
	return a, nil
}

// UpdateAgent stores every field of a, keyed by a.ID, except LastSeq:
// the sequence belongs to Deliver, and an agent read before a delivery
// in the same transaction must not wind it back.
func (t *tx) UpdateAgent(ctx context.Context, a hub.Agent) error {
	res, err := t.q.ExecContext(ctx, `UPDATE agents SET name = ?, role = ?, capabilities = ?, description = ?,
		project = ?, client = ?, host = ?, pid = ?, status_text = ?, state = ?, registered_at = ?, last_seen = ?
		WHERE id = ?`,
		a.Name, a.Role, encodeStrings(a.Capabilities), a.Description, a.Project, a.Client, a.Host,
		a.PID, a.StatusText, a.State, encodeTime(a.RegisteredAt), encodeTime(a.LastSeen), a.ID)
	if isUnique(err) {
		return hub.Errorf(hub.CodeNameTaken, "name %q is taken", a.Name)
	}
	if err != nil {
		return fmt.Errorf("sqlite: update agent %d: %w", a.ID, err)
	}
	if err := mustAffect(res, hub.Errorf(hub.CodeNotFound, "agent %d not found", a.ID)); err != nil {
		return err
	}
	// The stored LastSeq is the cached one, or unknown: a read before a
	// delivery may carry a stale one.
	if old, ok := t.agents.byID[a.ID]; ok {
		a.LastSeq = old.LastSeq
		if a.Capabilities == nil {
			a.Capabilities = []string{}
		}
		t.agents.put(a)
	}
	return nil
}

// DeleteAgent removes an agent; foreign keys remove its credentials,
// deliveries and forwards with it.
func (t *tx) DeleteAgent(ctx context.Context, id int64) error {
	res, err := t.q.ExecContext(ctx, `DELETE FROM agents WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete agent %d: %w", id, err)
	}
	t.agents.remove(id)
	return mustAffect(res, hub.Errorf(hub.CodeNotFound, "agent %d not found", id))
}

// PutCredential stores c, replacing a credential with the same hash.
func (t *tx) PutCredential(ctx context.Context, c hub.Credential) error {
	_, err := t.q.ExecContext(ctx, `INSERT OR REPLACE INTO credentials (token_hash, agent_id, open, expires_at) VALUES (?, ?, ?, ?)`,
		c.TokenHash, c.AgentID, boolInt(c.Open), encodeTime(c.ExpiresAt))
	if isForeignKey(err) {
		return hub.Errorf(hub.CodeNotFound, "agent %d not found", c.AgentID)
	}
	if err != nil {
		return fmt.Errorf("sqlite: put credential of agent %d: %w", c.AgentID, err)
	}
	return nil
}

// DeleteCredentials removes all of an agent's credentials.
func (t *tx) DeleteCredentials(ctx context.Context, agentID int64) error {
	if _, err := t.q.ExecContext(ctx, `DELETE FROM credentials WHERE agent_id = ?`, agentID); err != nil {
		return fmt.Errorf("sqlite: delete credentials of agent %d: %w", agentID, err)
	}
	return nil
}

// PutForward stores f, replacing a forward from the same name.
func (t *tx) PutForward(ctx context.Context, f hub.Forward) error {
	_, err := t.q.ExecContext(ctx, `INSERT OR REPLACE INTO forwards (from_name, agent_id, to_name, expires_at) VALUES (?, ?, ?, ?)`,
		f.From, f.AgentID, f.To, encodeTime(f.ExpiresAt))
	if isForeignKey(err) {
		return hub.Errorf(hub.CodeNotFound, "agent %d not found", f.AgentID)
	}
	if err != nil {
		return fmt.Errorf("sqlite: put forward from %q: %w", f.From, err)
	}
	return nil
}

// DeleteForward removes the forward from name, if any.
func (t *tx) DeleteForward(ctx context.Context, name string) error {
	if _, err := t.q.ExecContext(ctx, `DELETE FROM forwards WHERE from_name = ?`, name); err != nil {
		return fmt.Errorf("sqlite: delete forward from %q: %w", name, err)
	}
	return nil
}

// mustAffect returns notFound when res changed no row.
func mustAffect(res sql.Result, notFound error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: rows affected: %w", err)
	}
	if n == 0 {
		return notFound
	}
	return nil
}
