package hubserver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/clocktest"
	"github.com/parley-dev/parley/internal/hubserver"
)

// TestLimitsReachTheService runs a hub with Retain and MaxUnread and
// checks both over HTTP: a second message to an agent that has not read
// the first is refused, and the first is removed once it is read and a
// day old.
func TestLimitsReachTheService(t *testing.T) {
	clk := clocktest.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	h := start(t, hubserver.Config{Retain: 24 * time.Hour, MaxUnread: 1, Now: clk.Now})
	token := map[string]string{}
	for _, name := range []string{"alice", "bob"} {
		var reg struct{ Token string }
		if st := call(t, h, "POST", "/peers/connect", fmt.Sprintf(`{"name":%q}`, name), h.AdminSecret(), &reg); st != 201 {
			t.Fatalf("register %s: %d", name, st)
		}
		token[name] = reg.Token
	}
	var sent struct{ Message struct{ ID int64 } }
	if st := call(t, h, "POST", "/messages", `{"to":"bob","body":"first"}`, token["alice"], &sent); st != 201 {
		t.Fatalf("first send: %d", st)
	}
	if st := call(t, h, "POST", "/messages", `{"to":"bob","body":"second"}`, token["alice"], nil); st != 409 {
		t.Errorf("second send to a full inbox: %d, want 409", st)
	}
	if st := call(t, h, "GET", "/inbox/bob", "", token["bob"], nil); st != 200 {
		t.Fatalf("bob's inbox: %d", st)
	}
	clk.Add(25 * time.Hour)
	path := fmt.Sprintf("/messages/%d", sent.Message.ID)
	deadline := time.Now().Add(15 * time.Second)
	for call(t, h, "GET", path, "", token["alice"], nil) != 404 {
		if time.Now().After(deadline) {
			t.Fatalf("message %d, read and a day old, still there after 15 s", sent.Message.ID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRetainBelowTheMinimumIsRefused(t *testing.T) {
	_, err := hubserver.Start(context.Background(), hubserver.Config{
		DataDir: t.TempDir(), Addr: "127.0.0.1:0", Retain: 30 * time.Minute,
	})
	if err == nil || !strings.Contains(err.Error(), "Retain 30m0s: must be 0 (forever) or at least 1h0m0s") {
		t.Fatalf("Start with Retain 30m: %v, want it refused", err)
	}
}
