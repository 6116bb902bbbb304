package client_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/hubserver"
)

// These tests run the client against a real hub in process: SQLite in a
// temporary directory, the HTTP API on a free loopback port.

func startHub(tb testing.TB, open bool) *hubserver.Hub {
	tb.Helper()
	h, err := hubserver.Start(context.Background(), hubserver.Config{
		DataDir: tb.TempDir(), Addr: "127.0.0.1:0", Open: open, Version: "test",
	})
	if err != nil {
		tb.Fatalf("start hub: %v", err)
	}
	tb.Cleanup(func() {
		if err := h.Close(); err != nil {
			tb.Errorf("close hub: %v", err)
		}
	})
	return h
}

// agents registers the named agents with the admin secret and returns a
// client acting as each, all sharing the admin client's connections.
func agents(tb testing.TB, h *hubserver.Hub, names ...string) (*client.Client, []*client.Client) {
	tb.Helper()
	admin := newClient(tb, h.URL(), client.Options{AdminSecret: h.AdminSecret()})
	out := make([]*client.Client, len(names))
	for i, name := range names {
		reg, err := admin.Register(context.Background(), hub.RegisterRequest{Name: name, Role: "dev", Client: "test"})
		if err != nil {
			tb.Fatalf("register %s: %v", name, err)
		}
		if reg.Agent.Name != name || reg.Token == "" {
			tb.Fatalf("register %s = %+v", name, reg)
		}
		out[i] = admin.WithAgent(name, reg.Token)
	}
	return admin, out
}

func TestAgentsAgainstHub(t *testing.T) {
	h := startHub(t, false)
	ctx := context.Background()
	admin, cs := agents(t, h, "alice", "bob")
	alice, bob := cs[0], cs[1]

	if err := admin.Health(ctx); err != nil {
		t.Fatalf("Health: %v", err)
	}
	me, err := bob.Whoami(ctx)
	if err != nil || me.Name != "bob" || me.Role != "dev" {
		t.Fatalf("Whoami = %+v, %v; want bob, role dev", me, err)
	}
	// A token alone learns its name from the hub.
	anon := newClient(t, h.URL(), client.Options{Token: mustToken(t, admin, "carol")})
	if got, err := anon.Inbox(ctx, hub.ReadOptions{}); err != nil || len(got.Messages) != 0 {
		t.Fatalf("Inbox with only a token = %+v, %v", got, err)
	}
	if anon.Name() != "carol" {
		t.Errorf("Name after the first call = %q, want carol", anon.Name())
	}

	peers, err := alice.Peers(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, p := range peers {
		names[p.Name] = true
	}
	for _, n := range []string{"alice", "bob", "carol", hub.HumanName} {
		if !names[n] {
			t.Errorf("Peers lacks %q: %v", n, names)
		}
	}
	if devs, err := alice.Peers(ctx, "dev"); err != nil || len(devs) != 2 {
		t.Errorf("Peers(dev) = %d peers, %v; want alice and bob", len(devs), err)
	}
	if online, err := alice.Discover(ctx); err != nil || len(online) == 0 {
		t.Errorf("Discover = %v, %v; want the agents just seen", online, err)
	}
	if p, err := alice.Peer(ctx, "bob"); err != nil || p.Name != "bob" || !p.Online {
		t.Errorf("Peer(bob) = %+v, %v", p, err)
	}
	if _, err := alice.Peer(ctx, "nobody"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("Peer(nobody) = %v, want not_found", err)
	}

	busy, text := hub.StateBusy, "reviewing PR 12"
	a, err := bob.SetStatus(ctx, hub.StatusUpdate{Status: &text, State: &busy})
	if err != nil || a.StatusText != text || a.State != busy {
		t.Fatalf("SetStatus = %+v, %v", a, err)
	}
	bad := "asleep"
	if _, err := bob.SetStatus(ctx, hub.StatusUpdate{State: &bad}); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("SetStatus(asleep) = %v, want invalid_argument", err)
	}

	st, err := admin.Status(ctx)
	if err != nil || st.Version != "test" || st.Open || len(st.Peers) < 3 {
		t.Errorf("Status = %+v, %v", st, err)
	}

	// Re-registering a taken name needs its token.
	if _, err := admin.Register(ctx, hub.RegisterRequest{Name: "bob"}); !errors.Is(err, hub.ErrNameTaken) {
		t.Errorf("Register(bob) without the token = %v, want name_taken", err)
	}
	tokenless := newClient(t, h.URL(), client.Options{})
	if _, err := tokenless.Register(ctx, hub.RegisterRequest{Name: "eve"}); !errors.Is(err, hub.ErrUnauthenticated) {
		t.Errorf("Register without a credential = %v, want unauthenticated", err)
	}
	stolen := newClient(t, h.URL(), client.Options{Token: "pt_forged", As: "bob"})
	if _, err := stolen.Inbox(ctx, hub.ReadOptions{}); !errors.Is(err, hub.ErrUnauthenticated) {
		t.Errorf("Inbox with a forged token = %v, want unauthenticated", err)
	}

	if err := bob.Deregister(ctx); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	if _, err := alice.Peer(ctx, "bob"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("Peer(bob) after Deregister = %v, want not_found", err)
	}
	if err := admin.Reset(ctx); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if _, err := alice.Whoami(ctx); !errors.Is(err, hub.ErrUnauthenticated) {
		t.Errorf("Whoami after Reset = %v, want unauthenticated", err)
	}
}

