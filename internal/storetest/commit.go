package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

func testUpdateSeesOwnWrites(t *testing.T, h *harness) {
	bob := h.addAgent("bob", "")
	h.update(func(tx hub.Tx) error {
		a, err := tx.InsertAgent(h.ctx(), newAgent("alice", ""))
		if err != nil {
			return err
		}
		if got, err := tx.AgentByName(h.ctx(), "alice"); err != nil || got.ID != a.ID {
			t.Errorf("AgentByName of an agent inserted in the same Update: got %d, %v, want %d", got.ID, err, a.ID)
		}
		m, err := tx.InsertMessage(h.ctx(), newMessage(a, "hi", "bob"))
		if err != nil {
			return err
		}
		if _, err := tx.Deliver(h.ctx(), m.ID, bob.ID); err != nil {
			return err
		}
		in, err := tx.Inbox(h.ctx(), hub.InboxQuery{AgentID: bob.ID})
		if err != nil || len(in) != 1 || in[0].ID != m.ID {
			t.Errorf("Inbox in the Update that delivered: got %d items, %v, want message %d", len(in), err, m.ID)
		}
		e, err := tx.AppendEvent(h.ctx(), hub.Event{Kind: hub.EventMessageSent, Time: at(0)})
		if err != nil {
			return err
		}
		if last, err := tx.LastEventID(h.ctx()); err != nil || last != e.ID {
			t.Errorf("LastEventID in the Update that appended: got %d, %v, want %d", last, err, e.ID)
		}
		return nil
	})
}

// testConcurrentUpdates runs many Updates at once, as concurrent sends
// do: every one commits, sees its own writes, and its events reach the
// commit hook, once and in ID order, before it returns.
func testConcurrentUpdates(t *testing.T, h *harness) {
	inbox := h.addAgent("inbox", "")
	const workers, each = 32, 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n := name(fmt.Sprintf("w%d", w), i)
				var ev hub.Event
				err := h.store.Update(h.ctx(), func(tx hub.Tx) error {
					a, err := tx.InsertAgent(h.ctx(), newAgent(n, "worker"))
					if err != nil {
						return err
					}
					if got, err := tx.AgentByID(h.ctx(), a.ID); err != nil || got.Name != n {
						return fmt.Errorf("own agent: got %q, %v", got.Name, err)
					}
					m, err := tx.InsertMessage(h.ctx(), newMessage(a, "from "+n, "inbox"))
					if err != nil {
						return err
					}
					if _, err := tx.Deliver(h.ctx(), m.ID, inbox.ID); err != nil {
						return err
					}
					if got, err := tx.Message(h.ctx(), m.ID); err != nil || got.Body != "from "+n {
						return fmt.Errorf("own message: got %q, %v", got.Body, err)
					}
					ev, err = tx.AppendEvent(h.ctx(), hub.Event{Kind: hub.EventMessageSent, Time: at(0), Actor: n})
					return err
				})
				if err != nil {
					t.Errorf("update %s: %v", n, err)
					continue
				}
				if !h.log.has(ev.ID) {
					t.Errorf("update %s returned before the commit hook saw its event %d", n, ev.ID)
				}
			}
		})
	}
	wg.Wait()

	const total = workers * each
	h.view(func(r hub.Reader) error {
		agents, err := r.Agents(h.ctx(), "worker")
		if err != nil || len(agents) != total {
			t.Errorf("agents: got %d, %v, want %d", len(agents), err, total)
		}
		in, err := r.Inbox(h.ctx(), hub.InboxQuery{AgentID: inbox.ID})
		if err != nil || len(in) != total {
			t.Errorf("inbox: got %d, %v, want %d", len(in), err, total)
		}
		for i := 1; i < len(in); i++ {
			if in[i].Seq <= in[i-1].Seq {
				t.Errorf("inbox seqs not increasing at %d: %d then %d", i, in[i-1].Seq, in[i].Seq)
				break
			}
		}
		return nil
	})
	checkHookLog(t, h, total)
}

// checkHookLog checks that the commit hook received want events in
// strictly increasing ID order, each once, and that the store holds the
// same ones.
func checkHookLog(t *testing.T, h *harness, want int) {
	t.Helper()
	got := h.log.events()
	if len(got) != want {
		t.Errorf("commit hook: got %d events, want %d", len(got), want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].ID <= got[i-1].ID {
			t.Errorf("commit hook: event %d has ID %d after %d, want increasing", i, got[i].ID, got[i-1].ID)
			break
		}
	}
	if stored := eventIDs(h.allEvents()); !slices.Equal(stored, eventIDs(got)) {
		t.Errorf("stored events %v differ from those the hook received %v", stored, eventIDs(got))
	}
}

