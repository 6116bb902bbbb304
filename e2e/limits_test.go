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
