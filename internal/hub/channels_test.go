package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

func postData(ps []hub.ChannelPost) string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%d:%s", p.Seq, p.Data))
	}
	return fmt.Sprint(out)
}

func TestChannelPostReadWait(t *testing.T) {
	e := newEnv(t, hub.Options{Open: true})
	ctx := context.Background()
	alice := e.register("alice", "")
	anon := hub.Caller{} // anyone, on an open hub

	p1, err := e.svc.PostChannel(ctx, anon, "results", json.RawMessage(`{"test": "handshake", "status": "pass"}`))
	if err != nil || p1.Seq != 1 || string(p1.Data) != `{"test":"handshake","status":"pass"}` {
		t.Fatalf("first post = %+v, %v", p1, err)
	}
	if _, err := e.svc.PostChannel(ctx, alice, "results", json.RawMessage(`"plain text"`)); err != nil {
		t.Fatal(err)
	}
	// Sequence numbers are per channel.
	other, err := e.svc.PostChannel(ctx, alice, "other", json.RawMessage(`42`))
	if err != nil || other.Seq != 1 {
		t.Fatalf("other channel = %+v, %v", other, err)
	}

	all, err := e.svc.ReadChannel(ctx, anon, "results", hub.ChannelReadOptions{})
	if err != nil || postData(all.Messages) != `[1:{"test":"handshake","status":"pass"} 2:"plain text"]` || all.LastSeq != 2 || all.Next != 2 {
		t.Fatalf("read = %s next %d last %d, %v", postData(all.Messages), all.Next, all.LastSeq, err)
	}
	if all.Messages[1].From != "alice" || all.Messages[0].From != "" {
		t.Fatalf("posters = %q, %q", all.Messages[0].From, all.Messages[1].From)
	}
	since, _ := e.svc.ReadChannel(ctx, anon, "results", hub.ChannelReadOptions{Since: 1, HasSince: true})
	if postData(since.Messages) != `[2:"plain text"]` {
		t.Fatalf("since 1 = %s", postData(since.Messages))
	}
	page, _ := e.svc.ReadChannel(ctx, anon, "results", hub.ChannelReadOptions{Limit: 1})
	if len(page.Messages) != 1 || !page.More || page.Next != 1 {
		t.Fatalf("page = %s more %v next %d", postData(page.Messages), page.More, page.Next)
	}
	empty, err := e.svc.ReadChannel(ctx, anon, "never-posted", hub.ChannelReadOptions{})
	if err != nil || len(empty.Messages) != 0 {
		t.Fatalf("unknown channel = %+v, %v", empty, err)
	}

	// Posts already there: a wait with since returns at once.
	got, err := e.svc.WaitChannel(ctx, anon, "results", hub.ChannelReadOptions{Since: 0, HasSince: true}, 5*time.Minute)
	if err != nil || len(got.Messages) != 2 {
		t.Fatalf("wait with since 0 = %s, %v", postData(got.Messages), err)
	}
	// Without since, a wait is for new posts only.
	woke := make(chan hub.ChannelRead, 1)
	go func() {
		r, err := e.svc.WaitChannel(ctx, alice, "results", hub.ChannelReadOptions{}, time.Minute)
		if err != nil {
			t.Errorf("wait: %v", err)
		}
		woke <- r
	}()
	waitUntil(t, func() bool { return waiters(e) > 0 })
	if _, err := e.svc.PostChannel(ctx, alice, "other", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PostChannel(ctx, alice, "results", json.RawMessage(`{"n":3}`)); err != nil {
		t.Fatal(err)
	}
	if r := <-woke; postData(r.Messages) != `[3:{"n":3}]` {
		t.Fatalf("woken with %s, want only the new post", postData(r.Messages))
	}

	chs, err := e.svc.ListChannels(ctx, anon)
	if err != nil || len(chs) != 2 || chs[0].Name != "other" || chs[1].Name != "results" || chs[1].LastSeq != 3 || chs[1].Count != 3 {
		t.Fatalf("channels = %+v, %v", chs, err)
	}
}

func TestChannelRetention(t *testing.T) {
	clock := newClock()
	e := newEnv(t, hub.Options{Now: clock.Now, Coordination: hub.CoordinationOptions{ChannelKeep: 3, ChannelMaxAge: time.Hour}})
	ctx := context.Background()
	alice := e.register("alice", "")
	for i := 1; i <= 5; i++ {
		if _, err := e.svc.PostChannel(ctx, alice, "log", json.RawMessage(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := e.svc.ReadChannel(ctx, alice, "log", hub.ChannelReadOptions{})
	if postData(r.Messages) != "[3:3 4:4 5:5]" {
		t.Fatalf("kept %s, want the newest 3", postData(r.Messages))
	}
	clock.Add(30 * time.Minute)
	if _, err := e.svc.PostChannel(ctx, alice, "log", json.RawMessage(`6`)); err != nil {
		t.Fatal(err)
	}
	clock.Add(31 * time.Minute) // posts 3 to 5 are now older than an hour
	if err := e.svc.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	r, _ = e.svc.ReadChannel(ctx, alice, "log", hub.ChannelReadOptions{})
	if postData(r.Messages) != "[6:6]" || r.LastSeq != 6 {
		t.Fatalf("after aging = %s last %d, want [6:6]", postData(r.Messages), r.LastSeq)
	}
	// Numbers are never reused, even once every post is gone.
	clock.Add(2 * time.Hour)
	if err := e.svc.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	p, _ := e.svc.PostChannel(ctx, alice, "log", json.RawMessage(`7`))
	if p.Seq != 7 {
		t.Fatalf("next seq = %d, want 7", p.Seq)
	}
}

func TestChannelBadInput(t *testing.T) {
	e := newEnv(t, hub.Options{Coordination: hub.CoordinationOptions{MaxValue: 32}})
	ctx := context.Background()
	alice := e.register("alice", "")
	bad := []struct {
		name, channel, data string
		code                hub.Code
	}{
		{"invalid channel", "a/b", `1`, hub.CodeInvalidName},
		{"empty channel", "", `1`, hub.CodeInvalidName},
		{"long channel", string(make([]byte, 65)), `1`, hub.CodeInvalidName},
		{"not JSON", "c", `{nope`, hub.CodeInvalid},
		{"empty", "c", ``, hub.CodeInvalid},
		{"too large", "c", `"` + string(make([]byte, 40)) + `"`, hub.CodeTooLarge},
	}
	for _, b := range bad {
		if _, err := e.svc.PostChannel(ctx, alice, b.channel, json.RawMessage(b.data)); hub.ErrorCode(err) != b.code {
			t.Errorf("%s: %v, want %s", b.name, err, b.code)
		}
	}
	// Authentication on: a caller that is no agent may not post.
	if _, err := e.svc.PostChannel(ctx, hub.Caller{}, "c", json.RawMessage(`1`)); !errors.Is(err, hub.ErrForbidden) {
		t.Errorf("anonymous post: %v, want forbidden", err)
	}
	if _, err := e.svc.ReadChannel(ctx, alice, "c", hub.ChannelReadOptions{Since: -1, HasSince: true}); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("negative since: %v", err)
	}
	if _, err := e.svc.WaitChannel(ctx, alice, "c", hub.ChannelReadOptions{}, -time.Millisecond); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("negative timeout: %v", err)
	}
	chs, _ := e.svc.ListChannels(ctx, alice)
	if len(chs) != 0 {
		t.Fatalf("bad input created channels %+v", chs)
	}
}

func TestSignals(t *testing.T) {
	e := newEnv(t, hub.Options{Open: true})
	ctx := context.Background()
	alice := e.register("alice", "")
	anon := hub.Caller{}

	if s, err := e.svc.GetSignal(ctx, anon, "server_ready"); err != nil || s.Emitted {
		t.Fatalf("before emit = %+v, %v", s, err)
	}
	woke := make(chan hub.Signal, 1)
	go func() {
		s, err := e.svc.WaitSignal(ctx, alice, "server_ready", time.Minute)
		if err != nil {
			t.Errorf("wait: %v", err)
		}
		woke <- s
	}()
	waitUntil(t, func() bool { return waiters(e) > 0 })
	if _, err := e.svc.EmitSignal(ctx, anon, "other", nil); err != nil {
		t.Fatal(err)
	}
	s, err := e.svc.EmitSignal(ctx, anon, "server_ready", json.RawMessage(`{"port": 7400}`))
	if err != nil || !s.Emitted || string(s.Data) != `{"port":7400}` || s.Count != 1 {
		t.Fatalf("emit = %+v, %v", s, err)
	}
	if w := <-woke; !w.Emitted || string(w.Data) != `{"port":7400}` {
		t.Fatalf("waiter woke with %+v", w)
	}
	// Already emitted: waiting returns at once.
	if w, err := e.svc.WaitSignal(ctx, alice, "server_ready", 5*time.Minute); err != nil || !w.Emitted {
		t.Fatalf("wait on emitted = %+v, %v", w, err)
	}
	s, _ = e.svc.EmitSignal(ctx, alice, "server_ready", nil)
	if s.Count != 2 || s.Data != nil || s.By != "alice" {
		t.Fatalf("re-emit = %+v", s)
	}
	sigs, _ := e.svc.ListSignals(ctx, anon)
	if len(sigs) != 2 || sigs[0].Name != "other" || sigs[1].Name != "server_ready" {
		t.Fatalf("signals = %+v", sigs)
	}
	cleared, err := e.svc.ClearSignal(ctx, anon, "server_ready")
	if err != nil || !cleared {
		t.Fatalf("clear = %v, %v", cleared, err)
	}
	if again, _ := e.svc.ClearSignal(ctx, anon, "server_ready"); again {
		t.Fatal("clearing twice reports a clear")
	}
	if w, err := e.svc.WaitSignal(ctx, alice, "server_ready", 0); err != nil || w.Emitted {
		t.Fatalf("after clear = %+v, %v", w, err)
	}
	kinds := map[string]int{}
	evs, _ := e.svc.Events(ctx, 0, 100, hub.Filter{Kinds: []string{"signal"}})
	for _, ev := range evs {
		kinds[ev.Kind]++
	}
	if kinds[hub.EventSignalEmitted] != 3 || kinds[hub.EventSignalCleared] != 1 {
		t.Fatalf("signal events %v", kinds)
	}

	for _, name := range []string{"", "a b", "x/../y", "UPPER\n"} {
		if _, err := e.svc.EmitSignal(ctx, anon, name, nil); !errors.Is(err, hub.ErrInvalidName) {
			t.Errorf("emit %q: %v, want invalid_name", name, err)
		}
	}
	if _, err := e.svc.EmitSignal(ctx, anon, "s", json.RawMessage(`{bad`)); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("emit bad data: %v", err)
	}
	if _, err := e.svc.WaitSignal(ctx, anon, "s", hub.MaxWait+1); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("huge timeout: %v", err)
	}
	if sigs, _ := e.svc.ListSignals(ctx, anon); len(sigs) != 1 {
		t.Fatalf("bad input emitted signals: %+v", sigs)
	}
}
