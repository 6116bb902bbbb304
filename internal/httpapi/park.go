package httpapi

// Parked long polls.
//
// net/http holds about 20 KiB for every request it serves, however idle:
// the request's goroutine (reading the request grows its stack to
// 8 KiB), a background goroutine that reads the connection, the
// connection's 4 KiB read and write buffers, a 2 KiB response buffer and
// the request's headers. A hub with thousands of agents in a long poll
// spends most of its memory there. So when a wait's first check finds
// nothing (a Start method of hub.Service: the inbox, commands, channels,
// signals, shared state, proposals) and nothing comes within parkAfter
// (or at once, in a crowd: crowdedGrace), the handler takes the
// connection out of net/http (Hijack, HTTP/1.x only) and parks it with
// no goroutine at all (serveWait): the bus, a timer, the hub's shutdown
// and a watcher of the connection (the client leaves or sends more;
// watch.go) each kick it, and a kick runs one short step on a goroutine
// of its own (stepper). A parked wait holds the connection, the
// hub.Pending and the little the answer and the access log need. When
// the wait ends, it writes the answer the handler would have written,
// byte for byte, with Connection: close, and closes the connection; the
// client's next request opens a new one.
//
// Whatever cannot be parked (HTTP/2, a ResponseWriter that cannot be
// hijacked, such as the dashboard's in-process calls, a server shutting
// down) waits on net/http's goroutine as before.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// parking tracks the waits and event streams parked off net/http
// (stream.go), which http.Server.Shutdown does not know about, so that
// Server.Shutdown can end them.
type parking struct {
	ctx    context.Context // ends with Shutdown: every parked wait ends
	cancel context.CancelFunc
	watch  connWatcher // tells parked waits that their client left or sent more

	mu      sync.Mutex
	closed  bool
	wg      sync.WaitGroup // parked waits and streams not yet ended
	n       atomic.Int64   // parked waits and streams now
	inGrace atomic.Int64   // waits in their parkAfter on net/http's goroutine
	crowd   int64          // crowdedGrace; tests set less
}

func newParking() *parking {
	ctx, cancel := context.WithCancel(context.Background())
	return &parking{ctx: ctx, cancel: cancel, watch: newConnWatcher(), crowd: crowdedGrace}
}

// add counts one more parked wait or stream, unless Shutdown has begun.
func (pk *parking) add() bool {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if pk.closed {
		return false
	}
	pk.wg.Add(1)
	pk.n.Add(1)
	return true
}

// done counts a parked wait answered or stream ended, or one that did
// not park after all.
func (pk *parking) done() {
	pk.n.Add(-1)
	pk.wg.Done()
}

