package bridge_test

import (
	"context"
	"strings"
	"testing"

	"github.com/parley-dev/parley/internal/bridge"
	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/config"
)

// TestBridgeFollowsARotatedToken: `parley token rotate` replaces the
// token a running bridge holds; the bridge's next call is refused, and it
// registers again with the new token from the token store, keeping its
// name.
func TestBridgeFollowsARotatedToken(t *testing.T) {
	m := newMachine(t)
	alice := m.start(bridge.Config{Name: "alice"}, "claude-code")
	if text := alice.ok("whoami", nil); !strings.Contains(text, "alice") {
		t.Fatalf("whoami: %q", text)
	}
	ts, err := config.NewTokenStore(m.config, m.url)
	if err != nil {
		t.Fatal(err)
	}
	old, err := ts.Load("alice")
	if err != nil || old == "" {
		t.Fatalf("stored token: %q %v", old, err)
	}
	c, err := client.New(m.url, client.Options{Token: old})
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := c.RotateToken(context.Background())
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if err := ts.Save("alice", tok); err != nil {
		t.Fatal(err)
	}
	if text := alice.ok("whoami", nil); !strings.Contains(text, "You are alice ") {
		t.Fatalf("whoami after rotation: %q", text)
	}
	if now, _ := ts.Load("alice"); now != tok {
		t.Fatalf("the bridge replaced the rotated token in the store")
	}
}
