package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parley-dev/parley/internal/bridge"
	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/hubserver"
)

// machine is one user's machine: a hub address, data and config
// directories shared by the bridges started on it.
type machine struct {
	t       testing.TB
	url     string
	data    string
	config  string
	project string
}

func newMachine(t testing.TB) *machine {
	t.Helper()
	return &machine{t: t, url: "http://" + freeAddr(t), data: t.TempDir(), config: t.TempDir(), project: "proj"}
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// note is a channel notification a session received.
type note struct {
	Content string            `json:"content"`
	Meta    map[string]string `json:"meta"`
}

// session is one MCP client connected to a bridge over an in-memory
// transport, as Claude Code would be over stdio.
type session struct {
	t      testing.TB
	cs     *mcp.ClientSession
	notes  chan note
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// start runs a bridge with cfg's defaults filled from m and connects a
// client named clientName.
func (m *machine) start(cfg bridge.Config, clientName string) *session {
	m.t.Helper()
	cfg.URL, cfg.DataDir, cfg.ConfigDir = m.url, m.data, m.config
	if cfg.Project == "" {
		cfg.Project = m.project
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = 100 * time.Millisecond
	}
	b, err := bridge.New(cfg)
	if err != nil {
		m.t.Fatalf("new bridge: %v", err)
	}
	st, ct := mcp.NewInMemoryTransports()
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{t: m.t, notes: make(chan note, 100), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- b.Serve(ctx, st) }()
	tap := &tapTransport{Transport: ct, notes: s.notes}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: clientName, Version: "1"}, nil).
		Connect(ctx, tap, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		cancel()
		m.t.Fatalf("connect client: %v", err)
	}
	s.cs = cs
	m.t.Cleanup(s.stop)
	return s
}

// stop disconnects the client and waits for the bridge to finish.
func (s *session) stop() {
	s.once.Do(func() {
		s.cs.Close()
		select {
		case err := <-s.done:
			if err != nil {
				s.t.Errorf("bridge: %v", err)
			}
		case <-time.After(20 * time.Second):
			s.t.Errorf("bridge did not stop after its client disconnected")
		}
		s.cancel()
	})
}

