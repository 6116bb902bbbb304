package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// StateItem is one key of the shared state: a JSON value and the
// revision of its last change. Revisions come from one counter for all
// keys, so they only grow, also across deletes and restarts.
type StateItem struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value,omitempty"`
	Revision  int64           `json:"revision"`
	UpdatedBy string          `json:"updated_by,omitempty"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// StateSetRequest sets a key. With ExpectedRevision the set is a
// compare-and-swap: it succeeds only if the key's revision is that
// number, 0 meaning the key must not exist.
type StateSetRequest struct {
	Value            json.RawMessage `json:"value"`
	ExpectedRevision *int64          `json:"expected_revision,omitempty"`
}

// StateWatch is the result of waiting on a key.
type StateWatch struct {
	StateItem
	// Exists is false when the key is not set.
	Exists bool `json:"exists"`
	// Changed is true when the key changed after the given revision;
	// false when the wait timed out.
	Changed bool `json:"changed"`
}

// RevisionConflictError is the error of a compare-and-swap whose expected
// revision is not the key's current one. It matches ErrConflict.
type RevisionConflictError struct {
	Key      string
	Expected int64
	// Current is the key's revision now; 0 when the key is not set.
	Current int64
}

// Error says which revision the key is at.
func (e *RevisionConflictError) Error() string {
	if e.Current == 0 {
		return fmt.Sprintf("key %q is not set (expected revision %d)", e.Key, e.Expected)
	}
	return fmt.Sprintf("key %q is at revision %d, not %d", e.Key, e.Current, e.Expected)
}

// Unwrap returns the domain error, so ErrorCode and errors.Is see a conflict.
func (e *RevisionConflictError) Unwrap() error {
	return &Error{Code: CodeConflict, Message: e.Error()}
}

// GetState returns a key's value and revision.
func (s *Service) GetState(ctx context.Context, c Caller, key string) (StateItem, error) {
	if err := s.needCaller(c, "reading shared state"); err != nil {
		return StateItem{}, err
	}
	key, err := NormalizeName("key", key)
	if err != nil {
		return StateItem{}, err
	}
	var it StateItem
	err = s.store.View(ctx, func(r Reader) error {
		var err error
		it, err = r.StateItem(ctx, key)
		return notFound(err, "key %q is not set", key)
	})
	if err != nil {
		return StateItem{}, fmt.Errorf("get state %q: %w", key, err)
	}
	return it, nil
}

// SetState sets a key to a JSON value and returns it with its new
// revision. A compare-and-swap whose expected revision does not match
// changes nothing and returns a *RevisionConflictError.
func (s *Service) SetState(ctx context.Context, c Caller, key string, req StateSetRequest) (StateItem, error) {
	if err := s.needCaller(c, "setting shared state"); err != nil {
		return StateItem{}, err
	}
	key, err := NormalizeName("key", key)
	if err != nil {
		return StateItem{}, err
	}
	if req.Value == nil {
		return StateItem{}, Errorf(CodeInvalid, "value is missing (to remove a key, delete it)")
	}
	if err := validJSON("value", req.Value, s.opts.Coordination.MaxValue); err != nil {
		return StateItem{}, err
	}
	if req.ExpectedRevision != nil && *req.ExpectedRevision < 0 {
		return StateItem{}, Errorf(CodeInvalid, "expected_revision must not be negative")
	}
	var it StateItem
	err = s.store.Update(ctx, func(tx Tx) error {
		if err := checkRevision(ctx, tx, key, req.ExpectedRevision); err != nil {
			return err
		}
		rev, err := tx.NextCounter(ctx, CounterState)
		if err != nil {
			return err
		}
		it = StateItem{Key: key, Value: compactJSON(req.Value), Revision: rev, UpdatedBy: c.Name, UpdatedAt: s.now()}
		if err := tx.PutStateItem(ctx, it); err != nil {
			return err
		}
		ev := it
		if len(ev.Value) > eventPreviewSize {
			ev.Value = nil
		}
		return appendEvents(ctx, tx, s.event(EventStateSet, c.Name, key, nil, ev))
	})
	if err != nil {
		return StateItem{}, fmt.Errorf("set state %q: %w", key, err)
	}
	return it, nil
}

// checkRevision compares a key's revision with the expected one.
func checkRevision(ctx context.Context, r Reader, key string, expected *int64) error {
	if expected == nil {
		return nil
	}
	cur, err := r.StateItem(ctx, key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if cur.Revision != *expected {
		return &RevisionConflictError{Key: key, Expected: *expected, Current: cur.Revision}
	}
	return nil
}

// DeleteState removes a key; with expected set, only if the key is at
// that revision. It returns the key as it was.
func (s *Service) DeleteState(ctx context.Context, c Caller, key string, expected *int64) (StateItem, error) {
	if err := s.needCaller(c, "deleting shared state"); err != nil {
		return StateItem{}, err
	}
	key, err := NormalizeName("key", key)
	if err != nil {
		return StateItem{}, err
	}
	var it StateItem
	err = s.store.Update(ctx, func(tx Tx) error {
		var err error
		if it, err = tx.StateItem(ctx, key); err != nil {
			return notFound(err, "key %q is not set", key)
		}
		if err := checkRevision(ctx, tx, key, expected); err != nil {
			return err
		}
		rev, err := tx.NextCounter(ctx, CounterState)
		if err != nil {
			return err
		}
		if err := tx.DeleteStateItem(ctx, key); err != nil {
			return err
		}
		ev := map[string]any{"key": key, "revision": rev, "previous_revision": it.Revision}
		return appendEvents(ctx, tx, s.event(EventStateDeleted, c.Name, key, nil, ev))
	})
	if err != nil {
		return StateItem{}, fmt.Errorf("delete state %q: %w", key, err)
	}
	return it, nil
}

// ListState returns keys starting with prefix, in key order, with values.
func (s *Service) ListState(ctx context.Context, c Caller, prefix string, limit int) ([]StateItem, error) {
	if err := s.needCaller(c, "listing shared state"); err != nil {
		return nil, err
	}
	prefix, err := NormalizeOptionalName("prefix", prefix)
	if err != nil {
		return nil, err
	}
	if limit, err = listLimit(limit); err != nil {
		return nil, err
	}
	var items []StateItem
	err = s.store.View(ctx, func(r Reader) error {
		var err error
		items, err = r.StateItems(ctx, prefix, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list state: %w", err)
	}
	return nonNil(items), nil
}

// WaitState waits up to timeout for a key to change after revision
// after: to be set at a higher revision, or, when after > 0, to be
// deleted. It returns at once when that has already happened.
func (s *Service) WaitState(ctx context.Context, c Caller, key string, after int64, timeout time.Duration) (StateWatch, error) {
	w, p, err := s.StartWaitState(ctx, c, key, after, timeout)
	return p.wait(ctx, w, err)
}

// StartWaitState is the first half of WaitState: it reads the key once,
// and hands back the rest of the wait as a Pending when it has not
// changed and timeout is not 0.
func (s *Service) StartWaitState(ctx context.Context, c Caller, key string, after int64, timeout time.Duration) (StateWatch, *Pending[StateWatch], error) {
	if err := s.needCaller(c, "watching shared state"); err != nil {
		return StateWatch{}, nil, err
	}
	key, err := NormalizeName("key", key)
	if err != nil {
		return StateWatch{}, nil, err
	}
	if after < 0 {
		return StateWatch{}, nil, Errorf(CodeInvalid, "after must not be negative")
	}
	if timeout, err = clampWait(timeout); err != nil {
		return StateWatch{}, nil, err
	}
	release := noRelease
	if timeout > 0 && c.IsAgent() {
		release = s.Connect(ctx, c.Name)
	}
	f := Filter{Kinds: []string{"state"}, Subjects: []string{key}}
	return startPending(ctx, s.bus, f, timeout, release, fmt.Sprintf("watch state %q", key), func(ctx context.Context) (StateWatch, bool, error) {
		var w StateWatch
		err := s.store.View(ctx, func(r Reader) error {
			it, err := r.StateItem(ctx, key)
			switch {
			case errors.Is(err, ErrNotFound):
				w = StateWatch{StateItem: StateItem{Key: key}}
			case err != nil:
				return err
			default:
				w = StateWatch{StateItem: it, Exists: true}
			}
			w.Changed = w.Exists && w.Revision > after || !w.Exists && after > 0
			return nil
		})
		return w, w.Changed, err
	})
}