var errPlanned = errors.New("planned failure")

// testFailuresLeaveNoTrace mixes Updates that fail or panic after writing
// with Updates that succeed, queued together so that a group-committing
// store runs them in one batch: only the successful ones leave anything.
func testFailuresLeaveNoTrace(t *testing.T, h *harness) {
	inbox := h.addAgent("inbox", "")
	const n = 60
	kind := func(i int) string { return [...]string{"ok", "error", "panic"}[i%3] }

	// Hold the writer, so the others queue up behind it and, in a store
	// that batches, share a transaction. The sleep only makes that
	// likely; the test holds either way.
	release := make(chan struct{})
	var blocker sync.WaitGroup
	blocker.Go(func() {
		err := h.store.Update(h.ctx(), func(tx hub.Tx) error {
			<-release
			return nil
		})
		if err != nil {
			t.Errorf("blocking update: %v", err)
		}
	})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = h.store.Update(h.ctx(), func(tx hub.Tx) error {
				nm := name(kind(i), i)
				a, err := tx.InsertAgent(h.ctx(), newAgent(nm, kind(i)))
				if err != nil {
					return err
				}
				m, err := tx.InsertMessage(h.ctx(), newMessage(a, "from "+nm, "inbox"))
				if err != nil {
					return err
				}
				if _, err := tx.Deliver(h.ctx(), m.ID, inbox.ID); err != nil {
					return err
				}
				if err := tx.Hold(h.ctx(), m.ID, "held-"+nm, at(time.Hour)); err != nil {
					return err
				}
				if _, err := tx.AppendEvent(h.ctx(), hub.Event{Kind: hub.EventMessageSent, Time: at(0), Actor: nm}); err != nil {
					return err
				}
				switch kind(i) {
				case "error":
					return fmt.Errorf("update %d: %w", i, errPlanned)
				case "panic":
					panic("planned panic in update " + nm)
				}
				return nil
			})
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	blocker.Wait()

	for i, err := range errs {
		switch kind(i) {
		case "ok":
			if err != nil {
				t.Errorf("update %d: got %v, want success", i, err)
			}
		case "error":
			errorsIs(t, fmt.Sprintf("update %d", i), err, errPlanned)
		case "panic":
			if err == nil {
				t.Errorf("update %d panicked: got no error", i)
			}
		}
	}

	h.catchUpSearch()
	h.view(func(r hub.Reader) error {
		for i := range n {
			nm := name(kind(i), i)
			_, err := r.AgentByName(h.ctx(), nm)
			if kind(i) == "ok" && err != nil {
				t.Errorf("agent of successful update %d: %v", i, err)
			}
			if kind(i) != "ok" && err == nil {
				t.Errorf("agent of failed update %d (%s) exists", i, kind(i))
			}
		}
		in, err := r.Inbox(h.ctx(), hub.InboxQuery{AgentID: inbox.ID})
		if err != nil {
			t.Errorf("inbox: %v", err)
		}
		for _, m := range in {
			if !strings.HasPrefix(m.From, "ok-") {
				t.Errorf("inbox holds message %d from %s", m.ID, m.From)
			}
		}
		if len(in) != n/3 {
			t.Errorf("inbox: got %d messages, want %d", len(in), n/3)
		}
		all, err := r.Messages(h.ctx(), hub.HistoryQuery{})
		if err != nil || len(all) != n/3 {
			t.Errorf("messages: got %d, %v, want %d", len(all), err, n/3)
		}
		// The search index holds what committed, no more, no less.
		found, err := r.Messages(h.ctx(), hub.HistoryQuery{Search: "from"})
		if err != nil || len(found) != n/3 {
			t.Errorf("search: got %d, %v, want %d", len(found), err, n/3)
		}
		return nil
	})
	for _, e := range h.log.events() {
		if !strings.HasPrefix(e.Actor, "ok-") {
			t.Errorf("commit hook received event %d of a failed update (%s)", e.ID, e.Actor)
		}
	}
	checkHookLog(t, h, n/3)
	// Inside an Update too: a failed Update leaves nothing behind for
	// later ones, in the database or in any cache of the store.
	h.update(func(tx hub.Tx) error {
		for i := range n {
			nm := name(kind(i), i)
			_, err := tx.AgentByName(h.ctx(), nm)
			if kind(i) != "ok" && err == nil {
				t.Errorf("Update sees the agent of failed update %d (%s)", i, kind(i))
			}
			a, err := tx.AgentByName(h.ctx(), "inbox")
			if err != nil {
				return err
			}
			if a.LastSeq != n/3 {
				t.Errorf("inbox's LastSeq in an Update: got %d, want %d", a.LastSeq, n/3)
			}
		}
		return nil
	})
	h.update(func(tx hub.Tx) error {
		for i := range n {
			got, err := tx.TakeHeld(h.ctx(), "held-"+name(kind(i), i), at(0))
			if err != nil {
				return err
			}
			if want := kind(i) == "ok"; (len(got) == 1) != want {
				t.Errorf("held mail of update %d (%s): got %v", i, kind(i), got)
			}
		}
		return nil
	})
}