func mustToken(tb testing.TB, admin *client.Client, name string) string {
	tb.Helper()
	reg, err := admin.Register(context.Background(), hub.RegisterRequest{Name: name})
	if err != nil {
		tb.Fatalf("register %s: %v", name, err)
	}
	return reg.Token
}

func TestMessagesAgainstHub(t *testing.T) {
	h := startHub(t, false)
	ctx := context.Background()
	_, cs := agents(t, h, "alice", "bob")
	alice, bob := cs[0], cs[1]

	res, err := alice.Send(ctx, hub.SendRequest{To: []string{"bob"}, Subject: "plan", Body: "deploy at five", AckRequired: true, IdempotencyKey: "k1"})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(res.Deliveries) != 1 || res.Deliveries[0].To != "bob" || res.Duplicate {
		t.Fatalf("Send = %+v", res)
	}
	id := res.Message.ID
	again, err := alice.Send(ctx, hub.SendRequest{To: []string{"bob"}, Body: "deploy at five", IdempotencyKey: "k1"})
	if err != nil || !again.Duplicate || again.Message.ID != id {
		t.Errorf("retried Send = %+v, %v; want the duplicate of %d", again, err, id)
	}

	peek, err := bob.Inbox(ctx, hub.ReadOptions{Peek: true})
	if err != nil || len(peek.Messages) != 1 || peek.Unread != 1 {
		t.Fatalf("Inbox(peek) = %+v, %v", peek, err)
	}
	in, err := bob.Inbox(ctx, hub.ReadOptions{})
	if err != nil || len(in.Messages) != 1 || in.Messages[0].ID != id || in.Messages[0].Body != "deploy at five" || in.Unread != 0 {
		t.Fatalf("Inbox = %+v, %v", in, err)
	}
	if again, _ := bob.Inbox(ctx, hub.ReadOptions{}); len(again.Messages) != 0 {
		t.Errorf("second Inbox = %d messages, want none", len(again.Messages))
	}
	if all, err := bob.Inbox(ctx, hub.ReadOptions{HasSince: true}); err != nil || len(all.Messages) != 1 {
		t.Errorf("Inbox(since 0) = %+v, %v; want the read message again", all, err)
	}

	if err := bob.Ack(ctx, id); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if err := alice.Ack(ctx, id); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("Ack by the sender = %v, want not_found", err)
	}
	v, err := alice.Message(ctx, id)
	if err != nil || len(v.Deliveries) != 1 || v.Deliveries[0].State != hub.DeliveryAcked {
		t.Errorf("Message as sender = %+v, %v; want bob's delivery acked", v, err)
	}

	reply, err := bob.Send(ctx, hub.SendRequest{To: []string{"alice"}, Body: "five is fine", ReplyTo: id})
	if err != nil || reply.Message.Thread != res.Message.Thread {
		t.Fatalf("reply = %+v, %v; want thread %q", reply, err, res.Message.Thread)
	}
	thread, err := alice.Thread(ctx, res.Message.Thread, hub.Page{})
	if err != nil || len(thread.Messages) != 2 || thread.Messages[0].ID != reply.Message.ID {
		t.Errorf("Thread = %+v, %v; want reply then message", thread, err)
	}
	conv, err := alice.Conversation(ctx, "bob", hub.Page{Limit: 1})
	if err != nil || len(conv.Messages) != 1 || !conv.More || conv.Before == 0 {
		t.Errorf("Conversation(limit 1) = %+v, %v; want one message and more", conv, err)
	}
	older, err := alice.Conversation(ctx, "bob", hub.Page{Before: conv.Before, Limit: 1})
	if err != nil || len(older.Messages) != 1 || older.Messages[0].ID != id {
		t.Errorf("Conversation(before) = %+v, %v; want message %d", older, err, id)
	}
	found, err := bob.Search(ctx, "deploy", hub.Page{})
	if err != nil || len(found.Messages) != 1 || found.Messages[0].ID != id {
		t.Errorf("Search(deploy) = %+v, %v", found, err)
	}

	for _, tt := range []struct {
		name string
		req  hub.SendRequest
		want error
	}{
		{"bad name", hub.SendRequest{To: []string{"Bob!"}, Body: "x"}, hub.ErrInvalidName},
		{"empty", hub.SendRequest{To: []string{"bob"}}, hub.ErrInvalid},
		{"no role", hub.SendRequest{To: []string{"role:nobody"}, Body: "x"}, hub.ErrNotFound},
	} {
		if _, err := alice.Send(ctx, tt.req); !errors.Is(err, tt.want) {
			t.Errorf("Send %s = %v, want %v", tt.name, err, tt.want)
		}
	}

	// Mail for a name nobody holds yet waits for it.
	held, err := alice.Send(ctx, hub.SendRequest{To: []string{"dave"}, Body: "welcome"})
	if err != nil || len(held.Queued) != 1 || held.Queued[0] != "dave" {
		t.Errorf("Send to dave = %+v, %v; want it queued", held, err)
	}
}

