//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Seed 001's curl examples for commands, channels, signals, status and
// reset, sent as written to a real `parley serve --open`, then a kill -9
// of the hub and a restart on the same data. Names start with coord so
// they never collide with other e2e helpers.

// coordHub is a `parley serve --open` process on a data directory.
type coordHub struct {
	t    testing.TB
	bin  string
	addr string
	data string
	cmd  *exec.Cmd
}

func newCoordHub(t testing.TB) *coordHub {
	t.Helper()
	h := &coordHub{t: t, bin: mcpBinary(t), addr: mcpFreeAddr(t), data: t.TempDir()}
	h.start()
	t.Cleanup(h.kill)
	return h
}

func (h *coordHub) url() string { return "http://" + h.addr }

// start runs the hub and waits until /healthz answers.
func (h *coordHub) start() {
	h.t.Helper()
	h.cmd = exec.Command(h.bin, "serve", "--open", "--addr", h.addr, "--data", h.data, "--log-level", "warn")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") {
			env = append(env, kv)
		}
	}
	h.cmd.Env = env
	h.cmd.Stderr = &mcpLogWriter{t: h.t, prefix: "hub: "}
	if err := h.cmd.Start(); err != nil {
		h.t.Fatalf("start hub: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(h.url() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("hub did not answer on %s: %v", h.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the hub at once, as kill -9 does.
func (h *coordHub) kill() {
	if h.cmd == nil || h.cmd.Process == nil {
		return
	}
	_ = h.cmd.Process.Kill()
	_ = h.cmd.Wait()
	h.cmd = nil
}

// curl sends a request as seed 001's curl example does: JSON when there
// is a body, nothing else. It returns the status and body.
func (h *coordHub) curl(method, path, body string) (int, string) {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.url()+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	c := &http.Client{Timeout: time.Minute}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// must sends a request and checks its status and that the body holds
// each of wants.
func (h *coordHub) must(method, path, body string, status int, wants ...string) string {
	h.t.Helper()
	got, out := h.curl(method, path, body)
	if got != status {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, status, out)
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			h.t.Fatalf("%s %s: body lacks %s: %s", method, path, w, out)
		}
	}
	return out
}

func TestSeedCoordinationCurl(t *testing.T) {
	h := newCoordHub(t)

	// Peers: the backend registers as in the seed; its peer id is its name.
	out := h.must("POST", "/peers/connect", `{"role":"backend","capabilities":["tcp","server"]}`, 201)
	var reg struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &reg); err != nil || reg.ID == "" {
		t.Fatalf("connect answered %s", out)
	}
	peer := reg.ID

	// Commands.
	out = h.must("POST", "/commands/send", `{"from":"human","target":"backend","action":"start_server","params":{"port":7400}}`, 201,
		`"action":"start_server"`, `"params":{"port":7400}`, `"status":"pending"`, `"from":"human"`)
	var cmd struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &cmd); err != nil || cmd.ID == 0 {
		t.Fatalf("send answered %s", out)
	}
	h.must("GET", "/commands/"+peer, "", 200, `"action":"start_server"`)
	h.must("GET", "/commands/"+peer+"/wait?timeout=30000", "", 200, `"status":"claimed"`, fmt.Sprintf(`"id":%d`, cmd.ID))
	h.must("POST", fmt.Sprintf("/commands/%d/ack", cmd.ID), `{"result":{"status":"ok"}}`, 200, `"status":"done"`, `"result":{"status":"ok"}`)
	h.must("GET", fmt.Sprintf("/commands/%d/result?timeout=1000", cmd.ID), "", 200, `"status":"done"`)

	// Channels.
	h.must("POST", "/channels/results/send", `{"test":"handshake","status":"pass"}`, 201, `"seq":1`)
	h.must("GET", "/channels/results/messages", "", 200, `"data":{"test":"handshake","status":"pass"}`)
	h.must("GET", "/channels/results/messages?since=5", "", 200, `"messages":[]`)

	// Signals.
	h.must("POST", "/signals/server_ready", `{"data":{"port":7400}}`, 200, `"emitted":true`)
	h.must("GET", "/signals/server_ready/wait?timeout=30000", "", 200, `"emitted":true`, `"data":{"port":7400}`)
	h.must("GET", "/signals/server_ready", "", 200, `"emitted":true`)

	// System: the full state holds peers, commands, channels and signals.
	h.must("GET", "/status", "", 200, `"peers":[`, `"commands":[{`, `"channels":[{"name":"results"`, `"signals":[{"name":"server_ready"`)

	// kill -9 and restart: everything committed is still there.
	h.must("POST", "/commands/send", `{"from":"human","target":"backend","action":"run_tests"}`, 201)
	h.must("POST", "/channels/results/send", `{"n":2}`, 201, `"seq":2`)
	h.kill()
	h.start()
	h.must("GET", "/channels/results/messages?since=1", "", 200, `"seq":2`)
	h.must("GET", "/signals/server_ready/wait?timeout=30000", "", 200, `"emitted":true`)
	h.must("GET", "/commands/"+peer+"/wait?timeout=30000", "", 200, `"action":"run_tests"`)
	h.must("POST", "/channels/results/send", `{"n":3}`, 201, `"seq":3`)

	// Reset clears everything.
	h.must("POST", "/reset", "", 200)
	h.must("GET", "/signals/server_ready", "", 200, `"emitted":false`)
	h.must("GET", "/channels/results/messages", "", 200, `"messages":[]`)
	h.must("GET", "/status", "", 200, `"commands":[]`, `"channels":[]`, `"signals":[]`)
}
