package mcpserver_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parley-dev/parley/internal/bus"
	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/mcpserver"
	"github.com/parley-dev/parley/internal/sqlite"
)

// env is a hub service over a real SQLite file.
type env struct {
	t   testing.TB
	svc *hub.Service

	mu     sync.Mutex
	called map[string]bool // tools called successfully, for coverage
}

func newEnv(t testing.TB, opts hub.Options) *env {
	t.Helper()
	b := bus.New(0)
	st, err := sqlite.Open(context.Background(), sqlite.Options{
		Path:     filepath.Join(t.TempDir(), "parley.db"),
		OnCommit: func(evs []hub.Event) { b.Publish(evs...) },
	})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, svc: hub.New(st, b, opts), called: map[string]bool{}}
	if _, err := e.svc.EnsureAgent(context.Background(), hub.HumanName, "human"); err != nil {
		t.Fatalf("ensure human: %v", err)
	}
	return e
}

// register registers an agent in the service and returns its caller and token.
func (e *env) register(name, role string) (hub.Caller, string) {
	e.t.Helper()
	reg, err := e.svc.Register(context.Background(), hub.RegisterRequest{Name: name, Role: role})
	if err != nil {
		e.t.Fatalf("register %q: %v", name, err)
	}
	c, err := e.svc.Authenticate(context.Background(), reg.Token)
	if err != nil {
		e.t.Fatalf("authenticate %q: %v", name, err)
	}
	return c, reg.Token
}

// session is one MCP client session against a server over a Local backend.
type session struct {
	e     *env
	cs    *mcp.ClientSession
	local *mcpserver.Local
}

// connect starts a server for lo and connects a Go SDK client to it over
// an in-memory transport.
func (e *env) connect(lo mcpserver.LocalOptions, opts mcpserver.Options, copts *mcp.ClientOptions) *session {
	e.t.Helper()
	local := mcpserver.NewLocal(e.svc, lo)
	srv, err := mcpserver.New(local, opts)
	if err != nil {
		e.t.Fatalf("new server: %v", err)
	}
	st, ct := mcp.NewInMemoryTransports()
	ctx := context.Background()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		e.t.Fatalf("server connect: %v", err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, copts).Connect(ctx, ct, nil)
	if err != nil {
		e.t.Fatalf("client connect: %v", err)
	}
	e.t.Cleanup(func() {
		cs.Close()
		ss.Wait()
		local.Close()
	})
	return &session{e: e, cs: cs, local: local}
}

// agent registers name and returns a session acting as it, with every tool.
func (e *env) agent(name, role string) *session {
	e.t.Helper()
	c, tok := e.register(name, role)
	return e.connect(mcpserver.LocalOptions{Caller: c, Token: tok}, mcpserver.Options{Tools: "all"}, nil)
}

// call calls a tool and returns its result, failing the test on a
// protocol error.
func (s *session) call(tool string, args any) *mcp.CallToolResult {
	s.e.t.Helper()
	res, err := s.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		s.e.t.Fatalf("call %s: %v", tool, err)
	}
	return res
}

// ok calls a tool that must succeed and returns its text.
func (s *session) ok(tool string, args any) string {
	s.e.t.Helper()
	res := s.call(tool, args)
	text := resultText(res)
	if res.IsError {
		s.e.t.Fatalf("%s %v: tool error: %s", tool, args, text)
	}
	s.e.mu.Lock()
	s.e.called[tool] = true
	s.e.mu.Unlock()
	return text
}

// fails calls a tool that must fail with a tool error containing want.
func (s *session) fails(tool string, args any, want string) string {
	s.e.t.Helper()
	res := s.call(tool, args)
	text := resultText(res)
	if !res.IsError {
		s.e.t.Fatalf("%s %v: got success %q, want a tool error containing %q", tool, args, text, want)
	}
	if !strings.Contains(text, want) {
		s.e.t.Fatalf("%s %v: error %q does not contain %q", tool, args, text, want)
	}
	return text
}

