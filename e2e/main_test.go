//go:build unix

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the parley binary TestMain built.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "parley-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "parley")
	build := exec.Command("go", "build", "-o", binary, "./cmd/parley")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// hubProc is a running `parley serve`.
type hubProc struct {
	t    testing.TB
	cmd  *exec.Cmd
	data string
	url  string
	logs *syncBuffer
	done chan struct{}
	err  error // the process's exit, once done is closed
}

// syncBuffer collects a process's output for concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serve starts `parley serve` on a free loopback port with data dir
// data and extra args, and waits until it logs its URL.
func serve(tb testing.TB, data string, args ...string) *hubProc {
	tb.Helper()
	args = append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	h := &hubProc{t: tb, data: data, logs: &syncBuffer{}, done: make(chan struct{})}
	h.cmd = exec.Command(binary, args...)
	h.cmd.Env = cleanEnv()
	pr, pw := io.Pipe()
	h.cmd.Stderr = io.MultiWriter(h.logs, pw)
	if err := h.cmd.Start(); err != nil {
		tb.Fatalf("start parley: %v", err)
	}
	go func() {
		h.err = h.cmd.Wait()
		pw.Close()
		close(h.done)
	}()
	tb.Cleanup(func() {
		h.cmd.Process.Kill()
		<-h.done
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var line struct {
				Msg string `json:"msg"`
				URL string `json:"url"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "parley hub listening" {
				urls <- line.URL
			}
		}
		close(urls)
	}()
	select {
	case u, ok := <-urls:
		if !ok {
			<-h.done
			tb.Fatalf("parley serve exited (%v) before listening:\n%s", h.err, h.logs)
		}
		h.url = u
		go io.Copy(io.Discard, pr)
	case <-time.After(60 * time.Second):
		tb.Fatalf("parley serve did not start:\n%s", h.logs)
	}
	return h
}

// cleanEnv is the environment without PARLEY_ variables, so a
// developer's settings cannot leak into the tests.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") {
			env = append(env, kv)
		}
	}
	return env
}

// signal sends sig and waits for the process to exit.
func (h *hubProc) stop(sig syscall.Signal) error {
	h.t.Helper()
	if err := h.cmd.Process.Signal(sig); err != nil {
		h.t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-h.done:
		return h.err
	case <-time.After(60 * time.Second):
		h.t.Fatalf("parley did not exit after %v:\n%s", sig, h.logs)
		return nil
	}
}

// adminSecret reads the admin secret the hub created.
func (h *hubProc) adminSecret() string {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.data, "admin.secret"))
	if err != nil {
		h.t.Fatalf("admin secret: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// httpClient has a timeout so that a dead hub fails requests quickly.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// do sends a JSON request and decodes the answer into out when set.
func do(ctx context.Context, method, url, token, body string, out any, headers ...string) (int, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: status %d: %s", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}
