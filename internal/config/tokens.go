package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// TokenExt ends the name of a stored agent token file.
const TokenExt = ".token"

// TokenStore keeps the agent tokens of one hub, one file per agent:
// <config dir>/tokens/<hub key>/<name>.token, files 0600 in 0700
// directories. The command line and the MCP bridge share it, so a
// restarted session reclaims its name and `parley send --as NAME` acts as
// the agent a bridge registered. The zero value is not usable; call
// NewTokenStore.
type TokenStore struct {
	hubURL string
	dir    string
}

// NewTokenStore returns the token store of the hub at hubURL under
// configDir (ConfigDir() when empty).
func NewTokenStore(configDir, hubURL string) (TokenStore, error) {
	if configDir == "" {
		d, err := ConfigDir()
		if err != nil {
			return TokenStore{}, err
		}
		configDir = d
	}
	key, err := HubKey(hubURL)
	if err != nil {
		return TokenStore{}, err
	}
	return TokenStore{hubURL: hubURL, dir: filepath.Join(configDir, "tokens", key)}, nil
}

// HubKey names a hub's token directory after its host and port
// ("127.0.0.1_7878"), with anything but [a-z0-9.-] replaced by "_".
func HubKey(hubURL string) (string, error) {
	u, err := url.Parse(hubURL)
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("hub URL %q: want http://host:port or https://host:port", hubURL)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		}
		return '_'
	}, strings.ToLower(u.Hostname()+"_"+port)), nil
}

// HubURL returns the address of the hub whose tokens ts keeps.
func (ts TokenStore) HubURL() string { return ts.hubURL }

// Dir returns the directory holding this hub's tokens.
func (ts TokenStore) Dir() string { return ts.dir }

// Path returns where name's token is kept.
func (ts TokenStore) Path(name string) string {
	return filepath.Join(ts.dir, name+TokenExt)
}

// Load returns the token stored for name, or "" when there is none.
func (ts TokenStore) Load(name string) (string, error) {
	tok, err := ReadSecret(ts.Path(name))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return tok, err
}

// Save stores name's token, replacing any earlier one.
func (ts TokenStore) Save(name, token string) error {
	return WriteSecret(ts.Path(name), []byte(token+"\n"))
}

// Remove deletes name's token, if any.
func (ts TokenStore) Remove(name string) error {
	err := os.Remove(ts.Path(name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Move stores old's token as new's after a rename. It does nothing when
// no token is stored for old.
func (ts TokenStore) Move(old, new string) error {
	tok, err := ts.Load(old)
	if err != nil || tok == "" {
		return err
	}
	if err := ts.Save(new, tok); err != nil {
		return err
	}
	return ts.Remove(old)
}

// Names lists the names with a stored token, sorted: the files of Dir
// ending in TokenExt, without it. It is empty, without an error, when no
// token was ever stored for the hub.
func (ts TokenStore) Names() ([]string, error) {
	entries, err := os.ReadDir(ts.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), TokenExt); ok && name != "" && e.Type().IsRegular() {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}
