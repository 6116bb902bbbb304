package hub_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/bus"
	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/sqlite"
)

// env is a service over a real SQLite file that a test can restart.
type env struct {
	t      testing.TB
	dir    string
	opts   hub.Options
	store  *sqlite.Store
	svc    *hub.Service
	tokens map[string]string
}

func newEnv(t testing.TB, opts hub.Options) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), opts: opts, tokens: map[string]string{}}
	e.start()
	t.Cleanup(func() { e.store.Close() })
	return e
}

func (e *env) start() {
	e.t.Helper()
	b := bus.New(0)
	st, err := sqlite.Open(context.Background(), sqlite.Options{
		Path:     filepath.Join(e.dir, "parley.db"),
		OnCommit: func(evs []hub.Event) { b.Publish(evs...) },
	})
	if err != nil {
		e.t.Fatalf("open store: %v", err)
	}
	e.store = st
	e.svc = hub.New(st, b, e.opts)
}

// restart closes the store and opens a new service on the same file.
func (e *env) restart() {
	e.t.Helper()
	if err := e.store.Close(); err != nil {
		e.t.Fatalf("close store: %v", err)
	}
	e.start()
}

// register registers name and returns its caller; the token is kept so
// that as can authenticate again after a restart.
func (e *env) register(name, role string) hub.Caller {
	e.t.Helper()
	reg, err := e.svc.Register(context.Background(), hub.RegisterRequest{Name: name, Role: role})
	if err != nil {
		e.t.Fatalf("register %q: %v", name, err)
	}
	e.tokens[reg.Agent.Name] = reg.Token
	return e.as(reg.Agent.Name)
}

// as authenticates with the token registered for name.
func (e *env) as(name string) hub.Caller {
	e.t.Helper()
	c, err := e.svc.Authenticate(context.Background(), e.tokens[name])
	if err != nil {
		e.t.Fatalf("authenticate %q: %v", name, err)
	}
	return c
}

func (e *env) send(from hub.Caller, body string, to ...string) hub.SendResult {
	e.t.Helper()
	res, err := e.svc.Send(context.Background(), from, hub.SendRequest{To: to, Body: body})
	if err != nil {
		e.t.Fatalf("send %q to %v: %v", body, to, err)
	}
	return res
}

func (e *env) read(c hub.Caller, opts hub.ReadOptions) hub.ReadResult {
	e.t.Helper()
	res, err := e.svc.Read(context.Background(), c, opts)
	if err != nil {
		e.t.Fatalf("read %q: %v", c.Name, err)
	}
	return res
}

func bodies(ms []hub.Inbound) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Body)
	}
	return out
}

func TestBroadcastReachesEveryAgentOnce(t *testing.T) {
	e := newEnv(t, hub.Options{})
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	carol := e.register("carol", "")
	// dave is registered but never reads before the broadcast: offline.
	dave := e.register("dave", "")

	res := e.send(alice, "all hands", "*")
	if len(res.Deliveries) != 3 {
		t.Fatalf("broadcast deliveries = %d, want 3 (everyone but the sender): %+v", len(res.Deliveries), res.Deliveries)
	}
	// bob reads first; that must not consume anybody else's copy.
	for _, c := range []hub.Caller{bob, carol, dave} {
		got := bodies(e.read(c, hub.ReadOptions{}).Messages)
		if len(got) != 1 || got[0] != "all hands" {
			t.Fatalf("%s read %v, want [all hands]", c.Name, got)
		}
		if again := e.read(c, hub.ReadOptions{}).Messages; len(again) != 0 {
			t.Fatalf("%s read the broadcast twice: %v", c.Name, bodies(again))
		}
	}
	if got := e.read(alice, hub.ReadOptions{}).Messages; len(got) != 0 {
		t.Fatalf("sender received its own broadcast: %v", bodies(got))
	}
}

