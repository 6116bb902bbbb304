package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/parley-dev/parley/internal/cli"
	"github.com/parley-dev/parley/internal/hub"
)

// exitOf runs parley and returns its output and exit status.
func (e *env) exitOf(args ...string) (string, int) {
	out, err := e.run(args...)
	return out, cli.ExitCode(err)
}

func TestCmdSendWaitAck(t *testing.T) {
	e := two(t)
	out := e.ok("--as", "alice", "cmd", "send", "frontend", "start_server", "--params", `{"port":7400}`)
	if !strings.Contains(out, "sent command #1 start_server to role:frontend (pending)") {
		t.Fatalf("send printed %q", out)
	}
	out = e.ok("--as", "bob", "cmd", "list")
	if !strings.Contains(out, "#1") || !strings.Contains(out, "pending") {
		t.Fatalf("list printed %q", out)
	}
	out = e.ok("--as", "bob", "cmd", "wait", "--timeout", "5s")
	if !strings.Contains(out, "#1 start_server  from alice to role:frontend  CLAIMED") || !strings.Contains(out, `params: {"port":7400}`) {
		t.Fatalf("wait printed %q", out)
	}
	// Nothing more: wait times out with status 3.
	if _, code := e.exitOf("--as", "bob", "cmd", "wait", "--timeout", "0s"); code != cli.ExitTimeout {
		t.Fatalf("idle wait exit %d, want %d", code, cli.ExitTimeout)
	}
	// Alice waits for the result while bob finishes.
	var wg sync.WaitGroup
	var waitOut string
	var waitCode int
	wg.Add(1)
	go func() {
		defer wg.Done()
		waitOut, waitCode = e.exitOf("--as", "alice", "cmd", "status", "1", "--wait", "1m")
	}()
	out = e.ok("--as", "bob", "cmd", "ack", "1", `{"status":"ok"}`)
	if out != "command #1 done\n" {
		t.Fatalf("ack printed %q", out)
	}
	wg.Wait()
	if waitCode != 0 || !strings.Contains(waitOut, `result: {"status":"ok"}`) {
		t.Fatalf("status --wait: exit %d, printed %q", waitCode, waitOut)
	}

	// A failed command makes send --wait exit 1.
	e.ok("--as", "alice", "cmd", "send", "bob", "deploy")
	e.ok("--as", "bob", "cmd", "ack", "2", "--fail", "disk full")
	out, code := e.exitOf("--as", "alice", "cmd", "status", "2", "--wait", "1s")
	if code != 1 || !strings.Contains(out, "error: disk full") {
		t.Fatalf("failed command: exit %d, printed %q", code, out)
	}
	var c hub.Command
	e.jsonOf(&c, "--as", "alice", "cmd", "status", "2")
	if c.Status != hub.CommandFailed || c.ClaimedBy != "bob" {
		t.Fatalf("status --json = %+v", c)
	}

	// Bad input is refused before or by the hub, and sends nothing.
	e.fails("--params", "--as", "alice", "cmd", "send", "bob", "x", "--params", "port=7400")
	e.fails("must be a JSON object", "--as", "alice", "cmd", "send", "bob", "x", "--params", "[1]")
	e.fails("not_found", "--as", "alice", "cmd", "send", "nobody", "x")
	e.fails("--deadline", "--as", "alice", "cmd", "send", "bob", "x", "--deadline", "tomorrow")
	e.fails("--timeout", "--as", "bob", "cmd", "wait", "--timeout", "-1s")
	e.fails("command id", "--as", "bob", "cmd", "ack", "abc")
	e.fails("not_found", "--as", "bob", "cmd", "ack", "99")
	var list struct {
		Commands []hub.Command `json:"commands"`
	}
	e.jsonOf(&list, "--as", "alice", "cmd", "list", "--sent")
	if len(list.Commands) != 2 {
		t.Fatalf("alice sent %d commands, want 2", len(list.Commands))
	}
}