// structured returns a result's structured content decoded into v.
func structured(t testing.TB, res *mcp.CallToolResult, v any) {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatalf("marshal structured content: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode structured content %s: %v", b, err)
	}
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func mustContain(t testing.TB, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Fatalf("%s: %q does not contain %q", what, text, w)
		}
	}
}

func TestListToolsProfiles(t *testing.T) {
	e := newEnv(t, hub.Options{})
	c, tok := e.register("alice", "")
	tests := []struct {
		name    string
		profile string
		want    []string
	}{
		{"all", "all", mcpserver.AllTools()},
		{"default is all", "", mcpserver.AllTools()},
		{"core", "core", []string{"register", "whoami", "set_status", "peers", "send", "read", "wait", "ack",
			"command_send", "command_next", "command_complete", "signal_emit", "signal_wait"}},
		{"groups and tools", "signals, discovery,send", []string{"peers", "hub_status", "send", "signal_emit", "signal_wait"}},
		{"one tool", "peers", []string{"peers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := e.connect(mcpserver.LocalOptions{Caller: c, Token: tok}, mcpserver.Options{Tools: tt.profile}, nil)
			res, err := s.cs.ListTools(context.Background(), nil)
			if err != nil {
				t.Fatalf("list tools: %v", err)
			}
			var got []string
			for _, tool := range res.Tools {
				got = append(got, tool.Name)
				if len(tool.Description) < 30 {
					t.Errorf("tool %s: description %q is too short to pick the tool by", tool.Name, tool.Description)
				}
			}
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("tools = %v, want %v", got, want)
			}
			instr := s.cs.InitializeResult().Instructions
			mustContain(t, "instructions", instr, "authenticated sender")
		})
	}
}

func TestParseToolsRejectsUnknown(t *testing.T) {
	for _, spec := range []string{"bogus", "core,nope", ","} {
		if _, err := mcpserver.ParseTools(spec); err == nil {
			t.Errorf("ParseTools(%q): got no error, want one", spec)
		}
	}
	if _, err := mcpserver.ParseTools("bogus"); err == nil || !strings.Contains(err.Error(), "unknown tool or group \"bogus\"") {
		t.Errorf("ParseTools(bogus) error = %v, want it to name the bad item", err)
	}
}

