package storetest

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// expireMessages runs ExpireMessages in its own Update.
func (h *harness) expireMessages(before time.Time, after int64, limit int) (next int64, removed int) {
	h.tb.Helper()
	h.update(func(tx hub.Tx) error {
		var err error
		next, removed, err = tx.ExpireMessages(h.ctx(), before, after, limit)
		return err
	})
	return next, removed
}

func testExpireMessages(t *testing.T, h *harness) {
	alice, bob, carol := h.addAgent("alice", ""), h.addAgent("bob", ""), h.addAgent("carol", "")
	// send stores a message created at created, delivered to each of to,
	// and moves bob's delivery to bobState.
	send := func(created time.Duration, body string, ackRequired bool, bobState string, to ...hub.Agent) hub.Message {
		t.Helper()
		var m hub.Message
		h.update(func(tx hub.Tx) error {
			msg := newMessage(alice, body)
			msg.CreatedAt, msg.AckRequired = at(created), ackRequired
			var err error
			if m, err = tx.InsertMessage(h.ctx(), msg); err != nil {
				return err
			}
			for _, a := range to {
				seq, err := tx.Deliver(h.ctx(), m.ID, a.ID)
				if err != nil {
					return err
				}
				if a.ID != bob.ID || bobState == hub.DeliveryUnread {
					continue
				}
				if err := tx.MarkRead(h.ctx(), bob.ID, []int64{seq}, at(created)); err != nil {
					return err
				}
				if bobState == hub.DeliveryAcked {
					if err := tx.Ack(h.ctx(), bob.ID, m.ID, at(created)); err != nil {
						return err
					}
				}
			}
			return nil
		})
		return m
	}
	read := send(1*time.Minute, "read by bob", false, hub.DeliveryRead, bob)
	halfRead := send(2*time.Minute, "read by bob, not by carol", false, hub.DeliveryRead, bob, carol)
	unacked := send(3*time.Minute, "asks for an ack, only read", true, hub.DeliveryRead, bob)
	acked := send(4*time.Minute, "asks for an ack, acked", true, hub.DeliveryAcked, bob)
	held := send(5*time.Minute, "held for dave", false, "")
	h.update(func(tx hub.Tx) error { return tx.Hold(h.ctx(), held.ID, "dave", at(48*time.Hour)) })
	searchable := send(6*time.Minute, "the zebra report", false, hub.DeliveryRead, bob)
	young := send(2*time.Hour, "too young to go", false, hub.DeliveryRead, bob)
	afterYoung := send(7*time.Minute, "old, but stored after a young one", false, hub.DeliveryRead, bob)
	if got := ids(h.messages(hub.HistoryQuery{Search: "zebra"})); !slices.Equal(got, []int64{searchable.ID}) {
		t.Fatalf("search zebra before expiry: got %v, want [%d]", got, searchable.ID)
	}
	unread := h.unreadCounts()

	before := at(time.Hour)
	// A pass that ends on its limit goes on after the last message it
	// looked at.
	next, removed := h.expireMessages(before, 0, 2)
	if next != halfRead.ID || removed != 1 {
		t.Errorf("ExpireMessages(limit 2): got next %d, removed %d, want %d, 1", next, removed, halfRead.ID)
	}
	// One that reaches a message too young stops there and starts over.
	next, removed = h.expireMessages(before, next, 100)
	if next != 0 || removed != 2 {
		t.Errorf("ExpireMessages(after %d): got next %d, removed %d, want 0, 2", halfRead.ID, next, removed)
	}
	gone := []hub.Message{read, acked, searchable}
	kept := []hub.Message{halfRead, unacked, held, young, afterYoung}
	h.checkExpired(gone, kept)
	if got := ids(h.messages(hub.HistoryQuery{Search: "zebra"})); len(got) != 0 {
		t.Errorf("search zebra after expiry: got %v, want nothing", got)
	}
	if got := ids(h.messages(hub.HistoryQuery{Search: "ack"})); !slices.Equal(got, []int64{unacked.ID}) {
		t.Errorf("search ack after expiry: got %v, want [%d]", got, unacked.ID)
	}
	if got := h.unreadCounts(); !maps.Equal(got, unread) {
		t.Errorf("unread counts: got %v, want %v, unchanged", got, unread)
	}

	// Nothing more goes until a recipient is done with a message.
	if next, removed = h.expireMessages(before, 0, 100); next != 0 || removed != 0 {
		t.Errorf("ExpireMessages again: got next %d, removed %d, want 0, 0", next, removed)
	}
	h.update(func(tx hub.Tx) error {
		in, err := tx.Inbox(h.ctx(), hub.InboxQuery{AgentID: carol.ID, UnreadOnly: true})
		if err != nil || len(in) != 1 || in[0].ID != halfRead.ID {
			t.Errorf("carol's inbox: got %v, %v, want message %d", in, err, halfRead.ID)
			return err
		}
		return tx.MarkRead(h.ctx(), carol.ID, []int64{in[0].Seq}, at(time.Hour))
	})
	if next, removed = h.expireMessages(before, 0, 100); next != 0 || removed != 1 {
		t.Errorf("ExpireMessages once carol has read: got next %d, removed %d, want 0, 1", next, removed)
	}
	h.checkExpired([]hub.Message{halfRead}, []hub.Message{unacked, held, young, afterYoung})

	// A pass that runs out of messages starts over too.
	if next, removed = h.expireMessages(at(72*time.Hour), 0, 100); next != 0 || removed != 2 {
		t.Errorf("ExpireMessages of everything: got next %d, removed %d, want 0, 2 (young, afterYoung)", next, removed)
	}
	h.checkExpired([]hub.Message{young, afterYoung}, []hub.Message{unacked, held})
}

// checkExpired checks that the messages of gone, and bob's deliveries of
// them, are no longer stored, and that those of kept are.
func (h *harness) checkExpired(gone, kept []hub.Message) {
	h.tb.Helper()
	h.view(func(r hub.Reader) error {
		for _, m := range gone {
			_, err := r.Message(h.ctx(), m.ID)
			checkNotFound(h.tb, "Message of an expired message", err)
			if ds, err := r.Deliveries(h.ctx(), m.ID); err != nil || len(ds) != 0 {
				h.tb.Errorf("Deliveries(%d) of an expired message: got %v, %v, want none", m.ID, ds, err)
			}
		}
		for _, m := range kept {
			if _, err := r.Message(h.ctx(), m.ID); err != nil {
				h.tb.Errorf("Message(%d) %q: %v, want it kept", m.ID, m.Body, err)
			}
		}
		return nil
	})
}

func (h *harness) unreadCounts() map[int64]int {
	h.tb.Helper()
	var counts map[int64]int
	h.view(func(r hub.Reader) error {
		var err error
		counts, err = r.UnreadCounts(h.ctx())
		return err
	})
	return counts
}
