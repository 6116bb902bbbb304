package attack_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parley-dev/parley/internal/bridge"
	"github.com/parley-dev/parley/internal/cli"
	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/hubserver"
)

// testPKI writes a private CA and a certificate it signed for 127.0.0.1
// and localhost into dir, and returns the paths of the CA certificate,
// the server certificate and its key.
func testPKI(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "parley test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "parley hub"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("hub.pem", "CERTIFICATE", leafDER), write("hub-key.pem", "EC PRIVATE KEY", keyDER)
}

// TestTLSEndToEnd: a hub serving TLS with a certificate from a private
// CA is reachable by the Go client, the CLI (--ca and $PARLEY_CA) and
// the MCP bridge when they trust that CA, and by nothing that does not.
func TestTLSEndToEnd(t *testing.T) {
	caFile, certFile, keyFile := testPKI(t, t.TempDir())
	h, err := hubserver.Start(context.Background(), hubserver.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", TLSCert: certFile, TLSKey: "", Synchronous: "normal"})
	if err == nil || !strings.Contains(err.Error(), "TLSKey") {
		if h != nil {
			h.Close()
		}
		t.Fatalf("a certificate without a key: %v", err)
	}
	_, err = hubserver.Start(context.Background(), hubserver.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", TLSCert: caFile, TLSKey: keyFile})
	if err == nil {
		t.Fatalf("a certificate that does not match its key was accepted")
	}
	e := start(t, func(c *hubserver.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	if !strings.HasPrefix(e.url, "https://") {
		t.Fatalf("hub URL %s, want https", e.url)
	}
	ctx := context.Background()

	// Without the CA, nothing talks to it; plain HTTP gets no service.
	if _, err := http.Get(e.url + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("https without the CA: %v; want a certificate error", err)
	}
	if resp, err := http.Get("http://" + e.host + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP to the TLS port was served")
		}
	}
	noCA, err := client.New(e.url, client.Options{AdminSecret: e.admin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noCA.Register(ctx, hub.RegisterRequest{Name: "eve"}); err == nil {
		t.Errorf("register without trusting the CA succeeded")
	}

	// The Go client with the CA file.
	c, err := client.New(e.url, client.Options{AdminSecret: e.admin, CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := c.Register(ctx, hub.RegisterRequest{Name: "alice"})
	if err != nil {
		t.Fatalf("register over TLS: %v", err)
	}
	bob, err := c.Register(ctx, hub.RegisterRequest{Name: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WithAgent("alice", alice.Token).Send(ctx, hub.SendRequest{To: []string{"bob"}, Body: "over TLS"}); err != nil {
		t.Fatalf("send over TLS: %v", err)
	}
	res, err := c.WithAgent("bob", bob.Token).Inbox(ctx, hub.ReadOptions{})
	if err != nil || len(res.Messages) != 1 || res.Messages[0].Body != "over TLS" {
		t.Fatalf("read over TLS: %+v, %v", res.Messages, err)
	}

	// The CLI, with $PARLEY_CA and with --ca; its tokens stay private.
	cfgDir := t.TempDir()
	t.Setenv(config.EnvURL, e.url)
	t.Setenv(config.EnvConfig, cfgDir)
	t.Setenv(config.EnvData, e.dir)
	t.Setenv(config.EnvAgent, "")
	t.Setenv(config.EnvSecret, "")
	t.Setenv(config.EnvCA, caFile)
	if out, err := runCLI("register", "carol"); err != nil || !strings.Contains(out, "registered carol") {
		t.Fatalf("parley register over TLS: %v\n%s", err, out)
	}
	if out, err := runCLI("send", "--as", "carol", "bob", "hi from the CLI"); err != nil {
		t.Fatalf("parley send over TLS: %v\n%s", err, out)
	}
	t.Setenv(config.EnvCA, "")
	if _, err := runCLI("whoami", "--as", "carol"); err == nil {
		t.Errorf("the CLI trusted the hub without the CA")
	}
	if out, err := runCLI("whoami", "--as", "carol", "--ca", caFile); err != nil || !strings.Contains(out, "carol") {
		t.Fatalf("parley whoami --ca: %v\n%s", err, out)
	}
	ts, err := config.NewTokenStore(cfgDir, e.url)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := ts.Load("carol")
	if out, err := runCLI("token", "rotate", "--as", "carol", "--ca", caFile); err != nil || !strings.Contains(out, "rotated") {
		t.Fatalf("parley token rotate: %v\n%s", err, out)
	}
	rotated, _ := ts.Load("carol")
	if rotated == old || !strings.HasPrefix(rotated, "pt_") {
		t.Fatalf("token file not updated by rotate")
	}
	if _, err := c.WithAgent("carol", old).Whoami(ctx); !errors.Is(err, hub.ErrUnauthenticated) {
		t.Errorf("old token after rotate: %v, want unauthenticated", err)
	}
	if out, err := runCLI("whoami", "--as", "carol", "--ca", caFile); err != nil || !strings.Contains(out, "carol") {
		t.Fatalf("parley whoami with the rotated token: %v\n%s", err, out)
	}
	checkPrivate(t, filepath.Join(cfgDir, "tokens"))

	// The MCP bridge, with the CA file.
	b, err := bridge.New(bridge.Config{URL: e.url, DataDir: e.dir, ConfigDir: t.TempDir(), Name: "dave", CAFile: caFile, NoElect: true})
	if err != nil {
		t.Fatal(err)
	}
	st, ct := mcp.NewInMemoryTransports()
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Serve(bctx, st) }()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "claude-code", Version: "1"}, nil).Connect(bctx, ct, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil || r.IsError || !strings.Contains(toolText(r), "dave") {
		t.Errorf("bridge whoami over TLS: %v %s", err, toolText(r))
	}
	cs.Close()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Error("bridge did not stop")
	}
	cancel()

	// The dashboard's cookie is Secure over TLS.
	tc, err := client.TLSConfig(caFile)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", e.url+"/dashboard/login", strings.NewReader("secret="+url.QueryEscape(e.admin)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.url)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cs := resp.Cookies(); len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly {
		t.Errorf("dashboard cookie over TLS: %+v, want Secure and HttpOnly", cs)
	}
}

func toolText(r *mcp.CallToolResult) string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// runCLI runs parley with args in this process.
func runCLI(args ...string) (string, error) {
	root := cli.NewRoot("test")
	var out bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(""))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// checkPrivate asserts that everything under dir is 0700 (directories)
// or 0600 (files).
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	if os.PathSeparator != '/' {
		return
	}
	n := 0
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		} else {
			n++
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if n == 0 {
		t.Errorf("no files under %s", dir)
	}
}

// TestSecretsNeverLogged: a hub logging everything (debug, JSON) through
// registrations, authenticated calls, refused credentials, rotation,
// revocation, MCP, the event stream and dashboard logins writes no
// secret, token, link or session into its logs.
func TestSecretsNeverLogged(t *testing.T) {
	var logs syncBuffer
	join := "join-secret-0123456789abcdef"
	e := start(t, func(c *hubserver.Config) {
		c.JoinSecret = join
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	secrets := map[string]string{"admin secret": e.admin, "join secret": join}
	var reg struct{ Token string }
	okay(t, "register with the join secret", e.do("POST", "/peers/connect", `{"name":"alice"}`, join), &reg)
	alice := reg.Token
	bob := e.register("bob")
	secrets["alice's token"], secrets["bob's token"] = alice, bob
	okay(t, "send", e.do("POST", "/messages", `{"to":"bob","body":"hi"}`, alice), nil)
	okay(t, "read", e.do("GET", "/inbox/bob", nil, bob), nil)
	okay(t, "admin call", e.do("GET", "/status", nil, e.admin), nil)
	wrong := "pt_wrongwrongwrongwrongwrongwrongwrongwrong0"
	secrets["a wrong token"] = wrong
	e.do("GET", "/whoami", nil, wrong)
	e.do("GET", "/whoami", nil, strings.ToUpper(alice))
	var rot struct{ Token string }
	okay(t, "rotate", e.do("POST", "/tokens/rotate", nil, alice), &rot)
	secrets["alice's rotated token"] = rot.Token
	e.do("GET", "/whoami", nil, alice)
	okay(t, "revoke", e.do("POST", "/admin/revoke", `{"agent":"bob"}`, e.admin), nil)
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	okay(t, "MCP", e.do("POST", "/mcp", init, rot.Token, "Accept", "application/json, text/event-stream"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/events?since=0", nil)
	req.Header.Set("Authorization", "Bearer "+rot.Token)
	if resp, err := e.hc.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	cancel()

	// Dashboard: a one-time link, spent, and a login with the secret.
	var link struct{ URL, Path string }
	okay(t, "login link", e.do("POST", "/dashboard/login-links", nil, e.admin), &link)
	u, _ := url.Parse(link.URL)
	secrets["login link token"] = u.Query().Get("token")
	resp, err := noRedirect.Get(e.url + link.Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest("POST", e.url+"/dashboard/login", strings.NewReader("secret="+url.QueryEscape(e.admin)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://"+e.host)
	if resp, err = noRedirect.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		secrets["session cookie"] = c.Value
	}
	req, _ = http.NewRequest("POST", e.url+"/dashboard/login", strings.NewReader("secret="+url.QueryEscape(join)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://"+e.host)
	if resp, err = noRedirect.Do(req); err == nil {
		resp.Body.Close()
	}

	out := logs.String()
	if !strings.Contains(out, `"msg":"http"`) || !strings.Contains(out, `"action":"revoke"`) {
		t.Fatalf("the logs lack access lines or the admin action; the test would prove nothing:\n%s", truncate(out, 2000))
	}
	for what, s := range secrets {
		if s == "" {
			t.Fatalf("%s is empty; the test would prove nothing", what)
		}
		if strings.Contains(out, s) {
			t.Errorf("the logs hold %s", what)
		}
		// Also no fragment long enough to matter.
		if len(s) > 24 && regexp.MustCompile(regexp.QuoteMeta(s[4:20])).MatchString(out) {
			t.Errorf("the logs hold part of %s", what)
		}
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
	}
}
