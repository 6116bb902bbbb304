package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-dev/parley/internal/config"
)

func TestTokenRotate(t *testing.T) {
	e := newEnv(t, false)
	e.ok("register", "alice")
	path := filepath.Join(e.tokenDir(), "alice.token")
	old, _ := os.ReadFile(path)
	if out := e.ok("token", "rotate"); !strings.Contains(out, "rotated the token of alice") {
		t.Errorf("token rotate printed %q", out)
	}
	now, _ := os.ReadFile(path)
	if string(now) == string(old) || !strings.HasPrefix(string(now), "pt_") {
		t.Fatalf("token file not replaced by a new token")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", fi.Mode().Perm())
	}
	if out := e.ok("whoami"); !strings.HasPrefix(out, "alice at ") {
		t.Errorf("whoami with the new token printed %q", out)
	}
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	e.fails("unknown or revoked agent token", "whoami")
	// Without a stored token there is nothing to rotate.
	e.fails("no token is stored", "token", "rotate", "--as", "nobody")
}

func TestAdminRevokeAndRelease(t *testing.T) {
	e := newEnv(t, false)
	e.ok("register", "alice")
	e.ok("register", "bob")
	e.fails("is not allowed", "token", "revoke", "../alice")
	e.fails("not_found", "token", "revoke", "nobody")
	if out := e.ok("token", "revoke", "alice"); !strings.Contains(out, "revoked every token of alice") {
		t.Errorf("token revoke printed %q", out)
	}
	if _, err := os.Stat(filepath.Join(e.tokenDir(), "alice.token")); !os.IsNotExist(err) {
		t.Errorf("the revoked token is still stored: %v", err)
	}
	// The name stays taken until the admin releases it.
	e.fails("name_taken", "register", "alice")
	if out := e.ok("admin", "release", "alice"); !strings.Contains(out, "released alice") {
		t.Errorf("admin release printed %q", out)
	}
	if out := e.ok("register", "alice"); !strings.Contains(out, "registered alice") {
		t.Errorf("register after release printed %q", out)
	}
	e.ok("admin", "revoke", "bob")

	// Without the admin secret, admin commands stop before any request.
	t.Setenv(config.EnvData, t.TempDir())
	e.fails("needs the hub's admin secret", "admin", "release", "alice")
	audit, err := os.ReadFile(filepath.Join(e.hub.DataDir(), "audit.log"))
	if err != nil || strings.Count(string(audit), "\n") != 3 {
		t.Errorf("audit.log after three admin actions: %q, %v", audit, err)
	}
}
