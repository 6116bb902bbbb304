package storetest

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

func testInsertMessage(t *testing.T, h *harness) {
	alice, bob := h.addAgent("alice", ""), h.addAgent("bob", "")
	full := hub.Message{
		From: alice.Name, FromID: alice.ID, To: []string{"bob", "role:review", "*"},
		Thread: "design", ReplyTo: 0, Subject: "plan", Body: "the body, with unicode: héllo 日本語 🎉",
		Importance: hub.ImportanceUrgent, AckRequired: true, CreatedAt: at(time.Minute),
		Attachments: []hub.Attachment{
			{Kind: "file", Path: "src/main.go", StartLine: 3, EndLine: 9, Content: "package main\n", SHA256: "abc"},
			{Kind: "data", Name: "cfg", MIME: "application/json", Content: `{"port":7400}`},
		},
		IdempotencyKey: "key-1",
	}
	full.Size = len(full.Body)

	var first, second, reply hub.Message
	h.update(func(tx hub.Tx) error {
		var err error
		if first, err = tx.InsertMessage(h.ctx(), full); err != nil {
			return err
		}
		// Without a thread, a message starts one named after its ID.
		if second, err = tx.InsertMessage(h.ctx(), newMessage(bob, "no thread", "alice")); err != nil {
			return err
		}
		r := newMessage(bob, "a reply", "alice")
		r.ReplyTo, r.Thread = second.ID, second.Thread
		reply, err = tx.InsertMessage(h.ctx(), r)
		return err
	})
	if first.ID <= 0 || second.ID <= first.ID || reply.ID <= second.ID {
		t.Fatalf("IDs: got %d, %d, %d, want positive and increasing", first.ID, second.ID, reply.ID)
	}
	want := full
	want.ID = first.ID
	checkMessage(t, "InsertMessage result", first, want)
	if got, want := second.Thread, strconv.FormatInt(second.ID, 10); got != want {
		t.Errorf("thread of a thread-less message: got %q, want %q (its ID)", got, want)
	}

	h.view(func(r hub.Reader) error {
		got, err := r.Message(h.ctx(), first.ID)
		if err != nil {
			t.Errorf("Message(%d): %v", first.ID, err)
			return nil
		}
		checkMessage(t, "Message", got, want)
		if got, err = r.Message(h.ctx(), second.ID); err != nil || got.Thread != second.Thread {
			t.Errorf("Message(%d): got thread %q, %v, want %q", second.ID, got.Thread, err, second.Thread)
		}
		if got, err = r.Message(h.ctx(), reply.ID); err != nil || got.ReplyTo != second.ID || got.Thread != second.Thread {
			t.Errorf("reply: got reply_to %d thread %q, %v, want %d %q", got.ReplyTo, got.Thread, err, second.ID, second.Thread)
		}
		_, err = r.Message(h.ctx(), reply.ID+100)
		checkNotFound(t, "Message of an unknown ID", err)
		return nil
	})

	// A large body survives intact.
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = 'a' + byte(i%26)
	}
	m := h.send(alice, string(big), bob)
	h.view(func(r hub.Reader) error {
		got, err := r.Message(h.ctx(), m.ID)
		if err != nil || got.Body != string(big) || got.Size != len(big) {
			t.Errorf("1 MiB body: got %d bytes (size %d), %v, want %d", len(got.Body), got.Size, err, len(big))
		}
		return nil
	})
}

func testMessageByKey(t *testing.T, h *harness) {
	alice, bob := h.addAgent("alice", ""), h.addAgent("bob", "")
	keyed := newMessage(alice, "once", "bob")
	keyed.IdempotencyKey = "retry-me"
	var m hub.Message
	h.update(func(tx hub.Tx) error {
		var err error
		m, err = tx.InsertMessage(h.ctx(), keyed)
		return err
	})
	h.send(alice, "no key", bob) // messages without a key never match
	h.view(func(r hub.Reader) error {
		got, err := r.MessageByKey(h.ctx(), alice.ID, "retry-me")
		if err != nil || got.ID != m.ID {
			t.Errorf("MessageByKey: got ID %d, %v, want %d", got.ID, err, m.ID)
		}
		_, err = r.MessageByKey(h.ctx(), bob.ID, "retry-me")
		checkNotFound(t, "another sender's key", err)
		_, err = r.MessageByKey(h.ctx(), alice.ID, "other")
		checkNotFound(t, "unknown key", err)
		return nil
	})
	// Another sender may use the same key.
	h.update(func(tx hub.Tx) error {
		k := newMessage(bob, "mine", "alice")
		k.IdempotencyKey = "retry-me"
		_, err := tx.InsertMessage(h.ctx(), k)
		return err
	})
	// The same sender may not: the service checks first, and the store
	// is the backstop.
	err := h.store.Update(h.ctx(), func(tx hub.Tx) error {
		_, err := tx.InsertMessage(h.ctx(), keyed)
		return err
	})
	if err == nil {
		t.Errorf("second message with the same sender and key: got no error")
	}
}

