// Package storetest is a conformance suite for implementations of
// hub.Store. The domain relies only on what hub.Store documents; running
// the same black-box tests against every engine (SQLite now, others
// later) is what makes one engine replaceable by another.
//
// An implementation's test calls Run with a function that opens its store:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t testing.TB, dir string, onCommit func([]hub.Event)) hub.Store {
//			s, err := mystore.Open(t.Context(), dir, onCommit)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// OpenFunc opens the store kept in dir, which may already hold one
// written by an earlier store of the same OpenFunc. onCommit is the
// commit hook: it must receive the events of every committed Update, in
// ID order, before that Update returns. The suite closes the stores it
// opens; Close must be safe to call twice, so open may also register a
// Cleanup that closes.
type OpenFunc func(t testing.TB, dir string, onCommit func([]hub.Event)) hub.Store

// Run runs the conformance suite against the stores open returns. Each
// test gets a fresh directory.
func Run(t *testing.T, open func(t testing.TB, dir string, onCommit func([]hub.Event)) hub.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"AgentRoundTrip", testAgentRoundTrip},
		{"AgentNotFound", testAgentNotFound},
		{"AgentNameTaken", testAgentNameTaken},
		{"UpdateAgent", testUpdateAgent},
		{"UpdateAgentStaleSeq", testUpdateAgentStaleSeq},
		{"Agents", testAgents},
		{"DeleteAgent", testDeleteAgent},
		{"Credentials", testCredentials},
		{"Forwards", testForwards},
		{"InsertMessage", testInsertMessage},
		{"MessageByKey", testMessageByKey},
		{"DeliverSequences", testDeliverSequences},
		{"DeliverErrors", testDeliverErrors},
		{"Inbox", testInbox},
		{"MarkReadAndAck", testMarkReadAndAck},
		{"MarkUnread", testMarkUnread},
		{"DeliverRead", testDeliverRead},
		{"Deliveries", testDeliveries},
		{"HeldMail", testHeldMail},
		{"ExpireMessages", testExpireMessages},
		{"HistoryThread", testHistoryThread},
		{"HistoryConversation", testHistoryConversation},
		{"HistoryViewerAndPaging", testHistoryViewerAndPaging},
		{"Search", testSearch},
		{"SearchAwkwardInput", testSearchAwkwardInput},
		{"Events", testEvents},
		{"ExpireEvents", testExpireEvents},
		{"Reset", testReset},
		{"UpdateSeesOwnWrites", testUpdateSeesOwnWrites},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"FailuresLeaveNoTrace", testFailuresLeaveNoTrace},
		{"CancelBeforeUpdate", testCancelBeforeUpdate},
		{"CancelWhileQueued", testCancelWhileQueued},
		{"CancelAfterTaken", testCancelAfterTaken},
		{"ViewSnapshot", testViewSnapshot},
		{"Close", testClose},
		{"Durability", testDurability},
		{"UpdateVisible", testUpdateVisible},
		{"AfterCommit", testAfterCommit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newHarness(t, open))
		})
	}
}

// harness is one store under test, with the events its commit hook saw.
type harness struct {
	tb    testing.TB
	open  OpenFunc
	dir   string
	store hub.Store
	log   *commitLog
}

func newHarness(tb testing.TB, open OpenFunc) *harness {
	tb.Helper()
	h := &harness{tb: tb, open: open, dir: tb.TempDir(), log: &commitLog{}}
	h.store = open(tb, h.dir, h.log.hook)
	tb.Cleanup(func() { h.store.Close() })
	return h
}

// reopen closes the store and opens the same directory again.
func (h *harness) reopen() {
	h.tb.Helper()
	if err := h.store.Close(); err != nil {
		h.tb.Fatalf("close: %v", err)
	}
	h.store = h.open(h.tb, h.dir, h.log.hook)
	h.tb.Cleanup(func() { h.store.Close() })
}

func (h *harness) ctx() context.Context { return context.Background() }

// update runs fn in an Update and fails the test on error. fn may run on
// another goroutine, so it must report problems by returning an error or
// with t.Error, never t.Fatal.
func (h *harness) update(fn func(tx hub.Tx) error) {
	h.tb.Helper()
	if err := h.store.Update(h.ctx(), fn); err != nil {
		h.tb.Fatalf("update: %v", err)
	}
}

// view runs fn in a View and fails the test on error. Like an Update's,
// fn reports problems by returning an error or with t.Error.
func (h *harness) view(fn func(r hub.Reader) error) {
	h.tb.Helper()
	if err := h.store.View(h.ctx(), fn); err != nil {
		h.tb.Fatalf("view: %v", err)
	}
}

// commitLog records what the commit hook receives.
type commitLog struct {
	mu      sync.Mutex
	batches [][]hub.Event
}

func (l *commitLog) hook(events []hub.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches = append(l.batches, slices.Clone(events))
}

// events returns every event received, in the order received.
func (l *commitLog) events() []hub.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var all []hub.Event
	for _, b := range l.batches {
		all = append(all, b...)
	}
	return all
}

