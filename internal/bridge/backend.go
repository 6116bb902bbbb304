package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/mcpserver"
)

// The Bridge is the mcpserver.Backend of `parley mcp`: every call goes
// to the hub over HTTP as the session's agent, waits for a hub when none
// answers, and is repeated on the next hub after a failover when that is
// safe (reads, waits, sends with their idempotency key).
var _ mcpserver.Backend = (*Bridge)(nil)

// as runs fn with the agent's client. When the hub no longer knows the
// agent's token (its store was reset), the agent registers again under
// its name and fn runs once more.
func (b *Bridge) as(ctx context.Context, mode retry, fn func(context.Context, *client.Client) error) error {
	id, err := b.current(ctx)
	if err != nil {
		return err
	}
	err = b.link.do(ctx, mode, b.cfg.HubWait, func(ctx context.Context) error { return fn(ctx, id.agent) })
	if !errors.Is(err, hub.ErrUnauthenticated) {
		return err
	}
	if rerr := b.reregister(ctx, id); rerr != nil {
		b.log.Warn("the hub refused the agent's token and registering again failed", "name", id.name, "err", rerr)
		return err
	}
	id, err = b.current(ctx)
	if err != nil {
		return err
	}
	return b.link.do(ctx, mode, b.cfg.HubWait, func(ctx context.Context) error { return fn(ctx, id.agent) })
}

// reregister registers the agent again under its name, keeping its lock.
func (b *Bridge) reregister(ctx context.Context, id identity) error {
	req := b.registerRequest("")
	req.Name, req.Token = id.name, id.token
	if tok, err := b.tokens.Load(id.name); err == nil && tok != "" && tok != id.token {
		req.Token = tok // rotated meanwhile (parley token rotate)
	}
	reg, err := b.registerAt(ctx, req)
	if err != nil {
		return err
	}
	b.adopt(id, reg)
	return nil
}

// adopt makes reg the session's agent, keeping the name lock of id.
func (b *Bridge) adopt(id identity, reg hub.Registration) {
	if err := b.tokens.Save(reg.Agent.Name, reg.Token); err != nil {
		b.log.Warn("cannot store the agent token", "name", reg.Agent.Name, "err", err)
	}
	agent := id.agent
	if reg.Token != id.token || agent == nil {
		agent = b.base.WithAgent(reg.Agent.Name, reg.Token)
	}
	b.setIdentity(identity{name: reg.Agent.Name, token: reg.Token, agent: agent, lock: id.lock}, nil)
}

// registerRequest is what the bridge registers the agent with; client
// names the MCP client when known.
func (b *Bridge) registerRequest(clientName string) hub.RegisterRequest {
	b.idMu.Lock()
	if clientName == "" {
		clientName = b.clientName
	}
	b.idMu.Unlock()
	return hub.RegisterRequest{
		Role: b.cfg.Role, Capabilities: b.cfg.Capabilities, Description: b.cfg.Description,
		Project: b.cfg.Project, Client: clientName, PID: pidOf(), Host: hostName(),
	}
}

// Name implements mcpserver.Backend.
func (b *Bridge) Name() string {
	b.idMu.Lock()
	defer b.idMu.Unlock()
	return b.id.name
}

// Register implements mcpserver.Backend: it re-registers the session's
// agent with new details, or registers it when it has none yet.
func (b *Bridge) Register(ctx context.Context, req hub.RegisterRequest) (hub.Registration, error) {
	select {
	case <-b.idReady:
	case <-ctx.Done():
		return hub.Registration{}, ctx.Err()
	}
	b.idMu.Lock()
	id := b.id
	b.idMu.Unlock()
	def := b.registerRequest(req.Client)
	if req.Project == "" {
		req.Project = def.Project
	}
	if req.Client == "" {
		req.Client = def.Client
	}
	req.Host, req.PID = def.Host, def.PID
	if id.name != "" {
		if req.Name != "" && req.Name != id.name {
			return hub.Registration{}, hub.Errorf(hub.CodeInvalid, "this session is already agent %q; use rename to change its name", id.name)
		}
		req.Name, req.Token = id.name, id.token
		reg, err := b.registerAt(ctx, req)
		if err != nil {
			return hub.Registration{}, err
		}
		b.remember(req)
		b.adopt(id, reg)
		return reg, nil
	}
	base := req.Name
	if base == "" {
		base = DeriveName(req.Client, req.Project)
	}
	nid, reg, err := b.claim(ctx, base, req)
	if err != nil {
		return hub.Registration{}, err
	}
	b.remember(req)
	b.setIdentity(nid, nil)
	return reg, nil
}

// remember keeps the role, capabilities and description the agent chose,
// for registering again later.
func (b *Bridge) remember(req hub.RegisterRequest) {
	b.idMu.Lock()
	defer b.idMu.Unlock()
	b.cfg.Role, b.cfg.Capabilities, b.cfg.Description = req.Role, req.Capabilities, req.Description
}

