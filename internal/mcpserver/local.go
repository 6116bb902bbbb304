package mcpserver

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// LocalOptions configure a Local backend.
type LocalOptions struct {
	// Caller is who the session acts as from the start: the agent of the
	// bearer token, or the zero Caller for a session that registers with
	// the register tool.
	Caller hub.Caller
	// Token is the agent token the session authenticated with, if any; it
	// lets the session re-register its own agent.
	Token string
	// MayRegister allows the register tool to create agents: the admin
	// secret, the join secret, or an open hub.
	MayRegister bool
	// HoldPresence keeps the agent online for as long as the session
	// lasts (until Close), for transports that hold a connection.
	HoldPresence bool
	// Version and Started feed hub_status.
	Version string
	Started time.Time
}

// Local is a Backend that calls a hub.Service in process, for MCP
// sessions served by the hub itself. It is safe for concurrent use.
type Local struct {
	svc  *hub.Service
	opts LocalOptions

	mu      sync.Mutex // guards the fields below
	caller  hub.Caller
	token   string
	release func() // ends held presence; nil when none
	closed  bool
}

var _ Backend = (*Local)(nil)

// NewLocal returns a Local backend for one session.
func NewLocal(svc *hub.Service, opts LocalOptions) *Local {
	l := &Local{svc: svc, opts: opts, caller: opts.Caller, token: opts.Token}
	if l.caller.IsAgent() {
		l.hold(l.caller.Name)
	}
	return l
}

// Close ends the session: the agent's held presence is released. It is
// safe to call more than once.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.release != nil {
		l.release()
		l.release = nil
	}
	return nil
}

// hold keeps name online until Close or the next hold.
func (l *Local) hold(name string) {
	if !l.opts.HoldPresence {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if l.release != nil {
		l.release()
	}
	l.release = l.svc.Connect(context.Background(), name)
}

func (l *Local) unhold() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.release != nil {
		l.release()
		l.release = nil
	}
}

// who returns the session's caller, counting the call as a heartbeat.
func (l *Local) who() hub.Caller {
	l.mu.Lock()
	c := l.caller
	l.mu.Unlock()
	l.svc.Touch(c.Name)
	return c
}

// agent returns the session's caller, or an error telling the model to
// register when the session has no agent yet. A session that holds an
// agent token checks it on every call, so a revoked or expired token
// stops the session acting as the agent even when the transport's own
// credential (a join or admin secret) is still valid.
func (l *Local) agent(ctx context.Context) (hub.Caller, error) {
	l.mu.Lock()
	token := l.token
	l.mu.Unlock()
	c := l.who()
	if !c.IsAgent() {
		return c, hub.Errorf(hub.CodeForbidden, "this session has no agent yet: call register first (choose a name and role)")
	}
	if token == "" {
		return c, nil
	}
	fresh, err := l.svc.Authenticate(ctx, token)
	if err != nil {
		return hub.Caller{}, err
	}
	fresh.Admin = c.Admin
	return fresh, nil
}

// Name implements Backend.
func (l *Local) Name() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.caller.Name
}

// Register implements Backend.
func (l *Local) Register(ctx context.Context, req hub.RegisterRequest) (hub.Registration, error) {
	l.mu.Lock()
	cur, token := l.caller, l.token
	l.mu.Unlock()
	self := cur.IsAgent() && (req.Name == "" || req.Name == cur.Name)
	switch {
	case self:
		req.Name = cur.Name
		req.Token = token
		if token == "" {
			return hub.Registration{}, hub.Errorf(hub.CodeForbidden, "this session has no token for %q, so it cannot re-register it; use set_status or rename instead", cur.Name)
		}
	case cur.IsAgent():
		return hub.Registration{}, hub.Errorf(hub.CodeInvalid, "this session is already agent %q; use rename to change its name", cur.Name)
	case !l.opts.MayRegister:
		return hub.Registration{}, hub.Errorf(hub.CodeForbidden, "registering needs the admin or join secret; connect with an agent token instead")
	}
	reg, err := l.svc.Register(ctx, req)
	if err != nil {
		return hub.Registration{}, err
	}
	c, err := l.svc.Authenticate(ctx, reg.Token)
	if err != nil {
		return hub.Registration{}, err
	}
	c.Admin = cur.Admin
	l.mu.Lock()
	l.caller, l.token = c, reg.Token
	l.mu.Unlock()
	l.hold(c.Name)
	return reg, nil
}

