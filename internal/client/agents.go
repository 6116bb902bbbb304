package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/parley-dev/parley/internal/hub"
)

// registerResponse is the body of POST /peers/connect: the agent's fields
// flat, as seed clients expect them, plus the token. A nested "agent" is
// accepted too.
type registerResponse struct {
	hub.Agent
	Nested    *hub.Agent `json:"agent"`
	Token     string     `json:"token"`
	Reclaimed bool       `json:"reclaimed"`
	Delivered int        `json:"delivered"`
}

// Register registers an agent (POST /peers/connect), or re-registers one
// whose token is in req.Token. It authenticates with the join secret, else
// the admin secret, else the token. The client itself is not changed: use
// WithAgent(reg.Agent.Name, reg.Token) to act as the new agent.
func (c *Client) Register(ctx context.Context, req hub.RegisterRequest) (hub.Registration, error) {
	var r registerResponse
	if err := c.doAs(ctx, credRegister, http.MethodPost, "/peers/connect", req, &r); err != nil {
		return hub.Registration{}, wrap("register", err)
	}
	reg := hub.Registration{Agent: r.Agent, Token: r.Token, Reclaimed: r.Reclaimed, Delivered: r.Delivered}
	if r.Nested != nil {
		reg.Agent = *r.Nested
	}
	return reg, nil
}

// Whoami returns the agent the client acts as (GET /whoami).
func (c *Client) Whoami(ctx context.Context) (hub.Peer, error) {
	var p hub.Peer
	if err := c.do(ctx, http.MethodGet, "/whoami", nil, &p); err != nil {
		return hub.Peer{}, wrap("whoami", err)
	}
	if p.Name != "" && c.token != "" {
		c.setName(p.Name)
	}
	return p, nil
}

type peersResponse struct {
	Peers []hub.Peer `json:"peers"`
}

// Peers lists every registered agent with its presence (GET /peers); a
// role, when not empty, keeps the agents that have it.
func (c *Client) Peers(ctx context.Context, role string) ([]hub.Peer, error) {
	path := "/peers"
	if role != "" {
		path = withQuery(path, url.Values{"role": {role}})
	}
	var r peersResponse
	if err := c.do(ctx, http.MethodGet, path, nil, &r); err != nil {
		return nil, wrap("peers", err)
	}
	return r.Peers, nil
}

// Discover lists the agents online now (GET /peers/discover).
func (c *Client) Discover(ctx context.Context) ([]hub.Peer, error) {
	var r peersResponse
	if err := c.do(ctx, http.MethodGet, "/peers/discover", nil, &r); err != nil {
		return nil, wrap("discover", err)
	}
	return r.Peers, nil
}

// Peer returns one agent with its presence (GET /peers/{name}).
func (c *Client) Peer(ctx context.Context, name string) (hub.Peer, error) {
	var p hub.Peer
	if err := c.do(ctx, http.MethodGet, "/peers/"+esc(name), nil, &p); err != nil {
		return hub.Peer{}, wrap("peer", err)
	}
	return p, nil
}

// Rename gives the client's agent a new name; mail to the old one
// forwards to it for a while. The client acts under the new name after.
func (c *Client) Rename(ctx context.Context, newName string) (hub.Agent, error) {
	me, err := c.self(ctx)
	if err != nil {
		return hub.Agent{}, wrap("rename", err)
	}
	var a hub.Agent
	body := map[string]string{"name": newName}
	if err := c.do(ctx, http.MethodPost, "/peers/"+esc(me)+"/rename", body, &a); err != nil {
		return hub.Agent{}, wrap("rename", err)
	}
	if a.Name == "" {
		a.Name, err = hub.NormalizeName("new name", newName)
		if err != nil {
			return hub.Agent{}, err
		}
	}
	c.setName(a.Name)
	return a, nil
}

// SetStatus changes the status text and state of the client's agent
// (nil fields stay as they are); it also counts as a heartbeat.
func (c *Client) SetStatus(ctx context.Context, u hub.StatusUpdate) (hub.Agent, error) {
	me, err := c.self(ctx)
	if err != nil {
		return hub.Agent{}, wrap("set status", err)
	}
	var a hub.Agent
	if err := c.do(ctx, http.MethodPost, "/peers/"+esc(me)+"/status", u, &a); err != nil {
		return hub.Agent{}, wrap("set status", err)
	}
	return a, nil
}

// Deregister removes the client's agent, its token and its mail.
func (c *Client) Deregister(ctx context.Context) error {
	me, err := c.self(ctx)
	if err != nil {
		return wrap("deregister", err)
	}
	return wrap("deregister", c.do(ctx, http.MethodDelete, "/peers/"+esc(me), nil, nil))
}
