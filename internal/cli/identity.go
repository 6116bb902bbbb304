package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/hub"
)

// errNoIdentity: no agent is stored for the hub and none was named.
var errNoIdentity = errors.New("no agent identity")

// storedAgents lists the agents with a token stored in ts, sorted: the
// stored names that are valid agent names as they are.
func storedAgents(ts config.TokenStore) ([]string, error) {
	names, err := ts.Names()
	if err != nil {
		return nil, fmt.Errorf("list stored agents: %w", err)
	}
	agents := names[:0]
	for _, name := range names {
		if n, err := hub.NormalizeName("agent name", name); err == nil && n == name {
			agents = append(agents, name)
		}
	}
	return agents, nil
}

// resolveAgent picks the agent to act as: as when given (its token when
// one is stored in ts), else the only agent stored for this hub. An error
// matching errNoIdentity says how to choose.
func resolveAgent(ts config.TokenStore, as string) (name, token string, err error) {
	if as != "" {
		token, err := ts.Load(as)
		return as, token, err
	}
	names, err := storedAgents(ts)
	if err != nil {
		return "", "", err
	}
	switch len(names) {
	case 1:
		token, err := ts.Load(names[0])
		return names[0], token, err
	case 0:
		return "", "", fmt.Errorf("%w for %s: run \"parley register NAME\" first, or pass --as NAME (or set $%s)", errNoIdentity, ts.HubURL(), config.EnvAgent)
	}
	return "", "", fmt.Errorf("%w chosen: %d agents are registered from here for %s (%s); pass --as NAME or set $%s",
		errNoIdentity, len(names), ts.HubURL(), strings.Join(names, ", "), config.EnvAgent)
}