// TestEveryTool drives every tool through the Go SDK client against a
// real hub, the way agents would use them, and checks both the text and
// the structured content.
func TestEveryTool(t *testing.T) {
	e := newEnv(t, hub.Options{})
	alice := e.agent("alice", "lead")
	bob := e.agent("bob", "backend")
	carol := e.agent("carol", "backend")

	t.Run("identity", func(t *testing.T) {
		text := alice.ok("whoami", nil)
		mustContain(t, "whoami", text, "You are alice", "role lead")
		text = bob.ok("set_status", map[string]any{"status": "building the API", "state": "busy"})
		mustContain(t, "set_status", text, "bob is now busy", "building the API")
		text = alice.ok("peers", nil)
		mustContain(t, "peers", text, "alice", "bob [role backend] busy \"building the API\"", "carol", "<- you")
		text = alice.ok("peers", map[string]any{"role": "backend"})
		if strings.Contains(text, "alice") {
			t.Fatalf("peers role=backend lists alice: %q", text)
		}
		text = alice.ok("hub_status", nil)
		mustContain(t, "hub_status", text, "Parley hub", "bob")
		text = carol.ok("register", map[string]any{"role": "backend", "capabilities": []string{"go", "sql"}, "description": "owns the database"})
		mustContain(t, "register", text, "Updated as carol", "role:backend")
		var out hub.Peer
		structured(t, carol.call("whoami", nil), &out)
		if out.Description != "owns the database" || !slices.Equal(out.Capabilities, []string{"go", "sql"}) {
			t.Fatalf("after register, whoami agent = %+v", out.Agent)
		}
	})

	var msgID int64
	t.Run("messages", func(t *testing.T) {
		res := alice.call("send", map[string]any{"to": "bob", "body": "please review PR 12", "subject": "review", "ack_required": true, "importance": "high"})
		if res.IsError {
			t.Fatalf("send: %s", resultText(res))
		}
		alice.e.called["send"] = true
		var sent struct {
			Result hub.SendResult `json:"result"`
		}
		structured(t, res, &sent)
		msgID = sent.Result.Message.ID
		mustContain(t, "send", resultText(res), "Sent message", "Delivered to: bob")

		text := bob.ok("read", map[string]any{"peek": true})
		mustContain(t, "read peek", text, "from alice (authenticated)", "please review PR 12", "Subject: review", "ACK REQUIRED", "importance high")
		text = bob.ok("wait", map[string]any{"timeout_seconds": 5})
		mustContain(t, "wait", text, "from alice (authenticated)", "please review PR 12", "call ack")
		text = bob.ok("read", nil)
		mustContain(t, "read after wait", text, "No unread messages")
		text = bob.ok("ack", map[string]any{"id": msgID})
		mustContain(t, "ack", text, "Acknowledged")

		text = bob.ok("send", map[string]any{"to": "alice", "body": "LGTM, merging", "reply_to": msgID})
		mustContain(t, "reply", text, "Delivered to: alice")
		text = alice.ok("history", map[string]any{"peer": "bob"})
		mustContain(t, "history peer", text, "LGTM, merging", "please review PR 12", "from bob (authenticated)")
		text = alice.ok("history", map[string]any{"thread": sent.Result.Message.Thread})
		mustContain(t, "history thread", text, "LGTM, merging")
		text = alice.ok("search", map[string]any{"query": "merging"})
		mustContain(t, "search", text, "LGTM, merging")

		// Role and broadcast addressing, and mail for a name nobody has.
		text = alice.ok("send", map[string]any{"to": "role:backend, dave", "body": "standup in 5"})
		mustContain(t, "send role", text, "bob", "carol", "Queued for dave")
		text = carol.ok("read", nil)
		mustContain(t, "carol read", text, "standup in 5")
		text = alice.ok("send", map[string]any{"to": []string{"bob", "carol"}, "body": "as a list"})
		mustContain(t, "send list", text, "Delivered to: bob, carol")

		// A large body is shown as a preview with its id.
		big := strings.Repeat("0123456789", 2000)
		alice.ok("send", map[string]any{"to": "carol", "body": big})
		text = carol.ok("read", nil)
		mustContain(t, "preview", text, "[preview: 8192 of 20000 bytes shown; call read with id=")
		var page hub.ReadResult
		structured(t, carol.call("read", map[string]any{"since": 0}), &page)
		var bigID int64
		for _, m := range page.Messages {
			if m.Size == 20000 {
				bigID = m.ID
			}
		}
		text = carol.ok("read", map[string]any{"id": bigID})
		if !strings.Contains(text, big) {
			t.Fatalf("read id=%d does not show the whole body", bigID)
		}

		// A file excerpt, given as content (the hub reads no files).
		text = bob.ok("share_file", map[string]any{"to": "alice", "path": "api/server.go", "start_line": 3, "end_line": 4, "content": "func main() {\n}\n", "note": "look here"})
		mustContain(t, "share_file", text, "Delivered to: alice")
		text = alice.ok("read", nil)
		mustContain(t, "read file", text, "[file api/server.go lines 3-4 sha256", "func main()", "look here", "from bob (authenticated)")
	})

	t.Run("commands", func(t *testing.T) {
		res := alice.call("command_send", map[string]any{"target": "backend", "action": "start_server", "params": map[string]any{"port": 7400}})
		if res.IsError {
			t.Fatalf("command_send: %s", resultText(res))
		}
		e.called["command_send"] = true
		var sent struct {
			Command hub.Command `json:"command"`
		}
		structured(t, res, &sent)
		mustContain(t, "command_send", resultText(res), "start_server", `{"port":7400}`, "pending")

		text := bob.ok("command_next", map[string]any{"timeout_seconds": 5})
		mustContain(t, "command_next", text, "from alice (authenticated)", "start_server", `{"port":7400}`, "command_complete id=")
		// A role command goes to exactly one agent.
		text = carol.ok("command_next", map[string]any{"timeout_seconds": 0})
		mustContain(t, "carol command_next", text, "No command arrived")

		text = bob.ok("command_complete", map[string]any{"id": sent.Command.ID, "result": map[string]any{"status": "ok", "url": "http://localhost:7400"}})
		mustContain(t, "command_complete", text, "is done")
		text = alice.ok("command_status", map[string]any{"id": sent.Command.ID, "wait_seconds": 5})
		mustContain(t, "command_status", text, "Status: done", "localhost:7400")
		text = alice.ok("command_status", nil)
		mustContain(t, "command_status list", text, "Commands you sent (1", "start_server")
	})

	t.Run("channels", func(t *testing.T) {
		text := bob.ok("channel_post", map[string]any{"channel": "results", "data": map[string]any{"test": "handshake", "status": "pass"}})
		mustContain(t, "channel_post", text, "Posted #1 to channel results")
		bob.ok("channel_post", map[string]any{"channel": "results", "data": "all green"})
		text = alice.ok("channel_read", map[string]any{"channel": "results"})
		mustContain(t, "channel_read", text, "#1 from bob (authenticated)", `"status":"pass"`, "#2", "all green", "since=2")
		text = alice.ok("channel_read", map[string]any{"channel": "results", "since": 2, "wait_seconds": 0.2})
		mustContain(t, "channel_read wait", text, "No new posts")
	})

	t.Run("signals", func(t *testing.T) {
		text := alice.ok("signal_wait", map[string]any{"name": "server_ready", "timeout_seconds": 0})
		mustContain(t, "signal check", text, "has not been emitted")
		done := make(chan string, 1)
		go func() {
			res, err := alice.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "signal_wait", Arguments: map[string]any{"name": "server_ready", "timeout_seconds": 30}})
			if err != nil {
				done <- "error: " + err.Error()
				return
			}
			done <- resultText(res)
		}()
		text = bob.ok("signal_emit", map[string]any{"name": "server_ready", "data": map[string]any{"port": 7400}})
		mustContain(t, "signal_emit", text, "emitted by bob (authenticated)")
		mustContain(t, "signal_wait", <-done, "server_ready was emitted by bob (authenticated)", `{"port":7400}`)
	})

	t.Run("votes", func(t *testing.T) {
		res := alice.call("propose", map[string]any{"question": "Merge PR 12?", "voters": []string{"bob", "carol"}, "rule": "unanimous"})
		if res.IsError {
			t.Fatalf("propose: %s", resultText(res))
		}
		e.called["propose"] = true
		var p struct {
			Proposal hub.Proposal `json:"proposal"`
		}
		structured(t, res, &p)
		mustContain(t, "propose", resultText(res), "Merge PR 12?", "approve, reject", "Still open")
		text := bob.ok("proposal_status", nil)
		mustContain(t, "proposal_status list", text, "Merge PR 12?", "You have not voted yet")
		text = bob.ok("vote", map[string]any{"id": p.Proposal.ID, "choice": "approve", "comment": "tests pass"})
		mustContain(t, "vote", text, "Vote recorded", "approve 1")
		carol.ok("vote", map[string]any{"id": p.Proposal.ID, "choice": "approve"})
		text = alice.ok("proposal_status", map[string]any{"id": p.Proposal.ID, "wait_seconds": 5})
		mustContain(t, "proposal_status", text, "Decided: approve")
	})

	t.Run("leases", func(t *testing.T) {
		res := bob.call("reserve", map[string]any{"patterns": []string{"src/api/**"}, "ttl": "30m", "reason": "refactor"})
		if res.IsError {
			t.Fatalf("reserve: %s", resultText(res))
		}
		e.called["reserve"] = true
		var l struct {
			Lease hub.Lease `json:"lease"`
		}
		structured(t, res, &l)
		mustContain(t, "reserve", resultText(res), "bob holds src/api/**", "release id=")
		text := carol.fails("reserve", map[string]any{"patterns": []string{"src/api/handlers.go"}}, "bob")
		mustContain(t, "reserve conflict", text, "conflict")
		text = bob.ok("release", map[string]any{"id": l.Lease.ID})
		mustContain(t, "release", text, "Released lease")
		carol.ok("reserve", map[string]any{"patterns": []string{"src/api/handlers.go"}})
		text = carol.ok("release", map[string]any{"all": true})
		mustContain(t, "release all", text, "Released 1 lease")
	})

	t.Run("state", func(t *testing.T) {
		text := alice.ok("state_set", map[string]any{"key": "deploy.version", "value": "1.2.3", "expected_revision": 0})
		mustContain(t, "state_set", text, "deploy.version", "1.2.3")
		var got struct {
			Item hub.StateItem `json:"item"`
		}
		structured(t, alice.call("state_get", map[string]any{"key": "deploy.version"}), &got)
		text = bob.fails("state_set", map[string]any{"key": "deploy.version", "value": "9", "expected_revision": got.Item.Revision + 100}, "revision")
		mustContain(t, "cas conflict", text, "conflict")
		bob.ok("state_set", map[string]any{"key": "deploy.version", "value": "1.2.4", "expected_revision": got.Item.Revision})
		text = alice.ok("state_get", map[string]any{"key": "deploy.version"})
		mustContain(t, "state_get", text, "1.2.4", "set by bob (authenticated)")
		text = alice.ok("state_get", map[string]any{"prefix": "deploy"})
		mustContain(t, "state_get prefix", text, "deploy.version")
	})

	t.Run("rename", func(t *testing.T) {
		text := carol.ok("rename", map[string]any{"name": "carol2"})
		mustContain(t, "rename", text, "Renamed carol to carol2")
		text = carol.ok("whoami", nil)
		mustContain(t, "whoami after rename", text, "You are carol2")
		text = alice.ok("send", map[string]any{"to": "carol", "body": "still there?"})
		mustContain(t, "forward", text, "carol was renamed; forwarded to carol2")
		text = carol.ok("read", nil)
		mustContain(t, "read forwarded", text, "still there?")
		// register with a new name renames too.
		text = carol.ok("register", map[string]any{"name": "carol3"})
		mustContain(t, "register rename", text, "Renamed carol2 to carol3")
	})

	for _, tool := range mcpserver.AllTools() {
		if !e.called[tool] {
			t.Errorf("tool %s was never called successfully", tool)
		}
	}
}