func TestSinceCatchesUpAcrossRestart(t *testing.T) {
	e := newEnv(t, hub.Options{})
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	for i := range 5 {
		e.send(alice, fmt.Sprintf("m%d", i), "bob")
	}
	first := e.read(bob, hub.ReadOptions{Limit: 2})
	if got := bodies(first.Messages); strings.Join(got, ",") != "m0,m1" || !first.More {
		t.Fatalf("first page = %v more=%v, want [m0 m1] more=true", got, first.More)
	}
	e.restart()
	alice, bob = e.as("alice"), e.as("bob")
	e.send(alice, "m5", "bob")
	var got []string
	since := first.Next
	for {
		page := e.read(bob, hub.ReadOptions{Since: since, HasSince: true, Limit: 2})
		got = append(got, bodies(page.Messages)...)
		since = page.Next
		if !page.More {
			break
		}
	}
	if want := "m2,m3,m4,m5"; strings.Join(got, ",") != want {
		t.Fatalf("caught up %v, want %s", got, want)
	}
}

func TestFutureMailAndRenameForwarding(t *testing.T) {
	e := newEnv(t, hub.Options{})
	alice := e.register("alice", "")
	res := e.send(alice, "welcome", "newcomer")
	if len(res.Queued) != 1 || res.Queued[0] != "newcomer" {
		t.Fatalf("queued = %v, want [newcomer]", res.Queued)
	}
	e.restart()
	newcomer := e.register("newcomer", "")
	if got := bodies(e.read(newcomer, hub.ReadOptions{}).Messages); strings.Join(got, ",") != "welcome" {
		t.Fatalf("newcomer read %v, want [welcome]", got)
	}

	if _, err := e.svc.Rename(context.Background(), newcomer, "veteran"); err != nil {
		t.Fatalf("rename: %v", err)
	}
	e.tokens["veteran"] = e.tokens["newcomer"]
	e.restart()
	alice = e.as("alice")
	res = e.send(alice, "still there?", "newcomer")
	if res.Forwarded["newcomer"] != "veteran" {
		t.Fatalf("forwarded = %v, want newcomer -> veteran", res.Forwarded)
	}
	veteran := e.as("veteran")
	if veteran.Name != "veteran" {
		t.Fatalf("token now names %q, want veteran", veteran.Name)
	}
	if got := bodies(e.read(veteran, hub.ReadOptions{}).Messages); strings.Join(got, ",") != "still there?" {
		t.Fatalf("veteran read %v, want [still there?]", got)
	}
	// The forwarded name stays reserved while it forwards.
	_, err := e.svc.Register(context.Background(), hub.RegisterRequest{Name: "newcomer"})
	if !errors.Is(err, hub.ErrNameTaken) {
		t.Fatalf("registering a forwarding name: err %v, want name_taken", err)
	}
}

func TestForwardExpires(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, hub.Options{Now: clock, ForwardTTL: time.Hour})
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	if _, err := e.svc.Rename(context.Background(), bob, "robert"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	res := e.send(alice, "hello?", "bob")
	if len(res.Queued) != 1 {
		t.Fatalf("after the forward expired, mail to bob should be held: %+v", res)
	}
}

func TestTakingALiveNameNeedsItsToken(t *testing.T) {
	e := newEnv(t, hub.Options{})
	alice := e.register("alice", "")
	e.register("bob", "")
	ctx := context.Background()
	for _, tok := range []string{"", "pt_forged", e.tokens["bob"]} {
		_, err := e.svc.Register(ctx, hub.RegisterRequest{Name: "alice", Token: tok})
		if !errors.Is(err, hub.ErrNameTaken) {
			t.Fatalf("register alice with token %q: err %v, want name_taken", tok, err)
		}
	}
	// alice keeps working with her own token.
	if c := e.as("alice"); c.AgentID != alice.AgentID {
		t.Fatalf("alice's token now authenticates %+v", c)
	}
	e.send(alice, "still me", "bob")
	// With her token she reclaims the name and keeps the same agent.
	reg, err := e.svc.Register(ctx, hub.RegisterRequest{Name: "alice", Role: "lead", Token: e.tokens["alice"]})
	if err != nil || !reg.Reclaimed || reg.Agent.Role != "lead" {
		t.Fatalf("reclaim: %+v, %v", reg, err)
	}
}