func testDeliverSequences(t *testing.T, h *harness) {
	alice, bob, carol := h.addAgent("alice", ""), h.addAgent("bob", ""), h.addAgent("carol", "")
	type delivery struct {
		to   hub.Agent
		want int64
	}
	var got []int64
	h.update(func(tx hub.Tx) error {
		for i, d := range []delivery{{bob, 1}, {bob, 2}, {carol, 1}, {bob, 3}, {carol, 2}} {
			m, err := tx.InsertMessage(h.ctx(), newMessage(alice, "m"+strconv.Itoa(i), d.to.Name))
			if err != nil {
				return err
			}
			seq, err := tx.Deliver(h.ctx(), m.ID, d.to.ID)
			if err != nil {
				return err
			}
			if seq != d.want {
				t.Errorf("delivery %d to %s: got seq %d, want %d", i, d.to.Name, seq, d.want)
			}
			got = append(got, seq)
		}
		return nil
	})
	if len(got) != 5 {
		t.Fatalf("got %d deliveries, want 5", len(got))
	}
	h.update(func(tx hub.Tx) error {
		a, err := tx.AgentByName(h.ctx(), "bob")
		if err == nil && a.LastSeq != 3 {
			t.Errorf("bob's LastSeq in a later Update: got %d, want 3", a.LastSeq)
		}
		return err
	})
	h.view(func(r hub.Reader) error {
		a, err := r.AgentByID(h.ctx(), bob.ID)
		if err != nil || a.LastSeq != 3 {
			t.Errorf("bob's LastSeq: got %d, %v, want 3", a.LastSeq, err)
		}
		return nil
	})
}

func testDeliverErrors(t *testing.T, h *harness) {
	alice, bob := h.addAgent("alice", ""), h.addAgent("bob", "")
	m := h.send(alice, "hi", bob)
	err := h.store.Update(h.ctx(), func(tx hub.Tx) error {
		_, err := tx.Deliver(h.ctx(), m.ID, 999)
		return err
	})
	checkNotFound(t, "Deliver to an unknown agent", err)
	// The failure did not move bob's sequence.
	h.update(func(tx hub.Tx) error {
		m2, err := tx.InsertMessage(h.ctx(), newMessage(alice, "again", "bob"))
		if err != nil {
			return err
		}
		seq, err := tx.Deliver(h.ctx(), m2.ID, bob.ID)
		if err == nil && seq != 2 {
			t.Errorf("delivery after failed ones: got seq %d, want 2", seq)
		}
		return err
	})
}

func testInbox(t *testing.T, h *harness) {
	alice, bob, carol := h.addAgent("alice", ""), h.addAgent("bob", ""), h.addAgent("carol", "")
	var sent []hub.Message
	for i := range 5 {
		sent = append(sent, h.send(alice, "body "+strconv.Itoa(i), bob))
	}
	h.send(alice, "for carol", carol)
	h.update(func(tx hub.Tx) error { return tx.MarkRead(h.ctx(), bob.ID, []int64{2, 4}, at(time.Hour)) })

	tests := []struct {
		name string
		q    hub.InboxQuery
		want []int64
	}{
		{"all", hub.InboxQuery{AgentID: bob.ID}, []int64{1, 2, 3, 4, 5}},
		{"after", hub.InboxQuery{AgentID: bob.ID, After: 3}, []int64{4, 5}},
		{"unread", hub.InboxQuery{AgentID: bob.ID, UnreadOnly: true}, []int64{1, 3, 5}},
		{"unread after", hub.InboxQuery{AgentID: bob.ID, After: 1, UnreadOnly: true}, []int64{3, 5}},
		{"limit", hub.InboxQuery{AgentID: bob.ID, Limit: 2}, []int64{1, 2}},
		{"unread limit", hub.InboxQuery{AgentID: bob.ID, UnreadOnly: true, Limit: 2}, []int64{1, 3}},
		{"after the end", hub.InboxQuery{AgentID: bob.ID, After: 5}, nil},
		{"other agent", hub.InboxQuery{AgentID: carol.ID}, []int64{1}},
		{"unknown agent", hub.InboxQuery{AgentID: 999}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := seqs(h.inbox(tt.q)); !slices.Equal(got, tt.want) {
				t.Errorf("Inbox(%+v): got seqs %v, want %v", tt.q, got, tt.want)
			}
		})
	}

	in := h.inbox(hub.InboxQuery{AgentID: bob.ID, Limit: 2})
	if len(in) != 2 {
		t.Fatalf("Inbox: got %d, want 2", len(in))
	}
	checkMessage(t, "Inbox message", in[0].Message, sent[0])
	if in[0].State != hub.DeliveryUnread || !in[0].ReadAt.IsZero() {
		t.Errorf("unread delivery: got state %q read_at %v, want unread and zero", in[0].State, in[0].ReadAt)
	}
	if in[1].State != hub.DeliveryRead || !in[1].ReadAt.Equal(at(time.Hour)) {
		t.Errorf("read delivery: got state %q read_at %v, want read at %v", in[1].State, in[1].ReadAt, at(time.Hour))
	}
}