// Shutdown ends the long polls for mail and the event streams: each
// wait answers as a wait that the hub's shutdown interrupts does (503,
// "request canceled"), each stream ends its response, and those parked
// off net/http close their connection. It returns when the parked ones
// have ended, or with ctx's error when ctx ends first; the rest are
// requests for http.Server.Shutdown to wait for. Waits and streams that
// start later are not parked, and end at once.
func (s *Server) Shutdown(ctx context.Context) error {
	pk := s.parking
	pk.mu.Lock()
	pk.closed = true
	pk.mu.Unlock()
	pk.cancel()
	done := make(chan struct{})
	go func() {
		pk.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		pk.watch.close()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// parkAfter is how long a wait stays on net/http's goroutine before it
// parks. Most waits an agent makes while it works are answered within
// it: they keep their keep-alive connection and the shortest path to
// the answer. Those that idle longer, the ones that add up to memory,
// move off net/http.
const parkAfter = 250 * time.Millisecond

// crowdedGrace is how many waits may be in their parkAfter at once; the
// next parks at once. A crowd of agents waiting at the same moment (a
// fleet starting, or reconnecting to a restarted hub) would otherwise
// hold net/http's memory for every one of them at the same time.
const crowdedGrace = 256

// serveWait answers a wait the hub started (res, wait and err are what
// a Start method of hub.Service returned): at once when its first check
// was the answer, else after waiting on the request's goroutine for up
// to parkAfter, then parked off net/http or, where that cannot be, on
// the request's goroutine to its end. body shapes the answer.
func serveWait[T any](s *Server, w http.ResponseWriter, r *http.Request, res T, wait *hub.Pending[T], err error, body func(T) any) error {
	if err != nil {
		return err
	}
	if wait != nil {
		var done bool
		if res, done, err = finishInGrace(s, r, wait); err != nil {
			return err
		}
		if !done {
			if s.park(w, r, wait, func() any { return body(wait.Result()) }) {
				return nil
			}
			if res, _, err = finishHere(s, r, wait, 0); err != nil {
				return err
			}
		}
	}
	writeJSON(w, http.StatusOK, body(res))
	return nil
}

// asIs is the body of a wait that answers with what the hub returned.
func asIs[T any](v T) any { return v }

// finishInGrace waits on the request's goroutine for parkAfter, or not
// at all when crowdedGrace other waits are doing so.
func finishInGrace[T any](s *Server, r *http.Request, wait *hub.Pending[T]) (res T, done bool, err error) {
	pk := s.parking
	if pk.inGrace.Add(1) > pk.crowd {
		pk.inGrace.Add(-1)
		return res, false, nil
	}
	defer pk.inGrace.Add(-1)
	return finishHere(s, r, wait, parkAfter)
}

// finishHere waits on the request's goroutine: for at most d when d is
// positive (done false: the wait goes on), else to its end. It ends with
// the request, and with Shutdown, like a parked one.
func finishHere[T any](s *Server, r *http.Request, wait *hub.Pending[T], d time.Duration) (res T, done bool, err error) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.parking.ctx, cancel)
	defer stop()
	if d > 0 {
		res, done, err = wait.FinishWithin(ctx, d)
	} else {
		res, err = wait.Finish(ctx)
		done = true
	}
	if err != nil && isCanceled(ctx, err) {
		return res, true, hub.Errorf(hub.CodeUnavailable, "request canceled")
	}
	return res, done, err
}

// parkedConn is a request whose connection a handler took out of
// net/http: a parked wait, or an event stream (stream.go). It answers on
// the connection itself, then ends the request as the middleware would
// have (end).
type parkedConn struct {
	conn net.Conn
	// header holds what middleware set on the response before the
	// handler parked; nil when nothing.
	header http.Header
	// For the access log.
	method, path, remote string
	start                time.Time
	// handled is closed when net/http's handler chain has returned; by
	// then after holds the middleware's deferred work (whenDone).
	handled chan struct{}
	after   []func()
}

// hijack takes r's connection out of net/http, if it can: a GET over
// HTTP/1.x whose ResponseWriter, straight behind the access log, can be
// hijacked, nothing written yet, the server not shutting down. It
// returns nil when it cannot; the caller then answers through w. The
// buffered reader and writer Hijack returns are dropped: a GET has no
// body, and what follows is written to the connection directly.
func (s *Server) hijack(w http.ResponseWriter, r *http.Request) *parkedConn {
	lw, ok := w.(*logWriter)
	if !ok || lw.wrote || lw.park != nil || r.ProtoMajor != 1 || r.Method != http.MethodGet {
		return nil
	}
	hj, ok := lw.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil
	}
	if !s.parking.add() {
		return nil
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		s.parking.done()
		return nil
	}
	pc := &parkedConn{
		conn:   conn,
		method: r.Method, path: r.URL.Path, remote: r.RemoteAddr, start: lw.start,
		handled: make(chan struct{}),
	}
	if h := w.Header(); len(h) > 0 {
		pc.header = h.Clone()
	}
	lw.park = pc
	return pc
}

// end does what the middleware left for the end of the request, then
// logs it. The middleware's work comes first: a waiter limit must have
// let go of the request before the client can start its next one.
func (pc *parkedConn) end(ctx context.Context, s *Server, status int, bytes int64, code hub.Code) {
	<-pc.handled
	for _, f := range pc.after {
		f()
	}
	s.accessLog(ctx, pc.method, pc.path, pc.remote, pc.start, status, bytes, code)
}

// closeGently closes a connection on which the client sent more than
// was read: closed at once, the kernel would answer those bytes with a
// reset, which can destroy the answer before the client reads it. As
// net/http does, it closes the writing half, then reads what comes, for
// at most half a second, before it closes.
func (pc *parkedConn) closeGently() {
	if tc, ok := pc.conn.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
		_ = pc.conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, _ = io.Copy(io.Discard, pc.conn)
	}
	_ = pc.conn.Close()
}

