package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// Coordination: commands, channels, signals, proposals, leases and shared
// state, as docs/API.md describes their routes.

// checkTimeout refuses a wait the hub would refuse, before sending it.
func checkTimeout(op string, d time.Duration) error {
	if d < 0 || d > hub.MaxWait {
		return hub.Errorf(hub.CodeInvalid, "%s: timeout %s must be between 0 and %s", op, d, hub.MaxWait)
	}
	return nil
}

func millis(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// SendCommand sends a command as the client's agent (POST
// /commands/send) and returns it pending.
func (c *Client) SendCommand(ctx context.Context, req hub.CommandRequest) (hub.Command, error) {
	var cmd hub.Command
	if err := c.do(ctx, http.MethodPost, "/commands/send", req, &cmd); err != nil {
		return hub.Command{}, wrap("send command", err)
	}
	return cmd, nil
}

// Commands lists commands newest first: for opts.For (GET
// /commands/{agent}), or as opts.From and opts.Status select (GET
// /commands).
func (c *Client) Commands(ctx context.Context, opts hub.CommandListOptions) ([]hub.Command, error) {
	q := url.Values{}
	if opts.Status != "" {
		q.Set("status", opts.Status)
	}
	if opts.Before != 0 {
		q.Set("before", itoa(opts.Before))
	}
	if opts.Limit != 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	path := "/commands"
	if opts.For != "" {
		path += "/" + esc(opts.For)
	}
	if opts.From != "" {
		q.Set("from", opts.From)
	}
	var res struct {
		Commands []hub.Command `json:"commands"`
	}
	if err := c.do(ctx, http.MethodGet, withQuery(path, q), nil, &res); err != nil {
		return nil, wrap("list commands", err)
	}
	return res.Commands, nil
}

// WaitCommand claims the next command for the client's agent, by name or
// role, waiting up to timeout for one (GET /commands/{agent}/wait). It
// returns false when none came in time.
func (c *Client) WaitCommand(ctx context.Context, timeout time.Duration) (hub.Command, bool, error) {
	if err := checkTimeout("wait for a command", timeout); err != nil {
		return hub.Command{}, false, err
	}
	me, err := c.self(ctx)
	if err != nil {
		return hub.Command{}, false, wrap("wait for a command", err)
	}
	var res struct {
		Command *hub.Command `json:"command"`
	}
	path := "/commands/" + esc(me) + "/wait?timeout=" + millis(timeout)
	if err := c.do(ctx, http.MethodGet, path, nil, &res); err != nil {
		return hub.Command{}, false, wrap("wait for a command", err)
	}
	if res.Command == nil {
		return hub.Command{}, false, nil
	}
	return *res.Command, true, nil
}

// AckCommand finishes a command with a result (POST /commands/{id}/ack).
func (c *Client) AckCommand(ctx context.Context, id int64, req hub.AckRequest) (hub.Command, error) {
	var cmd hub.Command
	if err := c.do(ctx, http.MethodPost, "/commands/"+itoa(id)+"/ack", req, &cmd); err != nil {
		return hub.Command{}, wrap("ack command", err)
	}
	return cmd, nil
}

// Command returns a command; with wait > 0 it waits until the command is
// done, failed or expired (GET /commands/{id}/result?timeout=).
func (c *Client) Command(ctx context.Context, id int64, wait time.Duration) (hub.Command, error) {
	if err := checkTimeout("command result", wait); err != nil {
		return hub.Command{}, err
	}
	path := "/commands/" + itoa(id) + "/result"
	if wait > 0 {
		path += "?timeout=" + millis(wait)
	}
	var cmd hub.Command
	if err := c.do(ctx, http.MethodGet, path, nil, &cmd); err != nil {
		return hub.Command{}, wrap("command result", err)
	}
	return cmd, nil
}

// PostChannel appends data, any JSON value, to a channel (POST
// /channels/{name}/send).
func (c *Client) PostChannel(ctx context.Context, channel string, data json.RawMessage) (hub.ChannelPost, error) {
	if !json.Valid(data) {
		return hub.ChannelPost{}, hub.Errorf(hub.CodeInvalid, "post: not valid JSON")
	}
	var p hub.ChannelPost
	if err := c.do(ctx, http.MethodPost, "/channels/"+esc(channel)+"/send", data, &p); err != nil {
		return hub.ChannelPost{}, wrap("post to channel", err)
	}
	return p, nil
}

func channelQuery(o hub.ChannelReadOptions) url.Values {
	q := url.Values{}
	if o.HasSince || o.Since != 0 {
		q.Set("since", itoa(o.Since))
	}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	return q
}

// ReadChannel returns a page of a channel's posts, oldest first (GET
// /channels/{name}/messages).
func (c *Client) ReadChannel(ctx context.Context, channel string, o hub.ChannelReadOptions) (hub.ChannelRead, error) {
	var res hub.ChannelRead
	if err := c.do(ctx, http.MethodGet, withQuery("/channels/"+esc(channel)+"/messages", channelQuery(o)), nil, &res); err != nil {
		return hub.ChannelRead{}, wrap("read channel", err)
	}
	return res, nil
}

// WaitChannel waits up to timeout for posts after o.Since, or after the
// newest post without it (GET /channels/{name}/wait).
func (c *Client) WaitChannel(ctx context.Context, channel string, o hub.ChannelReadOptions, timeout time.Duration) (hub.ChannelRead, error) {
	if err := checkTimeout("wait on channel", timeout); err != nil {
		return hub.ChannelRead{}, err
	}
	q := channelQuery(o)
	q.Set("timeout", millis(timeout))
	var res hub.ChannelRead
	if err := c.do(ctx, http.MethodGet, withQuery("/channels/"+esc(channel)+"/wait", q), nil, &res); err != nil {
		return hub.ChannelRead{}, wrap("wait on channel", err)
	}
	return res, nil
}

// Channels lists every channel (GET /channels).
func (c *Client) Channels(ctx context.Context) ([]hub.Channel, error) {
	var res struct {
		Channels []hub.Channel `json:"channels"`
	}
	if err := c.do(ctx, http.MethodGet, "/channels", nil, &res); err != nil {
		return nil, wrap("list channels", err)
	}
	return res.Channels, nil
}

// EmitSignal emits a signal with optional data (POST /signals/{name}).
func (c *Client) EmitSignal(ctx context.Context, name string, data json.RawMessage) (hub.Signal, error) {
	body := struct {
		Data json.RawMessage `json:"data,omitempty"`
	}{data}
	var s hub.Signal
	if err := c.do(ctx, http.MethodPost, "/signals/"+esc(name), body, &s); err != nil {
		return hub.Signal{}, wrap("emit signal", err)
	}
	return s, nil
}

// Signal returns a signal without waiting (GET /signals/{name}).
func (c *Client) Signal(ctx context.Context, name string) (hub.Signal, error) {
	var s hub.Signal
	if err := c.do(ctx, http.MethodGet, "/signals/"+esc(name), nil, &s); err != nil {
		return hub.Signal{}, wrap("get signal", err)
	}
	return s, nil
}

// WaitSignal waits up to timeout for a signal (GET
// /signals/{name}/wait); it returns at once when the signal is already
// emitted, with Emitted false when timeout passes first.
func (c *Client) WaitSignal(ctx context.Context, name string, timeout time.Duration) (hub.Signal, error) {
	if err := checkTimeout("wait for signal", timeout); err != nil {
		return hub.Signal{}, err
	}
	var s hub.Signal
	if err := c.do(ctx, http.MethodGet, "/signals/"+esc(name)+"/wait?timeout="+millis(timeout), nil, &s); err != nil {
		return hub.Signal{}, wrap("wait for signal", err)
	}
	return s, nil
}

// ClearSignal resets a signal (DELETE /signals/{name}) and reports
// whether it was emitted.
func (c *Client) ClearSignal(ctx context.Context, name string) (bool, error) {
	var res struct {
		Cleared bool `json:"cleared"`
	}
	if err := c.do(ctx, http.MethodDelete, "/signals/"+esc(name), nil, &res); err != nil {
		return false, wrap("clear signal", err)
	}
	return res.Cleared, nil
}

// Signals lists emitted signals (GET /signals).
func (c *Client) Signals(ctx context.Context) ([]hub.Signal, error) {
	var res struct {
		Signals []hub.Signal `json:"signals"`
	}
	if err := c.do(ctx, http.MethodGet, "/signals", nil, &res); err != nil {
		return nil, wrap("list signals", err)
	}
	return res.Signals, nil
}

// Propose creates a proposal (POST /proposals).
func (c *Client) Propose(ctx context.Context, req hub.ProposalRequest) (hub.Proposal, error) {
	var p hub.Proposal
	if err := c.do(ctx, http.MethodPost, "/proposals", req, &p); err != nil {
		return hub.Proposal{}, wrap("propose", err)
	}
	return p, nil
}

// Proposals lists proposals newest first (GET /proposals).
func (c *Client) Proposals(ctx context.Context, q hub.ProposalQuery) ([]hub.Proposal, error) {
	v := url.Values{}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if q.Before != 0 {
		v.Set("before", itoa(q.Before))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var res struct {
		Proposals []hub.Proposal `json:"proposals"`
	}
	if err := c.do(ctx, http.MethodGet, withQuery("/proposals", v), nil, &res); err != nil {
		return nil, wrap("list proposals", err)
	}
	return res.Proposals, nil
}

// Proposal returns a proposal; with wait > 0 it waits up to wait for the
// decision (GET /proposals/{id}/wait).
func (c *Client) Proposal(ctx context.Context, id int64, wait time.Duration) (hub.Proposal, error) {
	if err := checkTimeout("proposal", wait); err != nil {
		return hub.Proposal{}, err
	}
	path := "/proposals/" + itoa(id)
	if wait > 0 {
		path += "/wait?timeout=" + millis(wait)
	}
	var p hub.Proposal
	if err := c.do(ctx, http.MethodGet, path, nil, &p); err != nil {
		return hub.Proposal{}, wrap("proposal", err)
	}
	return p, nil
}

// Vote casts or changes the client's vote (POST /proposals/{id}/vote).
func (c *Client) Vote(ctx context.Context, id int64, req hub.VoteRequest) (hub.Proposal, error) {
	var p hub.Proposal
	if err := c.do(ctx, http.MethodPost, "/proposals/"+itoa(id)+"/vote", req, &p); err != nil {
		return hub.Proposal{}, wrap("vote", err)
	}
	return p, nil
}

// Reserve asks for a lease (POST /leases). A refusal is a conflict whose
// message names the holder, its pattern and its expiry.
func (c *Client) Reserve(ctx context.Context, req hub.LeaseRequest) (hub.Lease, error) {
	var l hub.Lease
	if err := c.do(ctx, http.MethodPost, "/leases", req, &l); err != nil {
		return hub.Lease{}, wrap("reserve", err)
	}
	return l, nil
}

// Leases lists live leases (GET /leases), of one holder or covering one
// path when opts says so.
func (c *Client) Leases(ctx context.Context, opts hub.LeaseListOptions) ([]hub.Lease, error) {
	q := url.Values{}
	if opts.Holder != "" {
		q.Set("holder", opts.Holder)
	}
	if opts.Path != "" {
		q.Set("path", opts.Path)
	}
	var res struct {
		Leases []hub.Lease `json:"leases"`
	}
	if err := c.do(ctx, http.MethodGet, withQuery("/leases", q), nil, &res); err != nil {
		return nil, wrap("list leases", err)
	}
	return res.Leases, nil
}

// RenewLease extends a lease to ttl from now (the hub's default when
// zero) (POST /leases/{id}/renew).
func (c *Client) RenewLease(ctx context.Context, id int64, ttl time.Duration) (hub.Lease, error) {
	body := struct {
		TTL hub.Duration `json:"ttl,omitzero"`
	}{hub.Duration(ttl)}
	var l hub.Lease
	if err := c.do(ctx, http.MethodPost, "/leases/"+itoa(id)+"/renew", body, &l); err != nil {
		return hub.Lease{}, wrap("renew lease", err)
	}
	return l, nil
}

// ReleaseLease ends a lease (DELETE /leases/{id}).
func (c *Client) ReleaseLease(ctx context.Context, id int64) (hub.Lease, error) {
	var l hub.Lease
	if err := c.do(ctx, http.MethodDelete, "/leases/"+itoa(id), nil, &l); err != nil {
		return hub.Lease{}, wrap("release lease", err)
	}
	return l, nil
}

// CheckPaths returns the paths that are under another agent's live
// exclusive lease (POST /leases/check).
func (c *Client) CheckPaths(ctx context.Context, paths []string) ([]hub.LeaseHit, error) {
	body := struct {
		Paths []string `json:"paths"`
	}{paths}
	if body.Paths == nil {
		body.Paths = []string{}
	}
	var res struct {
		Conflicts []hub.LeaseHit `json:"conflicts"`
	}
	if err := c.do(ctx, http.MethodPost, "/leases/check", body, &res); err != nil {
		return nil, wrap("check paths", err)
	}
	return res.Conflicts, nil
}

// GetState returns a key's value and revision (GET /state/{key}).
func (c *Client) GetState(ctx context.Context, key string) (hub.StateItem, error) {
	var it hub.StateItem
	if err := c.do(ctx, http.MethodGet, "/state/"+esc(key), nil, &it); err != nil {
		return hub.StateItem{}, wrap("get state", err)
	}
	return it, nil
}

// SetState sets a key (PUT /state/{key}). With req.ExpectedRevision it is
// a compare-and-swap; a mismatch returns a *hub.RevisionConflictError
// with the key's current revision.
func (c *Client) SetState(ctx context.Context, key string, req hub.StateSetRequest) (hub.StateItem, error) {
	var it hub.StateItem
	if err := c.stateCall(ctx, http.MethodPut, "/state/"+esc(key), req, &it, key, req.ExpectedRevision); err != nil {
		return hub.StateItem{}, wrap("set state", err)
	}
	return it, nil
}

// DeleteState removes a key (DELETE /state/{key}); with expected, only at
// that revision. It returns the key as it was.
func (c *Client) DeleteState(ctx context.Context, key string, expected *int64) (hub.StateItem, error) {
	path := "/state/" + esc(key)
	if expected != nil {
		path += "?expected_revision=" + itoa(*expected)
	}
	var it hub.StateItem
	if err := c.stateCall(ctx, http.MethodDelete, path, nil, &it, key, expected); err != nil {
		return hub.StateItem{}, wrap("delete state", err)
	}
	return it, nil
}

// stateCall is do for the calls whose conflicts carry a revision.
func (c *Client) stateCall(ctx context.Context, method, path string, body, out any, key string, expected *int64) error {
	resp, err := c.send(ctx, credAgent, method, path, body, "application/json", "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusConflict {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		var e struct {
			Error struct {
				Code            hub.Code `json:"code"`
				CurrentRevision *int64   `json:"current_revision"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Code == hub.CodeConflict && e.Error.CurrentRevision != nil {
			rc := &hub.RevisionConflictError{Key: key, Current: *e.Error.CurrentRevision}
			if expected != nil {
				rc.Expected = *expected
			}
			return rc
		}
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), resp.Body))
	}
	if resp.StatusCode/100 != 2 {
		return decodeError(resp)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// ListState returns keys starting with prefix, with values (GET /state).
func (c *Client) ListState(ctx context.Context, prefix string, limit int) ([]hub.StateItem, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var res struct {
		Items []hub.StateItem `json:"items"`
	}
	if err := c.do(ctx, http.MethodGet, withQuery("/state", q), nil, &res); err != nil {
		return nil, wrap("list state", err)
	}
	return res.Items, nil
}

// WaitState waits up to timeout for a key to change after revision after
// (GET /state/{key}/wait).
func (c *Client) WaitState(ctx context.Context, key string, after int64, timeout time.Duration) (hub.StateWatch, error) {
	if err := checkTimeout("watch state", timeout); err != nil {
		return hub.StateWatch{}, err
	}
	q := url.Values{}
	q.Set("after", itoa(after))
	q.Set("timeout", millis(timeout))
	var w hub.StateWatch
	if err := c.do(ctx, http.MethodGet, withQuery("/state/"+esc(key)+"/wait", q), nil, &w); err != nil {
		return hub.StateWatch{}, wrap("watch state", err)
	}
	return w, nil
}
