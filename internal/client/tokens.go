package client

import (
	"context"
	"net/http"

	"github.com/parley-dev/parley/internal/hub"
)

// RotateToken replaces the token of the client's agent with a new one
// (POST /tokens/rotate) and returns it; the old token stops working at
// once. The client keeps its old token: use WithAgent(name, token) to go
// on, and store the new token where the old one was kept.
func (c *Client) RotateToken(ctx context.Context) (name, token string, err error) {
	var r struct {
		Name  string `json:"name"`
		Token string `json:"token"`
	}
	if err := c.do(ctx, http.MethodPost, "/tokens/rotate", nil, &r); err != nil {
		return "", "", wrap("rotate token", err)
	}
	return r.Name, r.Token, nil
}

// adminResponse is the answer to an admin action.
type adminResponse struct {
	OK    bool            `json:"ok"`
	Audit hub.AuditRecord `json:"audit"`
}

// RevokeTokens makes every token of the named agent invalid (POST
// /admin/revoke). It needs the admin secret, which it sends even when
// the client also holds an agent token.
func (c *Client) RevokeTokens(ctx context.Context, agent string) (hub.AuditRecord, error) {
	var r adminResponse
	if err := c.doAs(ctx, credAdmin, http.MethodPost, "/admin/revoke", map[string]string{"agent": agent}, &r); err != nil {
		return hub.AuditRecord{}, wrap("revoke", err)
	}
	return r.Audit, nil
}

// ReleaseName frees a name by force (POST /admin/release): the agent
// holding it is removed with its tokens and mail, or a forward left by a
// rename is dropped. It needs the admin secret.
func (c *Client) ReleaseName(ctx context.Context, name string) (hub.AuditRecord, error) {
	var r adminResponse
	if err := c.doAs(ctx, credAdmin, http.MethodPost, "/admin/release", map[string]string{"name": name}, &r); err != nil {
		return hub.AuditRecord{}, wrap("release", err)
	}
	return r.Audit, nil
}