func testMarkReadAndAck(t *testing.T, h *harness) {
	alice, bob, carol := h.addAgent("alice", ""), h.addAgent("bob", ""), h.addAgent("carol", "")
	var ms []hub.Message
	for i := range 4 {
		ms = append(ms, h.send(alice, "m"+strconv.Itoa(i), bob, carol))
	}
	unread := func(id int64) int {
		t.Helper()
		var n int
		h.view(func(r hub.Reader) error {
			var err error
			n, err = r.UnreadCount(h.ctx(), id)
			return err
		})
		return n
	}
	if got := unread(bob.ID); got != 4 {
		t.Errorf("UnreadCount before reading: got %d, want 4", got)
	}

	// Ack the second before reading: it is acked, not read, afterwards.
	h.update(func(tx hub.Tx) error { return tx.Ack(h.ctx(), bob.ID, ms[1].ID, at(time.Hour)) })
	// Unknown sequence numbers are ignored.
	h.update(func(tx hub.Tx) error { return tx.MarkRead(h.ctx(), bob.ID, []int64{1, 2, 3, 99}, at(2*time.Hour)) })
	h.update(func(tx hub.Tx) error { return tx.MarkRead(h.ctx(), bob.ID, nil, at(2*time.Hour)) })

	if got := unread(bob.ID); got != 1 {
		t.Errorf("bob's UnreadCount: got %d, want 1", got)
	}
	if got := unread(carol.ID); got != 4 {
		t.Errorf("carol's UnreadCount: got %d, want 4 (bob's reads are his own)", got)
	}
	h.view(func(r hub.Reader) error {
		counts, err := r.UnreadCounts(h.ctx())
		if err != nil {
			t.Errorf("UnreadCounts: %v", err)
			return nil
		}
		want := map[int64]int{bob.ID: 1, carol.ID: 4}
		if len(counts) != len(want) || counts[bob.ID] != 1 || counts[carol.ID] != 4 {
			t.Errorf("UnreadCounts: got %v, want %v", counts, want)
		}
		for i, wantState := range []string{hub.DeliveryRead, hub.DeliveryAcked, hub.DeliveryRead, hub.DeliveryUnread} {
			in, err := r.Received(h.ctx(), bob.ID, ms[i].ID)
			if err != nil {
				t.Errorf("Received(bob, %d): %v", ms[i].ID, err)
				continue
			}
			if in.State != wantState || in.Seq != int64(i+1) || in.ID != ms[i].ID {
				t.Errorf("Received(bob, %d): got state %q seq %d id %d, want %q %d %d", ms[i].ID, in.State, in.Seq, in.ID, wantState, i+1, ms[i].ID)
			}
		}
		in, _ := r.Received(h.ctx(), bob.ID, ms[0].ID)
		if !in.ReadAt.Equal(at(2 * time.Hour)) {
			t.Errorf("read_at: got %v, want %v", in.ReadAt, at(2*time.Hour))
		}
		_, err = r.Received(h.ctx(), alice.ID, ms[0].ID)
		checkNotFound(t, "Received by the sender", err)
		return nil
	})

	err := h.store.Update(h.ctx(), func(tx hub.Tx) error { return tx.Ack(h.ctx(), alice.ID, ms[0].ID, at(0)) })
	checkNotFound(t, "Ack of a message not delivered to the agent", err)
}

