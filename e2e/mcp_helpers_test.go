//go:build unix

package e2e

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Helpers of the MCP end-to-end tests. Names start with mcp so that they
// never collide with the helpers of other e2e tests in this package.

// mcpBinary returns the parley binary TestMain built, or PARLEY_E2E_BIN.
func mcpBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("PARLEY_E2E_BIN"); bin != "" {
		return bin
	}
	if binary == "" {
		t.Fatal("no parley binary: TestMain did not build one")
	}
	return binary
}

// mcpFreeAddr returns a loopback address nobody listens on.
func mcpFreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// mcpEnv is one user's machine: a hub address and the data and config
// directories every `parley mcp` of the test shares.
type mcpEnv struct {
	t      testing.TB
	bin    string
	url    string
	data   string
	config string
}

func newMCPEnv(t testing.TB) *mcpEnv {
	t.Helper()
	return &mcpEnv{t: t, bin: mcpBinary(t), url: "http://" + mcpFreeAddr(t), data: t.TempDir(), config: t.TempDir()}
}

// environ is the environment of a parley process of this machine.
func (e *mcpEnv) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PARLEY_") {
			continue // the test decides every PARLEY_ variable
		}
		env = append(env, kv)
	}
	return append(env, "PARLEY_URL="+e.url, "PARLEY_DATA="+e.data, "PARLEY_CONFIG="+e.config)
}

// mcpAgent is a `parley mcp` process and the Go SDK client talking to it
// over its stdin and stdout.
type mcpAgent struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	cs   *mcp.ClientSession
}

// start runs `parley mcp --name name` and connects to it.
func (e *mcpEnv) start(name string, args ...string) *mcpAgent {
	e.t.Helper()
	cmd := exec.Command(e.bin, append([]string{"mcp", "--name", name, "--log-level", "info"}, args...)...)
	cmd.Env = e.environ()
	cmd.Stderr = &mcpLogWriter{t: e.t, prefix: name + ": "}
	tr := &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "claude-code", Version: "test"}, nil).Connect(ctx, tr, nil)
	if err != nil {
		e.t.Fatalf("start parley mcp %s: %v", name, err)
	}
	a := &mcpAgent{t: e.t, name: name, cmd: cmd, cs: cs}
	e.t.Cleanup(a.close)
	return a
}

// close ends the session the way a client does: stdin closes and the
// bridge exits.
func (a *mcpAgent) close() {
	a.cs.Close()
}

// kill ends the process at once, as a crash or kill -9 would.
func (a *mcpAgent) kill() {
	a.t.Helper()
	if err := a.cmd.Process.Kill(); err != nil {
		a.t.Fatalf("kill %s: %v", a.name, err)
	}
	a.cs.Close()
}

// call calls a tool and returns its text and whether it is a tool error;
// a protocol failure returns err.
func (a *mcpAgent) call(tool string, args any) (string, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := a.cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return "", false, err
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError, nil
}

// ok calls a tool that must succeed.
func (a *mcpAgent) ok(tool string, args any) string {
	a.t.Helper()
	text, isErr, err := a.call(tool, args)
	if err != nil {
		a.t.Fatalf("%s: %s: %v", a.name, tool, err)
	}
	if isErr {
		a.t.Fatalf("%s: %s: tool error: %s", a.name, tool, text)
	}
	return text
}

// structured calls a tool that must succeed and decodes its structured
// content into v.
func (a *mcpAgent) structured(tool string, args, v any) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := a.cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		a.t.Fatalf("%s: %s: %v", a.name, tool, err)
	}
	if res.IsError {
		a.t.Fatalf("%s: %s: tool error: %v", a.name, tool, res.Content)
	}
	b, err := json.Marshal(res.StructuredContent)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		a.t.Fatalf("%s: %s: structured content: %v", a.name, tool, err)
	}
}

// mcpEventually polls cond until it holds or the deadline passes.
func mcpEventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mcpLogWriter sends a process's stderr to the test log.
type mcpLogWriter struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (w *mcpLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		func() {
			defer func() { _ = recover() }() // the test may have ended
			w.t.Log(w.prefix + line)
		}()
	}
	return len(p), nil
}
