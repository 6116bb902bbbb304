//go:build unix

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// onCI reports whether the CI variable says this is a CI run, where a
// missing dependency must fail a test instead of skipping it.
func onCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "0" && v != "false"
}

// TestTypeScriptSDKClient runs e2e/mcpts/test.mjs: the official
// TypeScript SDK client drives two `parley mcp` processes over stdio
// (one sends, the other's wait returns it; with --push claude-channel
// the other gets notifications/claude/channel), then a third client
// lists tools and sends over Streamable HTTP at /mcp, and a fourth lists
// tools over SSE at /mcp/sse.
//
// It needs node and `npm ci` in e2e/mcpts. Without them it skips, except
// under CI=true, where it fails.
func TestTypeScriptSDKClient(t *testing.T) {
	dir, err := filepath.Abs("mcpts")
	if err != nil {
		t.Fatal(err)
	}
	missing := func(what string) {
		msg := what + ": run `npm ci --prefix e2e/mcpts` (with node 18 or later) to enable this test"
		if onCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err != nil {
		missing("e2e/mcpts/node_modules is absent")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	e := newMCPEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "test.mjs")
	cmd.Dir = dir
	cmd.Env = append(e.environ(), "PARLEY_BIN="+e.bin)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("node test.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("the TypeScript client test failed: %v", err)
	}
	if !strings.Contains(string(out), "\nPASS\n") {
		t.Fatal("the TypeScript client test did not report PASS")
	}
}
