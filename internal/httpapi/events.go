package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// replayBatch is how many stored events one catch-up read returns.
const replayBatch = 500

// agentStreamBuffer is how many events an agent's stream holds before
// it falls behind, is subscribed again and reads the gap from the store:
// its own mail and the hub's public events are few, and the bus's
// default (256 events, 32 KiB) was most of what each agent's stream
// held while it waited.
const agentStreamBuffer = 64

func (s *Server) routesEvents(mux router) {
	mux.HandleFunc("GET /events", s.handleEvents)
}

// eventsRequest is a parsed GET /events.
type eventsRequest struct {
	filter   hub.Filter
	since    int64
	hasSince bool
}

func parseEventsRequest(r *http.Request) (eventsRequest, error) {
	var er eventsRequest
	q := r.URL.Query()
	for _, k := range splitList(q["kind"]) {
		if len(k) > hub.MaxNameLen || strings.ContainsFunc(k, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-')
		}) {
			return er, hub.Errorf(hub.CodeInvalid, "kind %q: an event kind is a-z, 0-9, '.', '_', '-' (e.g. message or message.sent)", truncate(k, 80))
		}
		er.filter.Kinds = append(er.filter.Kinds, k)
	}
	for _, a := range splitList(q["agent"]) {
		name, err := hub.NormalizeName("agent", a)
		if err != nil {
			return er, err
		}
		er.filter.Agents = append(er.filter.Agents, name)
	}
	since, what := r.Header.Get("Last-Event-ID"), "Last-Event-ID"
	if since == "" && q.Has("since") {
		since, what = q.Get("since"), "since"
	}
	if since != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(since), 10, 64)
		if err != nil || n < 0 {
			return er, hub.Errorf(hub.CodeInvalid, "%s: %q is not an event id (a non-negative integer)", what, truncate(since, 40))
		}
		er.since, er.hasSince = n, true
	}
	return er, nil
}

// splitList splits comma-separated query values, dropping empty items.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// handleEvents streams events as Server-Sent Events. It subscribes to
// the bus first, then replays stored events after since (or
// Last-Event-ID), then sends live events, skipping any already sent; a
// subscription closed for falling behind is replaced and the gap read
// from the store. An agent's stream holds its presence.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := s.requireAny(p); err != nil {
		return err
	}
	er, err := parseEventsRequest(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	viewer, err := s.streamViewer(r, p)
	if err != nil {
		return err
	}
	if p.kind == agentToken {
		// A revoked agent's stream ends at once.
		var stop context.CancelFunc
		ctx, stop = s.svc.UntilRevoked(ctx, p.token)
		defer stop()
	}

	if !viewer.all && viewer.name != "" {
		// The bus then brings it only its own mail, not every message
		// for sees to drop: a message costs its sender's and recipients'
		// streams, not every agent's.
		er.filter.Private = viewer.name
		er.filter.Buffer = agentStreamBuffer
	}
	bus := s.svc.Bus()
	sub := bus.Subscribe(er.filter)
	defer func() { sub.Close() }()
	if viewer.name != "" {
		release := s.svc.Connect(ctx, viewer.name)
		defer release()
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	st := &stream{w: w, rc: http.NewResponseController(w), timeout: s.opts.WriteTimeout}
	if err := st.comment("connected"); err != nil {
		return nil
	}

	last := er.since
	sent := false // whether last is a position in the store
	catchUp := func() error {
		for {
			evs, err := s.svc.Events(ctx, last, replayBatch, er.filter)
			if err != nil {
				return err
			}
			for _, e := range evs {
				if viewer.sees(e) {
					if err := st.event(e); err != nil {
						return err
					}
				}
				last, sent = e.ID, true
			}
			if len(evs) < replayBatch {
				return nil
			}
		}
	}
	if er.hasSince {
		sent = true
		if err := catchUp(); err != nil {
			return s.streamEnd(r, err)
		}
	}

	ping := time.NewTicker(s.opts.Heartbeat)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ping.C:
			if err := st.comment("ping"); err != nil {
				return nil
			}
		case e, open := <-sub.C():
			if !open {
				// Fell behind: subscribe again, then read the gap.
				sub = bus.Subscribe(er.filter)
				if sent {
					if err := catchUp(); err != nil {
						return s.streamEnd(r, err)
					}
				}
				continue
			}
			if sent && e.ID <= last {
				continue // replayed already
			}
			last, sent = e.ID, true
			if !viewer.sees(e) {
				continue
			}
			if err := st.event(e); err != nil {
				return nil
			}
		}
	}
}

// streamEnd logs why a stream stopped early; the status is already sent.
func (s *Server) streamEnd(r *http.Request, err error) error {
	if isCanceled(r.Context(), err) || isWriteError(err) {
		return nil
	}
	return err // logged by the adapter
}

// viewer is who reads an event stream, and what it may see.
type viewer struct {
	name string // the agent whose presence the stream holds, if any
	all  bool   // sees every event: admin, or the hub is open
}

// sees reports whether the viewer may see e. Without admin rights an
// agent sees message events only when they concern it, because they
// carry a preview of the body; every other event is public
// (hub.PrivateKind).
func (v viewer) sees(e hub.Event) bool {
	if v.all || !hub.PrivateKind(e.Kind) {
		return true
	}
	return v.name != "" && e.Concerns(v.name)
}

// streamViewer resolves the viewer of an event stream: the token's
// agent; the admin, acting as X-Parley-As or human; under --open the
// agent X-Parley-As names, if any.
func (s *Server) streamViewer(r *http.Request, p principal) (viewer, error) {
	switch p.kind {
	case agentToken, adminSecret:
		c, err := s.actAs(r, p)
		if err != nil {
			return viewer{}, err
		}
		return viewer{name: c.Name, all: c.Admin || s.svc.Open()}, nil
	}
	v := viewer{all: s.svc.Open()}
	if as := r.Header.Get(HeaderAs); as != "" && s.svc.Open() {
		c, err := s.actAs(r, p)
		if err != nil {
			return viewer{}, err
		}
		v.name = c.Name
	}
	return v, nil
}

// stream writes Server-Sent Events, flushing after each one and bounding
// every write by a deadline.
type stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

// writeError marks a failed write to the client.
type writeError struct{ err error }

// Error names the failed write.
func (e writeError) Error() string { return "write event stream: " + e.err.Error() }

// Unwrap returns the write's error.
func (e writeError) Unwrap() error { return e.err }

func isWriteError(err error) bool {
	_, ok := err.(writeError)
	return ok
}

func (st *stream) write(b []byte) error {
	_ = st.rc.SetWriteDeadline(time.Now().Add(st.timeout))
	if _, err := st.w.Write(b); err != nil {
		return writeError{err}
	}
	if err := st.rc.Flush(); err != nil {
		return writeError{err}
	}
	return nil
}

// event writes one event: id, event and data lines.
func (st *stream) event(e hub.Event) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode event %d: %w", e.ID, err)
	}
	b := make([]byte, 0, len(data)+len(e.Kind)+40)
	b = fmt.Appendf(b, "id: %d\nevent: %s\ndata: ", e.ID, e.Kind)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	return st.write(b)
}

// comment writes a comment line, which clients ignore.
func (st *stream) comment(text string) error {
	return st.write([]byte(": " + text + "\n\n"))
}
