package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-dev/parley/internal/config"
)

func TestWriteSecretIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "parley")
	path := config.AdminSecretPath(dir)
	if err := config.WriteSecret(path, []byte("pa_secret\n")); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", p, got, want)
		}
	}
	got, err := config.ReadSecret(path)
	if err != nil || got != "pa_secret" {
		t.Fatalf("ReadSecret = %q, %v; want pa_secret", got, err)
	}
	if _, err := config.ReadSecret(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing secret: err %v, want os.ErrNotExist", err)
	}
}

func TestDirsFollowEnvironment(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		get  func() (string, error)
		want string
	}{
		{"data from PARLEY_DATA", map[string]string{config.EnvData: "/x/data"}, config.DataDir, "/x/data"},
		{"data from XDG", map[string]string{config.EnvData: "", "XDG_DATA_HOME": "/xdg"}, config.DataDir, "/xdg/parley"},
		{"config from PARLEY_CONFIG", map[string]string{config.EnvConfig: "/x/conf"}, config.ConfigDir, "/x/conf"},
		{"url from PARLEY_URL, trailing slash dropped", map[string]string{config.EnvURL: "http://h:1/"}, func() (string, error) { return config.HubURL(), nil }, "http://h:1"},
		{"default url", map[string]string{config.EnvURL: ""}, func() (string, error) { return config.HubURL(), nil }, config.DefaultURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := tt.get()
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
