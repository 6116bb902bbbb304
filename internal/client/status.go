package client

import (
	"context"
	"net/http"

	"github.com/parley-dev/parley/internal/hub"
)

// Status is the hub's state as GET /status reports it. Fields the client
// does not know are left out; CaptureJSON keeps the whole answer.
type Status struct {
	Version string     `json:"version"`
	UptimeS float64    `json:"uptime_s"`
	Open    bool       `json:"open"`
	Peers   []hub.Peer `json:"peers"`
	Online  int        `json:"online"`
}

// Status returns the hub's state (GET /status).
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	if err := c.do(ctx, http.MethodGet, "/status", nil, &s); err != nil {
		return Status{}, wrap("status", err)
	}
	return s, nil
}

// Reset clears everything in the hub (POST /reset); it needs the admin
// secret unless the hub is open.
func (c *Client) Reset(ctx context.Context) error {
	return wrap("reset", c.do(ctx, http.MethodPost, "/reset", nil, nil))
}

// Health reports whether the hub answers (GET /healthz).
func (c *Client) Health(ctx context.Context) error {
	var r struct {
		OK bool `json:"ok"`
	}
	if err := c.do(ctx, http.MethodGet, "/healthz", nil, &r); err != nil {
		return wrap("health", err)
	}
	if !r.OK {
		return &hub.Error{Code: hub.CodeUnavailable, Message: "hub reports it is not healthy"}
	}
	return nil
}
