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

// Proposals, leases and shared state.

const proposalColumns = `id, from_id, from_name, question, options, voters, rule, deadline, created_at,
	status, outcome, reason, decided_at`

func scanProposal(sc scanner) (hub.Proposal, error) {
	var p hub.Proposal
	var options, voters string
	var deadline, created, decided int64
	err := sc.Scan(&p.ID, &p.FromID, &p.From, &p.Question, &options, &voters, &p.Rule, &deadline, &created,
		&p.Status, &p.Outcome, &p.Reason, &decided)
	if err != nil {
		return hub.Proposal{}, err
	}
	if p.Options, err = decodeStrings(options); err != nil {
		return hub.Proposal{}, fmt.Errorf("proposal %d options: %w", p.ID, err)
	}
	if p.Voters, err = decodeStrings(voters); err != nil {
		return hub.Proposal{}, fmt.Errorf("proposal %d voters: %w", p.ID, err)
	}
	p.Deadline, p.CreatedAt, p.DecidedAt = decodeTime(deadline), decodeTime(created), decodeTime(decided)
	return p, nil
}

// votes loads the votes of a proposal in the order cast.
func (r *reader) votes(ctx context.Context, id int64) ([]hub.Vote, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT voter, choice, comment, at FROM votes WHERE proposal_id = ? ORDER BY at, voter`, id)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(sc scanner) (hub.Vote, error) {
		var v hub.Vote
		var at int64
		err := sc.Scan(&v.Voter, &v.Choice, &v.Comment, &at)
		v.At = decodeTime(at)
		return v, err
	})
}

// Proposal returns one proposal with its votes.
func (r *reader) Proposal(ctx context.Context, id int64) (hub.Proposal, error) {
	p, err := scanProposal(r.q.QueryRowContext(ctx, `SELECT `+proposalColumns+` FROM proposals WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return hub.Proposal{}, hub.Errorf(hub.CodeNotFound, "proposal %d not found", id)
	}
	if err != nil {
		return hub.Proposal{}, fmt.Errorf("sqlite: proposal %d: %w", id, err)
	}
	if p.Votes, err = r.votes(ctx, id); err != nil {
		return hub.Proposal{}, fmt.Errorf("sqlite: votes of proposal %d: %w", id, err)
	}
	return p, nil
}

// Proposals returns proposals newest first, with their votes.
func (r *reader) Proposals(ctx context.Context, q hub.ProposalQuery) ([]hub.Proposal, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT `+proposalColumns+` FROM proposals
		WHERE (?1 = '' OR status = ?1) AND (?2 = 0 OR id < ?2) ORDER BY id DESC LIMIT ?3`,
		q.Status, q.Before, sqlLimit(q.Limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: proposals: %w", err)
	}
	ps, err := collect(rows, scanProposal)
	if err != nil {
		return nil, fmt.Errorf("sqlite: proposals: %w", err)
	}
	for i := range ps {
		if ps[i].Votes, err = r.votes(ctx, ps[i].ID); err != nil {
			return nil, fmt.Errorf("sqlite: votes of proposal %d: %w", ps[i].ID, err)
		}
	}
	return ps, nil
}

// DueProposals returns open proposals whose deadline has passed.
func (r *reader) DueProposals(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT id FROM proposals
		WHERE status = 'open' AND deadline <> 0 AND deadline <= ? ORDER BY deadline, id LIMIT ?`,
		encodeTime(now), sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: due proposals: %w", err)
	}
	ids, err := collect(rows, func(sc scanner) (int64, error) {
		var id int64
		return id, sc.Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: due proposals: %w", err)
	}
	return ids, nil
}

