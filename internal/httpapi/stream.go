package httpapi

// Event streams without a goroutine.
//
// A client follows its event stream (GET /events) for as long as it
// runs: a bridge holds its agent's for the whole session. On net/http a
// stream held about 50 KiB and two goroutines while it waited for the
// next event, which for a fleet of agents was most of the hub's memory.
// So a stream leaves net/http at once, as a parked wait does (park.go):
// its response is written on the connection directly, with no chunking
// and Connection: close, and between events nothing holds a goroutine.
// The bus (a Notify subscription), the heartbeat timer, the end of the
// stream's context (revocation, shutdown) and the watcher of the
// connection each kick it, and a kick runs one step (stepper) that
// writes what is due. Where the connection cannot leave net/http
// (HTTP/2, the dashboard's in-process calls), the same steps write
// through the ResponseWriter while the handler's goroutine waits for the
// end.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// streamBuffer is how many live events a stream holds before it falls
// behind and reads the gap from the store; an agent's own stream holds
// agentStreamBuffer.
const streamBuffer = 256

// eventStream is one client's stream of events.
type eventStream struct {
	s      *Server
	filter hub.Filter
	viewer viewer
	sink   streamSink
	// limit is how many live events may wait to be written; past it the
	// stream drops them and reads them from the store instead.
	limit int
	// ctx ends the stream: the client's request or the hub's shutdown,
	// and an agent's revocation.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	queue  []hub.Event // live events not written yet, oldest first
	behind bool        // the queue overflowed: read from the store
	// behindFrom is where the store read starts when nothing was
	// written yet: just before the first event dropped.
	behindFrom int64

	// Owned by the steps. last is the ID of the newest event written or
	// passed over; sent says whether it is a position in the store (the
	// client asked for events since one, or an event came).
	last    int64
	sent    bool
	started bool // the head and the first comment are written
	err     error
	// Set by a kick: events are queued, a heartbeat is due, ctx ended,
	// the client left or sent bytes a stream does not read.
	pending, ping, canceled, left, unread atomic.Bool
	steps                                 stepper

	sub       hub.Subscription
	heartbeat *time.Timer
	stopCtx   func() bool
	stopWatch func()
	release   []func() // presence, revocation watch: undone at the end
	over      chan struct{}
}

// newEventStream returns a stream of the events er asks for, as viewer
// may see them. An agent's own stream is Private: the bus brings it only
// its own mail, not every message for sees to drop, so a message costs
// its sender's and recipients' streams, not every agent's.
func newEventStream(s *Server, er eventsRequest, v viewer) *eventStream {
	es := &eventStream{s: s, filter: er.filter, viewer: v, limit: streamBuffer,
		last: er.since, sent: er.hasSince, over: make(chan struct{})}
	if er.filter.Buffer > 0 {
		es.limit = er.filter.Buffer
	}
	if !v.all && v.name != "" {
		es.filter.Private = v.name
		es.limit = agentStreamBuffer
	}
	return es
}

// start subscribes and arms what can kick the stream, holding the steps
// meanwhile, then runs the first step, which writes the head of the
// response. pc is the connection when the stream left net/http, else
// nil. The stream holds its viewer's presence until the end.
func (es *eventStream) start(pc *parkedConn) {
	es.steps = stepper{settle: es.settle, finish: es.finish}
	es.steps.hold()
	f := es.filter
	f.Notify = es.notify
	es.sub = es.s.svc.Bus().Subscribe(f)
	if es.viewer.name != "" {
		es.release = append(es.release, es.s.svc.Connect(es.ctx, es.viewer.name))
	}
	es.heartbeat = time.AfterFunc(es.s.opts.Heartbeat, func() { es.steps.kick(&es.ping) })
	es.stopCtx = context.AfterFunc(es.ctx, func() {
		es.sink.interrupt()
		es.steps.kick(&es.canceled)
	})
	if pc != nil {
		es.stopWatch = es.s.parking.watch.watch(pc.conn, es.clientDid)
	}
	es.pending.Store(true)
	go es.steps.run()
}