func testMarkUnread(t *testing.T, h *harness) {
	alice, bob := h.addAgent("alice", ""), h.addAgent("bob", "")
	var ms []hub.Message
	for i := range 3 {
		ms = append(ms, h.send(alice, "m"+strconv.Itoa(i), bob))
	}
	h.update(func(tx hub.Tx) error { return tx.MarkRead(h.ctx(), bob.ID, []int64{1, 2}, at(time.Hour)) })
	h.update(func(tx hub.Tx) error { return tx.Ack(h.ctx(), bob.ID, ms[1].ID, at(2*time.Hour)) })
	// 1 is read, 2 acked, 3 unread: only the read one changes; unknown
	// numbers are ignored, and so is an empty list.
	h.update(func(tx hub.Tx) error { return tx.MarkUnread(h.ctx(), bob.ID, []int64{1, 2, 3, 99}) })
	h.update(func(tx hub.Tx) error { return tx.MarkUnread(h.ctx(), bob.ID, nil) })
	h.view(func(r hub.Reader) error {
		n, err := r.UnreadCount(h.ctx(), bob.ID)
		if err != nil || n != 2 {
			t.Errorf("UnreadCount after MarkUnread: got %d, %v; want 2", n, err)
		}
		for i, want := range []string{hub.DeliveryUnread, hub.DeliveryAcked, hub.DeliveryUnread} {
			in, err := r.Received(h.ctx(), bob.ID, ms[i].ID)
			if err != nil {
				t.Errorf("Received(bob, %d): %v", ms[i].ID, err)
				continue
			}
			if in.State != want {
				t.Errorf("message %d: state %q, want %q", i, in.State, want)
			}
			if in.State == hub.DeliveryUnread && !in.ReadAt.IsZero() {
				t.Errorf("message %d is unread again but keeps read_at %v", i, in.ReadAt)
			}
		}
		unread, err := r.Inbox(h.ctx(), hub.InboxQuery{AgentID: bob.ID, UnreadOnly: true})
		if err != nil || len(unread) != 2 || unread[0].Seq != 1 || unread[1].Seq != 3 {
			t.Errorf("unread inbox after MarkUnread: got %v, %v; want seqs 1 and 3", unread, err)
		}
		return nil
	})
	// Read again, the count goes down as before.
	h.update(func(tx hub.Tx) error { return tx.MarkRead(h.ctx(), bob.ID, []int64{1}, at(3*time.Hour)) })
	h.view(func(r hub.Reader) error {
		if n, err := r.UnreadCount(h.ctx(), bob.ID); err != nil || n != 1 {
			t.Errorf("UnreadCount after reading again: got %d, %v; want 1", n, err)
		}
		return nil
	})
}

func testDeliverRead(t *testing.T, h *harness) {
	alice, bob := h.addAgent("alice", ""), h.addAgent("bob", "")
	first := h.send(alice, "unread", bob)
	var second hub.Message
	h.update(func(tx hub.Tx) error {
		var err error
		if second, err = tx.InsertMessage(h.ctx(), hub.Message{From: alice.Name, FromID: alice.ID, To: []string{bob.Name}, Body: "read", CreatedAt: at(0)}); err != nil {
			return err
		}
		seq, err := tx.DeliverRead(h.ctx(), second.ID, bob.ID, at(time.Hour))
		if err != nil || seq != 2 {
			t.Errorf("DeliverRead: seq %d, err %v; want 2, nil", seq, err)
		}
		return err
	})
	h.view(func(r hub.Reader) error {
		if n, err := r.UnreadCount(h.ctx(), bob.ID); err != nil || n != 1 {
			t.Errorf("UnreadCount: %d, %v; want 1 (the read delivery does not count)", n, err)
		}
		in, err := r.Received(h.ctx(), bob.ID, second.ID)
		if err != nil || in.State != hub.DeliveryRead || in.Seq != 2 || !in.ReadAt.Equal(at(time.Hour)) {
			t.Errorf("Received: %+v, %v; want read at %v, seq 2", in, err, at(time.Hour))
		}
		unread, err := r.Inbox(h.ctx(), hub.InboxQuery{AgentID: bob.ID, UnreadOnly: true})
		if err != nil || len(unread) != 1 || unread[0].ID != first.ID {
			t.Errorf("unread inbox: %v, %v; want only the first message", unread, err)
		}
		return nil
	})
	// The next delivery takes the next number; a read delivery can be
	// made unread again like any other.
	third := h.send(alice, "next", bob)
	h.update(func(tx hub.Tx) error { return tx.MarkUnread(h.ctx(), bob.ID, []int64{2}) })
	h.view(func(r hub.Reader) error {
		in, err := r.Received(h.ctx(), bob.ID, third.ID)
		if err != nil || in.Seq != 3 {
			t.Errorf("delivery after DeliverRead: seq %d, %v; want 3", in.Seq, err)
		}
		if n, err := r.UnreadCount(h.ctx(), bob.ID); err != nil || n != 3 {
			t.Errorf("UnreadCount after MarkUnread: %d, %v; want 3", n, err)
		}
		return nil
	})

	for _, tt := range []struct {
		name         string
		msg, agentID int64
		at           time.Time
		notFound     bool
	}{
		{"unknown agent", first.ID, 999, at(0), true},
		{"unknown message", 999, bob.ID, at(0), true},
		{"no read time", first.ID, alice.ID, time.Time{}, false},
	} {
		err := h.store.Update(h.ctx(), func(tx hub.Tx) error {
			_, err := tx.DeliverRead(h.ctx(), tt.msg, tt.agentID, tt.at)
			return err
		})
		if err == nil {
			t.Errorf("%s: no error", tt.name)
		} else if tt.notFound {
			checkNotFound(t, tt.name, err)
		}
	}
}

