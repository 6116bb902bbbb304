package storetest

import (
	"slices"
	"strings"
	"testing"

	"github.com/parley-dev/parley/internal/hub"
)

// sendIn inserts a message from an agent in a thread ("" for a new one)
// and delivers it to each of to, in one Update, and returns it.
func (h *harness) sendIn(thread string, from hub.Agent, body string, to ...hub.Agent) hub.Message {
	h.tb.Helper()
	names := make([]string, len(to))
	for i, a := range to {
		names[i] = a.Name
	}
	var m hub.Message
	h.update(func(tx hub.Tx) error {
		msg := newMessage(from, body, names...)
		msg.Thread = thread
		var err error
		if m, err = tx.InsertMessage(h.ctx(), msg); err != nil {
			return err
		}
		for _, a := range to {
			if _, err := tx.Deliver(h.ctx(), m.ID, a.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return m
}

func testHistoryThread(t *testing.T, h *harness) {
	alice, bob := h.addAgent("alice", ""), h.addAgent("bob", "")
	a1 := h.sendIn("t1", alice, "one", bob)
	h.sendIn("t2", bob, "other thread", alice)
	a2 := h.sendIn("t1", bob, "two", alice)
	a3 := h.sendIn("t1", alice, "three", bob)

	got := h.messages(hub.HistoryQuery{Thread: "t1"})
	if want := []int64{a3.ID, a2.ID, a1.ID}; !slices.Equal(ids(got), want) {
		t.Errorf("thread t1: got %v, want %v (newest first)", ids(got), want)
	}
	if len(got) == 3 {
		checkMessage(t, "thread message", got[2], a1)
	}
	if got := h.messages(hub.HistoryQuery{Thread: "none"}); len(got) != 0 {
		t.Errorf("unknown thread: got %v, want nothing", ids(got))
	}
}

func testHistoryConversation(t *testing.T, h *harness) {
	alice, bob, carol := h.addAgent("alice", ""), h.addAgent("bob", ""), h.addAgent("carol", "")
	m1 := h.send(alice, "a to b", bob)
	m2 := h.send(bob, "b to a", alice)
	m3 := h.send(alice, "a to c", carol)
	h.send(carol, "c to b", bob)
	m5 := h.send(alice, "a to b and c", bob, carol)
	h.send(bob, "b to nobody")

	tests := []struct {
		name       string
		self, peer hub.Agent
		want       []int64
	}{
		{"alice with bob", alice, bob, []int64{m5.ID, m2.ID, m1.ID}},
		{"bob with alice", bob, alice, []int64{m5.ID, m2.ID, m1.ID}},
		{"alice with carol", alice, carol, []int64{m5.ID, m3.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.messages(hub.HistoryQuery{SelfID: tt.self.ID, PeerID: tt.peer.ID, ViewerID: tt.self.ID})
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("conversation: got %v, want %v", ids(got), tt.want)
			}
		})
	}
}

func testHistoryViewerAndPaging(t *testing.T, h *harness) {
	alice, bob, carol := h.addAgent("alice", ""), h.addAgent("bob", ""), h.addAgent("carol", "")
	var all, carols []int64
	for i := range 10 {
		var m hub.Message
		switch i % 3 {
		case 0:
			m = h.sendIn("t", alice, "x", bob)
		case 1:
			m = h.sendIn("t", alice, "x", carol)
			carols = append(carols, m.ID)
		case 2:
			m = h.sendIn("t", carol, "x", bob)
			carols = append(carols, m.ID)
		}
		all = append(all, m.ID)
	}
	slices.Reverse(all)
	slices.Reverse(carols)

	tests := []struct {
		name string
		q    hub.HistoryQuery
		want []int64
	}{
		{"admin sees all", hub.HistoryQuery{Thread: "t"}, all},
		{"viewer sees own", hub.HistoryQuery{Thread: "t", ViewerID: carol.ID}, carols},
		{"first page", hub.HistoryQuery{Thread: "t", Limit: 4}, all[:4]},
		{"second page", hub.HistoryQuery{Thread: "t", Before: all[3], Limit: 4}, all[4:8]},
		{"last page", hub.HistoryQuery{Thread: "t", Before: all[7], Limit: 4}, all[8:]},
		{"viewer page", hub.HistoryQuery{Thread: "t", ViewerID: carol.ID, Before: carols[1], Limit: 2}, carols[2:4]},
		{"all messages", hub.HistoryQuery{}, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.messages(tt.q); !slices.Equal(ids(got), tt.want) {
				t.Errorf("Messages(%+v): got %v, want %v", tt.q, ids(got), tt.want)
			}
		})
	}
}

func testSearch(t *testing.T, h *harness) {
	alice, bob, carol := h.addAgent("alice", ""), h.addAgent("bob", ""), h.addAgent("carol", "")
	subj := func(subject, body string, to hub.Agent) hub.Message {
		var m hub.Message
		h.update(func(tx hub.Tx) error {
			msg := newMessage(alice, body, to.Name)
			msg.Subject = subject
			var err error
			if m, err = tx.InsertMessage(h.ctx(), msg); err != nil {
				return err
			}
			_, err = tx.Deliver(h.ctx(), m.ID, to.ID)
			return err
		})
		return m
	}
	backend := subj("release", "deploy the backend", bob)
	failed := subj("", "the frontend build failed", carol)
	tonight := subj("", "Deploy frontend tonight", bob)
	inSubject := subj("deploy", "nothing to see", carol)
	rock := subj("", "rock and roll", bob)
	japanese := subj("", "こんにちは 日本語 です", bob)

	tests := []struct {
		name   string
		search string
		viewer int64
		want   []int64
	}{
		{"one word in body or subject", "deploy", 0, []int64{inSubject.ID, tonight.ID, backend.ID}},
		{"case folds", "DEPLOY", 0, []int64{inSubject.ID, tonight.ID, backend.ID}},
		{"all words", "deploy frontend", 0, []int64{tonight.ID}},
		{"words in any order", "frontend deploy", 0, []int64{tonight.ID}},
		{"words span subject and body", "release backend", 0, []int64{backend.ID}},
		{"viewer", "deploy", carol.ID, []int64{inSubject.ID}},
		{"sender sees own", "frontend", alice.ID, []int64{tonight.ID, failed.ID}},
		{"operator words are words", "AND", 0, []int64{rock.ID}},
		{"unicode", "日本語", 0, []int64{japanese.ID}},
		{"no match", "kubernetes", 0, nil},
		{"one word missing", "deploy kubernetes", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.messages(hub.HistoryQuery{Search: tt.search, ViewerID: tt.viewer})
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("search %q: got %v, want %v", tt.search, ids(got), tt.want)
			}
		})
	}
	got := h.messages(hub.HistoryQuery{Search: "deploy", Limit: 2})
	if want := []int64{inSubject.ID, tonight.ID}; !slices.Equal(ids(got), want) {
		t.Errorf("search with limit: got %v, want %v", ids(got), want)
	}
	got = h.messages(hub.HistoryQuery{Search: "deploy", Before: tonight.ID})
	if want := []int64{backend.ID}; !slices.Equal(ids(got), want) {
		t.Errorf("search before %d: got %v, want %v", tonight.ID, ids(got), want)
	}
}

