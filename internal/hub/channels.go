package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Channel is a named, append-only stream of posts. Each post gets the
// channel's next sequence number; old posts are dropped by count and age
// (CoordinationOptions.ChannelKeep and ChannelMaxAge), numbers never
// reused.
type Channel struct {
	Name string `json:"name"`
	// LastSeq is the sequence number of the newest post.
	LastSeq int64 `json:"last_seq"`
	// Count is how many posts are kept.
	Count      int       `json:"count"`
	CreatedAt  time.Time `json:"created_at"`
	LastPostAt time.Time `json:"last_post_at"`
}

// ChannelPost is one post on a channel: any JSON, stored as given.
type ChannelPost struct {
	Channel string `json:"channel"`
	Seq     int64  `json:"seq"`
	// From is the agent that posted; empty for an anonymous post on an
	// open hub.
	From      string          `json:"from,omitempty"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// ChannelReadOptions select the posts a read returns.
type ChannelReadOptions struct {
	// Since returns posts with a sequence number above it. Without
	// HasSince a read returns every kept post and a wait returns only
	// posts made after it started.
	Since    int64
	HasSince bool
	// Limit caps the count; 0 means DefaultListLimit.
	Limit int
}

// ChannelRead is a page of a channel's posts, oldest first.
type ChannelRead struct {
	Channel  string        `json:"channel"`
	Messages []ChannelPost `json:"messages"`
	// Next is the sequence number to pass as since for the next read.
	Next int64 `json:"next"`
	// More is true when further posts did not fit this page.
	More bool `json:"more"`
	// LastSeq is the sequence number of the channel's newest post.
	LastSeq int64 `json:"last_seq"`
}

// PostChannel appends data (any JSON value) to a channel, creating it.
func (s *Service) PostChannel(ctx context.Context, c Caller, channel string, data json.RawMessage) (ChannelPost, error) {
	if err := s.needCaller(c, "posting to a channel"); err != nil {
		return ChannelPost{}, err
	}
	channel, err := NormalizeName("channel", channel)
	if err != nil {
		return ChannelPost{}, err
	}
	if len(data) == 0 {
		return ChannelPost{}, Errorf(CodeInvalid, "post is empty: give a JSON value")
	}
	if err := validJSON("post", data, s.opts.Coordination.MaxValue); err != nil {
		return ChannelPost{}, err
	}
	data = compactJSON(data)
	var post ChannelPost
	err = s.store.Update(ctx, func(tx Tx) error {
		var err error
		post, err = tx.AppendPost(ctx, ChannelPost{Channel: channel, From: c.Name, Data: data, CreatedAt: s.now()})
		if err != nil {
			return err
		}
		if _, err := tx.TrimChannels(ctx, channel, s.opts.Coordination.ChannelKeep, time.Time{}); err != nil {
			return err
		}
		ev := post
		if len(ev.Data) > eventPreviewSize {
			ev.Data = nil
		}
		return appendEvents(ctx, tx, s.event(EventChannelPosted, c.Name, channel, nil, ev))
	})
	if err != nil {
		return ChannelPost{}, fmt.Errorf("post to channel %q: %w", channel, err)
	}
	return post, nil
}

// ReadChannel returns a page of a channel's posts, oldest first. A
// channel nobody has posted to reads as empty.
func (s *Service) ReadChannel(ctx context.Context, c Caller, channel string, opts ChannelReadOptions) (ChannelRead, error) {
	if err := s.needCaller(c, "reading a channel"); err != nil {
		return ChannelRead{}, err
	}
	channel, limit, err := s.channelArgs(channel, opts)
	if err != nil {
		return ChannelRead{}, err
	}
	var res ChannelRead
	err = s.store.View(ctx, func(r Reader) error {
		var err error
		res, err = readChannel(ctx, r, channel, opts.Since, limit)
		return err
	})
	if err != nil {
		return ChannelRead{}, fmt.Errorf("read channel %q: %w", channel, err)
	}
	return res, nil
}

// WaitChannel waits up to timeout for posts after opts.Since (after the
// newest post when opts has no Since) and returns them; it returns at
// once when there are some already, and an empty page on timeout.
func (s *Service) WaitChannel(ctx context.Context, c Caller, channel string, opts ChannelReadOptions, timeout time.Duration) (ChannelRead, error) {
	res, p, err := s.StartWaitChannel(ctx, c, channel, opts, timeout)
	return p.wait(ctx, res, err)
}

// StartWaitChannel is the first half of WaitChannel: it reads the
// channel once, and hands back the rest of the wait as a Pending when
// there was nothing new and timeout is not 0.
func (s *Service) StartWaitChannel(ctx context.Context, c Caller, channel string, opts ChannelReadOptions, timeout time.Duration) (ChannelRead, *Pending[ChannelRead], error) {
	if err := s.needCaller(c, "waiting on a channel"); err != nil {
		return ChannelRead{}, nil, err
	}
	channel, limit, err := s.channelArgs(channel, opts)
	if err != nil {
		return ChannelRead{}, nil, err
	}
	if timeout, err = clampWait(timeout); err != nil {
		return ChannelRead{}, nil, err
	}
	since := opts.Since
	if !opts.HasSince {
		// "New" means after the newest post when the wait starts. Take it
		// before subscribing: a post committed between the two is then
		// found by the first check instead of being counted as old.
		err := s.store.View(ctx, func(r Reader) error {
			ch, err := r.Channel(ctx, channel)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			since = ch.LastSeq
			return nil
		})
		if err != nil {
			return ChannelRead{}, nil, fmt.Errorf("wait on channel %q: %w", channel, err)
		}
	}
	release := noRelease
	if c.IsAgent() {
		release = s.Connect(ctx, c.Name)
	}
	f := Filter{Kinds: []string{EventChannelPosted}, Subjects: []string{channel}}
	return startPending(ctx, s.bus, f, timeout, release, fmt.Sprintf("wait on channel %q", channel), func(ctx context.Context) (ChannelRead, bool, error) {
		var res ChannelRead
		err := s.store.View(ctx, func(r Reader) error {
			var err error
			res, err = readChannel(ctx, r, channel, since, limit)
			return err
		})
		return res, len(res.Messages) > 0, err
	})
}

func (s *Service) channelArgs(channel string, opts ChannelReadOptions) (string, int, error) {
	channel, err := NormalizeName("channel", channel)
	if err != nil {
		return "", 0, err
	}
	if opts.Since < 0 {
		return "", 0, Errorf(CodeInvalid, "since must not be negative")
	}
	limit, err := listLimit(opts.Limit)
	return channel, limit, err
}

func readChannel(ctx context.Context, r Reader, channel string, since int64, limit int) (ChannelRead, error) {
	res := ChannelRead{Channel: channel, Next: since}
	ch, err := r.Channel(ctx, channel)
	switch {
	case errors.Is(err, ErrNotFound):
		res.Messages = []ChannelPost{}
		return res, nil
	case err != nil:
		return res, err
	}
	res.LastSeq = ch.LastSeq
	posts, err := r.ChannelPosts(ctx, channel, since, limit+1)
	if err != nil {
		return res, err
	}
	if len(posts) > limit {
		posts, res.More = posts[:limit], true
	}
	if len(posts) > 0 {
		res.Next = posts[len(posts)-1].Seq
	}
	res.Messages = nonNil(posts)
	return res, nil
}

// ListChannels lists every channel by name.
func (s *Service) ListChannels(ctx context.Context, c Caller) ([]Channel, error) {
	if err := s.needCaller(c, "listing channels"); err != nil {
		return nil, err
	}
	var chs []Channel
	err := s.store.View(ctx, func(r Reader) error {
		var err error
		chs, err = r.Channels(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	return nonNil(chs), nil
}