// InsertProposal stores a new proposal without votes.
func (t *tx) InsertProposal(ctx context.Context, p hub.Proposal) (hub.Proposal, error) {
	res, err := t.q.ExecContext(ctx, `INSERT INTO proposals (from_id, from_name, question, options, voters, rule,
		deadline, created_at, status, outcome, reason, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.FromID, p.From, p.Question, encodeStrings(p.Options), encodeStrings(p.Voters), p.Rule,
		encodeTime(p.Deadline), encodeTime(p.CreatedAt), p.Status, p.Outcome, p.Reason, encodeTime(p.DecidedAt))
	if err != nil {
		return hub.Proposal{}, fmt.Errorf("sqlite: insert proposal: %w", err)
	}
	if p.ID, err = res.LastInsertId(); err != nil {
		return hub.Proposal{}, fmt.Errorf("sqlite: insert proposal: %w", err)
	}
	return p, nil
}

// DecideProposal stores a proposal's decision.
func (t *tx) DecideProposal(ctx context.Context, p hub.Proposal) error {
	res, err := t.q.ExecContext(ctx, `UPDATE proposals SET status = ?, outcome = ?, reason = ?, decided_at = ? WHERE id = ?`,
		p.Status, p.Outcome, p.Reason, encodeTime(p.DecidedAt), p.ID)
	if err != nil {
		return fmt.Errorf("sqlite: decide proposal %d: %w", p.ID, err)
	}
	return affected(res, "proposal", p.ID)
}

// PutVote stores a vote, replacing the voter's earlier one.
func (t *tx) PutVote(ctx context.Context, proposalID int64, v hub.Vote) error {
	_, err := t.q.ExecContext(ctx, `INSERT OR REPLACE INTO votes (proposal_id, voter, choice, comment, at) VALUES (?, ?, ?, ?, ?)`,
		proposalID, v.Voter, v.Choice, v.Comment, encodeTime(v.At))
	if err != nil {
		if isForeignKey(err) {
			return hub.Errorf(hub.CodeNotFound, "proposal %d not found", proposalID)
		}
		return fmt.Errorf("sqlite: vote on proposal %d: %w", proposalID, err)
	}
	return nil
}

// RenameVoter stores a proposal's voters and moves a renamed voter's
// ballot to the new name.
func (t *tx) RenameVoter(ctx context.Context, proposalID int64, voters []string, from, to string) error {
	res, err := t.q.ExecContext(ctx, `UPDATE proposals SET voters = ? WHERE id = ?`, encodeStrings(voters), proposalID)
	if err != nil {
		return fmt.Errorf("sqlite: rename voter of proposal %d: %w", proposalID, err)
	}
	if err := affected(res, "proposal", proposalID); err != nil {
		return err
	}
	_, err = t.q.ExecContext(ctx, `UPDATE OR REPLACE votes SET voter = ? WHERE proposal_id = ? AND voter = ?`, to, proposalID, from)
	if err != nil {
		return fmt.Errorf("sqlite: rename voter of proposal %d: %w", proposalID, err)
	}
	return nil
}

const leaseColumns = `id, holder_id, holder, patterns, exclusive, reason, token, granted_at, renewed_at, expires_at`

func scanLease(sc scanner) (hub.Lease, error) {
	var l hub.Lease
	var patterns string
	var exclusive, granted, renewed, expires int64
	err := sc.Scan(&l.ID, &l.HolderID, &l.Holder, &patterns, &exclusive, &l.Reason, &l.Token, &granted, &renewed, &expires)
	if err != nil {
		return hub.Lease{}, err
	}
	if l.Patterns, err = decodeStrings(patterns); err != nil {
		return hub.Lease{}, fmt.Errorf("lease %d patterns: %w", l.ID, err)
	}
	l.Exclusive = exclusive != 0
	l.GrantedAt, l.RenewedAt, l.ExpiresAt = decodeTime(granted), decodeTime(renewed), decodeTime(expires)
	return l, nil
}

// Lease returns one lease.
func (r *reader) Lease(ctx context.Context, id int64) (hub.Lease, error) {
	l, err := scanLease(r.q.QueryRowContext(ctx, `SELECT `+leaseColumns+` FROM leases WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return hub.Lease{}, hub.Errorf(hub.CodeNotFound, "lease %d not found", id)
	}
	if err != nil {
		return hub.Lease{}, fmt.Errorf("sqlite: lease %d: %w", id, err)
	}
	return l, nil
}

func (r *reader) leases(ctx context.Context, query string, args ...any) ([]hub.Lease, error) {
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: leases: %w", err)
	}
	ls, err := collect(rows, scanLease)
	if err != nil {
		return nil, fmt.Errorf("sqlite: leases: %w", err)
	}
	return ls, nil
}

// Leases returns leases that expire after now, oldest first.
func (r *reader) Leases(ctx context.Context, now time.Time) ([]hub.Lease, error) {
	return r.leases(ctx, `SELECT `+leaseColumns+` FROM leases WHERE expires_at > ? ORDER BY id`, encodeTime(now))
}

