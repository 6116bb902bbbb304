package cli_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/cli"
	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/hubserver"
)

// These tests run the parley command in process, as a shell would, against
// a real hub on a free loopback port, with the configuration directory
// (where tokens are kept) in a temporary directory.

type env struct {
	t      *testing.T
	hub    *hubserver.Hub
	config string
}

func newEnv(t *testing.T, open bool) *env {
	t.Helper()
	h, err := hubserver.Start(context.Background(), hubserver.Config{
		DataDir: t.TempDir(), Addr: "127.0.0.1:0", Open: open, Version: "test",
	})
	if err != nil {
		t.Fatalf("start hub: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	e := &env{t: t, hub: h, config: t.TempDir()}
	t.Setenv(config.EnvURL, h.URL())
	t.Setenv(config.EnvConfig, e.config)
	t.Setenv(config.EnvData, h.DataDir())
	for _, v := range []string{config.EnvAgent, config.EnvSecret, config.EnvCA} {
		t.Setenv(v, "")
	}
	return e
}

// run runs parley with args and stdin, and returns what it printed.
func (e *env) runIn(stdin string, args ...string) (stdout, stderr string, err error) {
	root := cli.NewRoot("test")
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func (e *env) run(args ...string) (string, error) {
	out, _, err := e.runIn("", args...)
	return out, err
}

// ok runs parley and fails the test on an error.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	out, err := e.run(args...)
	if err != nil {
		e.t.Fatalf("parley %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// fails runs parley and checks that it fails with an error containing want.
func (e *env) fails(want string, args ...string) {
	e.t.Helper()
	out, err := e.run(args...)
	if err == nil {
		e.t.Fatalf("parley %s succeeded, want an error containing %q\n%s", strings.Join(args, " "), want, out)
	}
	if !strings.Contains(err.Error(), want) {
		e.t.Fatalf("parley %s: error %q, want it to contain %q", strings.Join(args, " "), err, want)
	}
}

// admin returns a client of the hub with its admin secret.
func (e *env) admin() *client.Client {
	c, err := client.New(e.hub.URL(), client.Options{AdminSecret: e.hub.AdminSecret()})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) tokenDir() string {
	return filepath.Join(e.config, "tokens", strings.ReplaceAll(e.hub.Addr(), ":", "_"))
}

// jsonOf runs parley --json and decodes its output into v.
func (e *env) jsonOf(v any, args ...string) {
	e.t.Helper()
	out := e.ok(append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		e.t.Fatalf("parley --json %s printed %q: %v", strings.Join(args, " "), out, err)
	}
}

// two registers alice and bob and returns the env.
func two(t *testing.T) *env {
	e := newEnv(t, false)
	e.ok("register", "alice", "--role", "backend")
	e.ok("register", "bob", "--role", "frontend")
	return e
}

func TestRegisterKeepsTokens(t *testing.T) {
	e := newEnv(t, false)
	out := e.ok("register", "Alice", "--role", "backend", "--cap", "go", "--cap", "sql,http", "--description", "API work", "--project", "shop")
	if !strings.Contains(out, "registered alice at "+e.hub.URL()+" (role backend)") {
		t.Errorf("register printed %q", out)
	}
	path := filepath.Join(e.tokenDir(), "alice.token")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("token file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(e.tokenDir()); di.Mode().Perm() != 0o700 {
		t.Errorf("token dir mode %v, want 0700", di.Mode().Perm())
	}
	p, err := e.admin().Peer(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if p.Role != "backend" || !slices.Equal(p.Capabilities, []string{"go", "sql", "http"}) || p.Description != "API work" || p.Project != "shop" || p.Client != "cli" {
		t.Errorf("registered agent = %+v", p.Agent)
	}

	// The only identity is used without --as.
	if out := e.ok("whoami"); !strings.HasPrefix(out, "alice at ") || !strings.Contains(out, "backend") {
		t.Errorf("whoami printed %q", out)
	}
	// Registering the stored name again reclaims it with its token.
	if out := e.ok("register", "alice", "--role", "backend"); !strings.Contains(out, "re-registered alice") {
		t.Errorf("second register printed %q", out)
	}
	// A second identity makes the choice explicit.
	e.ok("register", "bob")
	e.fails("2 agents are registered from here", "whoami")
	if out := e.ok("whoami", "--as", "bob"); !strings.HasPrefix(out, "bob at ") {
		t.Errorf("whoami --as bob printed %q", out)
	}
	t.Setenv(config.EnvAgent, "bob")
	if out := e.ok("whoami"); !strings.HasPrefix(out, "bob at ") {
		t.Errorf("whoami with PARLEY_AGENT=bob printed %q", out)
	}

	// Without a name the hub picks one from the role.
	t.Setenv(config.EnvAgent, "")
	var reg struct {
		Name  string `json:"name"`
		Token string `json:"token"`
		Agent hub.Agent
	}
	e.jsonOf(&reg, "register", "--role", "reviewer")
	if reg.Name != "reviewer" || reg.Token == "" {
		t.Errorf("register --json = %+v", reg)
	}
	if _, err := os.Stat(filepath.Join(e.tokenDir(), "reviewer.token")); err != nil {
		t.Errorf("token of the hub-picked name: %v", err)
	}
}

func TestRegisterWithoutCredential(t *testing.T) {
	e := newEnv(t, false)
	t.Setenv(config.EnvData, t.TempDir()) // no admin secret there
	e.fails("registering needs the admin secret or the join secret", "register", "alice")
	if _, err := os.Stat(e.tokenDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed register left %s: %v", e.tokenDir(), err)
	}
}

func TestOpenHubNeedsNoSecret(t *testing.T) {
	e := newEnv(t, true)
	t.Setenv(config.EnvData, t.TempDir())
	e.ok("register", "alice")
	e.ok("register", "bob")
	e.ok("send", "--as", "alice", "bob", "hi from an open hub")
	if out := e.ok("inbox", "--as", "bob"); !strings.Contains(out, "hi from an open hub") {
		t.Errorf("inbox printed %q", out)
	}
	// A hub started afresh no longer knows the stored token; registering
	// again still works on an open hub.
	if err := e.admin().Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out := e.ok("register", "alice"); !strings.Contains(out, "registered alice") {
		t.Errorf("register after reset printed %q", out)
	}
}

func TestSendInboxAck(t *testing.T) {
	e := two(t)
	out := e.ok("send", "--as", "alice", "bob", "the API is up on :8080", "--subject", "API", "--importance", "high", "--ack")
	id := sentID(t, out)
	if !strings.Contains(out, "to bob") {
		t.Errorf("send printed %q", out)
	}

	out = e.ok("inbox", "--as", "bob", "--peek")
	for _, want := range []string{fmt.Sprintf("#%d from alice to bob", id), "subject: API", "the API is up on :8080", "high", fmt.Sprintf("parley ack %d", id)} {
		if !strings.Contains(out, want) {
			t.Errorf("inbox --peek lacks %q:\n%s", want, out)
		}
	}
	var res hub.ReadResult
	e.jsonOf(&res, "inbox", "--as", "bob")
	if len(res.Messages) != 1 || res.Messages[0].ID != id || res.Messages[0].Body != "the API is up on :8080" || !res.Messages[0].AckRequired {
		t.Fatalf("inbox --json = %+v", res)
	}
	if out := e.ok("inbox", "--as", "bob"); !strings.Contains(out, "no new messages") {
		t.Errorf("inbox after reading printed %q", out)
	}
	if out := e.ok("inbox", "--as", "bob", "--since", "0"); !strings.Contains(out, "the API is up") {
		t.Errorf("inbox --since 0 printed %q", out)
	}
	var raw map[string]json.RawMessage
	e.jsonOf(&raw, "inbox", "--as", "bob")
	for _, k := range []string{"messages", "more", "next", "unread"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("inbox --json lacks %q: %v", k, raw)
		}
	}

	if out := e.ok("ack", "--as", "bob", "#"+strconv.FormatInt(id, 10)); out != fmt.Sprintf("acked #%d\n", id) {
		t.Errorf("ack printed %q", out)
	}
	v, err := e.admin().Message(context.Background(), id)
	if err != nil || len(v.Deliveries) != 1 || v.Deliveries[0].State != hub.DeliveryAcked {
		t.Errorf("after ack: %+v, %v", v, err)
	}
	e.fails("not_found", "ack", "--as", "alice", strconv.FormatInt(id, 10))

	// A long body is previewed, with the command that prints the rest.
	long := strings.Repeat("line of a long report\n", 200)
	id2 := sentID(t, e.ok("send", "--as", "alice", "bob", long))
	out = e.ok("inbox", "--as", "bob")
	if !strings.Contains(out, fmt.Sprintf("the rest: parley show %d", id2)) || strings.Count(out, "line of a long report") > 40 {
		t.Errorf("inbox of a long body printed %d bytes:\n%.300s", len(out), out)
	}
	if out := e.ok("show", "--as", "bob", strconv.FormatInt(id2, 10)); strings.Count(out, "line of a long report") != 200 {
		t.Errorf("show printed %d lines of the body", strings.Count(out, "line of a long report"))
	}
}

func sentID(t *testing.T, out string) int64 {
	t.Helper()
	var id int64
	if _, err := fmt.Sscanf(out, "sent #%d", &id); err != nil {
		t.Fatalf("send printed %q: %v", out, err)
	}
	return id
}

func TestSendAddressing(t *testing.T) {
	e := two(t)
	e.ok("register", "carol", "--role", "frontend")
	out := e.ok("send", "--as", "alice", "role:frontend", "hello frontends")
	if !strings.Contains(out, "to bob, carol") {
		t.Errorf("send to role:frontend printed %q", out)
	}
	out = e.ok("send", "--as", "alice", "--to", "bob,carol", "--to", "dave", "hello list")
	if !strings.Contains(out, "to bob, carol") || !strings.Contains(out, "held for dave") {
		t.Errorf("send to a list printed %q", out)
	}
	out = e.ok("send", "--as", "carol", "*", "hello all")
	if !strings.Contains(out, "to alice, bob") {
		t.Errorf("broadcast printed %q", out)
	}
	var res hub.SendResult
	e.jsonOf(&res, "send", "--as", "alice", "bob", "once", "--key", "k-1")
	again := e.ok("send", "--as", "alice", "bob", "once", "--key", "k-1")
	if !strings.Contains(again, fmt.Sprintf("already sent as #%d", res.Message.ID)) {
		t.Errorf("retried send printed %q", again)
	}
	var in hub.ReadResult
	e.jsonOf(&in, "inbox", "--as", "bob")
	if len(in.Messages) != 4 {
		t.Errorf("bob has %d messages, want 4 (role, list, broadcast, keyed once)", len(in.Messages))
	}

	// A body on stdin, and a reply that joins the thread.
	if _, _, err := e.runIn("piped body\n", "send", "--as", "bob", "alice", "-", "--reply-to", strconv.FormatInt(res.Message.ID, 10)); err != nil {
		t.Fatal(err)
	}
	e.jsonOf(&in, "inbox", "--as", "alice")
	if len(in.Messages) != 2 || in.Messages[1].Body != "piped body" || in.Messages[1].Thread != res.Message.Thread {
		t.Errorf("alice's inbox = %+v", in.Messages)
	}
}

func TestSendFile(t *testing.T) {
	e := two(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "main.go")
	os.WriteFile(path, []byte("package main\n\nfunc main() {\n\tfor {}\n}\n"), 0o600)
	var res hub.SendResult
	e.jsonOf(&res, "send", "--as", "alice", "bob", "this loops", "--file", path+":3-4", "--file", path)
	var in hub.ReadResult
	e.jsonOf(&in, "inbox", "--as", "bob")
	if len(in.Messages) != 1 || len(in.Messages[0].Attachments) != 2 {
		t.Fatalf("inbox = %+v", in)
	}
	a := in.Messages[0].Attachments[0]
	want := "func main() {\n\tfor {}\n"
	sum := sha256.Sum256([]byte(want))
	if a.Kind != "file" || a.Content != want || a.StartLine != 3 || a.EndLine != 4 || a.SHA256 != hex.EncodeToString(sum[:]) || a.Name != "main.go" {
		t.Errorf("excerpt = %+v", a)
	}
	if whole := in.Messages[0].Attachments[1]; whole.StartLine != 0 || !strings.HasPrefix(whole.Content, "package main") {
		t.Errorf("whole file = %+v", whole)
	}
	// A file alone, without a body, is a message.
	e.ok("send", "--as", "alice", "bob", "--file", path+":1")
	out := e.ok("inbox", "--as", "bob")
	if !strings.Contains(out, "[file "+filepath.ToSlash(path)+":1-1") {
		t.Errorf("inbox printed %q", out)
	}
}

func TestWait(t *testing.T) {
	e := two(t)
	sent := make(chan error, 1)
	go func() {
		// Before or during the wait, it must be returned; the pause makes
		// the wake-up the usual path.
		time.Sleep(50 * time.Millisecond)
		_, err := e.run("send", "--as", "alice", "bob", "wake up")
		sent <- err
	}()
	out, err := e.run("wait", "--as", "bob", "--timeout", "1m")
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
	if !strings.Contains(out, "from alice to bob") || !strings.Contains(out, "wake up") {
		t.Errorf("wait printed %q", out)
	}

	out, err = e.run("wait", "--as", "bob", "--timeout", "20ms")
	if code := cli.ExitCode(err); code != cli.ExitTimeout || out != "" {
		t.Errorf("wait with nothing: exit %d, printed %q (err %v); want exit %d and nothing", code, out, err, cli.ExitTimeout)
	}
	out, err = e.run("--json", "wait", "--as", "bob", "--timeout", "0s")
	if cli.ExitCode(err) != cli.ExitTimeout || out != "" {
		t.Errorf("wait --json with nothing: exit %d, printed %q", cli.ExitCode(err), out)
	}

	e.ok("send", "--as", "alice", "bob", "already here")
	var res hub.ReadResult
	e.jsonOf(&res, "wait", "--as", "bob", "--timeout", "1m")
	if len(res.Messages) != 1 || res.Messages[0].Body != "already here" {
		t.Errorf("wait --json = %+v", res)
	}
}

func TestHistoryAndSearch(t *testing.T) {
	e := two(t)
	first := sentID(t, e.ok("send", "--as", "alice", "bob", "shall we deploy staging?"))
	e.ok("send", "--as", "bob", "alice", "yes, deploy at five", "--reply-to", strconv.FormatInt(first, 10))
	e.ok("send", "--as", "bob", "alice", "unrelated note")

	out := e.ok("history", "--as", "alice", "bob")
	a, b, c := strings.Index(out, "shall we deploy"), strings.Index(out, "deploy at five"), strings.Index(out, "unrelated note")
	if a < 0 || b < a || c < b {
		t.Errorf("history is not oldest first:\n%s", out)
	}
	out = e.ok("history", "--as", "alice", "bob", "--limit", "1")
	if !strings.Contains(out, "unrelated note") || !strings.Contains(out, "older: parley history bob --before") {
		t.Errorf("history --limit 1 printed %q", out)
	}
	var page hub.HistoryResult
	e.jsonOf(&page, "history", "--as", "alice", "--thread", strconv.FormatInt(first, 10))
	if len(page.Messages) != 2 {
		t.Errorf("history --thread = %d messages, want 2", len(page.Messages))
	}
	e.jsonOf(&page, "search", "--as", "bob", "deploy")
	if len(page.Messages) != 2 {
		t.Errorf("search deploy = %d messages, want 2", len(page.Messages))
	}
	if out := e.ok("search", "--as", "bob", "deploy", "five"); !strings.Contains(out, "deploy at five") || strings.Contains(out, "staging") {
		t.Errorf("search deploy five printed %q", out)
	}
	if out := e.ok("search", "--as", "bob", "nothingmatches"); !strings.Contains(out, "no messages") {
		t.Errorf("search without hits printed %q", out)
	}
}

func TestRenameMovesTokenAndMail(t *testing.T) {
	e := two(t)
	out := e.ok("rename", "--as", "bob", "robert")
	if !strings.Contains(out, "renamed bob to robert") {
		t.Errorf("rename printed %q", out)
	}
	if _, err := os.Stat(filepath.Join(e.tokenDir(), "bob.token")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bob.token still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.tokenDir(), "robert.token")); err != nil {
		t.Errorf("robert.token: %v", err)
	}
	out = e.ok("send", "--as", "alice", "bob", "are you there?")
	if !strings.Contains(out, "bob is now called robert") {
		t.Errorf("send to the old name printed %q", out)
	}
	if out := e.ok("inbox", "--as", "robert"); !strings.Contains(out, "are you there?") {
		t.Errorf("robert's inbox printed %q", out)
	}
	e.fails(`agent "bob" is not registered (not_found)`, "inbox", "--as", "bob")
}

func TestPeersStatusWhoami(t *testing.T) {
	e := two(t)
	out := e.ok("peers", "--as", "alice")
	for _, want := range []string{"NAME", "ROLE", "alice (you)", "backend", "bob", "frontend", "human"} {
		if !strings.Contains(out, want) {
			t.Errorf("peers lacks %q:\n%s", want, out)
		}
	}
	var peers struct{ Peers []hub.Peer }
	e.jsonOf(&peers, "peers", "--as", "alice", "--role", "frontend")
	if len(peers.Peers) != 1 || peers.Peers[0].Name != "bob" {
		t.Errorf("peers --role frontend = %+v", peers)
	}
	e.jsonOf(&peers, "peers", "--as", "alice", "--online")
	for _, p := range peers.Peers {
		if !p.Online {
			t.Errorf("peers --online lists %s offline", p.Name)
		}
	}

	out = e.ok("status", "--as", "bob", "reviewing", "PR", "12", "--state", "busy")
	if out != "bob is busy: reviewing PR 12\n" {
		t.Errorf("status set printed %q", out)
	}
	out = e.ok("status", "--as", "bob")
	for _, want := range []string{"hub " + e.hub.URL(), "version test", "authentication on", "agents: 3 registered", "you: bob, busy: reviewing PR 12; 0 unread"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	var st map[string]json.RawMessage
	e.jsonOf(&st, "status")
	for _, k := range []string{"version", "uptime_s", "open", "peers", "online"} {
		if _, ok := st[k]; !ok {
			t.Errorf("status --json lacks %q", k)
		}
	}
	var me hub.Peer
	e.jsonOf(&me, "whoami", "--as", "bob")
	if me.Name != "bob" || me.StatusText != "reviewing PR 12" || me.State != hub.StateBusy {
		t.Errorf("whoami --json = %+v", me)
	}
	if out := e.ok("whoami", "--as", "bob"); !strings.Contains(out, "reviewing PR 12") || !strings.Contains(out, "frontend") {
		t.Errorf("whoami printed %q", out)
	}
	// Shell completion offers the hub's agents and roles.
	if out := e.ok("__complete", "--as", "alice", "send", ""); !strings.Contains(out, "bob\n") || !strings.Contains(out, "role:frontend\n") {
		t.Errorf("completion of send printed %q", out)
	}
	e.ok("status", "--as", "bob", "--state", "idle")
	if p, _ := e.admin().Peer(context.Background(), "bob"); p.State != hub.StateIdle || p.StatusText != "reviewing PR 12" {
		t.Errorf("after --state idle: %+v", p.Agent)
	}
}

func TestHubErrorsAndUnreachable(t *testing.T) {
	e := two(t)
	e.fails(`agent "nobody" is not registered (not_found)`, "history", "--as", "alice", "nobody")
	e.fails("(name_taken)", "rename", "--as", "alice", "bob")
	// Admin rights act for an agent with no stored token.
	if out := e.ok("whoami", "--as", "human"); !strings.HasPrefix(out, "human at ") {
		t.Errorf("whoami --as human printed %q", out)
	}
	// Without a token or the admin secret, the hub refuses; the error says
	// what to do.
	t.Setenv(config.EnvData, t.TempDir())
	e.fails(`(unauthenticated; no token is stored for "carol" at `+e.hub.URL()+`: run "parley register carol")`, "inbox", "--as", "carol")
	// A hub that was reset no longer knows the stored tokens.
	if err := e.admin().Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.fails(`the hub does not accept the token stored for "alice": register again with "parley register alice"`, "inbox", "--as", "alice")

	t.Setenv(config.EnvURL, "http://127.0.0.1:1")
	e.fails("is the hub running at http://127.0.0.1:1", "peers")
}

// snapshot is what a command could change in the hub and on disk.
func (e *env) snapshot() string {
	e.t.Helper()
	peers, err := e.admin().Peers(context.Background(), "")
	if err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	for _, p := range peers {
		fmt.Fprintf(&b, "%s role=%s status=%q state=%s unread=%d caps=%v\n", p.Name, p.Role, p.StatusText, p.State, p.Unread, p.Capabilities)
	}
	entries, _ := os.ReadDir(e.tokenDir())
	for _, en := range entries {
		tok, _ := os.ReadFile(filepath.Join(e.tokenDir(), en.Name()))
		fmt.Fprintf(&b, "token %s %x\n", en.Name(), sha256.Sum256(tok))
	}
	return b.String()
}

func TestBadInputChangesNothing(t *testing.T) {
	e := two(t)
	id := sentID(t, e.ok("send", "--as", "alice", "bob", "one unread message"))
	dir := t.TempDir()
	text := filepath.Join(dir, "three.txt")
	os.WriteFile(text, []byte("a\nb\nc\n"), 0o600)
	binary := filepath.Join(dir, "blob.bin")
	os.WriteFile(binary, []byte{0xff, 0x00, 0xfe}, 0o600)
	long := strings.Repeat("x", 300)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"register bad name", []string{"register", "Bad Name!"}, `agent name "Bad Name!": character ' ' at position 3 is not allowed`},
		{"register dotdot", []string{"register", "a..b"}, `must not contain ".."`},
		{"register bad role", []string{"register", "carol", "--role", "QA team"}, `role "QA team"`},
		{"register empty cap", []string{"register", "carol", "--cap", "go,,sql"}, "--cap \"\": a capability is 1 to 64 characters"},
		{"register two names", []string{"register", "carol", "dave"}, "register: wrong number of arguments (2)"},
		{"bad --as", []string{"inbox", "--as", "Bob!"}, `--as "Bob!"`},
		{"whoami argument", []string{"whoami", "bob"}, "whoami: wrong number of arguments (1)"},
		{"peers bad role", []string{"peers", "--role", "a b"}, `--role "a b"`},
		{"send nothing", []string{"send", "--as", "alice"}, "give the recipients and the body"},
		{"send no body", []string{"send", "--as", "alice", "bob"}, "give the recipients and the body"},
		{"send bad recipient", []string{"send", "--as", "alice", "Bob!", "hi"}, `recipient "Bob!": character '!'`},
		{"send bad role", []string{"send", "--as", "alice", "role:Front End", "hi"}, `role "Front End"`},
		{"send empty in list", []string{"send", "--as", "alice", "bob,,carol", "hi"}, `empty recipient in "bob,,carol"`},
		{"send empty body", []string{"send", "--as", "alice", "bob", "  "}, "the body is empty"},
		{"send --to and two args", []string{"send", "--as", "alice", "--to", "bob", "x", "y"}, "with --to, give only the BODY"},
		{"send importance", []string{"send", "--as", "alice", "bob", "hi", "--importance", "huge"}, `--importance "huge": must be low, normal, high or urgent`},
		{"send reply-to text", []string{"send", "--as", "alice", "bob", "hi", "--reply-to", "abc"}, `"abc" is not a message id`},
		{"send reply-to zero", []string{"send", "--as", "alice", "bob", "hi", "--reply-to", "0"}, `"0" is not a message id`},
		{"send long subject", []string{"send", "--as", "alice", "bob", "hi", "--subject", long}, "--subject: must be one line of at most 256 bytes"},
		{"send two-line subject", []string{"send", "--as", "alice", "bob", "hi", "--subject", "a\nb"}, "--subject: must be one line"},
		{"send missing file", []string{"send", "--as", "alice", "bob", "hi", "--file", filepath.Join(dir, "nope.txt")}, "nope.txt: no such file"},
		{"send file range reversed", []string{"send", "--as", "alice", "bob", "hi", "--file", text + ":3-2"}, "the range ends (line 2) before it starts (line 3)"},
		{"send file line zero", []string{"send", "--as", "alice", "bob", "hi", "--file", text + ":0-2"}, "lines are numbered from 1"},
		{"send file past end", []string{"send", "--as", "alice", "bob", "hi", "--file", text + ":2-9"}, "is past the end: the file has 3 lines"},
		{"send file bad range", []string{"send", "--as", "alice", "bob", "hi", "--file", text + ":2-x"}, `range "2-x": want START-END`},
		{"send file three parts", []string{"send", "--as", "alice", "bob", "hi", "--file", text + ":1-2-3"}, `range "1-2-3"`},
		{"send directory", []string{"send", "--as", "alice", "bob", "hi", "--file", dir}, "is a directory"},
		{"send binary", []string{"send", "--as", "alice", "bob", "hi", "--file", binary}, "not UTF-8 text"},
		{"inbox negative since", []string{"inbox", "--as", "bob", "--since", "-1"}, `invalid argument "-1" for "--since" flag: must be at least 0`},
		{"inbox zero limit", []string{"inbox", "--as", "bob", "--limit", "0"}, "must be at least 1"},
		{"inbox text limit", []string{"inbox", "--as", "bob", "--limit", "ten"}, "not a whole number"},
		{"inbox argument", []string{"inbox", "--as", "bob", "extra"}, "inbox: wrong number of arguments (1)"},
		{"wait too long", []string{"wait", "--as", "bob", "--timeout", "11m"}, "--timeout 11m0s: must be between 0s and 10m0s"},
		{"wait negative", []string{"wait", "--as", "bob", "--timeout", "-1s"}, "must be between 0s"},
		{"wait bad duration", []string{"wait", "--as", "bob", "--timeout", "soon"}, `invalid argument "soon" for "--timeout"`},
		{"ack nothing", []string{"ack", "--as", "bob"}, "ack: wrong number of arguments (0)"},
		{"ack text", []string{"ack", "--as", "bob", "abc"}, `ack: "abc" is not a message id`},
		{"ack valid then bad", []string{"ack", "--as", "bob", strconv.FormatInt(id, 10), "x1"}, `"x1" is not a message id`},
		{"show text", []string{"show", "--as", "bob", "twelve"}, `"twelve" is not a message id`},
		{"history nothing", []string{"history", "--as", "bob"}, "history: give PEER or --thread ID"},
		{"history both", []string{"history", "--as", "bob", "alice", "--thread", "1"}, "not both"},
		{"history bad peer", []string{"history", "--as", "bob", "Al ice"}, `peer "Al ice"`},
		{"history bad before", []string{"history", "--as", "bob", "alice", "--before", "yesterday"}, `"yesterday" is not a message id`},
		{"search nothing", []string{"search", "--as", "bob"}, "search: wrong number of arguments (0)"},
		{"search blank", []string{"search", "--as", "bob", " ", ""}, "give the words to search for"},
		{"rename nothing", []string{"rename", "--as", "bob"}, "rename: wrong number of arguments (0)"},
		{"rename bad", []string{"rename", "--as", "bob", "Rob ert"}, `new name "Rob ert"`},
		{"rename to self", []string{"rename", "--as", "bob", "BOB"}, "the agent is already called bob"},
		{"status bad state", []string{"status", "--as", "bob", "--state", "asleep"}, `--state "asleep": must be busy, idle or online`},
		{"status two lines", []string{"status", "--as", "bob", "a\nb"}, "one line"},
		{"status too long", []string{"status", "--as", "bob", long}, "at most 256 bytes"},
		{"no identity chosen", []string{"inbox"}, "2 agents are registered from here"},
		{"bad url", []string{"inbox", "--as", "bob", "--url", "localhost:7878"}, "want http://host:port"},
	}
	before := e.snapshot()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			e.fails(tt.want, tt.args...)
			if after := e.snapshot(); after != before {
				t.Errorf("state changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// BenchmarkInboxJSON measures what parley inbox --json costs in process,
// past the start of the binary: flags, identity, a fresh connection, the
// request and the output.
func BenchmarkInboxJSON(b *testing.B) {
	h, err := hubserver.Start(context.Background(), hubserver.Config{DataDir: b.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	b.Setenv(config.EnvURL, h.URL())
	b.Setenv(config.EnvConfig, b.TempDir())
	b.Setenv(config.EnvData, h.DataDir())
	b.Setenv(config.EnvAgent, "")
	run := func(args ...string) {
		root := cli.NewRoot("bench")
		root.SetArgs(args)
		root.SetOut(io.Discard)
		if err := root.Execute(); err != nil {
			b.Fatal(err)
		}
	}
	run("register", "bob")
	b.ReportAllocs()
	for b.Loop() {
		run("inbox", "--json")
	}
}