func testCancelBeforeUpdate(t *testing.T, h *harness) {
	ctx, cancel := context.WithCancel(h.ctx())
	cancel()
	ran := false
	err := h.store.Update(ctx, func(tx hub.Tx) error {
		ran = true
		_, err := tx.InsertAgent(h.ctx(), newAgent("ghost", ""))
		return err
	})
	errorsIs(t, "Update with a cancelled context", err, context.Canceled)
	h.addAgent("after", "") // a later Update completes, so fn would have run by now
	if ran {
		t.Errorf("fn of an Update cancelled before it started ran")
	}
	h.view(func(r hub.Reader) error {
		_, err := r.AgentByName(h.ctx(), "ghost")
		checkNotFound(t, "agent of a cancelled Update", err)
		return nil
	})
}

// testCancelWhileQueued cancels an Update while another holds the writer.
// The store may have taken it or not; either way its result must tell the
// truth: an error means no trace, success means committed.
func testCancelWhileQueued(t *testing.T, h *harness) {
	release := make(chan struct{})
	started := make(chan struct{})
	var blocker sync.WaitGroup
	blocker.Go(func() {
		if err := h.store.Update(h.ctx(), func(tx hub.Tx) error {
			close(started)
			<-release
			return nil
		}); err != nil {
			t.Errorf("blocking update: %v", err)
		}
	})
	<-started

	ctx, cancel := context.WithCancel(h.ctx())
	done := make(chan error, 1)
	go func() {
		done <- h.store.Update(ctx, func(tx hub.Tx) error {
			_, err := tx.InsertAgent(h.ctx(), newAgent("queued", ""))
			return err
		})
	}()
	time.Sleep(20 * time.Millisecond) // let it queue; the test holds either way
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		// A store that waits for the outcome of a taken Update is
		// right to block until the writer is free.
		close(release)
		release = nil
		err = <-done
	}
	if release != nil {
		close(release)
	}
	blocker.Wait()
	h.addAgent("after", "") // the queue has moved past the cancelled Update

	var exists bool
	h.view(func(r hub.Reader) error {
		_, err := r.AgentByName(h.ctx(), "queued")
		exists = err == nil
		return nil
	})
	switch {
	case err == nil && !exists:
		t.Errorf("cancelled Update returned success, but its agent is missing")
	case err != nil && exists:
		t.Errorf("cancelled Update returned %v, but its agent exists", err)
	case err != nil && !errors.Is(err, context.Canceled):
		t.Errorf("cancelled Update: got %v, want context.Canceled", err)
	}
}

// testCancelAfterTaken cancels the context of an Update while its fn
// runs: the store has taken it, so Update reports the commit's outcome.
func testCancelAfterTaken(t *testing.T, h *harness) {
	ctx, cancel := context.WithCancel(h.ctx())
	defer cancel()
	err := h.store.Update(ctx, func(tx hub.Tx) error {
		cancel()
		// The store must not interrupt fn's statements: its context is
		// the caller's business.
		_, err := tx.InsertAgent(ctx, newAgent("taken", ""))
		return err
	})
	if err != nil {
		t.Fatalf("Update whose context ended while it ran: got %v, want success", err)
	}
	h.view(func(r hub.Reader) error {
		if _, err := r.AgentByName(h.ctx(), "taken"); err != nil {
			t.Errorf("agent of an Update cancelled while it ran: %v", err)
		}
		return nil
	})
}

