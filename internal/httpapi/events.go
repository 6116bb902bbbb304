package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

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

// handleEvents streams events as Server-Sent Events (stream.go). It
// subscribes to the bus first, then replays stored events after since
// (or Last-Event-ID), then sends live events, skipping any already sent;
// a stream that falls behind reads the gap from the store. An agent's
// stream holds its presence, and ends when its token is revoked.
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
	v, err := s.streamViewer(r, p)
	if err != nil {
		return err
	}
	es := newEventStream(s, er, v)
	pc := s.hijack(w, r)
	if pc != nil {
		es.sink = &connSink{pc: pc, timeout: s.opts.WriteTimeout}
		es.ctx, es.cancel = context.WithCancel(s.parking.ctx)
	} else {
		es.sink = newHTTPSink(w, s.opts.WriteTimeout)
		es.ctx, es.cancel = context.WithCancel(r.Context())
		stop := context.AfterFunc(s.parking.ctx, es.cancel)
		defer stop()
	}
	if p.kind == agentToken {
		var stop context.CancelFunc
		es.ctx, stop = s.svc.UntilRevoked(es.ctx, p.token)
		es.release = append(es.release, stop)
	}
	es.start(pc)
	if pc != nil {
		return nil
	}
	<-es.over
	return es.failure()
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