func TestWaitWakesOnCommitAndTimesOut(t *testing.T) {
	e := newEnv(t, hub.Options{})
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	ctx := context.Background()

	// Nothing comes: wait returns empty at its timeout.
	res, err := e.svc.Wait(ctx, bob, hub.ReadOptions{}, 50*time.Millisecond)
	if err != nil || len(res.Messages) != 0 {
		t.Fatalf("idle wait = %v, %v; want empty", bodies(res.Messages), err)
	}

	// A waiter blocked before the send wakes with the message. The
	// subscription is observed through the bus before sending, so the
	// test checks the order of events, not timing.
	done := make(chan hub.ReadResult, 1)
	go func() {
		r, err := e.svc.Wait(ctx, bob, hub.ReadOptions{}, time.Minute)
		if err != nil {
			t.Errorf("wait: %v", err)
		}
		done <- r
	}()
	waitUntil(t, func() bool { return waiters(e) > 0 })
	e.send(alice, "wake up", "bob")
	r := <-done
	if got := bodies(r.Messages); strings.Join(got, ",") != "wake up" {
		t.Fatalf("woken with %v, want [wake up]", got)
	}

	// Something pending: wait returns at once, even with a long timeout.
	e.send(alice, "pending", "bob")
	r, err = e.svc.Wait(ctx, bob, hub.ReadOptions{}, 5*time.Minute)
	if err != nil || strings.Join(bodies(r.Messages), ",") != "pending" {
		t.Fatalf("wait with pending mail = %v, %v", bodies(r.Messages), err)
	}
}

func waiters(e *env) int {
	return e.svc.Bus().(*bus.Bus).Subscribers()
}

// waitUntil polls cond until it holds or a generous deadline passes.
func waitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met before the deadline")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestIdempotentSend(t *testing.T) {
	e := newEnv(t, hub.Options{})
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	ctx := context.Background()
	req := hub.SendRequest{To: []string{"bob"}, Body: "once", IdempotencyKey: "k1"}
	first, err := e.svc.Send(ctx, alice, req)
	if err != nil {
		t.Fatal(err)
	}
	req.To = []string{"bob"}
	second, err := e.svc.Send(ctx, alice, req)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Duplicate || second.Message.ID != first.Message.ID {
		t.Fatalf("retry = id %d duplicate %v, want id %d duplicate", second.Message.ID, second.Duplicate, first.Message.ID)
	}
	if got := e.read(bob, hub.ReadOptions{}).Messages; len(got) != 1 {
		t.Fatalf("bob has %d messages, want 1", len(got))
	}
}

func TestAckVisibleToSender(t *testing.T) {
	e := newEnv(t, hub.Options{})
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	ctx := context.Background()
	res, err := e.svc.Send(ctx, alice, hub.SendRequest{To: []string{"bob"}, Body: "please confirm", AckRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Message.ID
	if err := e.svc.Ack(ctx, alice, id); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("sender acking its own message: %v, want not_found", err)
	}
	if err := e.svc.Ack(ctx, bob, id); err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.GetMessage(ctx, alice, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Deliveries) != 1 || v.Deliveries[0].State != hub.DeliveryAcked || !v.AckRequired {
		t.Fatalf("sender sees %+v, want bob acked", v.Deliveries)
	}
	carol := e.register("carol", "")
	if _, err := e.svc.GetMessage(ctx, carol, id); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("a stranger reading the message: %v, want not_found", err)
	}
}

