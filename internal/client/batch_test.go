package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/parley-dev/parley/internal/hub"
)

func TestSendBatchAgainstHub(t *testing.T) {
	h := startHub(t, false)
	ctx := context.Background()
	_, cs := agents(t, h, "alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]

	reqs := []hub.SendRequest{
		{To: []string{"bob"}, Body: "one", IdempotencyKey: "k1"},
		{To: []string{"carol"}, Body: "two"},
		{To: []string{"bob", "carol"}, Body: "three"},
	}
	res, err := alice.SendBatch(ctx, reqs)
	if err != nil {
		t.Fatalf("SendBatch: %v", err)
	}
	if len(res) != 3 || res[0].Message.Body != "one" || res[2].Message.ID <= res[0].Message.ID || len(res[2].Deliveries) != 2 {
		t.Fatalf("SendBatch = %+v", res)
	}
	again, err := alice.SendBatch(ctx, reqs[:1])
	if err != nil || !again[0].Duplicate || again[0].Message.ID != res[0].Message.ID {
		t.Fatalf("retried SendBatch = %+v, %v; want the duplicate of %d", again, err, res[0].Message.ID)
	}
	for _, tt := range []struct {
		c interface {
			Inbox(context.Context, hub.ReadOptions) (hub.ReadResult, error)
		}
		want string
	}{{bob, "one,three"}, {carol, "two,three"}} {
		in, err := tt.c.Inbox(ctx, hub.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range in.Messages {
			got = append(got, m.Body)
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("inbox %v, want %s", got, tt.want)
		}
	}

	_, err = alice.SendBatch(ctx, []hub.SendRequest{{To: []string{"bob"}, Body: "fine"}, {To: []string{"Bob!"}, Body: "x"}})
	if !errors.Is(err, hub.ErrInvalidName) || !strings.Contains(err.Error(), "messages[1].to[0]") {
		t.Errorf("SendBatch with a bad name = %v, want invalid_name naming messages[1]", err)
	}
	if in, _ := bob.Inbox(ctx, hub.ReadOptions{Peek: true}); len(in.Messages) != 0 {
		t.Errorf("bob got %d messages from a refused batch", len(in.Messages))
	}
}
