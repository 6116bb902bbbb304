package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/cli"
	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/hubserver"
)

// runDashboard runs parley dashboard against a hub with the given data
// directory and returns what it printed.
func runDashboard(t *testing.T, url, data string, args ...string) (string, string, error) {
	t.Helper()
	t.Setenv(config.EnvURL, url)
	t.Setenv(config.EnvData, data)
	t.Setenv(config.EnvConfig, t.TempDir())
	root := cli.NewRoot("test")
	var out, errb bytes.Buffer
	root.SetArgs(append([]string{"dashboard"}, args...))
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func startDashboardHub(t *testing.T) *hubserver.Hub {
	t.Helper()
	h, err := hubserver.Start(context.Background(), hubserver.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Version: "test"})
	if err != nil {
		t.Fatalf("start hub: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

var linkRE = regexp.MustCompile(`Dashboard: (\S+)`)

func TestDashboardOpensOneTimeLink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses a shell script as $BROWSER")
	}
	h := startDashboardHub(t)
	opened := filepath.Join(t.TempDir(), "opened")
	script := filepath.Join(t.TempDir(), "browser")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s' \"$1\" > "+opened+".tmp && mv "+opened+".tmp "+opened+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BROWSER", script)

	out, _, err := runDashboard(t, h.URL(), h.DataDir())
	if err != nil {
		t.Fatalf("parley dashboard: %v\n%s", err, out)
	}
	m := linkRE.FindStringSubmatch(out)
	if m == nil || !strings.HasPrefix(m[1], h.URL()+"/dashboard/login?token=") {
		t.Fatalf("printed %q, want a one-time link to %s/dashboard/login", out, h.URL())
	}
	link := m[1]

	// The browser was asked to open the same link.
	deadline := time.Now().Add(10 * time.Second)
	var got []byte
	for {
		got, err = os.ReadFile(opened)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if string(got) != link {
		t.Fatalf("$BROWSER opened %q (%v), want %q", got, err, link)
	}

	// The link logs in once.
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || len(res.Cookies()) == 0 || res.Cookies()[0].Name != "parley_session" {
		t.Fatalf("first use: %d with cookies %v, want 200 and a session", res.StatusCode, res.Cookies())
	}
	res, err = hc.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("second use: %d, want 401", res.StatusCode)
	}
}

func TestDashboardJSONAndNoBrowser(t *testing.T) {
	h := startDashboardHub(t)
	t.Setenv("BROWSER", filepath.Join(t.TempDir(), "must-not-run"))
	out, errOut, err := runDashboard(t, h.URL(), h.DataDir(), "--json", "--no-browser")
	if err != nil {
		t.Fatalf("parley dashboard --json: %v\n%s", err, out)
	}
	var link struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(out), &link); err != nil {
		t.Fatalf("--json printed %q: %v", out, err)
	}
	if !strings.HasPrefix(link.URL, h.URL()+"/dashboard/login?token=") || link.ExpiresAt.IsZero() {
		t.Fatalf("--json: %+v", link)
	}
	if errOut != "" {
		t.Fatalf("--no-browser still tried a browser: %q", errOut)
	}
}

func TestDashboardWithoutSecret(t *testing.T) {
	h := startDashboardHub(t)
	out, _, err := runDashboard(t, h.URL(), t.TempDir(), "--no-browser")
	if err != nil {
		t.Fatalf("parley dashboard without a secret: %v", err)
	}
	if !strings.Contains(out, "Dashboard: "+h.URL()+"/dashboard/\n") || !strings.Contains(out, "log in with the hub's admin secret") {
		t.Fatalf("printed %q, want the plain address and how to log in", out)
	}

	// Another hub's secret is refused with a clear error.
	other := t.TempDir()
	if err := config.WriteSecret(config.AdminSecretPath(other), []byte("pa_not-this-hubs-secret-at-all")); err != nil {
		t.Fatal(err)
	}
	_, _, err = runDashboard(t, h.URL(), other, "--no-browser")
	if err == nil || !strings.Contains(err.Error(), "does not accept the admin secret") {
		t.Fatalf("wrong secret: got %v, want a clear refusal", err)
	}
}
