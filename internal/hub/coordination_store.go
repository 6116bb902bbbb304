package hub

import (
	"context"
	"time"
)

// coordinationReader and coordinationTx hold the store methods of
// commands, channels, signals, proposals, leases and shared state.
// Methods that find nothing return an error matching ErrNotFound.
type coordinationReader interface {
	// Command returns one command.
	Command(ctx context.Context, id int64) (Command, error)
	// Commands returns commands newest first, as q selects.
	Commands(ctx context.Context, q CommandQuery) ([]Command, error)
	// CountCommands counts commands in a status.
	CountCommands(ctx context.Context, status string) (int, error)
	// NextCommand returns the oldest pending command that agentID may
	// claim: addressed to it, or to role when role is not empty, with no
	// deadline or one after now.
	NextCommand(ctx context.Context, agentID int64, role string, now time.Time) (Command, error)
	// DueCommands returns pending and claimed commands whose deadline is
	// at or before now, oldest first.
	DueCommands(ctx context.Context, now time.Time, limit int) ([]Command, error)

	// Channel returns one channel's summary.
	Channel(ctx context.Context, name string) (Channel, error)
	// Channels lists every channel by name.
	Channels(ctx context.Context) ([]Channel, error)
	// ChannelPosts returns posts of a channel with a sequence number above
	// after, oldest first.
	ChannelPosts(ctx context.Context, channel string, after int64, limit int) ([]ChannelPost, error)

	// Signal returns an emitted signal.
	Signal(ctx context.Context, name string) (Signal, error)
	// Signals lists emitted signals by name.
	Signals(ctx context.Context) ([]Signal, error)

	// Proposal returns one proposal with its votes in the order cast.
	Proposal(ctx context.Context, id int64) (Proposal, error)
	// Proposals returns proposals newest first, with their votes.
	Proposals(ctx context.Context, q ProposalQuery) ([]Proposal, error)
	// DueProposals returns the IDs of open proposals whose deadline is at
	// or before now.
	DueProposals(ctx context.Context, now time.Time, limit int) ([]int64, error)

	// Lease returns one lease, live or not yet removed.
	Lease(ctx context.Context, id int64) (Lease, error)
	// Leases returns leases that expire after now, oldest first.
	Leases(ctx context.Context, now time.Time) ([]Lease, error)
	// ExpiredLeases returns leases that expire at or before now.
	ExpiredLeases(ctx context.Context, now time.Time, limit int) ([]Lease, error)

	// StateItem returns one key of shared state.
	StateItem(ctx context.Context, key string) (StateItem, error)
	// StateItems returns keys that start with prefix, in key order.
	StateItems(ctx context.Context, prefix string, limit int) ([]StateItem, error)

	// CoordinationDue reports whether anything is due at now: a command or
	// a proposal past its deadline, a lease past its expiry, or a channel
	// post created before postsBefore.
	CoordinationDue(ctx context.Context, now, postsBefore time.Time) (bool, error)
}

type coordinationTx interface {
	// InsertCommand stores a new command and returns it with its ID.
	InsertCommand(ctx context.Context, c Command) (Command, error)
	// UpdateCommand stores the status, result, error, claimer and times
	// of a command, keyed by c.ID.
	UpdateCommand(ctx context.Context, c Command) error

	// AppendPost appends a post to its channel, creating the channel,
	// and returns it with the channel's next sequence number. Sequence
	// numbers of a channel are never reused, even after its posts are
	// dropped.
	AppendPost(ctx context.Context, p ChannelPost) (ChannelPost, error)
	// TrimChannels drops posts of channel (of every channel when empty)
	// beyond the newest keep (no limit when keep is 0) and those created
	// before before (no limit when zero). It returns how many it dropped.
	TrimChannels(ctx context.Context, channel string, keep int, before time.Time) (int, error)

	// PutSignal stores a signal, replacing one of the same name.
	PutSignal(ctx context.Context, s Signal) error
	// DeleteSignal removes a signal; ErrNotFound when none was emitted.
	DeleteSignal(ctx context.Context, name string) error

	// InsertProposal stores a new proposal without votes and returns it
	// with its ID.
	InsertProposal(ctx context.Context, p Proposal) (Proposal, error)
	// DecideProposal stores the status, outcome and decision time of p.
	DecideProposal(ctx context.Context, p Proposal) error
	// PutVote stores a vote, replacing the voter's earlier one.
	PutVote(ctx context.Context, proposalID int64, v Vote) error
	// RenameVoter stores a proposal's voters, in which a voter was
	// renamed from one name to another, and moves that voter's ballot, if
	// any, to the new name, replacing a ballot already under it.
	RenameVoter(ctx context.Context, proposalID int64, voters []string, from, to string) error

	// InsertLease stores a new lease and returns it with its ID.
	InsertLease(ctx context.Context, l Lease) (Lease, error)
	// UpdateLease stores the expiry and renewal time of l.
	UpdateLease(ctx context.Context, l Lease) error
	// DeleteLease removes a lease.
	DeleteLease(ctx context.Context, id int64) error

	// PutStateItem stores a key's value and revision.
	PutStateItem(ctx context.Context, it StateItem) error
	// DeleteStateItem removes a key.
	DeleteStateItem(ctx context.Context, key string) error

	// NextCounter increments the durable counter name and returns its new
	// value. Counters only grow: Reset leaves them alone.
	NextCounter(ctx context.Context, name string) (int64, error)
}

// Durable counters the service draws from.
const (
	// CounterFencing numbers lease grants.
	CounterFencing = "fencing"
	// CounterState numbers changes of shared state.
	CounterState = "state"
)