// TestBadArguments checks that a wrong call gets a tool error that says
// what was wrong, and changes nothing.
func TestBadArguments(t *testing.T) {
	e := newEnv(t, hub.Options{})
	alice := e.agent("alice", "")
	e.agent("bob", "")
	tests := []struct {
		tool string
		args map[string]any
		want string
	}{
		{"send", map[string]any{"body": "hi"}, "to"},
		{"send", map[string]any{"to": "", "body": "hi"}, "at least one recipient"},
		{"send", map[string]any{"to": 5, "body": "hi"}, "give a string"},
		{"send", map[string]any{"to": []any{"bob", 7}, "body": "hi"}, "to[1]"},
		{"send", map[string]any{"to": "bob", "body": "  "}, "empty message"},
		{"send", map[string]any{"to": "Bob Smith", "body": "hi"}, "not allowed"},
		{"send", map[string]any{"to": "bob", "body": "hi", "importance": "critical"}, "must be low, normal, high or urgent"},
		{"send", map[string]any{"to": "bob", "body": 42}, "body"},
		{"send", map[string]any{"to": "bob", "body": "hi", "bogus": true}, "bogus"},
		{"send", map[string]any{"to": "role:nobody", "body": "hi"}, "no other agent has role"},
		{"send", map[string]any{"to": "bob", "body": "hi", "reply_to": 999999}, "reply_to"},
		{"read", map[string]any{"id": 424242}, "not found"},
		{"read", map[string]any{"limit": -1}, "must not be negative"},
		{"wait", map[string]any{"timeout_seconds": 600}, "too long"},
		{"wait", map[string]any{"timeout_seconds": -1}, "must not be negative"},
		{"ack", map[string]any{"id": 0}, "give the id"},
		{"ack", map[string]any{"id": 987654}, "was not delivered"},
		{"history", map[string]any{}, "give peer"},
		{"history", map[string]any{"peer": "nobody"}, "not registered"},
		{"history", map[string]any{"peer": "bob", "thread": "1"}, "not both"},
		{"search", map[string]any{"query": " "}, "words to search"},
		{"share_file", map[string]any{"to": "bob", "path": "x.go"}, "cannot read files"},
		{"share_file", map[string]any{"to": "bob", "path": "x.go", "start_line": 5, "end_line": 2, "content": "x"}, "not valid"},
		{"rename", map[string]any{"name": "../etc"}, "not allowed"},
		{"rename", map[string]any{"name": "bob"}, "taken"},
		{"set_status", map[string]any{}, "give status"},
		{"set_status", map[string]any{"state": "sleeping"}, "must be online, busy or idle"},
		{"register", map[string]any{"name": "x y"}, "not allowed"},
		{"peers", map[string]any{"role": "a/b"}, "not allowed"},
		{"command_send", map[string]any{"target": "bob", "action": "start server"}, "one word"},
		{"command_send", map[string]any{"target": "bob", "action": "go", "params": []int{1}}, "JSON object"},
		{"command_send", map[string]any{"target": "bob", "action": "go", "deadline": "soon"}, "deadline"},
		{"command_send", map[string]any{"target": "nobody-here", "action": "go"}, "nobody-here"},
		{"command_complete", map[string]any{"id": 31337}, "not found"},
		{"command_status", map[string]any{"id": 31337}, "not found"},
		{"command_next", map[string]any{"timeout_seconds": 51}, "too long"},
		{"channel_post", map[string]any{"channel": "Bad Name", "data": "x"}, "not allowed"},
		{"channel_post", map[string]any{"channel": "ok"}, "data"},
		{"channel_read", map[string]any{"channel": ""}, "channel"},
		{"signal_emit", map[string]any{"name": ""}, "signal"},
		{"signal_wait", map[string]any{"name": "x", "timeout_seconds": 1e6}, "too long"},
		{"propose", map[string]any{"question": ""}, "question"},
		{"propose", map[string]any{"question": "ok?", "rule": "most"}, "rule"},
		{"vote", map[string]any{"id": 5555, "choice": "approve"}, "not found"},
		{"proposal_status", map[string]any{"id": 5555}, "not found"},
		{"reserve", map[string]any{"patterns": []string{}}, "at least one glob"},
		{"reserve", map[string]any{"patterns": []string{"a/**"}, "ttl": "forever"}, "duration"},
		{"release", map[string]any{}, "give id"},
		{"release", map[string]any{"id": 777}, "not found"},
		{"state_get", map[string]any{"key": "nokey"}, "not"},
		{"state_set", map[string]any{"key": "k"}, "value"},
		{"state_set", map[string]any{"key": "k", "value": 1, "expected_revision": 3}, "not set"},
	}
	for _, tt := range tests {
		t.Run(tt.tool+"/"+tt.want, func(t *testing.T) {
			alice.fails(tt.tool, tt.args, tt.want)
		})
	}
	// Nothing bad reached bob.
	var page hub.ReadResult
	bob := e.agent("bob2", "")
	structured(t, bob.call("read", nil), &page)
	if len(page.Messages) != 0 {
		t.Fatalf("bad calls delivered %d messages", len(page.Messages))
	}
}