func TestChannelAndSignalCommands(t *testing.T) {
	e := two(t)
	e.ok("--as", "alice", "channel", "post", "results", `{"test":"handshake","status":"pass"}`)
	out := e.ok("--as", "alice", "channel", "post", "results", "all green")
	if out != "posted #2 to results\n" {
		t.Fatalf("post printed %q", out)
	}
	out = e.ok("--as", "bob", "channel", "read", "results")
	if !strings.Contains(out, `#1  alice`) || !strings.Contains(out, `{"test":"handshake","status":"pass"}`) || !strings.Contains(out, `#2  alice`) || !strings.Contains(out, `"all green"`) {
		t.Fatalf("read printed %q", out)
	}
	var read hub.ChannelRead
	e.jsonOf(&read, "--as", "bob", "channel", "read", "results", "--since", "1")
	if len(read.Messages) != 1 || read.Messages[0].Seq != 2 {
		t.Fatalf("read --since 1 = %+v", read)
	}
	out = e.ok("--as", "bob", "channel", "wait", "results", "--since", "1", "--timeout", "5s")
	if !strings.Contains(out, "#2") {
		t.Fatalf("wait printed %q", out)
	}
	if _, code := e.exitOf("--as", "bob", "channel", "wait", "results", "--timeout", "0s"); code != cli.ExitTimeout {
		t.Fatalf("idle channel wait exit %d", code)
	}
	e.fails("not valid JSON", "--as", "alice", "channel", "post", "results", `{"broken"`)
	e.fails("is not allowed", "--as", "alice", "channel", "post", "a/b", "1")
	if out := e.ok("--as", "bob", "channel", "list"); !strings.Contains(out, "results") {
		t.Fatalf("list printed %q", out)
	}

	if out, code := e.exitOf("--as", "bob", "signal", "get", "server_ready"); code != cli.ExitTimeout || !strings.Contains(out, "not emitted") {
		t.Fatalf("get before emit: exit %d, %q", code, out)
	}
	e.ok("--as", "alice", "signal", "emit", "server_ready", `{"port":7400}`)
	out = e.ok("--as", "bob", "signal", "wait", "server_ready", "--timeout", "5s")
	if !strings.Contains(out, "server_ready  emitted by alice") || !strings.Contains(out, `{"port":7400}`) {
		t.Fatalf("signal wait printed %q", out)
	}
	if out := e.ok("--as", "bob", "signal", "list"); !strings.Contains(out, "server_ready") {
		t.Fatalf("signal list printed %q", out)
	}
	if out := e.ok("--as", "bob", "signal", "clear", "server_ready"); out != "cleared server_ready\n" {
		t.Fatalf("clear printed %q", out)
	}
	if _, code := e.exitOf("--as", "bob", "signal", "wait", "server_ready", "--timeout", "0s"); code != cli.ExitTimeout {
		t.Fatalf("wait after clear exit %d", code)
	}
}

func TestProposeAndVoteCommands(t *testing.T) {
	e := two(t)
	out := e.ok("--as", "alice", "propose", "Ship v2?", "--voters", "alice,bob", "--rule", "unanimous")
	if !strings.Contains(out, "proposal #1: 2 voters (alice, bob), unanimous needs 2 votes") {
		t.Fatalf("propose printed %q", out)
	}
	e.ok("--as", "alice", "vote", "1", "approve", "--comment", "ready")
	out = e.ok("--as", "bob", "proposal", "1")
	if !strings.Contains(out, "tally: approve 1, reject 0") || !strings.Contains(out, "OPEN; waiting for bob") {
		t.Fatalf("proposal printed %q", out)
	}
	out = e.ok("--as", "bob", "vote", "1", "approve")
	if !strings.Contains(out, "DECIDED: approve") {
		t.Fatalf("deciding vote printed %q", out)
	}
	e.fails("conflict", "--as", "bob", "vote", "1", "reject")
	e.fails("invalid_argument", "--as", "alice", "propose", "q", "--rule", "plurality")
	out, code := e.exitOf("--as", "alice", "proposal", "1", "--wait", "1s")
	if code != 0 || !strings.Contains(out, "DECIDED") {
		t.Fatalf("proposal --wait: exit %d, %q", code, out)
	}
	if out := e.ok("--as", "alice", "proposal", "--status", "decided"); !strings.Contains(out, "decided: approve") {
		t.Fatalf("proposal list printed %q", out)
	}
}

