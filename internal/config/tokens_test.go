package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parley-dev/parley/internal/config"
)

func TestHubKey(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"loopback with port", "http://127.0.0.1:7878", "127.0.0.1_7878"},
		{"upper case and a path", "http://LocalHost:80/prefix", "localhost_80"},
		{"https default port", "https://hub.example.com", "hub.example.com_443"},
		{"http default port", "http://hub.example.com", "hub.example.com_80"},
		{"IPv6 colons", "http://[::1]:7878", "__1_7878"},
		{"anything else becomes _", "http://h%C3%BCb.example:1", "h_b.example_1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := config.HubKey(tt.url); err != nil || got != tt.want {
				t.Errorf("HubKey(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"127.0.0.1:7878", "ftp://x:1", "http://", "://x"} {
		t.Run("refuses "+bad, func(t *testing.T) {
			if got, err := config.HubKey(bad); err == nil {
				t.Errorf("HubKey(%q) = %q, no error; want one", bad, got)
			}
		})
	}
}

// newStore returns an empty token store for a hub in a fresh directory.
func newStore(tb testing.TB) config.TokenStore {
	tb.Helper()
	ts, err := config.NewTokenStore(tb.TempDir(), "http://127.0.0.1:7878")
	if err != nil {
		tb.Fatal(err)
	}
	return ts
}

func TestNewTokenStore(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(config.EnvConfig, dir)
	tests := []struct {
		name      string
		configDir string
		wantDir   string
	}{
		{"given directory", filepath.Join(dir, "given"), filepath.Join(dir, "given", "tokens", "hub_7878")},
		{"empty means ConfigDir", "", filepath.Join(dir, "tokens", "hub_7878")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := config.NewTokenStore(tt.configDir, "http://hub:7878")
			if err != nil {
				t.Fatal(err)
			}
			if ts.Dir() != tt.wantDir || ts.HubURL() != "http://hub:7878" {
				t.Errorf("got Dir %q, HubURL %q; want %q, http://hub:7878", ts.Dir(), ts.HubURL(), tt.wantDir)
			}
			if got, want := ts.Path("alice"), filepath.Join(tt.wantDir, "alice"+config.TokenExt); got != want {
				t.Errorf("got Path %q, want %q", got, want)
			}
		})
	}
	if _, err := config.NewTokenStore(dir, "hub:7878"); err == nil {
		t.Error("NewTokenStore with a URL without scheme: no error")
	}
}

func TestTokenStoreFileModes(t *testing.T) {
	ts := newStore(t)
	if err := ts.Save("alice", "pt_a"); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{ts.Path("alice"): 0o600, ts.Dir(): 0o700} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: got mode %o, want %o", path, got, want)
		}
	}
	// A file tightened again when it is replaced.
	if err := os.Chmod(ts.Path("alice"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ts.Save("alice", "pt_b"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(ts.Path("alice")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("replaced token: got mode %v, %v; want 600", fi.Mode().Perm(), err)
	}
}

func TestTokenStore(t *testing.T) {
	tests := []struct {
		name   string
		stored map[string]string // saved first
		op     func(ts config.TokenStore) error
		want   map[string]string // Load of each name afterwards; "" is none
	}{
		{
			name: "load without a token",
			op:   func(config.TokenStore) error { return nil },
			want: map[string]string{"alice": ""},
		},
		{
			name: "save",
			op:   func(ts config.TokenStore) error { return ts.Save("alice", "pt_a") },
			want: map[string]string{"alice": "pt_a", "bob": ""},
		},
		{
			name:   "save replaces",
			stored: map[string]string{"alice": "pt_a"},
			op:     func(ts config.TokenStore) error { return ts.Save("alice", "pt_new") },
			want:   map[string]string{"alice": "pt_new"},
		},
		{
			name:   "move",
			stored: map[string]string{"alice": "pt_a"},
			op:     func(ts config.TokenStore) error { return ts.Move("alice", "alicia") },
			want:   map[string]string{"alice": "", "alicia": "pt_a"},
		},
		{
			name:   "move replaces the new name's token",
			stored: map[string]string{"alice": "pt_a", "alicia": "pt_old"},
			op:     func(ts config.TokenStore) error { return ts.Move("alice", "alicia") },
			want:   map[string]string{"alice": "", "alicia": "pt_a"},
		},
		{
			name:   "move without a token does nothing",
			stored: map[string]string{"bob": "pt_b"},
			op:     func(ts config.TokenStore) error { return ts.Move("alice", "bob") },
			want:   map[string]string{"alice": "", "bob": "pt_b"},
		},
		{
			name:   "remove",
			stored: map[string]string{"alice": "pt_a", "bob": "pt_b"},
			op:     func(ts config.TokenStore) error { return ts.Remove("alice") },
			want:   map[string]string{"alice": "", "bob": "pt_b"},
		},
		{
			name: "remove without a token",
			op:   func(ts config.TokenStore) error { return ts.Remove("alice") },
			want: map[string]string{"alice": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newStore(t)
			for name, tok := range tt.stored {
				if err := ts.Save(name, tok); err != nil {
					t.Fatal(err)
				}
			}
			if err := tt.op(ts); err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			for name, want := range tt.want {
				if got, err := ts.Load(name); err != nil || got != want {
					t.Errorf("Load(%q) = %q, %v; want %q", name, got, err, want)
				}
			}
		})
	}
}

func TestTokenStoreNames(t *testing.T) {
	ts := newStore(t)
	if names, err := ts.Names(); err != nil || len(names) != 0 {
		t.Fatalf("before any token: got %v, %v; want none", names, err)
	}
	for _, name := range []string{"bob", "alice", "Not Valid"} {
		if err := ts.Save(name, "pt_"+name); err != nil {
			t.Fatal(err)
		}
	}
	// Only token files count: not other files, directories or a bare
	// extension.
	os.WriteFile(filepath.Join(ts.Dir(), "notes.txt"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(ts.Dir(), config.TokenExt), []byte("x"), 0o600)
	os.Mkdir(filepath.Join(ts.Dir(), "dir"+config.TokenExt), 0o700)
	names, err := ts.Names()
	if want := []string{"Not Valid", "alice", "bob"}; err != nil || !slices.Equal(names, want) {
		t.Errorf("got %v, %v; want %v", names, err, want)
	}
	// The file ends in a newline; Load trims it.
	if b, err := os.ReadFile(ts.Path("alice")); err != nil || string(b) != "pt_alice\n" {
		t.Errorf("alice's file holds %q, %v; want the token and a newline", b, err)
	}
	if got, err := ts.Load("alice"); err != nil || got != "pt_alice" {
		t.Errorf("Load(alice) = %q, %v; want pt_alice", got, err)
	}
}
