package hubserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/hubserver"
)

func start(tb testing.TB, cfg hubserver.Config) *hubserver.Hub {
	tb.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(tb.TempDir(), "data")
	}
	if cfg.Synchronous == "" {
		cfg.Synchronous = "normal"
	}
	h, err := hubserver.Start(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("start: %v", err)
	}
	tb.Cleanup(func() {
		if err := h.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return h
}

// call makes a request and decodes a JSON answer into v, when v is set.
func call(tb testing.TB, h *hubserver.Hub, method, path, body, token string, v any) int {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.URL()+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			tb.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

func TestConfigValidate(t *testing.T) {
	ok := hubserver.Config{DataDir: "/d", Addr: "127.0.0.1:7878"}
	for _, tc := range []struct {
		name  string
		edit  func(c *hubserver.Config)
		field string // "" when valid
	}{
		{"valid", func(c *hubserver.Config) {}, ""},
		{"valid open on localhost", func(c *hubserver.Config) { c.Open, c.Addr = true, "localhost:0" }, ""},
		{"valid open on ::1", func(c *hubserver.Config) { c.Open, c.Addr = true, "[::1]:7878" }, ""},
		{"valid remote with secret", func(c *hubserver.Config) { c.Addr, c.JoinSecret = "0.0.0.0:7878", "0123456789abcdef" }, ""},
		{"no data dir", func(c *hubserver.Config) { c.DataDir = "" }, "DataDir"},
		{"no addr", func(c *hubserver.Config) { c.Addr = "" }, "Addr"},
		{"addr without port", func(c *hubserver.Config) { c.Addr = "127.0.0.1" }, "Addr"},
		{"addr with bad port", func(c *hubserver.Config) { c.Addr = "127.0.0.1:http-ish" }, "Addr"},
		{"open on all interfaces", func(c *hubserver.Config) { c.Open, c.Addr, c.JoinSecret = true, "0.0.0.0:7878", "0123456789abcdef" }, "Open"},
		{"open on empty host", func(c *hubserver.Config) { c.Open, c.Addr = true, ":7878" }, "Open"},
		{"remote without secret", func(c *hubserver.Config) { c.Addr = "0.0.0.0:7878" }, "JoinSecret"},
		{"remote, empty host, without secret", func(c *hubserver.Config) { c.Addr = ":7878" }, "JoinSecret"},
		{"short secret", func(c *hubserver.Config) { c.JoinSecret = "short" }, "JoinSecret"},
		{"secret with space", func(c *hubserver.Config) { c.JoinSecret = "0123456789 abcdef" }, "JoinSecret"},
		{"bad sync", func(c *hubserver.Config) { c.Synchronous = "off" }, "Synchronous"},
		{"negative ttl", func(c *hubserver.Config) { c.ForwardTTL = -time.Second }, "ForwardTTL"},
		{"negative body", func(c *hubserver.Config) { c.MaxBody = -1 }, "MaxBody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
}

func TestStartServesAndKeepsData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	h, err := hubserver.Start(context.Background(), hubserver.Config{DataDir: dir, Addr: "127.0.0.1:0", Version: "v-test"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h.URL(), "http://127.0.0.1:") || strings.HasSuffix(h.Addr(), ":0") {
		t.Errorf("URL %q, Addr %q", h.URL(), h.Addr())
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	secret := h.AdminSecret()
	fi, err = os.Stat(config.AdminSecretPath(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin secret mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if !strings.HasPrefix(secret, "pa_") || len(secret) != 3+43 {
		t.Errorf("admin secret %q is not pa_ and 32 bytes of base64url", secret)
	}
	var health map[string]bool
	if st := call(t, h, "GET", "/healthz", "", "", &health); st != 200 || !health["ok"] {
		t.Fatalf("healthz %d %v", st, health)
	}
	var status map[string]any
	call(t, h, "GET", "/status", "", secret, &status)
	if status["version"] != "v-test" {
		t.Errorf("status version %v", status["version"])
	}
	var reg struct{ Token string }
	if st := call(t, h, "POST", "/peers/connect", `{"name":"alice"}`, secret, &reg); st != 201 {
		t.Fatalf("register: %d", st)
	}
	if st := call(t, h, "POST", "/messages", `{"to":"human","body":"kept"}`, reg.Token, nil); st != 201 {
		t.Fatalf("send: %d", st)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}

	h2 := start(t, hubserver.Config{DataDir: dir})
	if h2.AdminSecret() != secret {
		t.Error("admin secret changed across restarts")
	}
	var in struct {
		Messages []struct{ Body string }
	}
	call(t, h2, "GET", "/inbox/human", "", secret, &in)
	if len(in.Messages) != 1 || in.Messages[0].Body != "kept" {
		t.Errorf("human's inbox after restart: %+v", in.Messages)
	}
	var who struct{ Name string }
	if st := call(t, h2, "GET", "/whoami", "", reg.Token, &who); st != 200 || who.Name != "alice" {
		t.Errorf("alice's token after restart: %d %q", st, who.Name)
	}
}

// TestDashboardLoginOutlivesRestart logs a browser in to the dashboard
// of a real hub, restarts the hub on the same data directory, and uses
// the same cookie.
func TestDashboardLoginOutlivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	h, err := hubserver.Start(context.Background(), hubserver.Config{DataDir: dir, Addr: "127.0.0.1:0", Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login, err := http.NewRequest("POST", h.URL()+"/dashboard/login", strings.NewReader("secret="+h.AdminSecret()))
	if err != nil {
		t.Fatal(err)
	}
	login.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	login.Header.Set("Origin", h.URL())
	res, err := noRedirect.Do(login)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || len(res.Cookies()) != 1 {
		t.Fatalf("login: %d with cookies %v", res.StatusCode, res.Cookies())
	}
	cookie := res.Cookies()[0]
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, hubserver.SessionsFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("sessions file: %v, %v; want mode 0600", fi, err)
	}

	h2 := start(t, hubserver.Config{DataDir: dir})
	req, err := http.NewRequest("GET", h2.URL()+"/dashboard/api/whoami", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(cookie)
	res, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var who struct{ Name string }
	if err := json.NewDecoder(res.Body).Decode(&who); err != nil || res.StatusCode != http.StatusOK || who.Name != "human" {
		t.Fatalf("dashboard call after restart: %d %+v %v", res.StatusCode, who, err)
	}
}

func TestSecondHubOnSameDataIsLocked(t *testing.T) {
	h := start(t, hubserver.Config{})
	_, err := hubserver.Start(context.Background(), hubserver.Config{DataDir: h.DataDir(), Addr: "127.0.0.1:0"})
	if !errors.Is(err, hubserver.ErrLocked) {
		t.Fatalf("error %v, want ErrLocked", err)
	}
	for _, want := range []string{"locked", h.DataDir(), "pid " + strconv.Itoa(os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// The first hub is unharmed.
	if st := call(t, h, "GET", "/healthz", "", "", nil); st != 200 {
		t.Errorf("first hub: healthz %d", st)
	}
}

func TestTakenPortIsAddrInUseAndReleasesLock(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "data")
	_, err = hubserver.Start(context.Background(), hubserver.Config{DataDir: dir, Addr: ln.Addr().String()})
	if !errors.Is(err, hubserver.ErrAddrInUse) {
		t.Fatalf("error %v, want ErrAddrInUse", err)
	}
	// The failed start left nothing locked.
	start(t, hubserver.Config{DataDir: dir})
}

func TestStartRefusesUnsafeConfig(t *testing.T) {
	dir := t.TempDir()
	for _, cfg := range []hubserver.Config{
		{DataDir: dir, Addr: "0.0.0.0:0", Open: true, JoinSecret: "0123456789abcdef"},
		{DataDir: dir, Addr: "0.0.0.0:0"},
	} {
		if h, err := hubserver.Start(context.Background(), cfg); err == nil {
			h.Close()
			t.Errorf("Start(%+v) succeeded", cfg)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, hubserver.DatabaseFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused start created the store: %v", err)
	}
}

// TestCloseEndsStreamsAndWaits: Close ends event streams and long-polls
// instead of waiting for them.
func TestCloseEndsStreamsAndWaits(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	h, err := hubserver.Start(context.Background(), hubserver.Config{DataDir: dir, Addr: "127.0.0.1:0", ShutdownTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	req, _ := http.NewRequest("GET", h.URL()+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+h.AdminSecret())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != ": connected\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	subs := h.Service().Bus().(interface{ Subscribers() int })
	before := subs.Subscribers()
	wait := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("GET", h.URL()+"/inbox/human/wait?timeout=600000", nil)
		req.Header.Set("Authorization", "Bearer "+h.AdminSecret())
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		wait <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); subs.Subscribers() == before; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the long-poll never started waiting")
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- h.Close() }()
	if err := <-closed; err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Logf("stream ended with %v", err)
	}
	<-wait
	// The lock is free again.
	start(t, hubserver.Config{DataDir: dir})
}

func TestMounts(t *testing.T) {
	var seen *hubserver.Hub
	h := start(t, hubserver.Config{Mounts: []hubserver.Mount{
		func(mux *http.ServeMux, h *hubserver.Hub) error {
			seen = h
			mux.HandleFunc("GET /dashboard/", func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, "dashboard for ", len(h.AdminSecret()) > 0)
			})
			return nil
		},
	}})
	if seen != h || seen.Service() == nil {
		t.Fatal("mount did not get the hub")
	}
	resp, err := http.Get(h.URL() + "/dashboard/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "dashboard for true" {
		t.Errorf("dashboard said %q", b)
	}

	_, err = hubserver.Start(context.Background(), hubserver.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Mounts: []hubserver.Mount{
		func(mux *http.ServeMux, h *hubserver.Hub) error {
			mux.HandleFunc("POST /messages", func(http.ResponseWriter, *http.Request) {})
			return nil
		},
	}})
	if err == nil || !strings.Contains(err.Error(), "Mounts[0]") {
		t.Errorf("conflicting mount: error %v", err)
	}
}

// TestOpenTokensDieWithOpenMode: a token issued while the hub was open
// is refused once authentication is back on.
func TestOpenTokensDieWithOpenMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	h, err := hubserver.Start(context.Background(), hubserver.Config{DataDir: dir, Addr: "127.0.0.1:0", Open: true})
	if err != nil {
		t.Fatal(err)
	}
	var reg struct{ Token string }
	if st := call(t, h, "POST", "/peers/connect", `{"name":"bob"}`, "", &reg); st != 201 {
		t.Fatalf("register: %d", st)
	}
	h.Close()
	h2 := start(t, hubserver.Config{DataDir: dir})
	if st := call(t, h2, "GET", "/whoami", "", reg.Token, nil); st != 401 {
		t.Errorf("open-mode token after restart with auth: %d, want 401", st)
	}
}

// TestCloseLeavesNoGoroutines: every goroutine a hub starts ends with
// Close, streams and waits included.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	h, err := hubserver.Start(context.Background(), hubserver.Config{DataDir: filepath.Join(t.TempDir(), "data"), Addr: "127.0.0.1:0", Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{}}
	req, _ := http.NewRequest("GET", h.URL()+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+h.AdminSecret())
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	client.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