func TestLeaseAndGuardCommands(t *testing.T) {
	e := two(t)
	out := e.ok("--as", "alice", "lease", "reserve", "src/api/**", "--ttl", "2h", "--reason", "API refactor")
	if !strings.Contains(out, "lease #1 (exclusive) on src/api/**") || !strings.Contains(out, "fencing token 1") {
		t.Fatalf("reserve printed %q", out)
	}
	e.fails(`"alice"`, "--as", "bob", "lease", "reserve", "src/**")
	e.fails("absolute", "--as", "bob", "lease", "reserve", "/etc/**")

	// guard: bob may not commit alice's files; alice may.
	out, code := e.exitOf("--as", "bob", "guard", "src/api/handler.go", "README.md")
	if code != 1 || !strings.Contains(out, "src/api/handler.go: reserved by alice (pattern src/api/**, lease #1") || !strings.Contains(out, "API refactor") || strings.Contains(out, "README.md") {
		t.Fatalf("guard for bob: exit %d, %q", code, out)
	}
	if out, code := e.exitOf("--as", "alice", "guard", "src/api/handler.go"); code != 0 || out != "" {
		t.Fatalf("guard for alice: exit %d, %q", code, out)
	}

	// guard with no paths reads the files staged in git.
	repo := t.TempDir()
	gitIn := func(args ...string) {
		t.Helper()
		c := exec.Command("git", args...)
		c.Dir = repo
		if b, err := c.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, b)
		}
	}
	gitIn("init", "-q")
	if err := os.MkdirAll(filepath.Join(repo, "src", "api"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "src", "api", "h.go"), []byte("package api\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn("add", "src/api/h.go")
	t.Chdir(repo)
	out, code = e.exitOf("--as", "bob", "guard")
	if code != 1 || !strings.Contains(out, "src/api/h.go: reserved by alice") {
		t.Fatalf("guard of staged files: exit %d, %q", code, out)
	}
	out = e.ok("guard", "--install")
	if !strings.Contains(out, "pre-commit") {
		t.Fatalf("install printed %q", out)
	}
	hook, err := os.ReadFile(filepath.Join(repo, ".git", "hooks", "pre-commit"))
	if err != nil || !strings.Contains(string(hook), "exec parley guard") {
		t.Fatalf("hook = %q, %v", hook, err)
	}

	out = e.ok("--as", "bob", "lease", "list")
	if !strings.Contains(out, "alice") || !strings.Contains(out, "src/api/**") || !strings.Contains(out, "API refactor") {
		t.Fatalf("list printed %q", out)
	}
	e.fails("forbidden", "--as", "bob", "lease", "release", "1")
	e.ok("--as", "alice", "lease", "renew", "1", "--ttl", "3h")
	e.ok("--as", "alice", "lease", "release", "1")
	if out, code := e.exitOf("--as", "bob", "guard", "src/api/handler.go"); code != 0 {
		t.Fatalf("guard after release: exit %d, %q", code, out)
	}
	var l hub.Lease
	e.jsonOf(&l, "--as", "bob", "lease", "reserve", "src/**", "--shared")
	if l.Token != 2 || l.Exclusive {
		t.Fatalf("second lease = %+v", l)
	}
}

func TestStateCommands(t *testing.T) {
	e := two(t)
	out := e.ok("--as", "alice", "state", "set", "deploy.phase", "build", "--expect", "0")
	if out != "deploy.phase set at revision 1\n" {
		t.Fatalf("set printed %q", out)
	}
	out = e.ok("--as", "bob", "state", "get", "deploy.phase")
	if !strings.HasPrefix(out, `deploy.phase = "build"  (revision 1, by alice`) {
		t.Fatalf("get printed %q", out)
	}
	// A stale compare-and-swap fails and names the current revision.
	e.ok("--as", "alice", "state", "set", "deploy.phase", `{"step":2}`, "--expect", "1")
	_, err := e.run("--as", "bob", "state", "set", "deploy.phase", "test", "--expect", "1")
	if err == nil || cli.ExitCode(err) != 1 || !strings.Contains(err.Error(), "current revision 2") {
		t.Fatalf("stale set: %v", err)
	}
	e.fails("not valid JSON", "--as", "bob", "state", "set", "k", `{"a":`)
	e.fails("is not allowed", "--as", "bob", "state", "get", "A/B")
	if out := e.ok("--as", "bob", "state", "get", "deploy.phase", "--value"); out != `{"step":2}`+"\n" {
		t.Fatalf("get --value printed %q", out)
	}

	// watch returns at once for a change after --after; times out with 3
	// when nothing changes.
	out = e.ok("--as", "bob", "state", "watch", "deploy.phase", "--after", "1", "--timeout", "5s")
	if !strings.Contains(out, "revision 2") {
		t.Fatalf("watch printed %q", out)
	}
	if _, code := e.exitOf("--as", "bob", "state", "watch", "deploy.phase", "--timeout", "0s"); code != cli.ExitTimeout {
		t.Fatalf("idle watch exit %d", code)
	}
	e.ok("--as", "alice", "state", "set", "deploy.owner", "alice")
	out = e.ok("--as", "bob", "state", "ls", "deploy.")
	if !strings.Contains(out, "deploy.owner") || !strings.Contains(out, "deploy.phase") {
		t.Fatalf("ls printed %q", out)
	}
	var items struct {
		Items []hub.StateItem `json:"items"`
	}
	e.jsonOf(&items, "--as", "bob", "state", "ls")
	if len(items.Items) != 2 {
		t.Fatalf("ls --json = %+v", items)
	}
	e.ok("--as", "bob", "state", "del", "deploy.owner")
	e.fails("not_found", "--as", "bob", "state", "get", "deploy.owner")
	var raw json.RawMessage
	e.jsonOf(&raw, "--as", "bob", "state", "get", "deploy.phase")
}
