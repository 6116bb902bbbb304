package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// register registers agents on h with its admin secret and returns
// their tokens.
func register(ctx context.Context, t *testing.T, h *hubProc, names ...string) map[string]string {
	t.Helper()
	admin := h.adminSecret()
	token := map[string]string{}
	for _, name := range names {
		var reg struct{ Token string }
		if code, err := do(ctx, "POST", h.url+"/peers/connect", admin, fmt.Sprintf(`{"name":%q}`, name), &reg); err != nil || code != http.StatusCreated {
			t.Fatalf("register %s: %d, %v", name, code, err)
		}
		token[name] = reg.Token
	}
	return token
}

// TestServeMaxUnreadRefusesAFullInbox runs `parley serve --max-unread 1`:
// a second message to an agent that has not read the first is refused,
// by name, and gets through once the first is read.
func TestServeMaxUnreadRefusesAFullInbox(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := serve(t, filepath.Join(t.TempDir(), "data"), "--max-unread", "1")
	token := register(ctx, t, h, "alice", "bob")
	send := func() (int, error) {
		return do(ctx, "POST", h.url+"/messages", token["alice"], `{"to":"bob","body":"ping"}`, nil)
	}
	if code, err := send(); err != nil || code != http.StatusCreated {
		t.Fatalf("first send: %d, %v", code, err)
	}
	code, err := send()
	if code != http.StatusConflict || err == nil || !strings.Contains(err.Error(), "inbox full: bob already has 1 unread message, the most") {
		t.Fatalf("second send: %d, %v; want 409 saying bob's inbox is full", code, err)
	}
	if code, err := do(ctx, "GET", h.url+"/inbox/bob", token["bob"], "", nil); err != nil || code != http.StatusOK {
		t.Fatalf("bob's inbox: %d, %v", code, err)
	}
	if code, err := send(); err != nil || code != http.StatusCreated {
		t.Fatalf("send after bob read: %d, %v", code, err)
	}
}

// TestServeRetainRemovesReadMessages runs `parley serve --retain 1s` and
// checks that a message its recipient has read goes within one expiry
// pass (every five seconds), while an unread one stays.
func TestServeRetainRemovesReadMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := serve(t, filepath.Join(t.TempDir(), "data"), "--retain", "1s")
	token := register(ctx, t, h, "alice", "bob")
	send := func(body string) int64 {
		t.Helper()
		var res struct{ Message struct{ ID int64 } }
		if code, err := do(ctx, "POST", h.url+"/messages", token["alice"], fmt.Sprintf(`{"to":"bob","body":%q}`, body), &res); err != nil || code != http.StatusCreated {
			t.Fatalf("send %q: %d, %v", body, code, err)
		}
		return res.Message.ID
	}
	read := send("read by bob")
	if code, err := do(ctx, "GET", h.url+"/inbox/bob", token["bob"], "", nil); err != nil || code != http.StatusOK {
		t.Fatalf("bob's inbox: %d, %v", code, err)
	}
	unread := send("left unread")

	status := func(id int64) int {
		t.Helper()
		code, err := do(ctx, "GET", fmt.Sprintf("%s/messages/%d", h.url, id), token["alice"], "", nil)
		if code == 0 { // no answer at all; do reports other statuses as errors too
			t.Fatalf("GET message %d: %v", id, err)
		}
		return code
	}
	deadline := time.Now().Add(20 * time.Second)
	for status(read) != http.StatusNotFound {
		if time.Now().After(deadline) {
			t.Fatalf("message %d, read more than %s ago, is still there", read, 20*time.Second)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code := status(unread); code != http.StatusOK {
		t.Errorf("unread message %d: status %d, want 200: unread mail is never removed", unread, code)
	}
}
