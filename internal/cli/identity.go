package cli

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/hub"
)

// tokenExt ends the name of a stored token file.
const tokenExt = ".token"

// errNoIdentity: no agent is stored for the hub and none was named.
var errNoIdentity = errors.New("no agent identity")

// tokenStore keeps the agent tokens of one hub, one file per agent:
// <config dir>/tokens/<hub key>/<name>.token, files 0600 in 0700 dirs.
type tokenStore struct {
	hubURL string
	dir    string
}

func newTokenStore(hubURL string) (tokenStore, error) {
	cfg, err := config.ConfigDir()
	if err != nil {
		return tokenStore{}, err
	}
	key, err := hubKey(hubURL)
	if err != nil {
		return tokenStore{}, err
	}
	return tokenStore{hubURL: hubURL, dir: filepath.Join(cfg, "tokens", key)}, nil
}

// hubKey names a hub's token directory after its host and port
// ("127.0.0.1_7878"), with anything but [a-z0-9.-] replaced by "_".
func hubKey(hubURL string) (string, error) {
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
	key := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		}
		return '_'
	}, strings.ToLower(u.Hostname()+"_"+port))
	return key, nil
}

func (ts tokenStore) path(name string) string {
	return filepath.Join(ts.dir, name+tokenExt)
}

// load returns the token stored for name, or "" when there is none.
func (ts tokenStore) load(name string) (string, error) {
	tok, err := config.ReadSecret(ts.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return tok, err
}

// save stores name's token.
func (ts tokenStore) save(name, token string) error {
	return config.WriteSecret(ts.path(name), []byte(token+"\n"))
}

// remove deletes name's token, if any.
func (ts tokenStore) remove(name string) error {
	err := os.Remove(ts.path(name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// move stores old's token as new's after a rename. It does nothing
// when no token is stored for old.
func (ts tokenStore) move(old, new string) error {
	tok, err := ts.load(old)
	if err != nil || tok == "" {
		return err
	}
	if err := ts.save(new, tok); err != nil {
		return err
	}
	return ts.remove(old)
}

// names lists the agents with a stored token, sorted.
func (ts tokenStore) names() ([]string, error) {
	entries, err := os.ReadDir(ts.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list stored agents: %w", err)
	}
	var names []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), tokenExt)
		if !ok || e.IsDir() {
			continue
		}
		if n, err := hub.NormalizeName("agent name", name); err == nil && n == name {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// resolve picks the agent to act as: as when given (its token when one
// is stored), else the only agent stored for this hub. An error matching
// errNoIdentity says how to choose.
func (ts tokenStore) resolve(as string) (name, token string, err error) {
	if as != "" {
		token, err := ts.load(as)
		return as, token, err
	}
	names, err := ts.names()
	if err != nil {
		return "", "", err
	}
	switch len(names) {
	case 1:
		token, err := ts.load(names[0])
		return names[0], token, err
	case 0:
		return "", "", fmt.Errorf("%w for %s: run \"parley register NAME\" first, or pass --as NAME (or set $%s)", errNoIdentity, ts.hubURL, config.EnvAgent)
	}
	return "", "", fmt.Errorf("%w chosen: %d agents are registered from here for %s (%s); pass --as NAME or set $%s",
		errNoIdentity, len(names), ts.hubURL, strings.Join(names, ", "), config.EnvAgent)
}
