package hub

import (
	"context"
	"time"
)

// Store is durable storage for the hub. Implementations must be safe for
// concurrent use.
//
// Writes go through Update. An implementation may run the functions of
// concurrent Update calls in one transaction (group commit), but each
// function sees its own changes, a function that returns an error leaves
// no trace, and Update returns only once the changes are durable.
// Readers may see them earlier, once committed: a waiter can be woken
// while the sync that makes its message durable is still running.
// UpdateVisible returns at that point, for changes whose loss to a power
// cut is harmless (a read mark); they become durable with the next
// Update's. Events appended in a committed Update reach the commit hook
// the store was opened with, in ID order, before Update returns.
//
// fn must not keep the Tx after it returns, use it from another goroutine
// or call Update (that deadlocks); neither may the commit hook.
//
// A search (Reader.Messages with words) finds the messages in the
// store's search index, which may lag behind commits: a store can index
// off the commit path. CatchUpSearch brings it up to date with every
// message committed before the call; a search that must see them all
// calls it before its View.
type Store interface {
	// View runs fn with a consistent read-only view.
	View(ctx context.Context, fn func(Reader) error) error
	// Update runs fn in a write transaction and commits it.
	Update(ctx context.Context, fn func(Tx) error) error
	// UpdateVisible is Update without waiting for durability.
	UpdateVisible(ctx context.Context, fn func(Tx) error) error
	// CatchUpSearch returns once the search index holds every message
	// committed before the call.
	CatchUpSearch(ctx context.Context) error
	Close() error
}

// Reader reads the store. Methods that find nothing return an error
// matching ErrNotFound.
type Reader interface {
	AgentByID(ctx context.Context, id int64) (Agent, error)
	AgentByName(ctx context.Context, name string) (Agent, error)
	// Agents lists agents by name; role filters when not empty.
	Agents(ctx context.Context, role string) ([]Agent, error)
	// Credential returns the credential with the token hash.
	Credential(ctx context.Context, tokenHash []byte) (Credential, error)
	// Forward returns the live forward from a former name.
	Forward(ctx context.Context, name string, now time.Time) (Forward, error)

	// Inbox returns deliveries of one agent in sequence order.
	Inbox(ctx context.Context, q InboxQuery) ([]Inbound, error)
	// UnreadCount returns the agent's unread deliveries; UnreadCounts
	// returns them for every agent that has any, by agent ID.
	UnreadCount(ctx context.Context, agentID int64) (int, error)
	UnreadCounts(ctx context.Context) (map[int64]int, error)
	Message(ctx context.Context, id int64) (Message, error)
	// Received returns the agent's delivery of a message.
	Received(ctx context.Context, agentID, messageID int64) (Inbound, error)
	// Deliveries returns every recipient's state of a message, held
	// names included.
	Deliveries(ctx context.Context, messageID int64) ([]DeliveryStatus, error)
	// MessageByKey finds a message by its sender and idempotency key.
	MessageByKey(ctx context.Context, fromID int64, key string) (Message, error)
	// Messages returns messages newest first, as HistoryQuery selects. A
	// search is plain words: each is quoted, so FTS syntax never errors,
	// and a message must contain all of them.
	Messages(ctx context.Context, q HistoryQuery) ([]Message, error)
	// Events returns events with an ID above after, oldest first; a limit
	// of 0 or less returns all of them.
	Events(ctx context.Context, after int64, limit int) ([]Event, error)
	// LastEventID returns the highest event ID, or 0.
	LastEventID(ctx context.Context) (int64, error)

	coordinationReader
}

// Tx changes the store inside Update.
type Tx interface {
	Reader

	// InsertAgent stores a new agent and returns it with its ID.
	InsertAgent(ctx context.Context, a Agent) (Agent, error)
	// UpdateAgent stores every field of a, keyed by a.ID, except LastSeq,
	// which only Deliver moves. A missing agent is ErrNotFound.
	UpdateAgent(ctx context.Context, a Agent) error
	// DeleteAgent removes an agent, its credentials and deliveries.
	DeleteAgent(ctx context.Context, id int64) error
	// PutCredential stores a credential; DeleteCredentials removes all of
	// an agent's.
	PutCredential(ctx context.Context, c Credential) error
	DeleteCredentials(ctx context.Context, agentID int64) error
	// PutForward stores a forward, replacing one from the same name.
	PutForward(ctx context.Context, f Forward) error
	DeleteForward(ctx context.Context, name string) error

	// InsertMessage stores m, assigning ID, and Thread when empty (the
	// message's own ID as text).
	InsertMessage(ctx context.Context, m Message) (Message, error)
	// Deliver adds a delivery of a message to an agent with the agent's
	// next sequence number, and returns that number.
	Deliver(ctx context.Context, messageID, agentID int64) (int64, error)
	// DeliverRead is Deliver of a delivery read already, at the given
	// time: Deliver and MarkRead in one, for mail handed to an agent that
	// was waiting for it.
	DeliverRead(ctx context.Context, messageID, agentID int64, at time.Time) (int64, error)
	// Hold keeps a message for a name nobody has registered, until expiry.
	Hold(ctx context.Context, messageID int64, name string, expires time.Time) error
	// TakeHeld removes and returns the IDs of unexpired messages held for
	// name, oldest first.
	TakeHeld(ctx context.Context, name string, now time.Time) ([]int64, error)
	// MarkRead marks the agent's unread deliveries with the given sequence
	// numbers read.
	MarkRead(ctx context.Context, agentID int64, seqs []int64, at time.Time) error
	// MarkUnread marks the agent's read deliveries with the given sequence
	// numbers unread again; others stay as they are.
	MarkUnread(ctx context.Context, agentID int64, seqs []int64) error
	// Ack marks the agent's delivery of a message acked.
	Ack(ctx context.Context, agentID, messageID int64, at time.Time) error

	// AfterCommit arranges for f to run once the transaction has
	// committed, before its events are published and before Update
	// returns; f does not run if the Update fails. f must be quick and
	// must not call the store.
	AfterCommit(f func())

	// AppendEvent stores an event, assigning its ID.
	AppendEvent(ctx context.Context, e Event) (Event, error)
	// Expire removes held messages and forwards past their expiry and
	// events beyond the newest keepEvents.
	Expire(ctx context.Context, now time.Time, keepEvents int) error
	// ExpireMessages looks at up to limit messages with IDs above after,
	// in ID order, and removes, with their deliveries and from search,
	// those created before before that no recipient needs any more:
	// every delivery read, or acked if the message asks for acks, and
	// none held for a name. It stops at the first message created at or
	// after before, and may stop sooner to bound the work of one call.
	// It returns the ID to go on after in the next call, 0 once it has
	// met a message too young or reached the last one, and how many it
	// removed.
	ExpireMessages(ctx context.Context, before time.Time, after int64, limit int) (next int64, removed int, err error)
	// Reset removes everything.
	Reset(ctx context.Context) error

	coordinationTx
}
