package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// Send sends a message as the client's agent (POST /messages) and returns
// once the hub has stored it durably. A retry with the same
// req.IdempotencyKey is stored once; the result then has Duplicate set.
func (c *Client) Send(ctx context.Context, req hub.SendRequest) (hub.SendResult, error) {
	var res hub.SendResult
	if err := c.do(ctx, http.MethodPost, "/messages", req, &res); err != nil {
		return hub.SendResult{}, wrap("send", err)
	}
	return res, nil
}

// SendBatch sends several messages as the client's agent in one request
// (POST /messages/batch) and returns their results, in order, once all
// are durable. It is all or nothing: when one message is refused (the
// error names its index, as "messages[3].to: ..."), none is stored. A
// batch holds at most hub.MaxBatch messages. Retrying a batch whose
// messages carry idempotency keys stores each message once.
func (c *Client) SendBatch(ctx context.Context, reqs []hub.SendRequest) ([]hub.SendResult, error) {
	var res struct {
		Results []hub.SendResult `json:"results"`
	}
	body := struct {
		Messages []hub.SendRequest `json:"messages"`
	}{reqs}
	if err := c.do(ctx, http.MethodPost, "/messages/batch", body, &res); err != nil {
		return nil, wrap("send batch", err)
	}
	if len(res.Results) != len(reqs) {
		return nil, fmt.Errorf("send batch: the hub returned %d results for %d messages", len(res.Results), len(reqs))
	}
	return res.Results, nil
}

// readQuery encodes ReadOptions as the query of /inbox.
func readQuery(o hub.ReadOptions) url.Values {
	q := url.Values{}
	if o.HasSince || o.Since != 0 {
		q.Set("since", itoa(o.Since))
	}
	if o.Peek {
		q.Set("peek", "true")
	}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Preview != 0 {
		q.Set("preview", strconv.Itoa(o.Preview))
	}
	return q
}

// Inbox reads a page of the client's inbox (GET /inbox/{agent}): unread
// messages oldest first, marked read unless o.Peek, or with o.HasSince
// every delivery after o.Since.
func (c *Client) Inbox(ctx context.Context, o hub.ReadOptions) (hub.ReadResult, error) {
	me, err := c.self(ctx)
	if err != nil {
		return hub.ReadResult{}, wrap("inbox", err)
	}
	var res hub.ReadResult
	if err := c.do(ctx, http.MethodGet, withQuery("/inbox/"+esc(me), readQuery(o)), nil, &res); err != nil {
		return hub.ReadResult{}, wrap("inbox", err)
	}
	return res, nil
}

// Wait blocks until the client's agent has mail or timeout passes (GET
// /inbox/{agent}/wait), then reads as Inbox does; it returns at once when
// mail is pending. On timeout the result has no messages and err is nil.
// The hub allows at most hub.MaxWait; timeout is sent in milliseconds.
func (c *Client) Wait(ctx context.Context, o hub.ReadOptions, timeout time.Duration) (hub.ReadResult, error) {
	if timeout < 0 || timeout > hub.MaxWait {
		return hub.ReadResult{}, hub.Errorf(hub.CodeInvalid, "wait: timeout %s must be between 0 and %s", timeout, hub.MaxWait)
	}
	me, err := c.self(ctx)
	if err != nil {
		return hub.ReadResult{}, wrap("wait", err)
	}
	q := readQuery(o)
	q.Set("timeout", strconv.FormatInt(timeout.Milliseconds(), 10))
	var res hub.ReadResult
	if err := c.do(ctx, http.MethodGet, withQuery("/inbox/"+esc(me)+"/wait", q), nil, &res); err != nil {
		return hub.ReadResult{}, wrap("wait", err)
	}
	return res, nil
}

// Ack acknowledges the client's delivery of message id.
func (c *Client) Ack(ctx context.Context, id int64) error {
	err := c.do(ctx, http.MethodPost, "/messages/"+itoa(id)+"/ack", nil, nil)
	return wrap(fmt.Sprintf("ack %d", id), err)
}

// Message returns one message the client's agent sent or received, in
// full, with its delivery states (GET /messages/{id}).
func (c *Client) Message(ctx context.Context, id int64) (hub.MessageView, error) {
	var v hub.MessageView
	if err := c.do(ctx, http.MethodGet, "/messages/"+itoa(id), nil, &v); err != nil {
		return hub.MessageView{}, wrap(fmt.Sprintf("message %d", id), err)
	}
	return v, nil
}

// pageQuery encodes a Page as a query.
func pageQuery(q url.Values, p hub.Page) url.Values {
	if p.Before != 0 {
		q.Set("before", itoa(p.Before))
	}
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	return q
}

// Thread returns a page of a thread, newest first (GET /threads/{id}).
func (c *Client) Thread(ctx context.Context, thread string, p hub.Page) (hub.HistoryResult, error) {
	var res hub.HistoryResult
	path := withQuery("/threads/"+esc(thread), pageQuery(url.Values{}, p))
	if err := c.do(ctx, http.MethodGet, path, nil, &res); err != nil {
		return hub.HistoryResult{}, wrap("thread", err)
	}
	return res, nil
}

// Conversation returns a page of what the client's agent and peer sent
// each other, newest first (GET /history/{peer}).
func (c *Client) Conversation(ctx context.Context, peer string, p hub.Page) (hub.HistoryResult, error) {
	var res hub.HistoryResult
	path := withQuery("/history/"+esc(peer), pageQuery(url.Values{}, p))
	if err := c.do(ctx, http.MethodGet, path, nil, &res); err != nil {
		return hub.HistoryResult{}, wrap("history", err)
	}
	return res, nil
}

// Search returns a page of the messages the client's agent may see whose
// subject or body contains every word of query, newest first.
func (c *Client) Search(ctx context.Context, query string, p hub.Page) (hub.HistoryResult, error) {
	var res hub.HistoryResult
	path := withQuery("/search", pageQuery(url.Values{"q": {query}}, p))
	if err := c.do(ctx, http.MethodGet, path, nil, &res); err != nil {
		return hub.HistoryResult{}, wrap("search", err)
	}
	return res, nil
}