func (l *commitLog) has(id int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.batches {
		for _, e := range b {
			if e.ID == id {
				return true
			}
		}
	}
	return false
}

// base is a time with nanoseconds and a zone other than UTC: stores must
// keep the instant exactly, whatever zone they return it in.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("UTC+1", 3600))

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// newAgent returns an agent with every field set.
func newAgent(name, role string) hub.Agent {
	return hub.Agent{
		Name: name, Role: role, Capabilities: []string{"go", "review"},
		Description: "agent " + name, Project: "parley", Client: "cli", Host: "box",
		PID: 4242, StatusText: "working", State: hub.StateOnline,
		RegisteredAt: at(0), LastSeen: at(time.Second),
	}
}

// addAgent inserts an agent in its own Update.
func (h *harness) addAgent(name, role string) hub.Agent {
	h.tb.Helper()
	var a hub.Agent
	h.update(func(tx hub.Tx) error {
		var err error
		a, err = tx.InsertAgent(h.ctx(), newAgent(name, role))
		return err
	})
	return a
}

// newMessage returns a message from an agent with every field set but
// ID and Thread.
func newMessage(from hub.Agent, body string, to ...string) hub.Message {
	return hub.Message{
		From: from.Name, FromID: from.ID, To: to, Subject: "subject", Body: body,
		Importance: hub.ImportanceNormal, CreatedAt: at(time.Minute), Size: len(body),
	}
}

// send inserts a message from an agent and delivers it to each of to, in
// one Update, and returns it.
func (h *harness) send(from hub.Agent, body string, to ...hub.Agent) hub.Message {
	h.tb.Helper()
	return h.sendIn("", from, body, to...)
}

// normAgent makes agents comparable with reflect.DeepEqual: times in
// UTC, empty lists nil.
func normAgent(a hub.Agent) hub.Agent {
	a.RegisteredAt, a.LastSeen = a.RegisteredAt.UTC(), a.LastSeen.UTC()
	if len(a.Capabilities) == 0 {
		a.Capabilities = nil
	}
	return a
}

func normMessage(m hub.Message) hub.Message {
	m.CreatedAt = m.CreatedAt.UTC()
	if len(m.To) == 0 {
		m.To = nil
	}
	if len(m.Attachments) == 0 {
		m.Attachments = nil
	}
	return m
}

func normEvent(e hub.Event) hub.Event {
	e.Time = e.Time.UTC()
	if len(e.Targets) == 0 {
		e.Targets = nil
	}
	if len(e.Data) == 0 {
		e.Data = nil
	}
	return e
}

func checkAgent(tb testing.TB, what string, got, want hub.Agent) {
	tb.Helper()
	if g, w := normAgent(got), normAgent(want); !reflect.DeepEqual(g, w) {
		tb.Errorf("%s:\ngot  %+v\nwant %+v", what, g, w)
	}
}

func checkMessage(tb testing.TB, what string, got, want hub.Message) {
	tb.Helper()
	if g, w := normMessage(got), normMessage(want); !reflect.DeepEqual(g, w) {
		tb.Errorf("%s:\ngot  %+v\nwant %+v", what, g, w)
	}
}

// checkNotFound fails unless err matches hub.ErrNotFound.
func checkNotFound(tb testing.TB, what string, err error) {
	tb.Helper()
	if !errors.Is(err, hub.ErrNotFound) {
		tb.Errorf("%s: got error %v, want one matching hub.ErrNotFound", what, err)
	}
}

// ids returns the IDs of messages.
func ids(ms []hub.Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// messages runs Messages in a View.
func (h *harness) messages(q hub.HistoryQuery) []hub.Message {
	h.tb.Helper()
	if q.Search != "" {
		h.catchUpSearch()
	}
	var ms []hub.Message
	h.view(func(r hub.Reader) error {
		var err error
		ms, err = r.Messages(h.ctx(), q)
		return err
	})
	return ms
}

// catchUpSearch brings the search index up to date, as a search that
// must see every committed message does first.
func (h *harness) catchUpSearch() {
	h.tb.Helper()
	if err := h.store.CatchUpSearch(h.ctx()); err != nil {
		h.tb.Fatalf("CatchUpSearch: %v", err)
	}
}

// inbox runs Inbox in a View.
func (h *harness) inbox(q hub.InboxQuery) []hub.Inbound {
	h.tb.Helper()
	var in []hub.Inbound
	h.view(func(r hub.Reader) error {
		var err error
		in, err = r.Inbox(h.ctx(), q)
		return err
	})
	return in
}

// seqs returns the sequence numbers of inbound messages.
func seqs(in []hub.Inbound) []int64 {
	out := make([]int64, len(in))
	for i, m := range in {
		out[i] = m.Seq
	}
	return out
}

// errorsIs is errors.Is with a readable failure.
func errorsIs(tb testing.TB, what string, err, target error) {
	tb.Helper()
	if !errors.Is(err, target) {
		tb.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// name returns a distinct agent name for index i.
func name(prefix string, i int) string { return fmt.Sprintf("%s-%d", prefix, i) }
