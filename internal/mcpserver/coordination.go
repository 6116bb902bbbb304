package mcpserver

import (
	"context"
	"encoding/json"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// Coordination is the part of Backend that coordinates work: commands,
// channels, signals, proposals, leases and shared state. Every call acts
// as the session's agent.
type Coordination interface {
	SendCommand(ctx context.Context, req hub.CommandRequest) (hub.Command, error)
	// NextCommand claims the oldest pending command for the agent or its
	// role, waiting up to timeout; false when none came.
	NextCommand(ctx context.Context, timeout time.Duration) (hub.Command, bool, error)
	CompleteCommand(ctx context.Context, id int64, req hub.AckRequest) (hub.Command, error)
	// Command returns a command, waiting up to wait for it to finish.
	Command(ctx context.Context, id int64, wait time.Duration) (hub.Command, error)
	Commands(ctx context.Context, opts hub.CommandListOptions) ([]hub.Command, error)

	PostChannel(ctx context.Context, channel string, data json.RawMessage) (hub.ChannelPost, error)
	ReadChannel(ctx context.Context, channel string, opts hub.ChannelReadOptions) (hub.ChannelRead, error)
	WaitChannel(ctx context.Context, channel string, opts hub.ChannelReadOptions, timeout time.Duration) (hub.ChannelRead, error)

	EmitSignal(ctx context.Context, name string, data json.RawMessage) (hub.Signal, error)
	// WaitSignal waits up to timeout for a signal; zero reads it at once.
	WaitSignal(ctx context.Context, name string, timeout time.Duration) (hub.Signal, error)

	Propose(ctx context.Context, req hub.ProposalRequest) (hub.Proposal, error)
	Vote(ctx context.Context, id int64, req hub.VoteRequest) (hub.Proposal, error)
	// Proposal returns a proposal, waiting up to wait for its decision.
	Proposal(ctx context.Context, id int64, wait time.Duration) (hub.Proposal, error)
	Proposals(ctx context.Context, q hub.ProposalQuery) ([]hub.Proposal, error)

	Reserve(ctx context.Context, req hub.LeaseRequest) (hub.Lease, error)
	Release(ctx context.Context, id int64) (hub.Lease, error)
	Leases(ctx context.Context, opts hub.LeaseListOptions) ([]hub.Lease, error)

	GetState(ctx context.Context, key string) (hub.StateItem, error)
	SetState(ctx context.Context, key string, req hub.StateSetRequest) (hub.StateItem, error)
	ListState(ctx context.Context, prefix string, limit int) ([]hub.StateItem, error)
}