// Whoami implements Backend.
func (l *Local) Whoami(ctx context.Context) (hub.Peer, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.Peer{}, err
	}
	return l.svc.Whoami(ctx, c)
}

// Rename implements Backend.
func (l *Local) Rename(ctx context.Context, name string) (hub.Agent, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.Agent{}, err
	}
	// Presence is kept by name: let go of the old one first, so that the
	// hold moves with the agent.
	l.unhold()
	a, err := l.svc.Rename(ctx, c, name)
	if err != nil {
		l.hold(c.Name)
		return hub.Agent{}, err
	}
	l.mu.Lock()
	if l.caller.AgentID == c.AgentID {
		l.caller.Name = a.Name
	}
	l.mu.Unlock()
	l.hold(a.Name)
	return a, nil
}

// SetStatus implements Backend.
func (l *Local) SetStatus(ctx context.Context, u hub.StatusUpdate) (hub.Agent, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.Agent{}, err
	}
	return l.svc.SetStatus(ctx, c, u)
}

// Peers implements Backend.
func (l *Local) Peers(ctx context.Context, role string, onlineOnly bool) ([]hub.Peer, error) {
	l.who()
	return l.svc.Peers(ctx, role, onlineOnly)
}

// HubStatus implements Backend.
func (l *Local) HubStatus(ctx context.Context) (HubStatus, error) {
	c := l.who()
	peers, err := l.svc.Peers(ctx, "", false)
	if err != nil {
		return HubStatus{}, err
	}
	st := HubStatus{Version: l.opts.Version, Open: l.svc.Open(), Peers: peers, Self: c.Name, Via: "served in process by the hub"}
	if !l.opts.Started.IsZero() {
		st.UptimeS = time.Since(l.opts.Started).Seconds()
	}
	for _, p := range peers {
		if p.Online {
			st.Online++
		}
	}
	return st, nil
}

// Send implements Backend.
func (l *Local) Send(ctx context.Context, req hub.SendRequest) (hub.SendResult, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.SendResult{}, err
	}
	return l.svc.Send(ctx, c, req)
}

// Read implements Backend.
func (l *Local) Read(ctx context.Context, opts hub.ReadOptions) (hub.ReadResult, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.ReadResult{}, err
	}
	return l.svc.Read(ctx, c, opts)
}

// Wait implements Backend.
func (l *Local) Wait(ctx context.Context, opts hub.ReadOptions, timeout time.Duration) (hub.ReadResult, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.ReadResult{}, err
	}
	return l.svc.Wait(ctx, c, opts, timeout)
}

// Ack implements Backend.
func (l *Local) Ack(ctx context.Context, id int64) error {
	c, err := l.agent(ctx)
	if err != nil {
		return err
	}
	return l.svc.Ack(ctx, c, id)
}

// Message implements Backend.
func (l *Local) Message(ctx context.Context, id int64) (hub.MessageView, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.MessageView{}, err
	}
	return l.svc.GetMessage(ctx, c, id)
}

// Thread implements Backend.
func (l *Local) Thread(ctx context.Context, thread string, p hub.Page) (hub.HistoryResult, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.HistoryResult{}, err
	}
	return l.svc.Thread(ctx, c, thread, p)
}

// Conversation implements Backend.
func (l *Local) Conversation(ctx context.Context, peer string, p hub.Page) (hub.HistoryResult, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.HistoryResult{}, err
	}
	return l.svc.Conversation(ctx, c, peer, p)
}

// Search implements Backend.
func (l *Local) Search(ctx context.Context, query string, p hub.Page) (hub.HistoryResult, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.HistoryResult{}, err
	}
	return l.svc.Search(ctx, c, query, p)
}

// SendCommand implements Coordination.
func (l *Local) SendCommand(ctx context.Context, req hub.CommandRequest) (hub.Command, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.Command{}, err
	}
	return l.svc.SendCommand(ctx, c, req)
}

// NextCommand implements Coordination.
func (l *Local) NextCommand(ctx context.Context, timeout time.Duration) (hub.Command, bool, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.Command{}, false, err
	}
	return l.svc.WaitCommand(ctx, c, timeout)
}

