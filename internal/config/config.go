// Package config knows where Parley keeps its files on this machine and
// how it writes secrets: the data directory of the hub, the configuration
// directory of clients, and the default hub address.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultAddr is where a hub listens unless told otherwise.
const DefaultAddr = "127.0.0.1:7878"

// DefaultURL is the hub clients talk to unless PARLEY_URL says otherwise.
const DefaultURL = "http://" + DefaultAddr

// AdminSecretFile is the name of the admin secret in the data directory.
const AdminSecretFile = "admin.secret"

// Environment variables read by the command line.
const (
	EnvURL    = "PARLEY_URL"
	EnvAgent  = "PARLEY_AGENT"
	EnvData   = "PARLEY_DATA"
	EnvSecret = "PARLEY_SECRET"
	EnvConfig = "PARLEY_CONFIG"
	EnvCA     = "PARLEY_CA"
)

// DataDir returns the hub's default data directory: PARLEY_DATA, else
// $XDG_DATA_HOME/parley, else ~/.local/share/parley.
func DataDir() (string, error) {
	if d := os.Getenv(EnvData); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "parley"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	return filepath.Join(home, ".local", "share", "parley"), nil
}

// ConfigDir returns the clients' configuration directory, where agent
// tokens are kept: PARLEY_CONFIG, else the user's config dir + /parley.
func ConfigDir() (string, error) {
	if d := os.Getenv(EnvConfig); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("config directory: %w", err)
	}
	return filepath.Join(d, "parley"), nil
}

// HubURL returns PARLEY_URL or the default.
func HubURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return strings.TrimRight(u, "/")
	}
	return DefaultURL
}

// EnsureDir creates dir and its parents readable only by this user.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return os.Chmod(dir, 0o700)
}

// WriteSecret writes data to path with mode 0600, atomically, creating
// the directory (0700) if needed.
func WriteSecret(path string, data []byte) error {
	if err := EnsureDir(filepath.Dir(path)); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ReadSecret reads a secret file and trims surrounding white space. It
// reports os.ErrNotExist when the file is missing.
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// AdminSecretPath returns the admin secret's path in a data directory.
func AdminSecretPath(dataDir string) string {
	return filepath.Join(dataDir, AdminSecretFile)
}
