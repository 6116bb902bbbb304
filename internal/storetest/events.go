package storetest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// appendEvents appends events in one Update and returns them with IDs.
func (h *harness) appendEvents(events ...hub.Event) []hub.Event {
	h.tb.Helper()
	var out []hub.Event
	h.update(func(tx hub.Tx) error {
		out = out[:0]
		for _, e := range events {
			e, err := tx.AppendEvent(h.ctx(), e)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out
}

// allEvents returns every stored event.
func (h *harness) allEvents() []hub.Event {
	h.tb.Helper()
	var evs []hub.Event
	h.view(func(r hub.Reader) error {
		var err error
		evs, err = r.Events(h.ctx(), 0, 1_000_000)
		return err
	})
	return evs
}

func eventIDs(evs []hub.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func testEvents(t *testing.T, h *harness) {
	h.view(func(r hub.Reader) error {
		id, err := r.LastEventID(h.ctx())
		if err != nil || id != 0 {
			t.Errorf("LastEventID of an empty store: got %d, %v, want 0", id, err)
		}
		return nil
	})
	full := hub.Event{
		Kind: hub.EventMessageSent, Time: at(time.Second), Actor: "alice",
		Targets: []string{"bob", "carol"}, Subject: "42", Data: json.RawMessage(`{"id":42,"body":"hé \"quoted\""}`),
	}
	first := h.appendEvents(full, hub.Event{Kind: hub.EventAgentOnline, Time: at(2 * time.Second), Actor: "bob"})
	second := h.appendEvents(
		hub.Event{Kind: hub.EventAgentStatus, Time: at(3 * time.Second), Actor: "bob", Subject: "bob"},
		hub.Event{Kind: hub.EventHubReset, Time: at(4 * time.Second)},
		hub.Event{Kind: hub.EventAgentOffline, Time: at(5 * time.Second), Actor: "carol", Targets: []string{"carol"}},
	)
	all := append(append([]hub.Event{}, first...), second...)
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Fatalf("event IDs: got %v, want increasing", eventIDs(all))
		}
	}

	got := h.allEvents()
	if len(got) != len(all) {
		t.Fatalf("Events(0): got %v, want %v", eventIDs(got), eventIDs(all))
	}
	for i := range got {
		if g, w := normEvent(got[i]), normEvent(all[i]); !reflect.DeepEqual(g, w) {
			t.Errorf("event %d:\ngot  %+v\nwant %+v", i, g, w)
		}
	}
	h.view(func(r hub.Reader) error {
		page, err := r.Events(h.ctx(), all[1].ID, 2)
		if err != nil {
			t.Errorf("Events(after %d, 2): %v", all[1].ID, err)
		}
		if g, w := eventIDs(page), eventIDs(all[2:4]); !reflect.DeepEqual(g, w) {
			t.Errorf("Events(after %d, 2): got %v, want %v", all[1].ID, g, w)
		}
		if rest, err := r.Events(h.ctx(), all[4].ID, 10); err != nil || len(rest) != 0 {
			t.Errorf("Events after the last: got %v, %v, want none", eventIDs(rest), err)
		}
		id, err := r.LastEventID(h.ctx())
		if err != nil || id != all[4].ID {
			t.Errorf("LastEventID: got %d, %v, want %d", id, err, all[4].ID)
		}
		return nil
	})

	// The commit hook saw the same events, in the same order.
	if g, w := eventIDs(h.log.events()), eventIDs(all); !reflect.DeepEqual(g, w) {
		t.Errorf("commit hook: got %v, want %v", g, w)
	}
	for i, e := range h.log.events() {
		if g, w := normEvent(e), normEvent(all[i]); !reflect.DeepEqual(g, w) {
			t.Errorf("commit hook event %d:\ngot  %+v\nwant %+v", i, g, w)
		}
	}
}

func testExpireEvents(t *testing.T, h *harness) {
	var evs []hub.Event
	for i := range 10 {
		evs = append(evs, h.appendEvents(hub.Event{Kind: hub.EventAgentStatus, Time: at(time.Duration(i) * time.Second)})...)
	}
	h.update(func(tx hub.Tx) error { return tx.Expire(h.ctx(), at(time.Hour), 3) })
	if g, w := eventIDs(h.allEvents()), eventIDs(evs[7:]); !reflect.DeepEqual(g, w) {
		t.Errorf("after Expire keeping 3: got %v, want %v", g, w)
	}
	h.update(func(tx hub.Tx) error { return tx.Expire(h.ctx(), at(time.Hour), 100) })
	if got := len(h.allEvents()); got != 3 {
		t.Errorf("after Expire keeping 100 of 3: got %d events, want 3", got)
	}
	next := h.appendEvents(hub.Event{Kind: hub.EventAgentStatus, Time: at(time.Hour)})
	if next[0].ID <= evs[9].ID {
		t.Errorf("event after Expire: got ID %d, want > %d", next[0].ID, evs[9].ID)
	}
}

func testReset(t *testing.T, h *harness) {
	alice, bob := h.addAgent("alice", ""), h.addAgent("bob", "")
	hash := []byte("token")
	h.update(func(tx hub.Tx) error {
		if err := tx.PutCredential(h.ctx(), hub.Credential{AgentID: alice.ID, TokenHash: hash}); err != nil {
			return err
		}
		return tx.PutForward(h.ctx(), hub.Forward{From: "al", AgentID: alice.ID, To: "alice", ExpiresAt: at(time.Hour)})
	})
	m := h.send(alice, "searchable words", bob)
	held := h.send(alice, "held for dave")
	h.update(func(tx hub.Tx) error { return tx.Hold(h.ctx(), held.ID, "dave", at(time.Hour)) })
	before := h.appendEvents(hub.Event{Kind: hub.EventAgentRegistered, Time: at(0), Actor: "alice"})

	var reset hub.Event
	h.update(func(tx hub.Tx) error {
		if err := tx.Reset(h.ctx()); err != nil {
			return err
		}
		var err error
		reset, err = tx.AppendEvent(h.ctx(), hub.Event{Kind: hub.EventHubReset, Time: at(time.Minute)})
		return err
	})
	if reset.ID <= before[0].ID {
		t.Errorf("event after Reset: got ID %d, want > %d (event IDs never repeat)", reset.ID, before[0].ID)
	}

	h.view(func(r hub.Reader) error {
		if agents, err := r.Agents(h.ctx(), ""); err != nil || len(agents) != 0 {
			t.Errorf("Agents after Reset: got %d, %v, want none", len(agents), err)
		}
		_, err := r.AgentByName(h.ctx(), "alice")
		checkNotFound(t, "AgentByName after Reset", err)
		_, err = r.Credential(h.ctx(), hash)
		checkNotFound(t, "Credential after Reset", err)
		_, err = r.Forward(h.ctx(), "al", at(0))
		checkNotFound(t, "Forward after Reset", err)
		_, err = r.Message(h.ctx(), m.ID)
		checkNotFound(t, "Message after Reset", err)
		if in, err := r.Inbox(h.ctx(), hub.InboxQuery{AgentID: bob.ID}); err != nil || len(in) != 0 {
			t.Errorf("Inbox after Reset: got %d, %v, want none", len(in), err)
		}
		if counts, err := r.UnreadCounts(h.ctx()); err != nil || len(counts) != 0 {
			t.Errorf("UnreadCounts after Reset: got %v, %v, want none", counts, err)
		}
		if ms, err := r.Messages(h.ctx(), hub.HistoryQuery{}); err != nil || len(ms) != 0 {
			t.Errorf("Messages after Reset: got %v, %v, want none", ids(ms), err)
		}
		if ms, err := r.Messages(h.ctx(), hub.HistoryQuery{Search: "searchable"}); err != nil || len(ms) != 0 {
			t.Errorf("search after Reset: got %v, %v, want none", ids(ms), err)
		}
		if ds, err := r.Deliveries(h.ctx(), held.ID); err != nil || len(ds) != 0 {
			t.Errorf("Deliveries after Reset: got %v, %v, want none", ds, err)
		}
		evs, err := r.Events(h.ctx(), 0, 100)
		if err != nil || len(evs) != 1 || evs[0].ID != reset.ID {
			t.Errorf("Events after Reset: got %v, %v, want only the reset event %d", eventIDs(evs), err, reset.ID)
		}
		return nil
	})
	h.update(func(tx hub.Tx) error {
		got, err := tx.TakeHeld(h.ctx(), "dave", at(0))
		if len(got) != 0 {
			t.Errorf("TakeHeld after Reset: got %v, want nothing", got)
		}
		if err != nil {
			return err
		}
		_, err = tx.AgentByName(h.ctx(), "alice")
		checkNotFound(t, "AgentByName in an Update after Reset", err)
		_, err = tx.AgentByID(h.ctx(), bob.ID)
		checkNotFound(t, "AgentByID in an Update after Reset", err)
		return nil
	})

	// The store works as new, and IDs do not restart.
	again := h.addAgent("alice", "")
	if again.ID <= bob.ID {
		t.Errorf("agent after Reset: got ID %d, want > %d", again.ID, bob.ID)
	}
	m2 := h.send(again, "searchable again", again)
	if m2.ID <= held.ID {
		t.Errorf("message after Reset: got ID %d, want > %d", m2.ID, held.ID)
	}
	if got := h.messages(hub.HistoryQuery{Search: "searchable"}); len(got) != 1 || got[0].ID != m2.ID {
		t.Errorf("search after Reset and a new message: got %v, want [%d]", ids(got), m2.ID)
	}
	if in := h.inbox(hub.InboxQuery{AgentID: again.ID}); len(in) != 1 || in[0].Seq != 1 {
		t.Errorf("inbox of a new agent after Reset: got seqs %v, want [1]", seqs(in))
	}
}