// CompleteCommand implements Coordination.
func (l *Local) CompleteCommand(ctx context.Context, id int64, req hub.AckRequest) (hub.Command, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.Command{}, err
	}
	return l.svc.AckCommand(ctx, c, id, req)
}

// Command implements Coordination.
func (l *Local) Command(ctx context.Context, id int64, wait time.Duration) (hub.Command, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.Command{}, err
	}
	return l.svc.GetCommand(ctx, c, id, wait)
}

// Commands implements Coordination.
func (l *Local) Commands(ctx context.Context, opts hub.CommandListOptions) ([]hub.Command, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return nil, err
	}
	return l.svc.ListCommands(ctx, c, opts)
}

// PostChannel implements Coordination.
func (l *Local) PostChannel(ctx context.Context, channel string, data json.RawMessage) (hub.ChannelPost, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.ChannelPost{}, err
	}
	return l.svc.PostChannel(ctx, c, channel, data)
}

// ReadChannel implements Coordination.
func (l *Local) ReadChannel(ctx context.Context, channel string, opts hub.ChannelReadOptions) (hub.ChannelRead, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.ChannelRead{}, err
	}
	return l.svc.ReadChannel(ctx, c, channel, opts)
}

// WaitChannel implements Coordination.
func (l *Local) WaitChannel(ctx context.Context, channel string, opts hub.ChannelReadOptions, timeout time.Duration) (hub.ChannelRead, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.ChannelRead{}, err
	}
	return l.svc.WaitChannel(ctx, c, channel, opts, timeout)
}

// EmitSignal implements Coordination.
func (l *Local) EmitSignal(ctx context.Context, name string, data json.RawMessage) (hub.Signal, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.Signal{}, err
	}
	return l.svc.EmitSignal(ctx, c, name, data)
}

// WaitSignal implements Coordination.
func (l *Local) WaitSignal(ctx context.Context, name string, timeout time.Duration) (hub.Signal, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.Signal{}, err
	}
	return l.svc.WaitSignal(ctx, c, name, timeout)
}

// Propose implements Coordination.
func (l *Local) Propose(ctx context.Context, req hub.ProposalRequest) (hub.Proposal, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.Proposal{}, err
	}
	return l.svc.Propose(ctx, c, req)
}

// Vote implements Coordination.
func (l *Local) Vote(ctx context.Context, id int64, req hub.VoteRequest) (hub.Proposal, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.Proposal{}, err
	}
	return l.svc.Vote(ctx, c, id, req)
}

// Proposal implements Coordination.
func (l *Local) Proposal(ctx context.Context, id int64, wait time.Duration) (hub.Proposal, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.Proposal{}, err
	}
	return l.svc.WaitProposal(ctx, c, id, wait)
}

// Proposals implements Coordination.
func (l *Local) Proposals(ctx context.Context, q hub.ProposalQuery) ([]hub.Proposal, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return nil, err
	}
	return l.svc.ListProposals(ctx, c, q)
}

// Reserve implements Coordination.
func (l *Local) Reserve(ctx context.Context, req hub.LeaseRequest) (hub.Lease, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.Lease{}, err
	}
	return l.svc.Reserve(ctx, c, req)
}

// Release implements Coordination.
func (l *Local) Release(ctx context.Context, id int64) (hub.Lease, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.Lease{}, err
	}
	return l.svc.ReleaseLease(ctx, c, id)
}

// Leases implements Coordination.
func (l *Local) Leases(ctx context.Context, opts hub.LeaseListOptions) ([]hub.Lease, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return nil, err
	}
	return l.svc.ListLeases(ctx, c, opts)
}

// GetState implements Coordination.
func (l *Local) GetState(ctx context.Context, key string) (hub.StateItem, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.StateItem{}, err
	}
	return l.svc.GetState(ctx, c, key)
}

// SetState implements Coordination.
func (l *Local) SetState(ctx context.Context, key string, req hub.StateSetRequest) (hub.StateItem, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return hub.StateItem{}, err
	}
	return l.svc.SetState(ctx, c, key, req)
}

// ListState implements Coordination.
func (l *Local) ListState(ctx context.Context, prefix string, limit int) ([]hub.StateItem, error) {
	c, err := l.agent(ctx)
	if err != nil {
		return nil, err
	}
	return l.svc.ListState(ctx, c, prefix, limit)
}
