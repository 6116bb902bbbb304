package bridge

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// pushPolicy says whose messages, commands and signals a bridge pushes
// into its session (Config.PushFrom, parley mcp --push-from). Content
// from anyone else is not pushed: it stays unread in the inbox, where the
// agent reads it with the read tool, marked with its sender, when it
// chooses to. A nil policy pushes from every authenticated sender.
//
// Entries are agent names, role:<role> for every agent of a role, or *
// for everyone. Senders are the names the hub took from their tokens, so
// the policy cannot be fooled by a body or a header. A role is looked up
// when first needed and remembered for roleTTL. It is safe for concurrent
// use.
type pushPolicy struct {
	names map[string]bool
	roles map[string]bool

	mu    sync.Mutex
	cache map[string]roleEntry
}

type roleEntry struct {
	role string
	at   time.Time
}

// roleTTL is how long a sender's role is remembered.
const roleTTL = 30 * time.Second

// parsePushFrom builds the policy of entries; nil when they allow
// everyone (none given, or *).
func parsePushFrom(entries []string) (*pushPolicy, error) {
	p := &pushPolicy{names: map[string]bool{}, roles: map[string]bool{}, cache: map[string]roleEntry{}}
	n := 0
	for _, e := range entries {
		for item := range strings.SplitSeq(e, ",") {
			item = strings.TrimSpace(item)
			switch {
			case item == "":
				continue
			case item == hub.Broadcast:
				return nil, nil
			case strings.HasPrefix(strings.ToLower(item), hub.RolePrefix):
				role, err := hub.NormalizeName("push-from role", item[len(hub.RolePrefix):])
				if err != nil {
					return nil, fmt.Errorf("bridge: PushFrom: %w", err)
				}
				p.roles[role] = true
			default:
				name, err := hub.NormalizeName("push-from name", item)
				if err != nil {
					return nil, fmt.Errorf("bridge: PushFrom: %w", err)
				}
				p.names[name] = true
			}
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	return p, nil
}

// allows reports whether content from sender may be pushed. roleOf
// looks up a sender's role; when it fails the sender is not pushed.
func (p *pushPolicy) allows(ctx context.Context, sender string, roleOf func(context.Context, string) (string, error)) bool {
	if p == nil {
		return true
	}
	if sender == "" {
		return false // anonymous, under --open
	}
	if p.names[sender] {
		return true
	}
	if len(p.roles) == 0 {
		return false
	}
	now := time.Now()
	p.mu.Lock()
	e, ok := p.cache[sender]
	p.mu.Unlock()
	if !ok || now.Sub(e.at) > roleTTL {
		role, err := roleOf(ctx, sender)
		if err != nil {
			return false
		}
		e = roleEntry{role: role, at: now}
		p.mu.Lock()
		p.cache[sender] = e
		p.mu.Unlock()
	}
	return e.role != "" && p.roles[e.role]
}

// allowed reports whether the bridge's push policy lets content from
// sender into the session.
func (p *pusher) allowed(ctx context.Context, sender string) bool {
	return p.b.pushFrom.allows(ctx, sender, p.b.roleOf)
}

// roleOf returns the role of an agent, asked as the session's agent.
func (b *Bridge) roleOf(ctx context.Context, name string) (string, error) {
	id, err := b.current(ctx)
	if err != nil {
		return "", err
	}
	peer, err := id.agent.Peer(ctx, name)
	if err != nil {
		return "", err
	}
	return peer.Role, nil
}