func TestReadPagesWithoutDropping(t *testing.T) {
	e := newEnv(t, hub.Options{MaxBody: 2 << 20})
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	big := strings.Repeat("x", 1<<20) // several of these exceed one page's byte budget
	for i := range 6 {
		e.send(alice, fmt.Sprintf("%d%s", i, big), "bob")
	}
	seen := 0
	for range 10 {
		page := e.read(bob, hub.ReadOptions{})
		for _, m := range page.Messages {
			if m.Body[0] != byte('0'+seen) {
				t.Fatalf("message %d out of order", seen)
			}
			seen++
		}
		if !page.More {
			break
		}
	}
	if seen != 6 {
		t.Fatalf("read %d messages over all pages, want 6", seen)
	}
}

func TestThreadsHistoryAndSearch(t *testing.T) {
	e := newEnv(t, hub.Options{})
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	carol := e.register("carol", "")
	ctx := context.Background()
	root := e.send(alice, "deploy the payments service", "bob")
	reply, err := e.svc.Send(ctx, bob, hub.SendRequest{To: []string{"alice"}, Body: "payments deployed", ReplyTo: root.Message.ID})
	if err != nil {
		t.Fatal(err)
	}
	if reply.Message.Thread != root.Message.Thread {
		t.Fatalf("reply thread %q, want %q", reply.Message.Thread, root.Message.Thread)
	}
	e.send(alice, "unrelated note", "carol")

	th, err := e.svc.Thread(ctx, alice, root.Message.Thread, hub.Page{})
	if err != nil || len(th.Messages) != 2 {
		t.Fatalf("thread = %d messages, %v; want 2", len(th.Messages), err)
	}
	conv, err := e.svc.Conversation(ctx, bob, "alice", hub.Page{})
	if err != nil || len(conv.Messages) != 2 {
		t.Fatalf("conversation = %d messages, %v; want 2", len(conv.Messages), err)
	}
	found, err := e.svc.Search(ctx, bob, "payments", hub.Page{})
	if err != nil || len(found.Messages) != 2 {
		t.Fatalf("search = %d messages, %v; want 2", len(found.Messages), err)
	}
	// carol takes part in none of it.
	found, err = e.svc.Search(ctx, carol, "payments", hub.Page{})
	if err != nil || len(found.Messages) != 0 {
		t.Fatalf("carol's search = %d messages, %v; want 0", len(found.Messages), err)
	}
	for _, q := range []string{`"`, "AND", "pay*", "(", "NEAR(a b)", "日本"} {
		if _, err := e.svc.Search(ctx, bob, q, hub.Page{}); err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
	}
}

func TestSendBadInputChangesNothing(t *testing.T) {
	e := newEnv(t, hub.Options{MaxBody: 1000})
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	tests := []struct {
		name string
		req  hub.SendRequest
		code hub.Code
	}{
		{"no recipient", hub.SendRequest{Body: "x"}, hub.CodeInvalid},
		{"invalid name", hub.SendRequest{To: []string{"a/b"}, Body: "x"}, hub.CodeInvalidName},
		{"trailing newline", hub.SendRequest{To: []string{"bob\n"}, Body: "x"}, hub.CodeInvalidName},
		{"full-width name", hub.SendRequest{To: []string{"ｂｏｂ"}, Body: "x"}, hub.CodeInvalidName},
		{"empty body", hub.SendRequest{To: []string{"bob"}}, hub.CodeInvalid},
		{"too large", hub.SendRequest{To: []string{"bob"}, Body: strings.Repeat("x", 1001)}, hub.CodeTooLarge},
		{"bad importance", hub.SendRequest{To: []string{"bob"}, Body: "x", Importance: "critical"}, hub.CodeInvalid},
		{"unknown reply_to", hub.SendRequest{To: []string{"bob"}, Body: "x", ReplyTo: 999}, hub.CodeNotFound},
		{"empty role", hub.SendRequest{To: []string{"role:nobody"}, Body: "x"}, hub.CodeNotFound},
		{"bad sha256", hub.SendRequest{To: []string{"bob"}, Body: "x", Attachments: []hub.Attachment{{Path: "a.go", Content: "x", SHA256: "00"}}}, hub.CodeInvalid},
		{"invalid utf8", hub.SendRequest{To: []string{"bob"}, Body: "\xff"}, hub.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Send(context.Background(), alice, tt.req)
			if got := hub.ErrorCode(err); got != tt.code {
				t.Fatalf("code = %s (%v), want %s", got, err, tt.code)
			}
			if got := e.read(bob, hub.ReadOptions{Peek: true}).Messages; len(got) != 0 {
				t.Fatalf("bob received %v after a refused send", bodies(got))
			}
		})
	}
}