func (s *session) call(tool string, args any) (string, bool) {
	s.t.Helper()
	res, err := s.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		s.t.Fatalf("call %s: %v", tool, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError
}

func (s *session) ok(tool string, args any) string {
	s.t.Helper()
	text, isErr := s.call(tool, args)
	if isErr {
		s.t.Fatalf("%s: tool error: %s", tool, text)
	}
	return text
}

// note waits for the next channel notification.
func (s *session) note() note {
	s.t.Helper()
	select {
	case n := <-s.notes:
		return n
	case <-time.After(15 * time.Second):
		s.t.Fatal("no channel notification arrived")
	}
	return note{}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tapTransport takes Claude channel notifications off a client's
// connection, as Claude Code does, before the SDK sees them.
type tapTransport struct {
	mcp.Transport
	notes chan note
}

func (t *tapTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &tapConn{Connection: c, notes: t.notes}, nil
}

type tapConn struct {
	mcp.Connection
	notes chan note
}

func (c *tapConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	for {
		msg, err := c.Connection.Read(ctx)
		if err != nil {
			return nil, err
		}
		if req, ok := msg.(*jsonrpc.Request); ok && req.Method == bridge.ChannelMethod {
			var n note
			if err := json.Unmarshal(req.Params, &n); err == nil {
				c.notes <- n
			}
			continue
		}
		return msg, nil
	}
}

func TestMessagingAndPush(t *testing.T) {
	m := newMachine(t)
	alice := m.start(bridge.Config{Name: "alice", Role: "lead"}, "claude-code")
	bob := m.start(bridge.Config{Name: "bob", Push: bridge.PushClaudeChannel}, "claude-code")
	carol := m.start(bridge.Config{Name: "carol"}, "gemini-cli-mcp-client")

	// The bridges found each other: one runs the hub, the others use it.
	eventually(t, "all three are online", func() bool {
		text := alice.ok("peers", nil)
		return strings.Contains(text, "alice") && strings.Contains(text, "bob") && strings.Contains(text, "carol")
	})
	hosts := 0
	for _, s := range []*session{alice, bob, carol} {
		if strings.Contains(s.ok("hub_status", nil), "this session's process runs the hub") {
			hosts++
		}
	}
	if hosts != 1 {
		t.Fatalf("%d bridges run a hub, want exactly 1", hosts)
	}

	// carol waits without push; alice's message wakes her.
	waited := make(chan string, 1)
	go func() {
		text, _ := carol.call("wait", map[string]any{"timeout_seconds": 30})
		waited <- text
	}()
	alice.ok("send", map[string]any{"to": "carol", "body": "ping carol"})
	select {
	case text := <-waited:
		if !strings.Contains(text, "ping carol") || !strings.Contains(text, "from alice (authenticated)") {
			t.Fatalf("carol's wait returned %q", text)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("carol's wait did not return the message")
	}

	// bob has push on: the message arrives as a channel notification,
	// marked with its authenticated sender, and counts as read.
	alice.ok("send", map[string]any{"to": "bob", "body": "deploy when ready", "ack_required": true, "importance": "high"})
	n := bob.note()
	if !strings.Contains(n.Content, "from alice (authenticated)") || !strings.Contains(n.Content, "deploy when ready") {
		t.Fatalf("notification content = %q", n.Content)
	}
	if n.Meta["from"] != "alice" || n.Meta["kind"] != "message" || n.Meta["importance"] != "high" || n.Meta["id"] == "" {
		t.Fatalf("notification meta = %v", n.Meta)
	}
	for k := range n.Meta {
		for _, r := range k {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
				t.Fatalf("meta key %q has %q: only letters, digits and _ are allowed", k, r)
			}
		}
	}
	eventually(t, "the pushed message counts as read", func() bool {
		return strings.Contains(bob.ok("read", nil), "No unread messages")
	})
	if text := bob.ok("ack", map[string]any{"id": json.Number(n.Meta["id"])}); !strings.Contains(text, "Acknowledged") {
		t.Fatalf("ack: %q", text)
	}

	// A command for bob's name is pushed too; an awaited signal is pushed
	// once emitted.
	alice.ok("command_send", map[string]any{"target": "bob", "action": "run_tests"})
	n = bob.note()
	if n.Meta["kind"] != "command" || !strings.Contains(n.Content, "run_tests") || !strings.Contains(n.Content, "from alice (authenticated)") {
		t.Fatalf("command notification = %+v", n)
	}
	text := bob.ok("command_next", map[string]any{"timeout_seconds": 5})
	if !strings.Contains(text, "run_tests") {
		t.Fatalf("command_next: %q", text)
	}
	text = bob.ok("signal_wait", map[string]any{"name": "build_done", "timeout_seconds": 0.1})
	if !strings.Contains(text, "channel notification") {
		t.Fatalf("signal_wait under push: %q", text)
	}
	carol.ok("signal_emit", map[string]any{"name": "build_done", "data": map[string]any{"ok": true}})
	n = bob.note()
	if n.Meta["kind"] != "signal" || !strings.Contains(n.Content, "build_done") || !strings.Contains(n.Content, "carol (authenticated)") {
		t.Fatalf("signal notification = %+v", n)
	}
}

func TestDerivedNamesAndReclaim(t *testing.T) {
	m := newMachine(t)
	first := m.start(bridge.Config{}, "claude-code")
	if text := first.ok("whoami", nil); !strings.Contains(text, "You are claude-code-proj ") {
		t.Fatalf("first session: %q", text)
	}
	// A second live session of the same client and project gets a suffix.
	second := m.start(bridge.Config{}, "claude-code")
	if text := second.ok("whoami", nil); !strings.Contains(text, "You are claude-code-proj-2 ") {
		t.Fatalf("second session: %q", text)
	}
	ts, err := config.NewTokenStore(m.config, m.url)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(ts.Path("claude-code-proj"))
	if err != nil {
		t.Fatalf("token not stored: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	second.ok("send", map[string]any{"to": "claude-code-proj", "body": "welcome back"})

	// The first session restarts: it reclaims its name and its mail.
	first.stop()
	again := m.start(bridge.Config{}, "claude-code")
	if text := again.ok("whoami", nil); !strings.Contains(text, "You are claude-code-proj ") {
		t.Fatalf("restarted session: %q", text)
	}
	if text := again.ok("read", nil); !strings.Contains(text, "welcome back") {
		t.Fatalf("restarted session's inbox: %q", text)
	}

	// register can change the name (a rename) and the role later.
	text := again.ok("register", map[string]any{"name": "reviewer-1", "role": "reviewer"})
	if !strings.Contains(text, "Renamed claude-code-proj to reviewer-1") || !strings.Contains(text, "role reviewer") {
		t.Fatalf("register rename: %q", text)
	}
	if _, err := os.Stat(ts.Path("reviewer-1")); err != nil {
		t.Fatalf("token did not move with the rename: %v", err)
	}
	if text := again.ok("peers", map[string]any{"role": "reviewer"}); !strings.Contains(text, "reviewer-1") {
		t.Fatalf("peers role=reviewer: %q", text)
	}
}

// TestFailoverInProcess stops the session whose process runs the hub;
// another bridge takes over from the same store and everything keeps
// working: names, tokens, mail, and a wait in flight.
func TestFailoverInProcess(t *testing.T) {
	m := newMachine(t)
	sessions := map[string]*session{}
	for _, name := range []string{"a1", "a2", "a3"} {
		sessions[name] = m.start(bridge.Config{Name: name}, "claude-code")
	}
	host := ""
	eventually(t, "a hub is running", func() bool {
		for name, s := range sessions {
			if strings.Contains(s.ok("hub_status", nil), "runs the hub") {
				host = name
				return true
			}
		}
		return false
	})
	var others []string
	for name := range sessions {
		if name != host {
			others = append(others, name)
		}
	}
	x, y := sessions[others[0]], sessions[others[1]]
	x.ok("send", map[string]any{"to": others[1], "body": "before failover"})

	// y waits across the failover.
	waited := make(chan string, 1)
	go func() {
		text, _ := y.call("wait", map[string]any{"timeout_seconds": 45})
		waited <- text
	}()
	// First the message sent before: the wait returns it at once.
	if text := <-waited; !strings.Contains(text, "before failover") {
		t.Fatalf("wait before failover: %q", text)
	}
	go func() {
		text, _ := y.call("wait", map[string]any{"timeout_seconds": 45})
		waited <- text
	}()

	sessions[host].stop()
	eventually(t, "another bridge runs the hub", func() bool {
		for _, s := range []*session{x, y} {
			if text, isErr := s.call("hub_status", nil); !isErr && strings.Contains(text, "runs the hub") {
				return true
			}
		}
		return false
	})
	x.ok("send", map[string]any{"to": others[1], "body": "after failover"})
	select {
	case text := <-waited:
		if !strings.Contains(text, "after failover") {
			t.Fatalf("wait across failover returned %q", text)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the wait in flight did not return after the failover")
	}
	// Names and history survived.
	if text := y.ok("whoami", nil); !strings.Contains(text, "You are "+others[1]) {
		t.Fatalf("whoami after failover: %q", text)
	}
	if text := y.ok("history", map[string]any{"peer": others[0]}); !strings.Contains(text, "before failover") || !strings.Contains(text, "after failover") {
		t.Fatalf("history after failover: %q", text)
	}
}

func TestOfflineWhenSessionEnds(t *testing.T) {
	m := newMachine(t)
	host := m.start(bridge.Config{Name: "host"}, "claude-code")
	host.ok("whoami", nil) // the first session runs the hub
	stayer := m.start(bridge.Config{Name: "stayer"}, "claude-code")
	leaver := m.start(bridge.Config{Name: "leaver"}, "claude-code")
	eventually(t, "everyone is online", func() bool {
		text := stayer.ok("peers", nil)
		return strings.Contains(text, "host") && strings.Contains(text, "leaver")
	})

	t.Run("the session running the hub", func(t *testing.T) {
		host.stop()
		eventually(t, "host is offline on the next hub", func() bool {
			text, isErr := stayer.call("peers", nil)
			return !isErr && strings.Contains(text, "stayer") && !strings.Contains(text, "host")
		})
	})
	t.Run("a client session", func(t *testing.T) {
		// The hub needs POST /peers/{name}/disconnect to take a leaving
		// agent offline at once; without it presence times out (30 s).
		resp, err := http.Get(m.url + "/peers/leaver/disconnect")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			t.Skip("the hub has no POST /peers/{name}/disconnect route yet")
		}
		leaver.stop()
		eventually(t, "leaver is offline", func() bool {
			return !strings.Contains(stayer.ok("peers", nil), "leaver")
		})
	})
}

func TestDeriveName(t *testing.T) {
	tests := []struct{ client, project, want string }{
		{"claude-code", "parley", "claude-code-parley"},
		{"gemini-cli-mcp-client", "My App", "gemini-cli-my-app"},
		{"codex-mcp-client", "", "codex"},
		{"", "", "agent"},
		{"Cursor (VS Code)", "../x", "cursor-vs-code-x"},
		{"claude-code", strings.Repeat("p", 100), "claude-code-" + strings.Repeat("p", 60-len("claude-code-"))},
	}
	for _, tt := range tests {
		if got := bridge.DeriveName(tt.client, tt.project); got != tt.want {
			t.Errorf("DeriveName(%q, %q) = %q, want %q", tt.client, tt.project, got, tt.want)
		}
	}
}

// Ensure the hubserver errors the election relies on are the ones Start
// returns when a hub already holds the directory and the port.
func TestElectionErrors(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	h, err := hubserver.Start(context.Background(), hubserver.Config{DataDir: dir, Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := hubserver.Start(context.Background(), hubserver.Config{DataDir: dir, Addr: freeAddr(t)}); err == nil || !isElectionLoss(err) {
		t.Fatalf("second hub on the same data dir: %v, want ErrLocked", err)
	}
	if _, err := hubserver.Start(context.Background(), hubserver.Config{DataDir: filepath.Join(t.TempDir(), "d"), Addr: addr}); err == nil || !isElectionLoss(err) {
		t.Fatalf("second hub on the same port: %v, want ErrAddrInUse", err)
	}
}

func isElectionLoss(err error) bool {
	return errors.Is(err, hubserver.ErrLocked) || errors.Is(err, hubserver.ErrAddrInUse)
}

// TestStdioProtocolVersions checks that the bridge negotiates a protocol
// revision no newer than 2025-11-25, the newest Claude Code registers
// channels for, even when the client asks for a newer one, and that it
// declares the channel capability only with push on.
func TestStdioProtocolVersions(t *testing.T) {
	m := newMachine(t)
	for _, push := range []string{bridge.PushNone, bridge.PushClaudeChannel} {
		cfg := bridge.Config{Push: push}
		cfg.URL, cfg.DataDir, cfg.ConfigDir, cfg.Project = m.url, m.data, m.config, m.project
		b, err := bridge.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		st, ct := mcp.NewInMemoryTransports()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.Serve(ctx, st) }()
		// No ProtocolVersion: the Go SDK client offers its newest first.
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "claude-code", Version: "1"}, nil).Connect(ctx, ct, nil)
		if err != nil {
			cancel()
			t.Fatalf("connect: %v", err)
		}
		res := cs.InitializeResult()
		if v := res.ProtocolVersion; v > "2025-11-25" {
			t.Errorf("push %q: negotiated %s, want 2025-11-25 or older", push, v)
		}
		_, hasChannel := res.Capabilities.Experimental[bridge.ChannelCapability]
		if hasChannel != (push == bridge.PushClaudeChannel) {
			t.Errorf("push %q: experimental[%q] declared = %v", push, bridge.ChannelCapability, hasChannel)
		}
		cs.Close()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		cancel()
	}
}
