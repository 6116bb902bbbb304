package bridge

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
)

// Coordination calls of the Bridge as mcpserver.Backend. Calls that
// create something (a command, a post, a proposal, a lease) are repeated
// after a failover only when the hub never received them; waits are
// repeated for the time left.

// remaining returns how much of a wait that ends at end is left.
func remaining(end time.Time) time.Duration { return max(time.Until(end), 0) }

// commandsFor lists the commands waiting for name, by name or role.
func commandsFor(ctx context.Context, c *client.Client, name string) ([]hub.Command, error) {
	return c.Commands(ctx, hub.CommandListOptions{For: name, Status: hub.CommandPending, Limit: 50})
}

// SendCommand implements mcpserver.Coordination.
func (b *Bridge) SendCommand(ctx context.Context, req hub.CommandRequest) (cmd hub.Command, err error) {
	err = b.as(ctx, retryOnce, func(ctx context.Context, c *client.Client) error {
		cmd, err = c.SendCommand(ctx, req)
		return err
	})
	return cmd, err
}

// NextCommand implements mcpserver.Coordination. When the hub goes away
// during the wait, a claim it committed may never have reached the
// bridge; the repeated call first looks for a command claimed by this
// agent that the session has not seen, so a claimed command is never
// stranded.
func (b *Bridge) NextCommand(ctx context.Context, timeout time.Duration) (cmd hub.Command, ok bool, err error) {
	end := time.Now().Add(timeout)
	first := true
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		if !first {
			if cmd, ok = b.unseenClaim(ctx, c); ok {
				return nil
			}
		}
		first = false
		cmd, ok, err = c.WaitCommand(ctx, remaining(end))
		return err
	})
	if ok {
		b.seen(cmd.ID)
	}
	return cmd, ok, err
}

// seen records a command the session was given.
func (b *Bridge) seen(id int64) {
	b.cmdMu.Lock()
	defer b.cmdMu.Unlock()
	if b.seenCmds == nil {
		b.seenCmds = map[int64]bool{}
	}
	b.seenCmds[id] = true
}

// unseenClaim returns the oldest command this agent claimed that the
// session was never given.
func (b *Bridge) unseenClaim(ctx context.Context, c *client.Client) (hub.Command, bool) {
	me := c.Name()
	cmds, err := c.Commands(ctx, hub.CommandListOptions{For: me, Status: hub.CommandClaimed, Limit: 50})
	if err != nil {
		return hub.Command{}, false
	}
	b.cmdMu.Lock()
	defer b.cmdMu.Unlock()
	slices.Reverse(cmds) // oldest first
	for _, cmd := range cmds {
		if cmd.ClaimedBy == me && !b.seenCmds[cmd.ID] {
			return cmd, true
		}
	}
	return hub.Command{}, false
}

// CompleteCommand implements mcpserver.Coordination.
func (b *Bridge) CompleteCommand(ctx context.Context, id int64, req hub.AckRequest) (cmd hub.Command, err error) {
	err = b.as(ctx, retryOnce, func(ctx context.Context, c *client.Client) error {
		cmd, err = c.AckCommand(ctx, id, req)
		return err
	})
	return cmd, err
}

// Command implements mcpserver.Coordination.
func (b *Bridge) Command(ctx context.Context, id int64, wait time.Duration) (cmd hub.Command, err error) {
	end := time.Now().Add(wait)
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		cmd, err = c.Command(ctx, id, remaining(end))
		return err
	})
	return cmd, err
}

// Commands implements mcpserver.Coordination.
func (b *Bridge) Commands(ctx context.Context, opts hub.CommandListOptions) (cmds []hub.Command, err error) {
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		cmds, err = c.Commands(ctx, opts)
		return err
	})
	return cmds, err
}

// PostChannel implements mcpserver.Coordination.
func (b *Bridge) PostChannel(ctx context.Context, channel string, data json.RawMessage) (p hub.ChannelPost, err error) {
	err = b.as(ctx, retryOnce, func(ctx context.Context, c *client.Client) error {
		p, err = c.PostChannel(ctx, channel, data)
		return err
	})
	return p, err
}

// ReadChannel implements mcpserver.Coordination.
func (b *Bridge) ReadChannel(ctx context.Context, channel string, opts hub.ChannelReadOptions) (r hub.ChannelRead, err error) {
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		r, err = c.ReadChannel(ctx, channel, opts)
		return err
	})
	return r, err
}