// ExpiredLeases returns leases that expire at or before now.
func (r *reader) ExpiredLeases(ctx context.Context, now time.Time, limit int) ([]hub.Lease, error) {
	return r.leases(ctx, `SELECT `+leaseColumns+` FROM leases WHERE expires_at <= ? ORDER BY expires_at, id LIMIT ?`,
		encodeTime(now), sqlLimit(limit))
}

// InsertLease stores a new lease and returns it with its ID.
func (t *tx) InsertLease(ctx context.Context, l hub.Lease) (hub.Lease, error) {
	res, err := t.q.ExecContext(ctx, `INSERT INTO leases (holder_id, holder, patterns, exclusive, reason, token,
		granted_at, renewed_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		l.HolderID, l.Holder, encodeStrings(l.Patterns), boolInt(l.Exclusive), l.Reason, l.Token,
		encodeTime(l.GrantedAt), encodeTime(l.RenewedAt), encodeTime(l.ExpiresAt))
	if err != nil {
		return hub.Lease{}, fmt.Errorf("sqlite: insert lease: %w", err)
	}
	if l.ID, err = res.LastInsertId(); err != nil {
		return hub.Lease{}, fmt.Errorf("sqlite: insert lease: %w", err)
	}
	return l, nil
}

// UpdateLease stores the expiry and renewal time of a lease.
func (t *tx) UpdateLease(ctx context.Context, l hub.Lease) error {
	res, err := t.q.ExecContext(ctx, `UPDATE leases SET expires_at = ?, renewed_at = ? WHERE id = ?`,
		encodeTime(l.ExpiresAt), encodeTime(l.RenewedAt), l.ID)
	if err != nil {
		return fmt.Errorf("sqlite: update lease %d: %w", l.ID, err)
	}
	return affected(res, "lease", l.ID)
}

// DeleteLease removes a lease.
func (t *tx) DeleteLease(ctx context.Context, id int64) error {
	res, err := t.q.ExecContext(ctx, `DELETE FROM leases WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete lease %d: %w", id, err)
	}
	return affected(res, "lease", id)
}

func scanStateItem(sc scanner) (hub.StateItem, error) {
	var it hub.StateItem
	var value string
	var at int64
	if err := sc.Scan(&it.Key, &value, &it.Revision, &it.UpdatedBy, &at); err != nil {
		return hub.StateItem{}, err
	}
	it.Value, it.UpdatedAt = json.RawMessage(value), decodeTime(at)
	return it, nil
}

// StateItem returns one key of shared state.
func (r *reader) StateItem(ctx context.Context, key string) (hub.StateItem, error) {
	it, err := scanStateItem(r.q.QueryRowContext(ctx, `SELECT key, value, revision, updated_by, updated_at FROM state WHERE key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return hub.StateItem{}, hub.Errorf(hub.CodeNotFound, "key %q is not set", key)
	}
	if err != nil {
		return hub.StateItem{}, fmt.Errorf("sqlite: state %q: %w", key, err)
	}
	return it, nil
}

// StateItems returns keys that start with prefix, in key order. Keys are
// ASCII below DEL, so prefix + DEL bounds the range from above.
func (r *reader) StateItems(ctx context.Context, prefix string, limit int) ([]hub.StateItem, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT key, value, revision, updated_by, updated_at FROM state
		WHERE key >= ? AND key < ? ORDER BY key LIMIT ?`, prefix, prefix+"\x7f", sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: state: %w", err)
	}
	items, err := collect(rows, scanStateItem)
	if err != nil {
		return nil, fmt.Errorf("sqlite: state: %w", err)
	}
	return items, nil
}

// PutStateItem stores a key's value and revision.
func (t *tx) PutStateItem(ctx context.Context, it hub.StateItem) error {
	_, err := t.q.ExecContext(ctx, `INSERT OR REPLACE INTO state (key, value, revision, updated_by, updated_at) VALUES (?, ?, ?, ?, ?)`,
		it.Key, string(it.Value), it.Revision, it.UpdatedBy, encodeTime(it.UpdatedAt))
	if err != nil {
		return fmt.Errorf("sqlite: set state %q: %w", it.Key, err)
	}
	return nil
}

// DeleteStateItem removes a key.
func (t *tx) DeleteStateItem(ctx context.Context, key string) error {
	res, err := t.q.ExecContext(ctx, `DELETE FROM state WHERE key = ?`, key)
	if err != nil {
		return fmt.Errorf("sqlite: delete state %q: %w", key, err)
	}
	return affected(res, "key", key)
}
