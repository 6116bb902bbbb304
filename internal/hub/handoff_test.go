package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// startWaiting starts a wait of c that finds nothing, so that it waits.
func startWaiting(t *testing.T, svc *hub.Service, c hub.Caller, opts hub.ReadOptions) *hub.ParkedWait {
	t.Helper()
	res, p, err := svc.StartWait(context.Background(), c, opts, time.Minute)
	if err != nil || p == nil {
		t.Fatalf("StartWait: got %d messages, pending %v, err %v; want it to wait", len(res.Messages), p != nil, err)
	}
	return p
}

func finish(t *testing.T, p *hub.ParkedWait) hub.ReadResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.Finish(ctx)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return res
}

func unreadCount(t *testing.T, svc *hub.Service, c hub.Caller) int {
	t.Helper()
	res, err := svc.Read(context.Background(), c, hub.ReadOptions{Peek: true, HasSince: true})
	if err != nil {
		t.Fatalf("peek %s: %v", c.Name, err)
	}
	return res.Unread
}

// A send to an agent that waits hands the message over, and the wait
// answers exactly what reading the inbox would have returned: marked
// read in the send's own transaction, or left unread for a wait that
// peeks after a since cursor.
func TestSendHandsTheMessageToAWaitingAgent(t *testing.T) {
	tests := []struct {
		name      string
		opts      hub.ReadOptions
		state     string // of the delivery, in the send's answer and the wait's
		unread    int    // left after the wait's answer
		readAgain bool   // a plain read afterwards returns the message
	}{
		{name: "read", opts: hub.ReadOptions{}, state: hub.DeliveryRead},
		{name: "read with preview", opts: hub.ReadOptions{Preview: 8}, state: hub.DeliveryRead},
		{name: "peek since", opts: hub.ReadOptions{Peek: true, HasSince: true, Since: 1}, state: hub.DeliveryUnread, unread: 1, readAgain: true},
		{name: "peek since with preview", opts: hub.ReadOptions{Peek: true, HasSince: true, Since: 1, Preview: 8}, state: hub.DeliveryUnread, unread: 1, readAgain: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, hub.Options{})
			alice, bob := e.register("alice", ""), e.register("bob", "")
			// One message read before, so that a since cursor of 1 is
			// bob's last delivery.
			e.send(alice, "before", "bob")
			e.read(bob, hub.ReadOptions{})
			p := startWaiting(t, e.svc, bob, tt.opts)

			sent, err := e.svc.Send(context.Background(), alice, hub.SendRequest{
				To: []string{"bob"}, Subject: "plan", Body: "a body longer than the preview", Thread: "t1",
				Attachments: []hub.Attachment{{Name: "n.txt", Content: "data"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if d := sent.Deliveries; len(d) != 1 || d[0].State != tt.state {
				t.Errorf("send's deliveries: %+v, want bob's %s (handed to his wait)", d, tt.state)
			}
			got := finish(t, p)

			// What a read of the same page returns now. A woken read
			// answers with the messages it marks read, as read but without
			// the time of the mark, which the store has.
			wantOpts := tt.opts
			wantOpts.Peek, wantOpts.HasSince, wantOpts.Since = true, true, 1
			want := e.read(bob, wantOpts)
			for i := range want.Messages {
				want.Messages[i].ReadAt = time.Time{}
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("handed-off answer:\n%s\nwant what a read returns:\n%s", gotJSON, wantJSON)
			}
			if n := unreadCount(t, e.svc, bob); n != tt.unread {
				t.Errorf("unread after the hand-off: %d, want %d", n, tt.unread)
			}
			again := e.read(bob, hub.ReadOptions{})
			if got := len(again.Messages) == 1; got != tt.readAgain {
				t.Errorf("a read after the wait returned %v, want the message again: %v", bodies(again.Messages), tt.readAgain)
			}
		})
	}
}

// Waits that cannot take a single handed-off message read the store as
// before: a peek, a since cursor, and a wait whose agent has older
// unread mail (which must come first). A batch hands nothing off: a
// wait woken by it reads all of it.
func TestHandOffOnlyWhenTheMessageIsTheWholeAnswer(t *testing.T) {
	tests := []struct {
		name  string
		opts  hub.ReadOptions
		older bool // bob has unread mail from before the wait
		batch bool
		want  []string
	}{
		{name: "peek", opts: hub.ReadOptions{Peek: true}, want: []string{"new"}},
		{name: "since", opts: hub.ReadOptions{HasSince: true}, want: []string{"new"}},
		{name: "older unread mail", older: true, want: []string{"old", "new"}},
		{name: "peek since after newer mail", opts: hub.ReadOptions{Peek: true, HasSince: true}, older: true, want: []string{"old", "new"}},
		{name: "batch", batch: true, want: []string{"new", "newer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, hub.Options{})
			alice, bob := e.register("alice", ""), e.register("bob", "")
			p := startWaiting(t, e.svc, bob, tt.opts)
			if tt.older {
				// Sent after the wait began, in a batch, so unread: the
				// next send finds bob with older mail.
				if _, err := e.svc.SendBatch(context.Background(), alice, []hub.SendRequest{{To: []string{"bob"}, Body: "old"}}); err != nil {
					t.Fatal(err)
				}
			}
			var states []string
			if tt.batch {
				res, err := e.svc.SendBatch(context.Background(), alice, []hub.SendRequest{
					{To: []string{"bob"}, Body: "new"}, {To: []string{"bob"}, Body: "newer"},
				})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range res {
					states = append(states, r.Deliveries[0].State)
				}
			} else {
				states = append(states, e.send(alice, "new", "bob").Deliveries[0].State)
			}
			for _, s := range states {
				if s != hub.DeliveryUnread {
					t.Errorf("delivery state %q, want unread (no hand-off)", s)
				}
			}
			got := bodies(finish(t, p).Messages)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("wait returned %v, want %v", got, tt.want)
			}
		})
	}
}

// Mail handed to a wait that ends without taking it (its client left, or
// its time ran out first) is unread again: never lost to the hand-off.
func TestMailHandedToAnEndedWaitIsUnreadAgain(t *testing.T) {
	e := newEnv(t, hub.Options{})
	alice, bob := e.register("alice", ""), e.register("bob", "")
	p := startWaiting(t, e.svc, bob, hub.ReadOptions{})
	p.Park(func() {})
	if s := e.send(alice, "for bob", "bob").Deliveries[0].State; s != hub.DeliveryRead {
		t.Fatalf("delivery state %q, want read (handed off)", s)
	}
	p.End() // the transport gives up before it checks
	if n := unreadCount(t, e.svc, bob); n != 1 {
		t.Errorf("unread after the wait ended: %d, want 1", n)
	}
	if got := bodies(e.read(bob, hub.ReadOptions{}).Messages); fmt.Sprint(got) != "[for bob]" {
		t.Errorf("next read: %v, want [for bob]", got)
	}
}

// failingStore is a real store whose Updates fail on their first event
// while failEvents is set: a send then fails after it has delivered.
type failingStore struct {
	hub.Store
	failEvents atomic.Bool
}

type failingTx struct {
	hub.Tx
	s *failingStore
}

func (t failingTx) AppendEvent(ctx context.Context, ev hub.Event) (hub.Event, error) {
	if t.s.failEvents.Load() {
		return hub.Event{}, errors.New("injected failure")
	}
	return t.Tx.AppendEvent(ctx, ev)
}

func (s *failingStore) Update(ctx context.Context, fn func(hub.Tx) error) error {
	return s.Store.Update(ctx, func(tx hub.Tx) error { return fn(failingTx{tx, s}) })
}

// A send that fails after claiming a wait's handoff leaves nothing
// behind: the wait gets nothing from it, and the next send reaches it.
func TestFailedSendReleasesTheHandOff(t *testing.T) {
	e := newEnv(t, hub.Options{})
	fs := &failingStore{Store: e.store}
	e.svc = hub.New(fs, e.svc.Bus(), hub.Options{})
	alice, bob := e.register("alice", ""), e.register("bob", "")
	p := startWaiting(t, e.svc, bob, hub.ReadOptions{})

	fs.failEvents.Store(true)
	if _, err := e.svc.Send(context.Background(), alice, hub.SendRequest{To: []string{"bob"}, Body: "lost"}); err == nil {
		t.Fatal("send with a failing event: no error")
	}
	fs.failEvents.Store(false)
	if n := unreadCount(t, e.svc, bob); n != 0 {
		t.Errorf("unread after the failed send: %d, want 0", n)
	}
	if s := e.send(alice, "kept", "bob").Deliveries[0].State; s != hub.DeliveryRead {
		t.Errorf("next send's delivery: %q, want read (the wait's handoff was released)", s)
	}
	if got := bodies(finish(t, p).Messages); fmt.Sprint(got) != "[kept]" {
		t.Errorf("wait returned %v, want [kept]", got)
	}
}

// Concurrent senders and an agent that waits again after each answer:
// every message arrives exactly once, in order, and none is left unread,
// whether it was handed off or read from the store.
func TestEveryMessageReachesAWaitingAgentOnce(t *testing.T) {
	e := newEnv(t, hub.Options{})
	bob := e.register("bob", "")
	const senders, each = 2, 100
	var cs []hub.Caller
	for i := range senders {
		cs = append(cs, e.register(fmt.Sprint("sender", i), ""))
	}
	var seqs []int64
	var handed atomic.Int64
	got := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(seqs) < senders*each {
			res, err := e.svc.Wait(context.Background(), bob, hub.ReadOptions{}, 5*time.Second)
			if err != nil {
				t.Errorf("wait: %v", err)
				return
			}
			if len(res.Messages) == 0 {
				t.Errorf("wait timed out after %d messages", len(seqs))
				return
			}
			for _, m := range res.Messages {
				seqs = append(seqs, m.Seq)
				got[m.Body]++
			}
		}
	}()
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			for j := range each {
				// Now and then a pause, so that bob is often waiting with
				// nothing unread, and sends race his waits both ways.
				time.Sleep(time.Duration(j%4) * 500 * time.Microsecond)
				res, err := e.svc.Send(context.Background(), c, hub.SendRequest{To: []string{"bob"}, Body: fmt.Sprintf("%d/%d", i, j)})
				if err != nil {
					t.Errorf("send: %v", err)
					return
				}
				if res.Deliveries[0].State == hub.DeliveryRead {
					handed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	<-done
	for i := range senders {
		for j := range each {
			if n := got[fmt.Sprintf("%d/%d", i, j)]; n != 1 {
				t.Errorf("message %d/%d arrived %d times", i, j, n)
			}
		}
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequence numbers out of order or missing at %d: %v", i, seqs)
		}
	}
	if n := unreadCount(t, e.svc, bob); n != 0 {
		t.Errorf("unread at the end: %d, want 0", n)
	}
	if handed.Load() == 0 {
		t.Error("no message was handed off: the test did not exercise the hand-off")
	}
	t.Logf("%d of %d messages handed off", handed.Load(), senders*each)
}

// Two waits of one agent with short timeouts, so that timeouts race the
// hand-offs, and senders mixing single sends and batches: every message
// is received once, by one of the waits or by a last read, and none is
// lost to a wait that timed out holding it.
func TestHandOffsRacingTimeoutsLoseNothing(t *testing.T) {
	e := newEnv(t, hub.Options{})
	bob := e.register("bob", "")
	alice, carol := e.register("alice", ""), e.register("carol", "")
	const rounds = 60
	var mu sync.Mutex
	got := map[string]int{}
	record := func(ms []hub.Inbound) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range ms {
			got[m.Body]++
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var waiters sync.WaitGroup
	for w := range 2 {
		waiters.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				timeout := time.Duration(1+(i+w)%4) * time.Millisecond
				res, err := e.svc.Wait(ctx, bob, hub.ReadOptions{}, timeout)
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("wait: %v", err)
					}
					return
				}
				record(res.Messages)
			}
		})
	}
	var senders sync.WaitGroup
	var handed atomic.Int64
	for s, c := range []hub.Caller{alice, carol} {
		senders.Go(func() {
			for i := range rounds {
				time.Sleep(time.Duration(i%3) * 700 * time.Microsecond)
				if i%5 == 4 {
					body := func(k int) string { return fmt.Sprintf("%d/%d/%d", s, i, k) }
					_, err := e.svc.SendBatch(context.Background(), c, []hub.SendRequest{
						{To: []string{"bob"}, Body: body(0)}, {To: []string{"bob"}, Body: body(1)},
					})
					if err != nil {
						t.Errorf("batch: %v", err)
					}
					continue
				}
				res, err := e.svc.Send(context.Background(), c, hub.SendRequest{To: []string{"bob"}, Body: fmt.Sprintf("%d/%d/0", s, i)})
				if err != nil {
					t.Errorf("send: %v", err)
					continue
				}
				if res.Deliveries[0].State == hub.DeliveryRead {
					handed.Add(1)
				}
			}
		})
	}
	senders.Wait()
	// Let the waits take what is on its way, then stop them and read
	// what is left.
	time.Sleep(50 * time.Millisecond)
	cancel()
	waiters.Wait()
	for {
		res := e.read(bob, hub.ReadOptions{Limit: hub.MaxReadLimit})
		if len(res.Messages) == 0 {
			break
		}
		record(res.Messages)
	}
	want := 0
	for s := range 2 {
		for i := range rounds {
			ks := 1
			if i%5 == 4 {
				ks = 2
			}
			for k := range ks {
				want++
				if n := got[fmt.Sprintf("%d/%d/%d", s, i, k)]; n != 1 {
					t.Errorf("message %d/%d/%d received %d times", s, i, k, n)
				}
			}
		}
	}
	if len(got) != want {
		t.Errorf("received %d distinct messages, want %d", len(got), want)
	}
	if handed.Load() == 0 {
		t.Error("no message was handed off: the test did not exercise the hand-off")
	}
	t.Logf("%d of %d single sends handed off", handed.Load(), 2*rounds*4/5)
}