// TestUnregisteredSession is a session without an agent (an open hub's
// MCP client before it registers): it is told to register, and can.
func TestUnregisteredSession(t *testing.T) {
	e := newEnv(t, hub.Options{Open: true})
	s := e.connect(mcpserver.LocalOptions{MayRegister: true}, mcpserver.Options{}, nil)
	s.fails("send", map[string]any{"to": "human", "body": "hi"}, "call register first")
	s.fails("whoami", nil, "call register first")
	text := s.ok("peers", map[string]any{"include_offline": true})
	mustContain(t, "peers", text, "human")
	text = s.ok("register", map[string]any{"name": "linux-client", "role": "tester"})
	mustContain(t, "register", text, "Registered as linux-client with role tester")
	text = s.ok("send", map[string]any{"to": "human", "body": "hello"})
	mustContain(t, "send", text, "Delivered to: human")

	// Without the right to register, the session is told why.
	s2 := e.connect(mcpserver.LocalOptions{}, mcpserver.Options{}, nil)
	s2.fails("register", map[string]any{"name": "x"}, "needs the admin or join secret")
}

// TestWaitProgress checks that a blocking tool sends progress
// notifications when the client asks with a progress token, and that
// the wait wakes when a message arrives.
func TestWaitProgress(t *testing.T) {
	e := newEnv(t, hub.Options{})
	c, tok := e.register("alice", "")
	var mu sync.Mutex
	var progress []float64
	got := make(chan struct{}, 1)
	s := e.connect(mcpserver.LocalOptions{Caller: c, Token: tok},
		mcpserver.Options{ProgressEvery: 20 * time.Millisecond},
		&mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			progress = append(progress, req.Params.Progress)
			mu.Unlock()
			select {
			case got <- struct{}{}:
			default:
			}
		}})
	bob := e.agent("bob", "")
	done := make(chan *mcp.CallToolResult, 1)
	go func() {
		params := &mcp.CallToolParams{Name: "wait", Arguments: map[string]any{"timeout_seconds": 45}}
		params.SetProgressToken("tok-1")
		res, err := s.cs.CallTool(context.Background(), params)
		if err != nil {
			t.Errorf("wait: %v", err)
		}
		done <- res
	}()
	// Send only once progress shows the wait is blocking.
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no progress notification while waiting")
	}
	bob.ok("send", map[string]any{"to": "alice", "body": "wake up"})
	select {
	case res := <-done:
		mustContain(t, "wait", resultText(res), "wake up", "from bob (authenticated)")
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not return after a message arrived")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(progress) == 0 {
		t.Fatal("no progress recorded")
	}
}

