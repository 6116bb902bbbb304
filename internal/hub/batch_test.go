package hub_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parley-dev/parley/internal/hub"
)

func TestSendBatchDeliversInOrder(t *testing.T) {
	e := newEnv(t, hub.Options{})
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	carol := e.register("carol", "")
	e.send(alice, "before", "bob") // bob's seq starts at 2 in the batch
	var reqs []hub.SendRequest
	for i := range 6 {
		to := []string{"bob", "carol"}[i%2]
		reqs = append(reqs, hub.SendRequest{To: []string{to}, Body: fmt.Sprintf("m%d", i)})
	}
	reqs = append(reqs, hub.SendRequest{To: []string{"bob", "carol"}, Body: "both"})
	res, err := e.svc.SendBatch(context.Background(), alice, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(reqs) {
		t.Fatalf("%d results for %d messages", len(res), len(reqs))
	}
	for i := 1; i < len(res); i++ {
		if res[i].Message.ID <= res[i-1].Message.ID {
			t.Fatalf("message ids not increasing: %d then %d", res[i-1].Message.ID, res[i].Message.ID)
		}
	}
	if got := res[0].Deliveries; len(got) != 1 || got[0].To != "bob" || got[0].Seq != 2 {
		t.Fatalf("first result's deliveries = %+v, want bob seq 2", got)
	}
	for _, tt := range []struct {
		c    hub.Caller
		want []string
	}{
		{bob, []string{"before", "m0", "m2", "m4", "both"}},
		{carol, []string{"m1", "m3", "m5", "both"}},
	} {
		got := e.read(tt.c, hub.ReadOptions{}).Messages
		if strings.Join(bodies(got), ",") != strings.Join(tt.want, ",") {
			t.Fatalf("%s read %v, want %v", tt.c.Name, bodies(got), tt.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Seq != got[i-1].Seq+1 {
				t.Fatalf("%s: seq %d after %d", tt.c.Name, got[i].Seq, got[i-1].Seq)
			}
		}
	}
	// One message.sent event per message, in order.
	evs, err := e.svc.Events(context.Background(), 0, 100, hub.Filter{Kinds: []string{hub.EventMessageSent}})
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for _, ev := range evs {
		if ev.Kind == hub.EventMessageSent {
			sent = append(sent, ev.Subject)
		}
	}
	if len(sent) != len(reqs)+1 || sent[1] != fmt.Sprint(res[0].Message.ID) || sent[len(sent)-1] != fmt.Sprint(res[len(res)-1].Message.ID) {
		t.Fatalf("message.sent events for %v, want one per message", sent)
	}
}

func TestSendBatchRefusalChangesNothing(t *testing.T) {
	e := newEnv(t, hub.Options{MaxBody: 1000})
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	ok := hub.SendRequest{To: []string{"bob"}, Body: "fine"}
	many := make([]hub.SendRequest, hub.MaxBatch+1)
	for i := range many {
		many[i] = ok
	}
	tests := []struct {
		name string
		reqs []hub.SendRequest
		code hub.Code
		msg  string
	}{
		{"empty", nil, hub.CodeInvalid, "messages: at least one"},
		{"too many", many, hub.CodeTooLarge, "at most 500"},
		{"invalid name", []hub.SendRequest{ok, ok, ok, {To: []string{"a/b"}, Body: "x"}}, hub.CodeInvalidName, "messages[3].to[0]: "},
		{"no to", []hub.SendRequest{ok, {Body: "x"}}, hub.CodeInvalid, "messages[1].to: at least one recipient"},
		{"empty body", []hub.SendRequest{{To: []string{"bob"}}, ok}, hub.CodeInvalid, "messages[0].body: empty"},
		{"too large", []hub.SendRequest{ok, {To: []string{"bob"}, Body: strings.Repeat("x", 1001)}}, hub.CodeTooLarge, "messages[1]: message is 1001 bytes"},
		{"bad importance", []hub.SendRequest{ok, {To: []string{"bob"}, Body: "x", Importance: "critical"}}, hub.CodeInvalid, `messages[1].importance "critical"`},
		// Refused while stored: the earlier messages are rolled back.
		{"no recipient", []hub.SendRequest{ok, ok, {To: []string{"role:nobody"}, Body: "x"}}, hub.CodeNotFound, `messages[2]: no other agent has role "nobody"`},
		{"unknown reply_to", []hub.SendRequest{ok, {To: []string{"bob"}, Body: "x", ReplyTo: 999}}, hub.CodeNotFound, "messages[1].reply_to: message 999 not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.svc.SendBatch(context.Background(), alice, tt.reqs)
			if got := hub.ErrorCode(err); got != tt.code || !strings.Contains(hub.PublicMessage(err), tt.msg) {
				t.Fatalf("err = %s %q (%v), want %s containing %q", got, hub.PublicMessage(err), err, tt.code, tt.msg)
			}
			if res != nil {
				t.Fatalf("results %+v with an error", res)
			}
			if got := e.read(bob, hub.ReadOptions{Peek: true}).Messages; len(got) != 0 {
				t.Fatalf("bob received %v after a refused batch", bodies(got))
			}
		})
	}
	// Nothing of the refused batches took a sequence number or an id.
	res, err := e.svc.SendBatch(context.Background(), alice, []hub.SendRequest{ok})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Deliveries[0].Seq != 1 {
		t.Fatalf("bob's first delivery has seq %d, want 1", res[0].Deliveries[0].Seq)
	}
	// The admin acting as nobody, or no agent at all, cannot send.
	if _, err := e.svc.SendBatch(context.Background(), hub.Caller{}, []hub.SendRequest{ok}); hub.ErrorCode(err) != hub.CodeForbidden {
		t.Fatalf("batch without an agent: %v, want forbidden", err)
	}
}

func TestSendBatchBytesBound(t *testing.T) {
	e := newEnv(t, hub.Options{}) // 1 MiB per message
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	big := hub.SendRequest{To: []string{"bob"}, Body: strings.Repeat("x", 1<<20)}
	reqs := make([]hub.SendRequest, hub.MaxBatchBytes>>20+1)
	for i := range reqs {
		reqs[i] = big
	}
	_, err := e.svc.SendBatch(context.Background(), alice, reqs)
	if hub.ErrorCode(err) != hub.CodeTooLarge || !strings.Contains(hub.PublicMessage(err), "a batch holds at most 8388608 bytes") {
		t.Fatalf("err = %v, want too_large naming the batch limit", err)
	}
	if got := e.read(bob, hub.ReadOptions{Peek: true}).Messages; len(got) != 0 {
		t.Fatalf("bob received %d messages after a refused batch", len(got))
	}
	if _, err := e.svc.SendBatch(context.Background(), alice, reqs[1:]); err != nil {
		t.Fatalf("a batch of exactly %d bytes: %v", hub.MaxBatchBytes, err)
	}
}

func TestSendBatchIdempotency(t *testing.T) {
	e := newEnv(t, hub.Options{})
	alice := e.register("alice", "")
	bob := e.register("bob", "")
	ctx := context.Background()
	req := func(body, key string) hub.SendRequest {
		return hub.SendRequest{To: []string{"bob"}, Body: body, IdempotencyKey: key}
	}
	single, err := e.svc.Send(ctx, alice, req("single", "k0"))
	if err != nil {
		t.Fatal(err)
	}
	first, err := e.svc.SendBatch(ctx, alice, []hub.SendRequest{req("a", "k1"), req("b", "k2"), req("a again", "k1"), req("no key", ""), req("single", "k0")})
	if err != nil {
		t.Fatal(err)
	}
	// Within the batch: the second k1 returns the first as a duplicate.
	if first[2].Message.ID != first[0].Message.ID || !first[2].Duplicate || first[0].Duplicate || first[2].Message.Body != "a" {
		t.Fatalf("second k1 = id %d duplicate %v body %q, want id %d duplicate", first[2].Message.ID, first[2].Duplicate, first[2].Message.Body, first[0].Message.ID)
	}
	if len(first[2].Deliveries) != 1 || first[2].Deliveries[0].To != "bob" {
		t.Fatalf("duplicate's deliveries = %+v", first[2].Deliveries)
	}
	// Across Send and SendBatch.
	if first[4].Message.ID != single.Message.ID || !first[4].Duplicate {
		t.Fatalf("k0 in a batch = id %d duplicate %v, want id %d duplicate", first[4].Message.ID, first[4].Duplicate, single.Message.ID)
	}
	// Across batches: a retried batch stores only what has no key.
	again, err := e.svc.SendBatch(ctx, alice, []hub.SendRequest{req("a", "k1"), req("b", "k2"), req("c", "k3")})
	if err != nil {
		t.Fatal(err)
	}
	if !again[0].Duplicate || again[0].Message.ID != first[0].Message.ID || !again[1].Duplicate || again[1].Message.ID != first[1].Message.ID || again[2].Duplicate {
		t.Fatalf("retried batch = %v/%v/%v", again[0].Duplicate, again[1].Duplicate, again[2].Duplicate)
	}
	got := bodies(e.read(bob, hub.ReadOptions{}).Messages)
	if want := "single,a,b,no key,c"; strings.Join(got, ",") != want {
		t.Fatalf("bob read %v, want %s", got, want)
	}
	// Keys are per sender: bob may use alice's key.
	if res, err := e.svc.SendBatch(ctx, bob, []hub.SendRequest{{To: []string{"alice"}, Body: "x", IdempotencyKey: "k1"}}); err != nil || res[0].Duplicate {
		t.Fatalf("bob's k1: %v duplicate %v", err, res != nil && res[0].Duplicate)
	}
}

func TestSendBatchLeavesRequestsAsGiven(t *testing.T) {
	e := newEnv(t, hub.Options{})
	alice := e.register("alice", "")
	e.register("bob", "")
	reqs := []hub.SendRequest{{To: []string{"BOB"}, Body: "x"}}
	res, err := e.svc.SendBatch(context.Background(), alice, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if reqs[0].To[0] != "BOB" || res[0].Message.To[0] != "bob" {
		t.Fatalf("request to %q, stored to %q", reqs[0].To[0], res[0].Message.To[0])
	}
}

// BenchmarkSendBatch measures the domain and store cost of one message
// sent in batches of 100 (one Update each), from 4 senders to 4
// recipients, NORMAL: the writer's work per message without HTTP.
func BenchmarkSendBatch(b *testing.B) {
	svc, _ := benchHub(b, "NORMAL")
	var senders []hub.Caller
	for i := range 4 {
		c, _ := benchAgent(b, svc, fmt.Sprintf("s%d", i))
		senders = append(senders, c)
		benchAgent(b, svc, fmt.Sprintf("r%d", i))
	}
	const per = 100
	reqs := make([]hub.SendRequest, per)
	for i := range reqs {
		reqs[i] = hub.SendRequest{To: []string{fmt.Sprintf("r%d", i%4)}, Body: benchText}
	}
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(2)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := senders[next.Add(1)%4]
		for pb.Next() {
			if _, err := svc.SendBatch(ctx, c, reqs); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*per), "µs/msg")
}
