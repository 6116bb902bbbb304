package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// EventOptions select the events of a stream and where it starts.
type EventOptions struct {
	// Kinds keeps events of these kinds; a kind before a dot matches all
	// its sub-kinds ("message" matches "message.sent").
	Kinds []string
	// Agents keeps events that concern these agents.
	Agents []string
	// LastEventID resumes after the event with this ID: the hub first
	// replays what the follower missed. Zero starts with new events.
	LastEventID int64
	// Reconnect reopens a dropped stream, resuming after the last event
	// Next returned, until the context ends or the hub refuses the stream.
	Reconnect bool
}

// Reconnection backoff of an event stream.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 5 * time.Second
	// maxEventSize bounds one SSE event.
	maxEventSize = 8 << 20
)

// EventStream reads Server-Sent Events from GET /events. Next must be
// called from one goroutine at a time; Close may be called from any.
type EventStream struct {
	c      *Client
	ctx    context.Context
	cancel context.CancelFunc
	opts   EventOptions
	last   int64

	body io.ReadCloser
	rd   *bufio.Reader
	data bytes.Buffer // the data lines of the event being read
}

// Events opens the hub's event stream. It returns once the hub has
// accepted it, so a refused credential or filter is reported here.
func (c *Client) Events(ctx context.Context, opts EventOptions) (*EventStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	s := &EventStream{c: c, ctx: ctx, cancel: cancel, opts: opts, last: opts.LastEventID}
	if err := s.open(); err != nil {
		cancel()
		return nil, wrap("events", err)
	}
	return s, nil
}

func (s *EventStream) open() error {
	q := url.Values{}
	if len(s.opts.Kinds) > 0 {
		q.Set("kind", strings.Join(s.opts.Kinds, ","))
	}
	if len(s.opts.Agents) > 0 {
		q.Set("agent", strings.Join(s.opts.Agents, ","))
	}
	last := ""
	if s.last > 0 {
		last = itoa(s.last)
	}
	resp, err := s.c.send(s.ctx, credAgent, http.MethodGet, withQuery("/events", q), nil, "text/event-stream", last)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return decodeError(resp)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		resp.Body.Close()
		return fmt.Errorf("hub answered %q, not an event stream", mt)
	}
	s.body = resp.Body
	if s.rd == nil {
		s.rd = bufio.NewReaderSize(resp.Body, 32<<10)
	} else {
		s.rd.Reset(resp.Body)
	}
	return nil
}

// LastID returns the ID of the last event Next returned (or the
// LastEventID the stream started from), to resume a later stream.
func (s *EventStream) LastID() int64 { return s.last }

// Close ends the stream; a blocked Next returns. It is safe to call more
// than once and from any goroutine.
func (s *EventStream) Close() error {
	s.cancel()
	return nil
}

// Next returns the next event. It returns io.EOF when the hub ended the
// stream (and Reconnect is off), and the context's error after Close or
// when the context ends.
func (s *EventStream) Next() (hub.Event, error) {
	retry := minRetry
	for {
		if s.body != nil {
			ev, err := s.read()
			if err == nil {
				return ev, nil
			}
			s.body.Close()
			s.body = nil
			if s.ctx.Err() != nil {
				return hub.Event{}, s.ctx.Err()
			}
			if !s.opts.Reconnect {
				if errors.Is(err, io.ErrUnexpectedEOF) {
					err = io.EOF
				}
				return hub.Event{}, wrap("events", err)
			}
		}
		// Reconnect, after a pause that grows while the hub stays away.
		t := time.NewTimer(retry)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return hub.Event{}, s.ctx.Err()
		case <-t.C:
		}
		retry = min(2*retry, maxRetry)
		if err := s.open(); err != nil {
			if s.ctx.Err() != nil {
				return hub.Event{}, s.ctx.Err()
			}
			var he *hub.Error
			if errors.As(err, &he) && he.Code != hub.CodeUnavailable && he.Code != hub.CodeInternal {
				return hub.Event{}, err
			}
		}
	}
}

// All returns the stream's events as an iterator that stops after the
// first error, which it yields.
func (s *EventStream) All() iter.Seq2[hub.Event, error] {
	return func(yield func(hub.Event, error) bool) {
		for {
			ev, err := s.Next()
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// read parses one event from the open stream: "id:", "event:" and
// "data:" fields ended by a blank line; comment lines (": ping") are
// skipped.
func (s *EventStream) read() (hub.Event, error) {
	var id, kind string
	s.data.Reset()
	for {
		line, err := s.readLine()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return hub.Event{}, err
		}
		if len(line) == 0 {
			if s.data.Len() == 0 {
				id, kind = "", ""
				continue
			}
			return s.dispatch(id, kind)
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte{':'})
		value = bytes.TrimPrefix(value, []byte{' '})
		switch string(field) {
		case "id":
			id = string(value)
		case "event":
			kind = string(value)
		case "data":
			if s.data.Len() > 0 {
				s.data.WriteByte('\n')
			}
			if s.data.Len()+len(value) > maxEventSize {
				return hub.Event{}, fmt.Errorf("event larger than %d bytes", maxEventSize)
			}
			s.data.Write(value)
		}
	}
}

func (s *EventStream) dispatch(id, kind string) (hub.Event, error) {
	var ev hub.Event
	if err := json.Unmarshal(s.data.Bytes(), &ev); err != nil {
		return hub.Event{}, fmt.Errorf("decode event %s: %w", id, err)
	}
	if ev.ID == 0 && id != "" {
		ev.ID, _ = strconv.ParseInt(id, 10, 64)
	}
	if ev.Kind == "" {
		ev.Kind = kind
	}
	if ev.ID > 0 {
		s.last = ev.ID
	}
	return ev, nil
}

// readLine returns one line without its line ending. The slice is valid
// until the next read.
func (s *EventStream) readLine() ([]byte, error) {
	line, err := s.rd.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			if len(long) > maxEventSize {
				return nil, fmt.Errorf("event line longer than %d bytes", maxEventSize)
			}
			line, err = s.rd.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if err != nil && (err != io.EOF || len(line) == 0) {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte{'\n'})
	return bytes.TrimSuffix(line, []byte{'\r'}), nil
}