// notify queues a live event; the bus calls it under its lock.
func (es *eventStream) notify(e hub.Event) {
	es.mu.Lock()
	switch {
	case es.behind:
	case len(es.queue) < es.limit:
		es.queue = append(es.queue, e)
	default:
		es.behind = true
		es.behindFrom = es.queue[0].ID - 1
		es.queue = nil
	}
	es.mu.Unlock()
	es.steps.kick(&es.pending)
}

// clientDid is the watcher's report.
func (es *eventStream) clientDid(ev clientEvent) {
	switch ev {
	case clientLeft:
		es.sink.interrupt()
		es.steps.kick(&es.left)
	case clientSentMore:
		es.steps.kick(&es.unread)
	}
}

// settle writes what the kicks so far call for and reports whether the
// stream is over.
func (es *eventStream) settle() (over bool) {
	defer func() {
		if v := recover(); v != nil {
			es.s.logPanic(es.ctx, http.MethodGet, "/events", v)
			over = true
		}
	}()
	if es.canceled.Load() || es.left.Load() || es.unread.Load() {
		return true
	}
	if err := es.write(); err != nil {
		es.err = err
		return true
	}
	return false
}

// write writes the head of the stream first, then a heartbeat when one
// is due, then the events queued or missed.
func (es *eventStream) write() error {
	if !es.started {
		es.started = true
		if err := es.comment("connected"); err != nil {
			return err
		}
		// Before any live event, sent says the client asked for the
		// events since last: replay them first.
		if es.sent {
			if err := es.catchUp(); err != nil {
				return err
			}
		}
	}
	if es.ping.Swap(false) {
		if err := es.comment("ping"); err != nil {
			return err
		}
		es.heartbeat.Reset(es.s.opts.Heartbeat)
	}
	if es.pending.Swap(false) {
		return es.drain()
	}
	return nil
}

// drain writes the queued events, after reading from the store those
// the queue dropped.
func (es *eventStream) drain() error {
	es.mu.Lock()
	queue, behind, from := es.queue, es.behind, es.behindFrom
	es.queue, es.behind = nil, false
	es.mu.Unlock()
	if behind {
		if !es.sent {
			es.last, es.sent = from, true
		}
		if err := es.catchUp(); err != nil {
			return err
		}
	}
	for _, e := range queue {
		if err := es.live(e); err != nil {
			return err
		}
	}
	return nil
}

// live writes a live event unless it was replayed already or the viewer
// may not see it.
func (es *eventStream) live(e hub.Event) error {
	if es.sent && e.ID <= es.last {
		return nil
	}
	es.last, es.sent = e.ID, true
	if !es.viewer.sees(e) {
		return nil
	}
	return es.event(e)
}

// catchUp writes the stored events after last. Live events it covers
// are passed over when they come.
func (es *eventStream) catchUp() error {
	for {
		evs, err := es.s.svc.Events(es.ctx, es.last, replayBatch, es.filter)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if es.viewer.sees(e) {
				if err := es.event(e); err != nil {
					return err
				}
			}
			es.last = e.ID
		}
		if len(evs) < replayBatch {
			return nil
		}
	}
}

// event writes one event: id, event and data lines.
func (es *eventStream) event(e hub.Event) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode event %d: %w", e.ID, err)
	}
	b := make([]byte, 0, len(data)+len(e.Kind)+40)
	b = fmt.Appendf(b, "id: %d\nevent: %s\ndata: ", e.ID, e.Kind)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	return es.sink.write(b)
}

// comment writes a comment line, which clients ignore.
func (es *eventStream) comment(text string) error {
	return es.sink.write([]byte(": " + text + "\n\n"))
}

