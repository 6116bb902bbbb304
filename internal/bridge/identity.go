package bridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/hub"
)

// maxSuffix bounds the names tried when the wanted one is taken.
const maxSuffix = 99

// nameLock is an OS lock on one agent name, held while a bridge acts as
// that agent, so that two sessions of one user never share a name and
// its token; a crashed bridge's lock goes with its process.
type nameLock struct {
	f *os.File
}

// lockName takes the lock of name in dir; ok is false when another
// process holds it.
func lockName(dir, name string) (*nameLock, bool, error) {
	if err := config.EnsureDir(dir); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(filepath.Join(dir, name+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("lock name %q: %w", name, err)
	}
	ok, err := tryLock(f)
	if err != nil || !ok {
		f.Close()
		if err != nil {
			return nil, false, fmt.Errorf("lock name %q: %w", name, err)
		}
		return nil, false, nil
	}
	return &nameLock{f: f}, true, nil
}

// release lets the name go; safe on nil and more than once.
func (n *nameLock) release() {
	if n == nil || n.f == nil {
		return
	}
	n.f.Close() // closing the file drops its lock
	n.f = nil
}

// sanitize turns s into a valid agent name part: lowercase, runs of
// anything outside a-z 0-9 . _ - become one "-", no leading or trailing
// punctuation, no "..". It returns "" when nothing is left.
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.'
		switch {
		case ok:
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	out := b.String()
	for strings.Contains(out, "..") {
		out = strings.ReplaceAll(out, "..", ".")
	}
	return strings.Trim(out, "-._")
}

// clientKind shortens an MCP client's name for an agent name:
// "gemini-cli-mcp-client" becomes "gemini-cli", "claude-code" stays.
func clientKind(name string) string {
	k := sanitize(name)
	for _, suf := range []string{"-mcp-client", "-client", "-mcp"} {
		k = strings.TrimSuffix(k, suf)
	}
	return k
}

// DeriveName returns the agent name a session gets when none is given:
// the client's kind and the project, such as "claude-code-parley". It
// leaves room for a numeric suffix.
func DeriveName(clientName, project string) string {
	parts := []string{}
	if k := clientKind(clientName); k != "" {
		parts = append(parts, k)
	}
	if p := sanitize(project); p != "" {
		parts = append(parts, p)
	}
	name := strings.Join(parts, "-")
	if name == "" {
		name = "agent"
	}
	if max := hub.MaxNameLen - 4; len(name) > max {
		name = strings.Trim(name[:max], "-._")
	}
	return name
}

// ProjectName returns the name of the project a session works on: the
// base name of CLAUDE_PROJECT_DIR, else of the working directory.
func ProjectName() string {
	dir := os.Getenv("CLAUDE_PROJECT_DIR")
	if dir == "" {
		dir, _ = os.Getwd()
	}
	if dir == "" {
		return ""
	}
	return filepath.Base(filepath.Clean(dir))
}

// candidate returns the i-th name to try for base: base, base-2, base-3...
func candidate(base string, i int) string {
	if i == 1 {
		return base
	}
	return base + "-" + strconv.Itoa(i)
}

// identity is who the bridge acts as.
type identity struct {
	name  string
	token string
	agent *client.Client
	lock  *nameLock
}

// claim registers the agent under base, or the first free suffixed name:
// a name another local bridge holds is skipped; a name with a stored
// token is reclaimed with it; a name the hub has given to someone else is
// skipped.
func (b *Bridge) claim(ctx context.Context, base string, req hub.RegisterRequest) (identity, hub.Registration, error) {
	var lastErr error
	for i := 1; i <= maxSuffix; i++ {
		name := candidate(base, i)
		lock, ok, err := lockName(b.tokens.Dir(), name)
		if err != nil {
			return identity{}, hub.Registration{}, err
		}
		if !ok {
			b.log.Debug("name used by another local session", "name", name)
			continue
		}
		token, err := b.tokens.Load(name)
		if err != nil {
			lock.release()
			return identity{}, hub.Registration{}, err
		}
		r := req
		r.Name, r.Token = name, token
		reg, err := b.registerAt(ctx, r)
		if err == nil {
			if err := b.tokens.Save(reg.Agent.Name, reg.Token); err != nil {
				b.log.Warn("cannot store the agent token", "name", reg.Agent.Name, "err", err)
			}
			id := identity{name: reg.Agent.Name, token: reg.Token, lock: lock,
				agent: b.base.WithAgent(reg.Agent.Name, reg.Token)}
			return id, reg, nil
		}
		lock.release()
		if !errors.Is(err, hub.ErrNameTaken) {
			return identity{}, hub.Registration{}, err
		}
		b.log.Info("name taken, trying the next", "name", name, "err", hub.PublicMessage(err))
		lastErr = err
	}
	return identity{}, hub.Registration{}, fmt.Errorf("no free name from %q: %w", base, lastErr)
}

// registerAt registers through the hub, with the join secret, else the
// admin secret of the local data directory.
func (b *Bridge) registerAt(ctx context.Context, req hub.RegisterRequest) (hub.Registration, error) {
	mode := retryOnce
	if req.Token != "" {
		mode = retrySafe // re-registering with a token changes nothing twice
	}
	var reg hub.Registration
	err := b.link.do(ctx, mode, b.cfg.HubWait, func(ctx context.Context) error {
		c, err := client.New(b.cfg.URL, client.Options{
			AdminSecret: b.adminSecret(), JoinSecret: b.cfg.JoinSecret,
			HTTPClient: b.httpClient, UserAgent: b.userAgent(),
		})
		if err != nil {
			return err
		}
		reg, err = c.Register(ctx, req)
		return err
	})
	return reg, err
}

// adminSecret returns the admin secret of the hub's data directory, for
// a hub on this machine; "" when there is none to read.
func (b *Bridge) adminSecret() string {
	if b.cfg.AdminSecret != "" {
		return b.cfg.AdminSecret
	}
	if !b.local {
		return ""
	}
	s, err := config.ReadSecret(config.AdminSecretPath(b.cfg.DataDir))
	if err != nil {
		return ""
	}
	return s
}
