//go:build unix

package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestServeLockAndShutdown: a second hub on the same data directory
// exits non-zero saying it is locked; SIGTERM stops the first cleanly;
// the secret never appears in the logs.
func TestServeLockAndShutdown(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	h := serve(t, data)
	if code, err := do(context.Background(), "GET", h.url+"/healthz", "", "", nil); err != nil || code != 200 {
		t.Fatalf("healthz: %d %v", code, err)
	}

	second := exec.Command(binary, "serve", "--data", data, "--addr", "127.0.0.1:0")
	second.Env = cleanEnv()
	out, err := second.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("second serve: %v, want a non-zero exit\n%s", err, out)
	}
	for _, want := range []string{"locked", "another hub holds", data} {
		if !strings.Contains(string(out), want) {
			t.Errorf("second serve output lacks %q:\n%s", want, out)
		}
	}

	// The first hub still answers.
	if code, err := do(context.Background(), "GET", h.url+"/status", h.adminSecret(), "", nil); err != nil || code != 200 {
		t.Fatalf("status after the second serve: %d %v", code, err)
	}
	secret := h.adminSecret()
	if err := h.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: exit %v\n%s", err, h.logs)
	}
	logs := h.logs.String()
	for _, want := range []string{"parley hub listening", "admin.secret", "parley hub stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, secret) {
		t.Errorf("the admin secret is in the logs:\n%s", logs)
	}

	// The lock died with the process: a new hub starts on the same data.
	h2 := serve(t, data)
	if err := h2.stop(syscall.SIGINT); err != nil {
		t.Fatalf("SIGINT: exit %v\n%s", err, h2.logs)
	}
}

// TestServeRefusesUnsafeAddresses: no open hub and no secretless hub on
// an address other machines can reach; and limits that make no sense are
// refused by the flag's name before anything is created.
func TestServeRefusesUnsafeAddresses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
		// untouched: the data directory must not even be created.
		untouched bool
	}{
		{[]string{"--addr", "0.0.0.0:0"}, "join secret", false},
		{[]string{"--addr", "0.0.0.0:0", "--open", "--secret", "0123456789abcdef0123"}, "loopback", false},
		{[]string{"--sync", "sometimes"}, "Synchronous", false},
		{[]string{"--log-format", "xml"}, "--log-format", true},
		{[]string{"--retain", "-1h"}, "--retain -1h0m0s: must be 0 (keep forever) or at least 1h0m0s", true},
		{[]string{"--retain", "30m"}, "--retain 30m0s: must be 0 (keep forever) or at least 1h0m0s", true},
		{[]string{"--max-body", "0"}, "--max-body 0: must be at least 1 byte", true},
		{[]string{"--keep-events", "-5"}, "--keep-events -5: must be at least 1", true},
		{[]string{"--max-unread", "-1"}, "--max-unread -1: must not be negative", true},
	} {
		data := filepath.Join(t.TempDir(), "d")
		cmd := exec.Command(binary, append([]string{"serve", "--data", data}, tc.args...)...)
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Errorf("serve %v: %v, want a non-zero exit\n%s", tc.args, err, out)
			continue
		}
		if _, err := os.Stat(data); tc.untouched && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("serve %v: data directory: %v, want none created", tc.args, err)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("serve %v: output lacks %q:\n%s", tc.args, tc.want, out)
		}
	}
}