func TestRoleAddressing(t *testing.T) {
	e := newEnv(t, hub.Options{})
	lead := e.register("lead", "")
	b1 := e.register("b1", "backend")
	b2 := e.register("b2", "backend")
	fe := e.register("fe", "frontend")
	res := e.send(lead, "migrate", "role:backend", "b1")
	if len(res.Deliveries) != 2 {
		t.Fatalf("deliveries = %+v, want b1 and b2 once each", res.Deliveries)
	}
	for _, c := range []hub.Caller{b1, b2} {
		if got := e.read(c, hub.ReadOptions{}).Messages; len(got) != 1 {
			t.Fatalf("%s got %d, want 1", c.Name, len(got))
		}
	}
	if got := e.read(fe, hub.ReadOptions{}).Messages; len(got) != 0 {
		t.Fatalf("frontend got %v", bodies(got))
	}
}

func TestConcurrentSendsAllDurable(t *testing.T) {
	e := newEnv(t, hub.Options{})
	e.register("bob", "")
	const senders, each = 8, 25
	var wg sync.WaitGroup
	for i := range senders {
		c := e.register(fmt.Sprintf("s%d", i), "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				if _, err := e.svc.Send(context.Background(), c, hub.SendRequest{To: []string{"bob"}, Body: fmt.Sprintf("%d", j)}); err != nil {
					t.Errorf("send: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	e.restart()
	bob := e.as("bob")
	total, last := 0, map[string]int{}
	for {
		page := e.read(bob, hub.ReadOptions{Limit: 100})
		for _, m := range page.Messages {
			var n int
			fmt.Sscan(m.Body, &n)
			if prev, ok := last[m.From]; ok && n != prev+1 {
				t.Fatalf("from %s: %d after %d, per-sender order broken", m.From, n, prev)
			}
			last[m.From] = n
			total++
		}
		if !page.More {
			break
		}
	}
	if total != senders*each {
		t.Fatalf("bob has %d messages, want %d", total, senders*each)
	}
}

func TestPresenceFollowsConnectionsAndRenames(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := newEnv(t, hub.Options{Now: clock, PresenceTimeout: 30 * time.Second})
	ctx := context.Background()
	bob := e.register("bob", "")
	online := func(name string) bool {
		t.Helper()
		p, err := e.svc.Peer(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return p.Online
	}

	release := e.svc.Connect(ctx, "bob")
	advance(time.Hour)
	if !online("bob") {
		t.Fatal("bob holds a connection but shows offline")
	}
	if _, err := e.svc.Rename(ctx, bob, "robert"); err != nil {
		t.Fatal(err)
	}
	if !online("robert") {
		t.Fatal("renamed while connected, robert shows offline")
	}
	release()
	advance(31 * time.Second)
	if online("robert") {
		t.Fatal("robert still online after releasing its connection and the presence timeout")
	}
}

// TestGoodbyeOutweighsClosingConnections: a bridge that says goodbye
// takes its agent offline at once, although its connections close
// after; a connection opened after the goodbye counts again.
func TestGoodbyeOutweighsClosingConnections(t *testing.T) {
	e := newEnv(t, hub.Options{PresenceTimeout: time.Hour})
	ctx := context.Background()
	e.register("bob", "")
	online := func() bool {
		t.Helper()
		p, err := e.svc.Peer(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		return p.Online
	}
	stream, wait := e.svc.Connect(ctx, "bob"), e.svc.Connect(ctx, "bob")
	e.svc.Disconnect(ctx, "bob")
	if online() {
		t.Fatal("bob said goodbye but shows online while its connections close")
	}
	stream()
	if online() {
		t.Fatal("a connection closing after the goodbye brought bob back online")
	}
	again := e.svc.Connect(ctx, "bob")
	if !online() {
		t.Fatal("bob connected again after the goodbye but shows offline")
	}
	wait() // the last connection from before the goodbye
	if !online() {
		t.Fatal("an old connection closing took away the new one")
	}
	again()
	if !online() {
		t.Fatal("released just now, bob should stay online for the presence timeout")
	}
}

func TestUnknownThreadIsNotFound(t *testing.T) {
	e := newEnv(t, hub.Options{})
	alice := e.register("alice", "")
	e.register("bob", "")
	carol := e.register("carol", "")
	res := e.send(alice, "private", "bob")
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		c      hub.Caller
		thread string
	}{
		{"unknown thread", alice, "no-such-thread"},
		{"someone else's thread", carol, res.Message.Thread},
	} {
		if _, err := e.svc.Thread(ctx, tt.c, tt.thread, hub.Page{}); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("%s: err %v, want not_found", tt.name, err)
		}
	}
}

// TestCachedTokensFollowIdentityChanges authenticates each token once
// before the change, so the answer after it must not come from a stale
// cache entry.
func TestCachedTokensFollowIdentityChanges(t *testing.T) {
	e := newEnv(t, hub.Options{})
	ctx := context.Background()
	admin := hub.Caller{Admin: true}

	bob := e.register("bob", "")
	if _, err := e.svc.Rename(ctx, bob, "robert"); err != nil {
		t.Fatal(err)
	}
	if c, err := e.svc.Authenticate(ctx, e.tokens["bob"]); err != nil || c.Name != "robert" {
		t.Fatalf("after rename the token authenticates %+v, %v; want robert", c, err)
	}

	carol := e.register("carol", "")
	fresh, err := e.svc.RotateToken(ctx, carol)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, e.tokens["carol"]); !errors.Is(err, hub.ErrUnauthenticated) {
		t.Fatalf("rotated-out token: err %v, want unauthenticated", err)
	}
	if _, err := e.svc.Authenticate(ctx, fresh); err != nil {
		t.Fatalf("rotated-in token: %v", err)
	}

	e.register("dave", "")
	if _, err := e.svc.RevokeTokens(ctx, admin, "dave"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, e.tokens["dave"]); !errors.Is(err, hub.ErrUnauthenticated) {
		t.Fatalf("revoked token: err %v, want unauthenticated", err)
	}

	erin := e.register("erin", "")
	if err := e.svc.Deregister(ctx, erin); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, e.tokens["erin"]); !errors.Is(err, hub.ErrUnauthenticated) {
		t.Fatalf("deregistered agent's token: err %v, want unauthenticated", err)
	}

	e.register("frank", "")
	if err := e.svc.Reset(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, e.tokens["frank"]); !errors.Is(err, hub.ErrUnauthenticated) {
		t.Fatalf("token after reset: err %v, want unauthenticated", err)
	}
}

// Two reads of one inbox at once (two sessions of one agent) never both
// take the same message: each unread message goes to one of them.
func TestConcurrentReadsTakeEachMessageOnce(t *testing.T) {
	e := newEnv(t, hub.Options{})
	alice, bob := e.register("alice", ""), e.register("bob", "")
	const n = 200
	var mu sync.Mutex
	got := map[string]int{}
	done := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				res, err := e.svc.Read(context.Background(), bob, hub.ReadOptions{})
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				mu.Lock()
				for _, m := range res.Messages {
					got[m.Body]++
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		e.send(alice, fmt.Sprint("m", i), "bob")
	}
	close(done)
	readers.Wait()
	for _, m := range e.read(bob, hub.ReadOptions{Limit: hub.MaxReadLimit}).Messages {
		got[m.Body]++
	}
	for i := range n {
		if c := got[fmt.Sprint("m", i)]; c != 1 {
			t.Errorf("m%d read %d times, want once", i, c)
		}
	}
}