// testViewSnapshot checks that a View reads one snapshot: a commit made
// while it runs is invisible to it.
func testViewSnapshot(t *testing.T, h *harness) {
	h.addAgent("alice", "")
	h.view(func(r hub.Reader) error {
		before, err := r.Agents(h.ctx(), "")
		if err != nil {
			return err
		}
		if err := h.store.Update(h.ctx(), func(tx hub.Tx) error {
			_, err := tx.InsertAgent(h.ctx(), newAgent("bob", ""))
			return err
		}); err != nil {
			return err
		}
		after, err := r.Agents(h.ctx(), "")
		if err != nil {
			return err
		}
		if len(before) != 1 || len(after) != 1 {
			t.Errorf("agents in one View around a commit: got %d then %d, want 1 and 1", len(before), len(after))
		}
		if _, err := r.AgentByName(h.ctx(), "bob"); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("agent committed during a View: got %v, want not found in the View", err)
		}
		return nil
	})
	h.view(func(r hub.Reader) error {
		if _, err := r.AgentByName(h.ctx(), "bob"); err != nil {
			t.Errorf("agent in a later View: %v", err)
		}
		return nil
	})
}

func testClose(t *testing.T, h *harness) {
	h.addAgent("alice", "")
	if err := h.store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := h.store.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ran := false
	err := h.store.Update(h.ctx(), func(tx hub.Tx) error {
		ran = true
		return nil
	})
	if err == nil || ran {
		t.Errorf("Update after Close: got %v and ran=%v, want an error and no run", err, ran)
	}
	if err := h.store.View(h.ctx(), func(r hub.Reader) error { return nil }); err == nil {
		t.Errorf("View after Close: got no error")
	}
}

// testDurability closes the store and opens its directory again:
// everything committed is there, and IDs and sequences continue.
func testDurability(t *testing.T, h *harness) {
	alice, bob := h.addAgent("alice", "backend"), h.addAgent("bob", "")
	m1 := h.send(alice, "before restart", bob)
	h.update(func(tx hub.Tx) error {
		if err := tx.PutCredential(h.ctx(), hub.Credential{AgentID: bob.ID, TokenHash: []byte("bob")}); err != nil {
			return err
		}
		return tx.MarkRead(h.ctx(), bob.ID, []int64{1}, at(time.Minute))
	})
	evs := h.appendEvents(hub.Event{Kind: hub.EventMessageSent, Time: at(0), Actor: "alice", Targets: []string{"bob"}})

	h.reopen()

	h.catchUpSearch()
	h.view(func(r hub.Reader) error {
		got, err := r.AgentByName(h.ctx(), "alice")
		if err != nil {
			t.Errorf("agent after reopen: %v", err)
			return nil
		}
		want := newAgent("alice", "backend")
		want.ID = alice.ID
		checkAgent(t, "agent after reopen", got, want)
		if c, err := r.Credential(h.ctx(), []byte("bob")); err != nil || c.AgentID != bob.ID {
			t.Errorf("credential after reopen: got %+v, %v", c, err)
		}
		in, err := r.Received(h.ctx(), bob.ID, m1.ID)
		if err != nil || in.State != hub.DeliveryRead || in.Seq != 1 {
			t.Errorf("delivery after reopen: got %+v, %v, want read with seq 1", in, err)
		}
		checkMessage(t, "message after reopen", in.Message, m1)
		stored, err := r.Events(h.ctx(), 0, 10)
		if err != nil || len(stored) != 1 || stored[0].ID != evs[0].ID {
			t.Errorf("events after reopen: got %v, %v, want [%d]", eventIDs(stored), err, evs[0].ID)
		}
		if ms, err := r.Messages(h.ctx(), hub.HistoryQuery{Search: "restart"}); err != nil || len(ms) != 1 {
			t.Errorf("search after reopen: got %v, %v, want [%d]", ids(ms), err, m1.ID)
		}
		return nil
	})

	carol := h.addAgent("carol", "")
	if carol.ID <= bob.ID {
		t.Errorf("agent after reopen: got ID %d, want > %d", carol.ID, bob.ID)
	}
	var seq int64
	var m2 hub.Message
	h.update(func(tx hub.Tx) error {
		var err error
		if m2, err = tx.InsertMessage(h.ctx(), newMessage(alice, "after restart", "bob")); err != nil {
			return err
		}
		seq, err = tx.Deliver(h.ctx(), m2.ID, bob.ID)
		return err
	})
	if m2.ID <= m1.ID || seq != 2 {
		t.Errorf("send after reopen: got message %d seq %d, want ID > %d and seq 2", m2.ID, seq, m1.ID)
	}
	ev := h.appendEvents(hub.Event{Kind: hub.EventAgentOnline, Time: at(0)})
	if ev[0].ID <= evs[0].ID {
		t.Errorf("event after reopen: got ID %d, want > %d", ev[0].ID, evs[0].ID)
	}
}

