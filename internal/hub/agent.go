package hub

import (
	"time"
)

// Agent states. Online and Offline come from presence; Busy and Idle are
// set by the agent itself and shown while it is online.
const (
	StateOnline  = "online"
	StateBusy    = "busy"
	StateIdle    = "idle"
	StateOffline = "offline"
)

// HumanName is the agent the human at the dashboard acts as.
const HumanName = "human"

// Agent is a registered participant.
type Agent struct {
	ID           int64     `json:"-"`
	Name         string    `json:"name"`
	Role         string    `json:"role,omitempty"`
	Capabilities []string  `json:"capabilities"`
	Description  string    `json:"description,omitempty"`
	Project      string    `json:"project,omitempty"`
	Client       string    `json:"client,omitempty"`
	Host         string    `json:"host,omitempty"`
	PID          int       `json:"pid,omitempty"`
	StatusText   string    `json:"status,omitempty"`
	State        string    `json:"state"` // set by the agent: online, busy or idle
	RegisteredAt time.Time `json:"registered_at"`
	LastSeen     time.Time `json:"last_seen"`
	// LastSeq is the sequence number of the last delivery to this agent.
	LastSeq int64 `json:"-"`
}

// Peer is an agent as others see it: the agent plus live presence and
// its unread count.
type Peer struct {
	Agent
	Online bool `json:"online"`
	// Presence is offline, or the agent's own state while online.
	Presence string `json:"presence"`
	Unread   int    `json:"unread"`
	// ID repeats the name so that seed-style clients find "id".
	PeerID string `json:"id"`
}

// Credential is a stored agent token: only its hash is kept.
type Credential struct {
	AgentID   int64
	TokenHash []byte
	Open      bool      // issued while authentication was off
	ExpiresAt time.Time // zero: never
}

// Forward sends mail for a former name to the agent that renamed itself.
type Forward struct {
	From      string    `json:"from"`
	AgentID   int64     `json:"-"`
	To        string    `json:"to"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Caller is who performs an operation: an authenticated agent, the admin,
// or both. Front ends build it from the token, never from a request body.
type Caller struct {
	AgentID int64  // 0 when the caller is not an agent
	Name    string // the agent's name when AgentID is set
	Admin   bool
}

// IsAgent reports whether the caller acts as an agent.
func (c Caller) IsAgent() bool { return c.AgentID != 0 }

// RegisterRequest registers or re-registers an agent.
type RegisterRequest struct {
	Name         string   `json:"name"`
	Role         string   `json:"role"`
	Capabilities []string `json:"capabilities"`
	Description  string   `json:"description"`
	Project      string   `json:"project"`
	Client       string   `json:"client"`
	Host         string   `json:"host"`
	PID          int      `json:"pid"`
	// Token proves ownership when re-registering a taken name.
	Token string `json:"token,omitempty"`
}

// Registration is the result of a registration.
type Registration struct {
	Agent Agent  `json:"agent"`
	Token string `json:"token"`
	// Reclaimed is true when an existing agent re-registered with its token.
	Reclaimed bool `json:"reclaimed"`
	// Delivered counts held messages that arrived with the registration.
	Delivered int `json:"delivered"`
}

// StatusUpdate changes an agent's status text and state.
type StatusUpdate struct {
	Status *string `json:"status"`
	State  *string `json:"state"`
}