func TestShareFileReadsDisk(t *testing.T) {
	e := newEnv(t, hub.Options{})
	c, tok := e.register("alice", "")
	s := e.connect(mcpserver.LocalOptions{Caller: c, Token: tok}, mcpserver.Options{ReadFiles: true}, nil)
	bob := e.agent("bob", "")
	path := filepath.Join(t.TempDir(), "main.go")
	if err := os.WriteFile(path, []byte("package main\n\nfunc main() {\n\tprintln(1)\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.ok("share_file", map[string]any{"to": "bob", "path": path, "start_line": 3, "end_line": 5})
	text := bob.ok("read", nil)
	mustContain(t, "read", text, "lines 3-5", "func main() {\n\tprintln(1)\n}")
	if strings.Contains(text, "package main") {
		t.Fatalf("excerpt includes lines outside 3-5: %q", text)
	}
	s.fails("share_file", map[string]any{"to": "bob", "path": filepath.Join(t.TempDir(), "missing.go")}, "does not exist")
	s.fails("share_file", map[string]any{"to": "bob", "path": path, "start_line": 99}, "past its end")
}

// TestRegisteredSessionStopsAfterRevoke: a session that registered its
// agent with the register tool (its transport credential is a join
// secret that stays valid) can no longer act as the agent once the
// admin revokes the agent's tokens.
func TestRegisteredSessionStopsAfterRevoke(t *testing.T) {
	e := newEnv(t, hub.Options{})
	s := e.connect(mcpserver.LocalOptions{MayRegister: true}, mcpserver.Options{}, nil)
	s.ok("register", map[string]any{"name": "worker", "role": "tester"})
	s.ok("send", map[string]any{"to": "human", "body": "before"})
	if _, err := e.svc.RevokeTokens(context.Background(), hub.Caller{Admin: true}, "worker"); err != nil {
		t.Fatal(err)
	}
	s.fails("send", map[string]any{"to": "human", "body": "after"}, "token")
	s.fails("whoami", nil, "token")
}
