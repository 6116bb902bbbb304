package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Signal is a named one-shot event. Once emitted it stays emitted, with
// the data of its latest emission, until it is cleared; waiting on an
// emitted signal returns at once.
type Signal struct {
	Name    string `json:"name"`
	Emitted bool   `json:"emitted"`
	// Data is the JSON given with the latest emission, if any.
	Data json.RawMessage `json:"data,omitempty"`
	// By is the agent that emitted it last; empty when anonymous.
	By        string    `json:"by,omitempty"`
	EmittedAt time.Time `json:"emitted_at,omitzero"`
	// Count is how many times it was emitted since it was last cleared.
	Count int64 `json:"count,omitempty"`
}

// EmitSignal emits a signal with optional data (any JSON value), waking
// everyone who waits on it. Emitting again replaces the data.
func (s *Service) EmitSignal(ctx context.Context, c Caller, name string, data json.RawMessage) (Signal, error) {
	if err := s.needCaller(c, "emitting a signal"); err != nil {
		return Signal{}, err
	}
	name, err := NormalizeName("signal", name)
	if err != nil {
		return Signal{}, err
	}
	if isNull(data) {
		data = nil
	} else {
		if err := validJSON("data", data, s.opts.Coordination.MaxValue); err != nil {
			return Signal{}, err
		}
		data = compactJSON(data)
	}
	var sig Signal
	err = s.store.Update(ctx, func(tx Tx) error {
		prev, err := tx.Signal(ctx, name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		sig = Signal{Name: name, Emitted: true, Data: data, By: c.Name, EmittedAt: s.now(), Count: prev.Count + 1}
		if err := tx.PutSignal(ctx, sig); err != nil {
			return err
		}
		ev := sig
		if len(ev.Data) > eventPreviewSize {
			ev.Data = nil
		}
		return appendEvents(ctx, tx, s.event(EventSignalEmitted, c.Name, name, nil, ev))
	})
	if err != nil {
		return Signal{}, fmt.Errorf("emit signal %q: %w", name, err)
	}
	return sig, nil
}

// GetSignal returns a signal without waiting; one never emitted, or
// cleared, has Emitted false.
func (s *Service) GetSignal(ctx context.Context, c Caller, name string) (Signal, error) {
	return s.WaitSignal(ctx, c, name, 0)
}

// WaitSignal waits up to timeout for a signal to be emitted and returns
// it; it returns at once when the signal is already emitted, and with
// Emitted false when timeout passes first.
func (s *Service) WaitSignal(ctx context.Context, c Caller, name string, timeout time.Duration) (Signal, error) {
	sig, p, err := s.StartWaitSignal(ctx, c, name, timeout)
	return p.wait(ctx, sig, err)
}

// StartWaitSignal is the first half of WaitSignal: it reads the signal
// once, and hands back the rest of the wait as a Pending when it was
// not emitted and timeout is not 0.
func (s *Service) StartWaitSignal(ctx context.Context, c Caller, name string, timeout time.Duration) (Signal, *Pending[Signal], error) {
	if err := s.needCaller(c, "reading a signal"); err != nil {
		return Signal{}, nil, err
	}
	name, err := NormalizeName("signal", name)
	if err != nil {
		return Signal{}, nil, err
	}
	if timeout, err = clampWait(timeout); err != nil {
		return Signal{}, nil, err
	}
	release := noRelease
	if timeout > 0 && c.IsAgent() {
		release = s.Connect(ctx, c.Name)
	}
	f := Filter{Kinds: []string{EventSignalEmitted}, Subjects: []string{name}}
	return startPending(ctx, s.bus, f, timeout, release, fmt.Sprintf("wait for signal %q", name), func(ctx context.Context) (Signal, bool, error) {
		var sig Signal
		err := s.store.View(ctx, func(r Reader) error {
			var err error
			sig, err = r.Signal(ctx, name)
			if errors.Is(err, ErrNotFound) {
				sig = Signal{Name: name}
				return nil
			}
			return err
		})
		return sig, sig.Emitted, err
	})
}

// ClearSignal resets a signal to not emitted. It reports whether the
// signal was emitted; clearing one that was not changes nothing.
func (s *Service) ClearSignal(ctx context.Context, c Caller, name string) (bool, error) {
	if err := s.needCaller(c, "clearing a signal"); err != nil {
		return false, err
	}
	name, err := NormalizeName("signal", name)
	if err != nil {
		return false, err
	}
	var cleared bool
	err = s.store.Update(ctx, func(tx Tx) error {
		err := tx.DeleteSignal(ctx, name)
		if errors.Is(err, ErrNotFound) {
			cleared = false
			return nil
		}
		if err != nil {
			return err
		}
		cleared = true
		return appendEvents(ctx, tx, s.event(EventSignalCleared, c.Name, name, nil, map[string]string{"name": name}))
	})
	if err != nil {
		return false, fmt.Errorf("clear signal %q: %w", name, err)
	}
	return cleared, nil
}

// ListSignals lists emitted signals by name.
func (s *Service) ListSignals(ctx context.Context, c Caller) ([]Signal, error) {
	if err := s.needCaller(c, "listing signals"); err != nil {
		return nil, err
	}
	var sigs []Signal
	err := s.store.View(ctx, func(r Reader) error {
		var err error
		sigs, err = r.Signals(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list signals: %w", err)
	}
	return nonNil(sigs), nil
}