// WaitChannel implements mcpserver.Coordination.
func (b *Bridge) WaitChannel(ctx context.Context, channel string, opts hub.ChannelReadOptions, timeout time.Duration) (r hub.ChannelRead, err error) {
	end := time.Now().Add(timeout)
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		r, err = c.WaitChannel(ctx, channel, opts, remaining(end))
		return err
	})
	return r, err
}

// EmitSignal implements mcpserver.Coordination. Emitting again with the
// same data changes nothing a waiter sees, so it is repeated after a
// failover.
func (b *Bridge) EmitSignal(ctx context.Context, name string, data json.RawMessage) (s hub.Signal, err error) {
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		s, err = c.EmitSignal(ctx, name, data)
		return err
	})
	return s, err
}

// WaitSignal implements mcpserver.Coordination.
func (b *Bridge) WaitSignal(ctx context.Context, name string, timeout time.Duration) (s hub.Signal, err error) {
	end := time.Now().Add(timeout)
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		s, err = c.WaitSignal(ctx, name, remaining(end))
		return err
	})
	return s, err
}

// Propose implements mcpserver.Coordination.
func (b *Bridge) Propose(ctx context.Context, req hub.ProposalRequest) (p hub.Proposal, err error) {
	err = b.as(ctx, retryOnce, func(ctx context.Context, c *client.Client) error {
		p, err = c.Propose(ctx, req)
		return err
	})
	return p, err
}

// Vote implements mcpserver.Coordination. A vote replaces the voter's
// earlier one, so repeating it is safe.
func (b *Bridge) Vote(ctx context.Context, id int64, req hub.VoteRequest) (p hub.Proposal, err error) {
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		p, err = c.Vote(ctx, id, req)
		return err
	})
	return p, err
}

// Proposal implements mcpserver.Coordination.
func (b *Bridge) Proposal(ctx context.Context, id int64, wait time.Duration) (p hub.Proposal, err error) {
	end := time.Now().Add(wait)
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		p, err = c.Proposal(ctx, id, remaining(end))
		return err
	})
	return p, err
}

// Proposals implements mcpserver.Coordination.
func (b *Bridge) Proposals(ctx context.Context, q hub.ProposalQuery) (ps []hub.Proposal, err error) {
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		ps, err = c.Proposals(ctx, q)
		return err
	})
	return ps, err
}

// Reserve implements mcpserver.Coordination.
func (b *Bridge) Reserve(ctx context.Context, req hub.LeaseRequest) (l hub.Lease, err error) {
	err = b.as(ctx, retryOnce, func(ctx context.Context, c *client.Client) error {
		l, err = c.Reserve(ctx, req)
		return err
	})
	return l, err
}

// Release implements mcpserver.Coordination.
func (b *Bridge) Release(ctx context.Context, id int64) (l hub.Lease, err error) {
	err = b.as(ctx, retryOnce, func(ctx context.Context, c *client.Client) error {
		l, err = c.ReleaseLease(ctx, id)
		return err
	})
	return l, err
}

// Leases implements mcpserver.Coordination.
func (b *Bridge) Leases(ctx context.Context, opts hub.LeaseListOptions) (ls []hub.Lease, err error) {
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		ls, err = c.Leases(ctx, opts)
		return err
	})
	return ls, err
}

// GetState implements mcpserver.Coordination.
func (b *Bridge) GetState(ctx context.Context, key string) (it hub.StateItem, err error) {
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		it, err = c.GetState(ctx, key)
		return err
	})
	return it, err
}

// SetState implements mcpserver.Coordination. A plain set is repeated
// after a failover; a compare-and-swap is not, since its first attempt
// may have moved the revision on.
func (b *Bridge) SetState(ctx context.Context, key string, req hub.StateSetRequest) (it hub.StateItem, err error) {
	mode := retrySafe
	if req.ExpectedRevision != nil {
		mode = retryOnce
	}
	err = b.as(ctx, mode, func(ctx context.Context, c *client.Client) error {
		it, err = c.SetState(ctx, key, req)
		return err
	})
	return it, err
}

// ListState implements mcpserver.Coordination.
func (b *Bridge) ListState(ctx context.Context, prefix string, limit int) (items []hub.StateItem, err error) {
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		items, err = c.ListState(ctx, prefix, limit)
		return err
	})
	return items, err
}
