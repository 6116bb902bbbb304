package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

func testAgentRoundTrip(t *testing.T, h *harness) {
	want := newAgent("alice", "backend")
	got := h.addAgent(want.Name, want.Role)
	if got.ID <= 0 {
		t.Fatalf("InsertAgent: got ID %d, want > 0", got.ID)
	}
	want.ID = got.ID
	checkAgent(t, "InsertAgent result", got, want)

	bob := h.addAgent("bob", "")
	if bob.ID <= got.ID {
		t.Errorf("second agent: got ID %d, want > %d", bob.ID, got.ID)
	}
	h.view(func(r hub.Reader) error {
		a, err := r.AgentByID(h.ctx(), got.ID)
		if err != nil {
			return err
		}
		checkAgent(t, "AgentByID", a, want)
		if a, err = r.AgentByName(h.ctx(), "alice"); err != nil {
			return err
		}
		checkAgent(t, "AgentByName", a, want)
		return nil
	})

	// An agent without capabilities keeps an empty list.
	h.update(func(tx hub.Tx) error {
		a := newAgent("carol", "")
		a.Capabilities = []string{}
		a, err := tx.InsertAgent(h.ctx(), a)
		if err != nil {
			return err
		}
		got, err := tx.AgentByID(h.ctx(), a.ID)
		if err != nil {
			return err
		}
		if len(got.Capabilities) != 0 {
			t.Errorf("capabilities: got %q, want none", got.Capabilities)
		}
		return nil
	})
}

func testAgentNotFound(t *testing.T, h *harness) {
	h.addAgent("alice", "")
	h.view(func(r hub.Reader) error {
		_, err := r.AgentByID(h.ctx(), 999)
		checkNotFound(t, "AgentByID(999)", err)
		_, err = r.AgentByName(h.ctx(), "nobody")
		checkNotFound(t, "AgentByName(nobody)", err)
		return nil
	})
}

func testAgentNameTaken(t *testing.T, h *harness) {
	h.addAgent("alice", "")
	err := h.store.Update(h.ctx(), func(tx hub.Tx) error {
		_, err := tx.InsertAgent(h.ctx(), newAgent("alice", "other"))
		return err
	})
	errorsIs(t, "second InsertAgent(alice)", err, hub.ErrNameTaken)
}

func testUpdateAgent(t *testing.T, h *harness) {
	a := h.addAgent("alice", "backend")
	h.addAgent("bob", "")
	changed := hub.Agent{
		ID: a.ID, Name: "alicia", Role: "frontend", Capabilities: []string{"ts"},
		Description: "renamed", Project: "web", Client: "codex", Host: "other",
		PID: 7, StatusText: "reviewing PR 12", State: hub.StateBusy,
		RegisteredAt: at(time.Hour), LastSeen: at(2 * time.Hour),
	}
	h.update(func(tx hub.Tx) error {
		// Read it first, as the service does, so that a store that
		// caches reads in its writer has something to keep current.
		if _, err := tx.AgentByName(h.ctx(), "alice"); err != nil {
			return err
		}
		return tx.UpdateAgent(h.ctx(), changed)
	})
	h.update(func(tx hub.Tx) error {
		_, err := tx.AgentByName(h.ctx(), "alice")
		checkNotFound(t, "old name in a later Update", err)
		got, err := tx.AgentByName(h.ctx(), "alicia")
		if err != nil {
			return err
		}
		checkAgent(t, "new name in a later Update", got, changed)
		if got, err = tx.AgentByID(h.ctx(), a.ID); err != nil {
			return err
		}
		checkAgent(t, "AgentByID in a later Update", got, changed)
		return nil
	})
	h.view(func(r hub.Reader) error {
		got, err := r.AgentByID(h.ctx(), a.ID)
		if err != nil {
			return err
		}
		checkAgent(t, "after UpdateAgent", got, changed)
		_, err = r.AgentByName(h.ctx(), "alice")
		checkNotFound(t, "old name", err)
		return nil
	})

	taken := changed
	taken.Name = "bob"
	err := h.store.Update(h.ctx(), func(tx hub.Tx) error { return tx.UpdateAgent(h.ctx(), taken) })
	errorsIs(t, "rename to a taken name", err, hub.ErrNameTaken)

	missing := changed
	missing.ID, missing.Name = 999, "ghost"
	err = h.store.Update(h.ctx(), func(tx hub.Tx) error { return tx.UpdateAgent(h.ctx(), missing) })
	checkNotFound(t, "UpdateAgent of a missing agent", err)
}