func TestRenameForwards(t *testing.T) {
	h := startHub(t, false)
	ctx := context.Background()
	_, cs := agents(t, h, "alice", "bob")
	alice, bob := cs[0], cs[1]
	a, err := bob.Rename(ctx, "Robert")
	if err != nil || a.Name != "robert" || bob.Name() != "robert" {
		t.Fatalf("Rename = %+v, %v; client name %q", a, err, bob.Name())
	}
	res, err := alice.Send(ctx, hub.SendRequest{To: []string{"bob"}, Body: "still there?"})
	if err != nil || res.Forwarded["bob"] != "robert" {
		t.Fatalf("Send to the old name = %+v, %v; want it forwarded to robert", res, err)
	}
	in, err := bob.Inbox(ctx, hub.ReadOptions{})
	if err != nil || len(in.Messages) != 1 || in.Messages[0].Body != "still there?" {
		t.Errorf("Inbox after rename = %+v, %v", in, err)
	}
}

func TestWaitWakesOnMessage(t *testing.T) {
	h := startHub(t, false)
	ctx := context.Background()
	_, cs := agents(t, h, "alice", "bob")
	alice, bob := cs[0], cs[1]

	sent := make(chan error, 1)
	go func() {
		// Whether this lands before or during the wait, the wait must
		// return it; the pause makes the wake-up the usual path.
		time.Sleep(50 * time.Millisecond)
		_, err := alice.Send(ctx, hub.SendRequest{To: []string{"bob"}, Body: "wake up"})
		sent <- err
	}()
	res, err := bob.Wait(ctx, hub.ReadOptions{}, time.Minute)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(res.Messages) != 1 || res.Messages[0].Body != "wake up" {
		t.Errorf("Wait = %+v, want the message", res)
	}

	empty, err := bob.Wait(ctx, hub.ReadOptions{}, 10*time.Millisecond)
	if err != nil || len(empty.Messages) != 0 {
		t.Errorf("Wait with nothing pending = %+v, %v; want no messages and no error", empty, err)
	}
}