// parkable is the hub's side of a wait a handler parks: a hub.Pending of
// any result.
type parkable interface {
	Park(wake func()) time.Duration
	Check(ctx context.Context) (done bool, err error)
	End()
}

// parkedWait is one wait parked off net/http.
type parkedWait struct {
	*parkedConn
	s    *Server
	wait parkable
	// body is the answer's body, from what the wait's last check found.
	body func() any
	// ctx ends the wait: Shutdown, or the client leaving (the watcher).
	ctx    context.Context
	cancel context.CancelFunc
	// What the wait returned, or the panic it ended with.
	res      any
	err      error
	panicked any
	// Set by a kick: there may be mail, the time is up, the hub shuts
	// down, the client left, the client sent bytes the wait did not read
	// (unread).
	woken, timedOut, canceled, left, unread atomic.Bool
	steps                                   stepper
	// What arm arranged, released by finish.
	timer     *time.Timer
	stopCtx   func() bool
	stopWatch func()
}

// park moves a wait whose first check found nothing off net/http, if it
// can (hijack); body gives its answer when it ends. It reports whether it
// did; if not, the caller finishes the wait itself.
func (s *Server) park(w http.ResponseWriter, r *http.Request, wait parkable, body func() any) bool {
	pc := s.hijack(w, r)
	if pc == nil {
		return false
	}
	p := &parkedWait{parkedConn: pc, s: s, wait: wait, body: body}
	p.ctx, p.cancel = context.WithCancel(s.parking.ctx)
	p.arm()
	return true
}

// arm arms what can end the wait: the bus (hub.Pending.Park), a
// timer, the hub's shutdown and the connection's watcher. It holds the
// steps while it does, so that a kick meanwhile cannot run one before
// finish has everything to release; then it runs the first step itself,
// since an event may have come while Park switched over.
func (p *parkedWait) arm() {
	p.steps = stepper{settle: p.settle, finish: p.finish}
	p.steps.hold()
	remaining := p.wait.Park(func() { p.steps.kick(&p.woken) })
	p.timer = time.AfterFunc(remaining, func() { p.steps.kick(&p.timedOut) })
	p.stopCtx = context.AfterFunc(p.ctx, func() { p.steps.kick(&p.canceled) })
	p.stopWatch = p.s.parking.watch.watch(p.conn, p.clientDid)
	p.woken.Store(true)
	go p.steps.run()
}

// clientDid is the watcher's report.
func (p *parkedWait) clientDid(ev clientEvent) {
	switch ev {
	case clientLeft:
		p.steps.kick(&p.left)
	case clientSentMore:
		p.steps.kick(&p.unread)
	}
}

// stepper runs the steps of something that waits with no goroutine of
// its own (a parked wait, an event stream): whatever can wake it kicks
// it, and a kick runs a step on a goroutine of its own unless one is
// running, which then looks again. At most one step runs at a time; once
// settle reports the end, finish runs and no step runs again.
type stepper struct {
	settle func() (over bool)
	finish func()
	// running is set while a step runs, and for good after the end.
	running atomic.Bool
	// kicked is set by a kick, cleared as a step begins: a step that
	// ends with it set looks again.
	kicked atomic.Bool
}

// hold keeps kicks from running a step, until the caller runs one.
func (st *stepper) hold() { st.running.Store(true) }

// kick sets flag and runs a step unless one is running, which will see
// the flag. It runs on the bus's, a timer's, a context's or the
// watcher's goroutine and does not block.
func (st *stepper) kick(flag *atomic.Bool) {
	flag.Store(true)
	st.kicked.Store(true)
	if st.running.CompareAndSwap(false, true) {
		go st.run()
	}
}

// run steps, on a goroutine that holds running, until settle reports
// the end or no kick came during the last step.
func (st *stepper) run() {
	for {
		st.kicked.Store(false)
		if st.settle() {
			st.finish()
			return // running stays set: nothing runs after the end
		}
		st.running.Store(false)
		if !st.kicked.Load() || !st.running.CompareAndSwap(false, true) {
			return
		}
	}
}

