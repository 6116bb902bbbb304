package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/config"
)

func TestResolveAgent(t *testing.T) {
	t.Setenv(config.EnvConfig, t.TempDir())
	ts, err := config.NewTokenStore("", "http://127.0.0.1:7878")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := resolveAgent(ts, ""); !errors.Is(err, errNoIdentity) || !strings.Contains(err.Error(), `run "parley register NAME" first`) {
		t.Errorf("resolve with nothing stored = %v", err)
	}
	if name, tok, err := resolveAgent(ts, "zed"); name != "zed" || tok != "" || err != nil {
		t.Errorf("resolve(zed) with nothing stored = %q, %q, %v; want zed without a token", name, tok, err)
	}
	if err := ts.Save("alice", "pt_a"); err != nil {
		t.Fatal(err)
	}
	// Files that are not tokens of valid names are ignored.
	os.WriteFile(filepath.Join(ts.Dir(), "Bad Name.token"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(ts.Dir(), "notes.txt"), []byte("x"), 0o600)
	if name, tok, err := resolveAgent(ts, ""); name != "alice" || tok != "pt_a" || err != nil {
		t.Errorf("resolve with one stored = %q, %q, %v", name, tok, err)
	}
	ts.Save("bob", "pt_b")
	if _, _, err := resolveAgent(ts, ""); !errors.Is(err, errNoIdentity) || !strings.Contains(err.Error(), "(alice, bob)") {
		t.Errorf("resolve with two stored = %v", err)
	}
	if err := ts.Move("bob", "robert"); err != nil {
		t.Fatal(err)
	}
	if names, _ := storedAgents(ts); strings.Join(names, ",") != "alice,robert" {
		t.Errorf("names after move = %v", names)
	}
	if tok, _ := ts.Load("robert"); tok != "pt_b" {
		t.Errorf("robert's token = %q, want pt_b", tok)
	}
	if err := ts.Move("nobody", "somebody"); err != nil {
		t.Errorf("move of a name without a token: %v", err)
	}
}

func TestIsLoopback(t *testing.T) {
	for url, want := range map[string]bool{
		"http://127.0.0.1:7878": true, "http://localhost:1": true, "http://[::1]:2": true,
		"http://10.0.0.2:7878": false, "https://hub.example.com": false,
	} {
		if got := isLoopback(url); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", url, got, want)
		}
	}
}

func TestSplitRangeAndLines(t *testing.T) {
	tests := []struct{ spec, path, lines string }{
		{"main.go", "main.go", ""},
		{"main.go:10-20", "main.go", "10-20"},
		{"main.go:7", "main.go", "7"},
		{"main.go:7-", "main.go", "7-"},
		{`C:\src\main.go`, `C:\src\main.go`, ""},
		{`C:\src\main.go:3-4`, `C:\src\main.go`, "3-4"},
		{"notes:draft", "notes:draft", ""},
		{"main.go:-3", "main.go:-3", ""},
	}
	for _, tt := range tests {
		if p, l := splitRange(tt.spec); p != tt.path || l != tt.lines {
			t.Errorf("splitRange(%q) = %q, %q; want %q, %q", tt.spec, p, l, tt.path, tt.lines)
		}
	}
	data := []byte("a\nb\nc")
	for _, tt := range []struct {
		start, end int
		want       string
	}{{1, 1, "a\n"}, {2, 3, "b\nc"}, {1, 3, "a\nb\nc"}, {3, 3, "c"}} {
		if got := string(lineRange(data, tt.start, tt.end)); got != tt.want {
			t.Errorf("lineRange(%d, %d) = %q, want %q", tt.start, tt.end, got, tt.want)
		}
	}
}

func TestReadExcerptToEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.txt")
	os.WriteFile(path, []byte("one\ntwo\nthree\n"), 0o600)
	a, err := readExcerpt(path + ":2-")
	if err != nil || a.Content != "two\nthree\n" || a.StartLine != 2 || a.EndLine != 3 {
		t.Errorf("readExcerpt(2-) = %+v, %v", a, err)
	}
	if _, err := readExcerpt(path + ":4"); err == nil || !strings.Contains(err.Error(), "the file has 3 lines") {
		t.Errorf("readExcerpt(4) = %v", err)
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		d    time.Duration
		want string
	}{
		{time.Second, "just now"}, {-time.Minute, "just now"}, {42 * time.Second, "42s ago"},
		{3 * time.Minute, "3m ago"}, {5 * time.Hour, "5h ago"}, {72 * time.Hour, "3d ago"},
	}
	for _, tt := range tests {
		if got := ago(now, now.Add(-tt.d)); got != tt.want {
			t.Errorf("ago(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := ago(now, time.Time{}); got != "never" {
		t.Errorf("ago(zero) = %q", got)
	}
}

func TestCutAndClean(t *testing.T) {
	if got, cutHere := cut("a\nb\nc\nd", 0, 2); got != "a\nb" || !cutHere {
		t.Errorf("cut by lines = %q, %v", got, cutHere)
	}
	if got, cutHere := cut("héllo", 2, 0); got != "h" || !cutHere {
		t.Errorf("cut inside a rune = %q, %v", got, cutHere)
	}
	if got, cutHere := cut("short", 100, 10); got != "short" || cutHere {
		t.Errorf("cut of a short body = %q, %v", got, cutHere)
	}
	if got := clean("ok\tline\n\x1b[31mred\x07", true); got != "ok\tline\n\uFFFD[31mred\uFFFD" {
		t.Errorf("clean = %q", got)
	}
	if got := clean("a\u202eb", false); got != "a\uFFFDb" {
		t.Errorf("clean of a bidi override = %q", got)
	}
	if got := oneLine("a\n  b\tc", 100); got != "a b c" {
		t.Errorf("oneLine = %q", got)
	}
	if got := oneLine(strings.Repeat("x", 10), 5); got != "xxxx…" {
		t.Errorf("oneLine cut = %q", got)
	}
}

func TestParseRecipients(t *testing.T) {
	got, err := parseRecipients([]string{"Bob, role:Backend", "*", "bob"})
	if err != nil || strings.Join(got, " ") != "bob role:backend *" {
		t.Errorf("parseRecipients = %v, %v", got, err)
	}
}