// testUpdateAgentStaleSeq checks that writing back an agent read before
// a delivery does not wind its sequence back: the sequence belongs to
// Deliver, and a reused sequence number would clash with a delivery.
func testUpdateAgentStaleSeq(t *testing.T, h *harness) {
	alice, bob := h.addAgent("alice", ""), h.addAgent("bob", "")
	h.send(alice, "one", bob)
	h.update(func(tx hub.Tx) error {
		stale, err := tx.AgentByID(h.ctx(), bob.ID)
		if err != nil {
			return err
		}
		m, err := tx.InsertMessage(h.ctx(), newMessage(alice, "two", "bob"))
		if err != nil {
			return err
		}
		if _, err := tx.Deliver(h.ctx(), m.ID, bob.ID); err != nil {
			return err
		}
		stale.StatusText = "changed"
		return tx.UpdateAgent(h.ctx(), stale)
	})
	var seq int64
	h.update(func(tx hub.Tx) error {
		m, err := tx.InsertMessage(h.ctx(), newMessage(alice, "three", "bob"))
		if err != nil {
			return err
		}
		seq, err = tx.Deliver(h.ctx(), m.ID, bob.ID)
		return err
	})
	if seq != 3 {
		t.Errorf("third delivery after a stale UpdateAgent: got seq %d, want 3", seq)
	}
}

func testAgents(t *testing.T, h *harness) {
	for _, a := range []struct{ name, role string }{
		{"dave", "backend"}, {"alice", "backend"}, {"carol", "frontend"}, {"bob", ""},
	} {
		h.addAgent(a.name, a.role)
	}
	tests := []struct {
		role string
		want []string
	}{
		{"", []string{"alice", "bob", "carol", "dave"}},
		{"backend", []string{"alice", "dave"}},
		{"frontend", []string{"carol"}},
		{"nobody", nil},
	}
	for _, tt := range tests {
		h.view(func(r hub.Reader) error {
			agents, err := r.Agents(h.ctx(), tt.role)
			if err != nil {
				return err
			}
			var got []string
			for _, a := range agents {
				got = append(got, a.Name)
			}
			if !equalStrings(got, tt.want) {
				t.Errorf("Agents(%q): got %q, want %q", tt.role, got, tt.want)
			}
			return nil
		})
	}
}

func testDeleteAgent(t *testing.T, h *harness) {
	alice, bob := h.addAgent("alice", ""), h.addAgent("bob", "")
	hash := []byte("bob's token hash")
	h.update(func(tx hub.Tx) error {
		if err := tx.PutCredential(h.ctx(), hub.Credential{AgentID: bob.ID, TokenHash: hash}); err != nil {
			return err
		}
		return tx.PutForward(h.ctx(), hub.Forward{From: "robert", AgentID: bob.ID, To: "bob", ExpiresAt: at(time.Hour)})
	})
	m := h.send(alice, "hello", bob)
	h.update(func(tx hub.Tx) error { return tx.DeleteAgent(h.ctx(), bob.ID) })

	h.view(func(r hub.Reader) error {
		_, err := r.AgentByID(h.ctx(), bob.ID)
		checkNotFound(t, "AgentByID after delete", err)
		_, err = r.Credential(h.ctx(), hash)
		checkNotFound(t, "Credential after delete", err)
		_, err = r.Forward(h.ctx(), "robert", at(0))
		checkNotFound(t, "Forward to a deleted agent", err)
		_, err = r.Received(h.ctx(), bob.ID, m.ID)
		checkNotFound(t, "Received after delete", err)
		n, err := r.UnreadCount(h.ctx(), bob.ID)
		if err != nil || n != 0 {
			t.Errorf("UnreadCount after delete: got %d, %v, want 0, nil", n, err)
		}
		// The message stays: it is the sender's history too.
		if _, err := r.Message(h.ctx(), m.ID); err != nil {
			t.Errorf("Message after deleting its recipient: %v", err)
		}
		return nil
	})

	h.update(func(tx hub.Tx) error {
		_, err := tx.AgentByID(h.ctx(), bob.ID)
		checkNotFound(t, "AgentByID in an Update after delete", err)
		_, err = tx.AgentByName(h.ctx(), "bob")
		checkNotFound(t, "AgentByName in an Update after delete", err)
		return nil
	})

	// The name is free again, and the new agent does not inherit the old
	// one's ID.
	again := h.addAgent("bob", "")
	if again.ID <= bob.ID {
		t.Errorf("re-registered bob: got ID %d, want > %d (IDs are never reused)", again.ID, bob.ID)
	}
	err := h.store.Update(h.ctx(), func(tx hub.Tx) error { return tx.DeleteAgent(h.ctx(), 999) })
	checkNotFound(t, "DeleteAgent(999)", err)
}

