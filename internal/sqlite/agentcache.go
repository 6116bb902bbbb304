package sqlite

import (
	"slices"

	"github.com/parley-dev/parley/internal/hub"
)

// agentCache holds the agents the writer has read or written, so that the
// lookups every send makes (the sender by ID, each recipient by name)
// cost a map access instead of a query: with one writer goroutine, its
// time per send bounds the hub's throughput.
//
// The writer goroutine owns it. It stays true because every write to the
// agents table goes through a tx method that updates it (InsertAgent,
// UpdateAgent, DeleteAgent, Deliver, Reset), and everything that undoes
// writes (a failed Update's rollback, a failed commit) clears it. New
// code that writes agents another way must call clear.
type agentCache struct {
	byID   map[int64]hub.Agent
	byName map[string]int64
}

// maxCachedAgents bounds the cache; past it, the cache starts over.
const maxCachedAgents = 100_000

func newAgentCache() *agentCache {
	return &agentCache{byID: make(map[int64]hub.Agent), byName: make(map[string]int64)}
}

func (c *agentCache) byIDGet(id int64) (hub.Agent, bool) {
	a, ok := c.byID[id]
	if ok {
		a.Capabilities = slices.Clone(a.Capabilities)
	}
	return a, ok
}

func (c *agentCache) byNameGet(name string) (hub.Agent, bool) {
	id, ok := c.byName[name]
	if !ok {
		return hub.Agent{}, false
	}
	return c.byIDGet(id)
}

// put stores a as the current state of its agent. Callers pass agents as
// stored, LastSeq included.
func (c *agentCache) put(a hub.Agent) {
	if old, ok := c.byID[a.ID]; ok && old.Name != a.Name {
		delete(c.byName, old.Name)
	} else if !ok && len(c.byID) >= maxCachedAgents {
		c.clear()
	}
	a.Capabilities = slices.Clone(a.Capabilities)
	// As a read from the table would return them.
	a.RegisteredAt = decodeTime(encodeTime(a.RegisteredAt))
	a.LastSeen = decodeTime(encodeTime(a.LastSeen))
	c.byID[a.ID] = a
	c.byName[a.Name] = a.ID
}

func (c *agentCache) remove(id int64) {
	if old, ok := c.byID[id]; ok {
		delete(c.byName, old.Name)
		delete(c.byID, id)
	}
}

// setSeq records a delivery's new sequence number, if a is cached.
func (c *agentCache) setSeq(id, seq int64) {
	if a, ok := c.byID[id]; ok {
		a.LastSeq = seq
		c.byID[id] = a
	}
}

func (c *agentCache) clear() {
	clear(c.byID)
	clear(c.byName)
}