// finish releases what start arranged, ends the response and logs why
// the stream stopped early, if it did for a reason worth logging.
func (es *eventStream) finish() {
	es.heartbeat.Stop()
	es.stopCtx()
	if es.stopWatch != nil {
		es.stopWatch()
	}
	es.sub.Close()
	for _, f := range es.release {
		f()
	}
	es.cancel()
	es.sink.close(es)
	close(es.over)
}

// failure is why the stream stopped, when that is worth logging: not
// the client leaving, a failed write or the hub shutting down.
func (es *eventStream) failure() error {
	if es.err == nil || isWriteError(es.err) || isCanceled(es.ctx, es.err) {
		return nil
	}
	return es.err
}

// streamSink is where a stream's bytes go.
type streamSink interface {
	// write writes b whole, within the server's write timeout; a
	// failure is a writeError.
	write(b []byte) error
	// interrupt makes a write in progress, and every later one, fail
	// at once, where it can: the stream is over.
	interrupt()
	// close ends the response once the stream is over.
	close(es *eventStream)
}

// sseHeader sets the headers of an event stream.
func sseHeader(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
}

// httpSink writes a stream through net/http, flushing each write.
type httpSink struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	started bool
}

func newHTTPSink(w http.ResponseWriter, timeout time.Duration) *httpSink {
	return &httpSink{w: w, rc: http.NewResponseController(w), timeout: timeout}
}

func (hs *httpSink) write(b []byte) error {
	if !hs.started {
		hs.started = true
		sseHeader(hs.w.Header())
		hs.w.WriteHeader(http.StatusOK)
	}
	_ = hs.rc.SetWriteDeadline(time.Now().Add(hs.timeout))
	if _, err := hs.w.Write(b); err != nil {
		return writeError{err}
	}
	if err := hs.rc.Flush(); err != nil {
		return writeError{err}
	}
	return nil
}

// interrupt does nothing: net/http ends a request's writes when its
// client leaves, and the write deadline bounds them otherwise.
func (hs *httpSink) interrupt() {}

// close does nothing: the handler returns once the stream is over.
func (hs *httpSink) close(*eventStream) {}

// connSink writes a stream on a connection taken out of net/http: the
// response head with the first write, then the events as they are,
// delimited by the connection's end.
type connSink struct {
	pc          *parkedConn
	timeout     time.Duration
	interrupted atomic.Bool
	started     bool
	bytes       int64
}

// interrupt ends a write stuck on a client that does not read, such as
// one that left or whose token was revoked.
func (cs *connSink) interrupt() {
	cs.interrupted.Store(true)
	_ = cs.pc.conn.SetWriteDeadline(time.Unix(1, 0))
}

func (cs *connSink) write(b []byte) error {
	head := 0
	if !cs.started {
		cs.started = true
		rb := newResponseBuffer(cs.pc.header)
		sseHeader(rb.header)
		rb.status = http.StatusOK
		rb.body = b
		wire := rb.wire(time.Now())
		head, b = len(wire)-len(b), wire
	}
	_ = cs.pc.conn.SetWriteDeadline(time.Now().Add(cs.timeout))
	if cs.interrupted.Load() { // after the deadline: see interrupt
		return writeError{net.ErrClosed}
	}
	n, err := cs.pc.conn.Write(b)
	cs.bytes += int64(max(n-head, 0))
	if err != nil {
		return writeError{err}
	}
	return nil
}

// close logs the request and closes the connection.
func (cs *connSink) close(es *eventStream) {
	s := es.s
	defer s.parking.done()
	if err := es.failure(); err != nil {
		s.log.LogAttrs(es.ctx, slog.LevelError, "event stream failed",
			slog.String("path", cs.pc.path), slog.Any("err", err))
	}
	cs.pc.end(es.ctx, s, http.StatusOK, cs.bytes, "")
	if es.unread.Load() {
		cs.pc.closeGently()
		return
	}
	_ = cs.pc.conn.Close()
}