func testCredentials(t *testing.T, h *harness) {
	alice, bob := h.addAgent("alice", ""), h.addAgent("bob", "")
	creds := []hub.Credential{
		{AgentID: alice.ID, TokenHash: []byte{0, 1, 2, 3}},
		{AgentID: alice.ID, TokenHash: []byte{4, 5, 6}, Open: true, ExpiresAt: at(time.Hour)},
		{AgentID: bob.ID, TokenHash: []byte{7, 8, 9}},
	}
	h.update(func(tx hub.Tx) error {
		for _, c := range creds {
			if err := tx.PutCredential(h.ctx(), c); err != nil {
				return err
			}
		}
		return nil
	})
	h.view(func(r hub.Reader) error {
		for _, want := range creds {
			got, err := r.Credential(h.ctx(), want.TokenHash)
			if err != nil {
				t.Errorf("Credential(%x): %v", want.TokenHash, err)
				continue
			}
			if got.AgentID != want.AgentID || !bytes.Equal(got.TokenHash, want.TokenHash) ||
				got.Open != want.Open || !got.ExpiresAt.Equal(want.ExpiresAt) {
				t.Errorf("Credential(%x): got %+v, want %+v", want.TokenHash, got, want)
			}
		}
		_, err := r.Credential(h.ctx(), []byte("unknown"))
		checkNotFound(t, "Credential(unknown)", err)
		return nil
	})

	h.update(func(tx hub.Tx) error { return tx.DeleteCredentials(h.ctx(), alice.ID) })
	h.view(func(r hub.Reader) error {
		for _, c := range creds[:2] {
			_, err := r.Credential(h.ctx(), c.TokenHash)
			checkNotFound(t, "alice's credential after DeleteCredentials", err)
		}
		if _, err := r.Credential(h.ctx(), creds[2].TokenHash); err != nil {
			t.Errorf("bob's credential after deleting alice's: %v", err)
		}
		return nil
	})
}

func testForwards(t *testing.T, h *harness) {
	alice, bob := h.addAgent("alice", ""), h.addAgent("bob", "")
	fwd := hub.Forward{From: "al", AgentID: alice.ID, To: "alice", ExpiresAt: at(time.Hour)}
	h.update(func(tx hub.Tx) error { return tx.PutForward(h.ctx(), fwd) })

	tests := []struct {
		name  string
		now   time.Time
		found bool
	}{
		{"before expiry", at(time.Hour - time.Nanosecond), true},
		{"at expiry", at(time.Hour), false},
		{"after expiry", at(2 * time.Hour), false},
	}
	for _, tt := range tests {
		h.view(func(r hub.Reader) error {
			got, err := r.Forward(h.ctx(), "al", tt.now)
			if !tt.found {
				checkNotFound(t, "Forward "+tt.name, err)
				return nil
			}
			if err != nil {
				t.Errorf("Forward %s: %v", tt.name, err)
				return nil
			}
			if got.From != fwd.From || got.AgentID != fwd.AgentID || got.To != fwd.To || !got.ExpiresAt.Equal(fwd.ExpiresAt) {
				t.Errorf("Forward %s: got %+v, want %+v", tt.name, got, fwd)
			}
			return nil
		})
	}

	// A forward from the same name replaces the old one.
	moved := hub.Forward{From: "al", AgentID: bob.ID, To: "bob", ExpiresAt: at(3 * time.Hour)}
	h.update(func(tx hub.Tx) error { return tx.PutForward(h.ctx(), moved) })
	h.view(func(r hub.Reader) error {
		got, err := r.Forward(h.ctx(), "al", at(2*time.Hour))
		if err != nil || got.AgentID != bob.ID || got.To != "bob" {
			t.Errorf("replaced forward: got %+v, %v, want %+v", got, err, moved)
		}
		return nil
	})

	h.update(func(tx hub.Tx) error { return tx.DeleteForward(h.ctx(), "al") })
	h.view(func(r hub.Reader) error {
		_, err := r.Forward(h.ctx(), "al", at(0))
		checkNotFound(t, "Forward after DeleteForward", err)
		return nil
	})
	// Deleting what is not there is not an error: Rename clears the way.
	h.update(func(tx hub.Tx) error { return tx.DeleteForward(h.ctx(), "never") })

	// Expire removes forwards past their expiry, and only those.
	h.update(func(tx hub.Tx) error {
		if err := tx.PutForward(h.ctx(), hub.Forward{From: "old", AgentID: alice.ID, To: "alice", ExpiresAt: at(time.Minute)}); err != nil {
			return err
		}
		if err := tx.PutForward(h.ctx(), hub.Forward{From: "new", AgentID: alice.ID, To: "alice", ExpiresAt: at(time.Hour)}); err != nil {
			return err
		}
		return tx.Expire(h.ctx(), at(time.Minute), 1000)
	})
	h.view(func(r hub.Reader) error {
		// Read at a time before both expiries: only Expire can explain
		// a missing forward.
		_, err := r.Forward(h.ctx(), "old", at(0))
		checkNotFound(t, "expired forward after Expire", err)
		if _, err := r.Forward(h.ctx(), "new", at(0)); err != nil {
			t.Errorf("live forward after Expire: %v", err)
		}
		return nil
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