func TestEventsFromHub(t *testing.T) {
	h := startHub(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, cs := agents(t, h, "alice", "bob")
	alice, bob := cs[0], cs[1]

	st, err := bob.Events(ctx, client.EventOptions{Kinds: []string{"message"}, Agents: []string{"bob"}})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	defer st.Close()
	res, err := alice.Send(ctx, hub.SendRequest{To: []string{"bob"}, Body: "one"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := st.Next()
	if err != nil || ev.Kind != hub.EventMessageSent || ev.Subject != strconv.FormatInt(res.Message.ID, 10) {
		t.Fatalf("Next = %+v, %v; want message.sent of %d", ev, err, res.Message.ID)
	}
	st.Close()

	// Resume after the last event seen: what was sent meanwhile is replayed.
	res2, err := alice.Send(ctx, hub.SendRequest{To: []string{"bob"}, Body: "two"})
	if err != nil {
		t.Fatal(err)
	}
	st2, err := bob.Events(ctx, client.EventOptions{Kinds: []string{"message"}, Agents: []string{"bob"}, LastEventID: st.LastID()})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	ev, err = st2.Next()
	if err != nil || ev.Subject != strconv.FormatInt(res2.Message.ID, 10) {
		t.Errorf("resumed Next = %+v, %v; want message %d", ev, err, res2.Message.ID)
	}
}

func TestConcurrentUse(t *testing.T) {
	h := startHub(t, false)
	ctx := context.Background()
	_, cs := agents(t, h, "alice", "bob")
	alice, bob := cs[0], cs[1]
	const workers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, err := alice.Send(ctx, hub.SendRequest{To: []string{"bob"}, Body: fmt.Sprintf("%d/%d", w, i)})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Send: %v", err)
	}
	res, err := bob.Inbox(ctx, hub.ReadOptions{Peek: true, Limit: hub.MaxReadLimit})
	if err != nil || len(res.Messages) != workers*each {
		t.Errorf("Inbox = %d messages, %v; want %d", len(res.Messages), err, workers*each)
	}
}

func TestOpenHub(t *testing.T) {
	h := startHub(t, true)
	ctx := context.Background()
	anon := newClient(t, h.URL(), client.Options{})
	if _, err := anon.Register(ctx, hub.RegisterRequest{Name: "alice"}); err != nil {
		t.Fatalf("Register on an open hub: %v", err)
	}
	if _, err := anon.Register(ctx, hub.RegisterRequest{Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	// Without a token, X-Parley-As names the caller.
	alice := newClient(t, h.URL(), client.Options{As: "alice"})
	if _, err := alice.Send(ctx, hub.SendRequest{To: []string{"bob"}, Body: "hi"}); err != nil {
		t.Fatalf("Send as alice: %v", err)
	}
	bob := newClient(t, h.URL(), client.Options{As: "bob"})
	if res, err := bob.Inbox(ctx, hub.ReadOptions{}); err != nil || len(res.Messages) != 1 || res.Messages[0].From != "alice" {
		t.Errorf("Inbox of bob = %+v, %v", res, err)
	}
}

func BenchmarkInbox(b *testing.B) {
	h := startHub(b, false)
	_, cs := agents(b, h, "bob")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cs[0].Inbox(ctx, hub.ReadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSend(b *testing.B) {
	h := startHub(b, false)
	_, cs := agents(b, h, "alice", "bob")
	ctx := context.Background()
	req := hub.SendRequest{To: []string{"bob"}, Body: "benchmark message body"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cs[0].Send(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