// testUpdateVisible: an UpdateVisible commits like an Update (its changes
// are visible when it returns, its events reach the hook, a failure
// leaves no trace), and a later Update makes it durable with its own.
func testUpdateVisible(t *testing.T, h *harness) {
	alice, bob := h.addAgent("alice", ""), h.addAgent("bob", "")
	m := h.send(alice, "read me", bob)
	err := h.store.UpdateVisible(h.ctx(), func(tx hub.Tx) error {
		if err := tx.MarkRead(h.ctx(), bob.ID, []int64{1}, at(time.Minute)); err != nil {
			return err
		}
		_, err := tx.AppendEvent(h.ctx(), hub.Event{Kind: hub.EventMessageSent, Time: at(0), Actor: "bob"})
		return err
	})
	if err != nil {
		t.Fatalf("UpdateVisible: %v", err)
	}
	if evs := h.log.events(); len(evs) == 0 || evs[len(evs)-1].Actor != "bob" {
		t.Errorf("commit hook after UpdateVisible: got %d events, want bob's last", len(evs))
	}
	boom := errors.New("boom")
	err = h.store.UpdateVisible(h.ctx(), func(tx hub.Tx) error {
		if _, err := tx.InsertAgent(h.ctx(), newAgent("ghost", "")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("failing UpdateVisible: got %v, want %v", err, boom)
	}
	h.view(func(r hub.Reader) error {
		in, err := r.Received(h.ctx(), bob.ID, m.ID)
		if err != nil || in.State != hub.DeliveryRead {
			t.Errorf("delivery after UpdateVisible returned: got %+v, %v, want read", in, err)
		}
		if _, err := r.AgentByName(h.ctx(), "ghost"); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("agent of a failed UpdateVisible: got %v, want not found", err)
		}
		return nil
	})
	h.addAgent("carol", "") // an Update after it
	h.reopen()
	h.view(func(r hub.Reader) error {
		if in, err := r.Received(h.ctx(), bob.ID, m.ID); err != nil || in.State != hub.DeliveryRead {
			t.Errorf("delivery after reopen: got %+v, %v, want read", in, err)
		}
		return nil
	})
}

func testAfterCommit(t *testing.T, h *harness) {
	ctx := h.ctx()
	for _, visible := range []bool{false, true} {
		update := h.store.Update
		if visible {
			update = h.store.UpdateVisible
		}
		// A committed Update runs its functions, in order, before its
		// events are published and before it returns.
		var ran []string
		published := len(h.log.events())
		err := update(ctx, func(tx hub.Tx) error {
			tx.AfterCommit(func() {
				if len(h.log.events()) != published {
					t.Error("AfterCommit ran after the Update's events were published")
				}
				ran = append(ran, "first")
			})
			tx.AfterCommit(func() { ran = append(ran, "second") })
			_, err := tx.AppendEvent(ctx, hub.Event{Kind: "test.after", Time: at(0)})
			return err
		})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if !slices.Equal(ran, []string{"first", "second"}) {
			t.Errorf("visible=%v: AfterCommit functions ran %v, want [first second]", visible, ran)
		}

		// A failed Update runs none, whether it shares a transaction with
		// others or not.
		var wg sync.WaitGroup
		var mu sync.Mutex
		got := map[string]bool{}
		mark := func(name string) func() {
			return func() {
				mu.Lock()
				defer mu.Unlock()
				got[name] = true
			}
		}
		for i := range 8 {
			wg.Go(func() {
				err := update(ctx, func(tx hub.Tx) error {
					tx.AfterCommit(mark(fmt.Sprint("update", i)))
					if i%2 == 1 {
						return errors.New("fails")
					}
					return nil
				})
				if (err != nil) != (i%2 == 1) {
					t.Errorf("update %d: err %v", i, err)
				}
			})
		}
		wg.Wait()
		for i := range 8 {
			if want := i%2 == 0; got[fmt.Sprint("update", i)] != want {
				t.Errorf("visible=%v: update %d (failing: %v): AfterCommit ran %v", visible, i, i%2 == 1, !want)
			}
		}
	}
}