// settle looks at every kick and reports whether the wait is over, with
// its answer in p.res and p.err (or p.panicked). Woken, it checks again
// (reads the inbox, claims a command...). It must act on every flag that
// is set, not only the first: a kick that comes before the first step
// runs is not seen as a kick by that step, only as its flag.
func (p *parkedWait) settle() (over bool) {
	defer func() {
		if v := recover(); v != nil {
			p.panicked, over = v, true
		}
	}()
	switch {
	case p.canceled.Load():
		p.err = p.ctx.Err()
		return true
	case p.left.Load():
		p.cancel()
		p.err = p.ctx.Err()
		return true
	}
	if p.woken.Swap(false) {
		done, err := p.wait.Check(p.ctx)
		if done || err != nil {
			p.res, p.err = p.body(), err
			return true
		}
	}
	if p.unread.Load() || p.timedOut.Load() {
		// A timeout, or a pipelined request: answer now, as a wait that
		// timed out; Connection: close drops the rest and the client
		// asks again.
		p.res = p.body()
		return true
	}
	return false
}

// finish releases what arm arranged and what the wait holds, then
// answers.
func (p *parkedWait) finish() {
	defer p.answer()
	p.timer.Stop()
	p.stopCtx()
	p.stopWatch()
	p.wait.End()
}

// answer answers the wait and closes the connection, then does what the
// middleware left for the end of the request and logs it. It answers a
// panic in a step with a 500, as logRequests does.
func (p *parkedWait) answer() {
	s := p.s
	defer s.parking.done()
	defer p.cancel()
	rb := newResponseBuffer(p.header)
	switch v := p.panicked; {
	case v != nil:
		s.logPanic(p.ctx, p.method, p.path, v)
		rb.code = hub.CodeInternal
		writeJSON(rb, http.StatusInternalServerError, errorBody{Error: errorDetail{Code: hub.CodeInternal, Message: "internal error"}})
	case p.err != nil:
		rb.code = s.writeErrorFor(p.ctx, rb, p.method, p.path, p.err)
	default:
		writeJSON(rb, http.StatusOK, p.res)
	}
	p.res = nil
	// Logged before the answer leaves, as net/http's buffered answers are.
	p.end(p.ctx, s, rb.status, int64(len(rb.body)), rb.code)
	_ = p.conn.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	_, _ = p.conn.Write(rb.wire(time.Now()))
	if p.unread.Load() {
		p.closeGently()
		return
	}
	_ = p.conn.Close()
}

// responseBuffer is a ResponseWriter that keeps a whole response, for a
// parked wait to write to its connection itself.
type responseBuffer struct {
	header http.Header
	status int
	body   []byte
	code   hub.Code // error code, when an error was sent
}

// newResponseBuffer returns a buffer whose header starts as a copy of h.
func newResponseBuffer(h http.Header) *responseBuffer {
	if h == nil {
		return &responseBuffer{header: http.Header{}}
	}
	return &responseBuffer{header: h.Clone()}
}

// Header implements http.ResponseWriter.
func (b *responseBuffer) Header() http.Header { return b.header }

// WriteHeader implements http.ResponseWriter; the first status counts.
func (b *responseBuffer) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

// Write implements http.ResponseWriter.
func (b *responseBuffer) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	b.body = append(b.body, p...)
	return len(p), nil
}

// wire returns the response as HTTP/1.1 puts it on the wire, as
// net/http would write it (a Date header unless one is set), and with
// Connection: close.
func (b *responseBuffer) wire(now time.Time) []byte {
	status := b.status
	if status == 0 {
		status = http.StatusOK
	}
	h := b.header
	h.Set("Connection", "close")
	if _, ok := h["Date"]; !ok {
		h.Set("Date", now.UTC().Format(http.TimeFormat))
	}
	var buf bytes.Buffer
	buf.Grow(256 + len(b.body))
	fmt.Fprintf(&buf, "HTTP/1.1 %03d %s\r\n", status, http.StatusText(status))
	_ = h.Write(&buf)
	buf.WriteString("\r\n")
	buf.Write(b.body)
	return buf.Bytes()
}
