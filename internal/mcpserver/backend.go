package mcpserver

import (
	"context"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// Backend is one agent session's view of a hub: every call acts as the
// session's agent. Local implements it over a hub.Service in process; the
// bridge implements it over the HTTP client. Errors the hub reports are
// *hub.Error values, whose public message becomes the tool error.
//
// Implementations must be safe for concurrent use: an MCP client may run
// several tools at once.
type Backend interface {
	// Name returns the session's agent name, or "" before it registered.
	Name() string
	// Register registers the session's agent (a free name when req.Name is
	// empty) and binds the session to it. When the session is already an
	// agent and req.Name is empty or its own name, it re-registers that
	// agent with the new role, capabilities and description.
	Register(ctx context.Context, req hub.RegisterRequest) (hub.Registration, error)
	Whoami(ctx context.Context) (hub.Peer, error)
	Rename(ctx context.Context, name string) (hub.Agent, error)
	SetStatus(ctx context.Context, u hub.StatusUpdate) (hub.Agent, error)
	// Peers lists agents; role filters when set, onlineOnly drops
	// offline agents.
	Peers(ctx context.Context, role string, onlineOnly bool) ([]hub.Peer, error)
	// HubStatus describes the hub.
	HubStatus(ctx context.Context) (HubStatus, error)

	Send(ctx context.Context, req hub.SendRequest) (hub.SendResult, error)
	Read(ctx context.Context, opts hub.ReadOptions) (hub.ReadResult, error)
	// Wait blocks until the agent has mail or timeout passes, then reads.
	Wait(ctx context.Context, opts hub.ReadOptions, timeout time.Duration) (hub.ReadResult, error)
	Ack(ctx context.Context, id int64) error
	Message(ctx context.Context, id int64) (hub.MessageView, error)
	Thread(ctx context.Context, thread string, p hub.Page) (hub.HistoryResult, error)
	Conversation(ctx context.Context, peer string, p hub.Page) (hub.HistoryResult, error)
	Search(ctx context.Context, query string, p hub.Page) (hub.HistoryResult, error)

	Coordination
}

// HubStatus is what the hub_status tool reports.
type HubStatus struct {
	Version string     `json:"version,omitempty"`
	UptimeS float64    `json:"uptime_s"`
	Open    bool       `json:"open"`
	Online  int        `json:"online"`
	Peers   []hub.Peer `json:"peers"`
	// Self is the session's agent name, when registered.
	Self string `json:"self,omitempty"`
	// Role says how this session reaches the hub ("in process", "client
	// of http://...", "hub at ..."), for the reader's orientation.
	Via string `json:"via,omitempty"`
}