// Rename implements mcpserver.Backend. The stored token and the name's
// lock move with the agent.
func (b *Bridge) Rename(ctx context.Context, name string) (hub.Agent, error) {
	id, err := b.current(ctx)
	if err != nil {
		return hub.Agent{}, err
	}
	name, err = hub.NormalizeName("new name", name)
	if err != nil {
		return hub.Agent{}, err
	}
	if name == id.name {
		return hub.Agent{}, hub.Errorf(hub.CodeInvalid, "agent is already named %q", name)
	}
	lock, ok, err := lockName(b.tokens.Dir(), name)
	if err != nil {
		return hub.Agent{}, err
	}
	if !ok {
		return hub.Agent{}, hub.Errorf(hub.CodeNameTaken, "name %q is used by another session on this machine", name)
	}
	var a hub.Agent
	err = b.link.do(ctx, retryOnce, b.cfg.HubWait, func(ctx context.Context) error {
		var err error
		a, err = id.agent.Rename(ctx, name)
		return err
	})
	if err != nil {
		lock.release()
		return hub.Agent{}, err
	}
	if err := b.tokens.Move(id.name, a.Name); err != nil {
		b.log.Warn("cannot move the stored token", "from", id.name, "to", a.Name, "err", err)
	}
	b.setIdentity(identity{name: a.Name, token: id.token, agent: id.agent, lock: lock}, nil)
	return a, nil
}

// SetStatus implements mcpserver.Backend.
func (b *Bridge) SetStatus(ctx context.Context, u hub.StatusUpdate) (a hub.Agent, err error) {
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		a, err = c.SetStatus(ctx, u)
		return err
	})
	return a, err
}

// Whoami implements mcpserver.Backend.
func (b *Bridge) Whoami(ctx context.Context) (p hub.Peer, err error) {
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		p, err = c.Whoami(ctx)
		return err
	})
	return p, err
}

// Peers implements mcpserver.Backend.
func (b *Bridge) Peers(ctx context.Context, role string, onlineOnly bool) (ps []hub.Peer, err error) {
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		ps, err = c.Peers(ctx, role)
		return err
	})
	if err != nil || !onlineOnly {
		return ps, err
	}
	online := ps[:0]
	for _, p := range ps {
		if p.Online {
			online = append(online, p)
		}
	}
	return online, nil
}

// HubStatus implements mcpserver.Backend.
func (b *Bridge) HubStatus(ctx context.Context) (mcpserver.HubStatus, error) {
	var st client.Status
	err := b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		var err error
		st, err = c.Status(ctx)
		return err
	})
	if err != nil {
		return mcpserver.HubStatus{}, err
	}
	via := "client of the hub at " + b.cfg.URL
	if b.link.hostedHub() != nil {
		via = "this session's process runs the hub at " + b.cfg.URL
	}
	return mcpserver.HubStatus{Version: st.Version, UptimeS: st.UptimeS, Open: st.Open, Online: st.Online,
		Peers: st.Peers, Self: b.Name(), Via: via}, nil
}

// newKey returns a fresh idempotency key.
func newKey() string {
	var k [12]byte
	_, _ = rand.Read(k[:])
	return "mcp-" + hex.EncodeToString(k[:])
}

// Send implements mcpserver.Backend. The idempotency key makes the send
// safe to repeat on the next hub when the first one went away.
func (b *Bridge) Send(ctx context.Context, req hub.SendRequest) (res hub.SendResult, err error) {
	if req.IdempotencyKey == "" {
		req.IdempotencyKey = newKey()
	}
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		res, err = c.Send(ctx, req)
		return err
	})
	return res, err
}

// Read implements mcpserver.Backend.
func (b *Bridge) Read(ctx context.Context, opts hub.ReadOptions) (res hub.ReadResult, err error) {
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		res, err = c.Inbox(ctx, opts)
		return err
	})
	return res, err
}

// Wait implements mcpserver.Backend. A wait cut short by a failover is
// repeated on the next hub for the time left.
func (b *Bridge) Wait(ctx context.Context, opts hub.ReadOptions, timeout time.Duration) (res hub.ReadResult, err error) {
	end := time.Now().Add(timeout)
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		res, err = c.Wait(ctx, opts, max(time.Until(end), 0))
		return err
	})
	return res, err
}

// Ack implements mcpserver.Backend.
func (b *Bridge) Ack(ctx context.Context, id int64) error {
	return b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error { return c.Ack(ctx, id) })
}

// Message implements mcpserver.Backend.
func (b *Bridge) Message(ctx context.Context, id int64) (v hub.MessageView, err error) {
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		v, err = c.Message(ctx, id)
		return err
	})
	return v, err
}

// Thread implements mcpserver.Backend.
func (b *Bridge) Thread(ctx context.Context, thread string, p hub.Page) (res hub.HistoryResult, err error) {
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		res, err = c.Thread(ctx, thread, p)
		return err
	})
	return res, err
}

// Conversation implements mcpserver.Backend.
func (b *Bridge) Conversation(ctx context.Context, peer string, p hub.Page) (res hub.HistoryResult, err error) {
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		res, err = c.Conversation(ctx, peer, p)
		return err
	})
	return res, err
}

// Search implements mcpserver.Backend.
func (b *Bridge) Search(ctx context.Context, query string, p hub.Page) (res hub.HistoryResult, err error) {
	err = b.as(ctx, retrySafe, func(ctx context.Context, c *client.Client) error {
		res, err = c.Search(ctx, query, p)
		return err
	})
	return res, err
}