// A wait that peeks after a since cursor, moved on after each answer,
// sees every delivery once and in order, handed over or read from the
// store, while senders race it; nothing is marked read.
func TestPeekingWaitSeesEveryDeliveryOnce(t *testing.T) {
	e := newEnv(t, hub.Options{})
	bob := e.register("bob", "")
	alice, carol := e.register("alice", ""), e.register("carol", "")
	const each = 60
	var seqs []int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		opts := hub.ReadOptions{Peek: true, HasSince: true}
		for len(seqs) < 2*each {
			res, err := e.svc.Wait(context.Background(), bob, opts, 5*time.Second)
			if err != nil || len(res.Messages) == 0 {
				t.Errorf("wait after %d deliveries: %d messages, err %v", len(seqs), len(res.Messages), err)
				return
			}
			for _, m := range res.Messages {
				seqs = append(seqs, m.Seq)
			}
			opts.Since = res.Next
		}
	}()
	var wg sync.WaitGroup
	for _, c := range []hub.Caller{alice, carol} {
		wg.Go(func() {
			for j := range each {
				time.Sleep(time.Duration(j%4) * 500 * time.Microsecond)
				if _, err := e.svc.Send(context.Background(), c, hub.SendRequest{To: []string{"bob"}, Body: fmt.Sprint(j)}); err != nil {
					t.Errorf("send: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	<-done
	for i, seq := range seqs {
		if seq != int64(i+1) {
			t.Fatalf("deliveries seen out of order or twice: %v", seqs)
		}
	}
	if n := unreadCount(t, e.svc, bob); n != 2*each {
		t.Errorf("unread after peeking: %d, want %d (a peek marks nothing)", n, 2*each)
	}
}

// A wait that is handed its message answers without reading or writing
// the store; one that is not (a batch) reads it.
func TestHandedOffWaitTouchesNoStore(t *testing.T) {
	tests := []struct {
		name  string
		opts  hub.ReadOptions
		batch bool
		want  bool // the wait touched the store after the send
	}{
		{name: "read", opts: hub.ReadOptions{}},
		{name: "peek since", opts: hub.ReadOptions{Peek: true, HasSince: true}},
		{name: "read, batch", opts: hub.ReadOptions{}, batch: true, want: true},
		{name: "peek since, batch", opts: hub.ReadOptions{Peek: true, HasSince: true}, batch: true, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, hub.Options{})
			cs := &countingStore{Store: e.store}
			e.svc = hub.New(cs, e.svc.Bus(), hub.Options{})
			alice, bob := e.register("alice", ""), e.register("bob", "")
			p := startWaiting(t, e.svc, bob, tt.opts)
			if tt.batch {
				if _, err := e.svc.SendBatch(context.Background(), alice, []hub.SendRequest{{To: []string{"bob"}, Body: "hi"}}); err != nil {
					t.Fatal(err)
				}
			} else {
				e.send(alice, "hi", "bob")
			}
			views, visible := cs.views.Load(), cs.visible.Load()
			if got := bodies(finish(t, p).Messages); fmt.Sprint(got) != "[hi]" {
				t.Fatalf("wait returned %v, want [hi]", got)
			}
			touched := cs.views.Load() != views || cs.visible.Load() != visible
			if touched != tt.want {
				t.Errorf("the woken wait touched the store: %v, want %v (%d views, %d visible updates)",
					touched, tt.want, cs.views.Load()-views, cs.visible.Load()-visible)
			}
		})
	}
}