func testDeliveries(t *testing.T, h *harness) {
	alice, bob, carol := h.addAgent("alice", ""), h.addAgent("bob", ""), h.addAgent("carol", "")
	h.send(alice, "warm-up", carol) // carol's seq for the next one is 2
	m := h.send(alice, "to three", bob, carol)
	h.update(func(tx hub.Tx) error {
		if err := tx.Hold(h.ctx(), m.ID, "dave", at(time.Hour)); err != nil {
			return err
		}
		return tx.Ack(h.ctx(), carol.ID, m.ID, at(time.Minute))
	})
	var got []hub.DeliveryStatus
	h.view(func(r hub.Reader) error {
		var err error
		got, err = r.Deliveries(h.ctx(), m.ID)
		return err
	})
	byName := map[string]hub.DeliveryStatus{}
	for _, d := range got {
		byName[d.To] = d
	}
	if len(got) != 3 || len(byName) != 3 {
		t.Fatalf("Deliveries: got %+v, want bob, carol and dave", got)
	}
	if d := byName["bob"]; d.State != hub.DeliveryUnread || d.Seq != 1 || !d.AckedAt.IsZero() {
		t.Errorf("bob: got %+v, want unread, seq 1", d)
	}
	if d := byName["carol"]; d.State != hub.DeliveryAcked || d.Seq != 2 || !d.AckedAt.Equal(at(time.Minute)) {
		t.Errorf("carol: got %+v, want acked, seq 2, acked at %v", d, at(time.Minute))
	}
	if d := byName["dave"]; d.State != hub.DeliveryHeld {
		t.Errorf("dave: got %+v, want held", d)
	}
}

func testHeldMail(t *testing.T, h *harness) {
	alice := h.addAgent("alice", "")
	var ms []hub.Message
	for i := range 4 {
		ms = append(ms, h.send(alice, "for dave "+strconv.Itoa(i)))
	}
	h.update(func(tx hub.Tx) error {
		// Held in an order other than the messages', with one expired at
		// the time of taking and one for someone else.
		for _, x := range []struct {
			m       hub.Message
			name    string
			expires time.Time
		}{
			{ms[2], "dave", at(time.Hour)},
			{ms[0], "dave", at(time.Hour)},
			{ms[1], "dave", at(time.Minute)},
			{ms[3], "erin", at(time.Hour)},
		} {
			if err := tx.Hold(h.ctx(), x.m.ID, x.name, x.expires); err != nil {
				return err
			}
		}
		return nil
	})
	var got []int64
	h.update(func(tx hub.Tx) error {
		var err error
		got, err = tx.TakeHeld(h.ctx(), "dave", at(time.Minute))
		return err
	})
	if want := []int64{ms[0].ID, ms[2].ID}; !slices.Equal(got, want) {
		t.Errorf("TakeHeld(dave): got %v, want %v (unexpired, oldest first)", got, want)
	}
	h.update(func(tx hub.Tx) error {
		again, err := tx.TakeHeld(h.ctx(), "dave", at(0))
		if len(again) != 0 {
			t.Errorf("second TakeHeld(dave): got %v, want nothing", again)
		}
		return err
	})

	// Expire drops held mail past its expiry.
	h.update(func(tx hub.Tx) error { return tx.Expire(h.ctx(), at(2*time.Hour), 1000) })
	h.update(func(tx hub.Tx) error {
		left, err := tx.TakeHeld(h.ctx(), "erin", at(0))
		if len(left) != 0 {
			t.Errorf("TakeHeld(erin) after Expire: got %v, want nothing", left)
		}
		return err
	})
}