// awkwardSearches are inputs that are FTS syntax, or break naive quoting,
// or are not words at all. None may cause an error.
var awkwardSearches = []string{
	`"`, `""`, `"""`, `"deploy`, `deploy"`, `de"ploy`, `a""b`,
	`AND`, `OR`, `NOT`, `deploy AND`, `AND deploy`, `deploy OR frontend`, `NOT deploy`,
	`NEAR(deploy frontend)`, `NEAR(deploy frontend, 2)`,
	`*`, `**`, `deploy*`, `*deploy`, `de*ploy`,
	`(`, `)`, `()`, `(deploy`, `deploy)`, `((deploy))`,
	`-deploy`, `+deploy`, `^deploy`, `deploy^`, `:`, `deploy:`, `subject:deploy`, `body:`, `{subject body}:deploy`,
	`'`, `''`, `\`, `\"`, `%`, `_`, `;`, `; DROP TABLE messages; --`, `--`, `/*`,
	"\x00", "deploy\x00frontend", "\x00deploy", "\t\n\r", "\u00a0deploy\u2028",
	`日本語`, `🎉`, `é`, `e\u0301`, "\u200b", "\ufeff", "\U0010ffff", "\ue000",
	"\xff\xfe", "dep\xffloy", `a.b`, `a-b`, `a_b`, `a/b`, `@alice`, `#1`, `$x`, `~`, "`",
	strings.Repeat("deploy ", 200),
	strings.Repeat(`"`, 1024),
	strings.Repeat("(", 1024),
}

func testSearchAwkwardInput(t *testing.T, h *harness) {
	alice, bob := h.addAgent("alice", ""), h.addAgent("bob", "")
	h.send(alice, "deploy frontend", bob)
	h.send(alice, `quotes "inside" and (parens)* AND or NOT`, bob)
	for i, s := range awkwardSearches {
		for _, viewer := range []int64{0, bob.ID} {
			err := h.store.View(h.ctx(), func(r hub.Reader) error {
				_, err := r.Messages(h.ctx(), hub.HistoryQuery{Search: s, ViewerID: viewer, Limit: 10})
				return err
			})
			if err != nil {
				t.Errorf("search %d %q (viewer %d): %v", i, s, viewer, err)
			}
		}
	}
	// Syntax never changes the meaning: a word found alone is found
	// inside the awkward spellings of it that keep its letters.
	for _, s := range []string{`"deploy"`, `(deploy)`, `deploy*`, `deploy:`} {
		got := h.messages(hub.HistoryQuery{Search: s})
		if len(got) != 1 {
			t.Errorf("search %q: got %d messages, want 1 (the message containing deploy)", s, len(got))
		}
	}
	if got := h.messages(hub.HistoryQuery{Search: "NOT deploy"}); len(got) != 0 {
		t.Errorf("search %q: got %v, want nothing (NOT is a word, not an operator)", "NOT deploy", ids(got))
	}
	if got := h.messages(hub.HistoryQuery{Search: "deploy OR inside"}); len(got) != 0 {
		t.Errorf("search %q: got %v, want nothing (OR is a word to find)", "deploy OR inside", ids(got))
	}
}
