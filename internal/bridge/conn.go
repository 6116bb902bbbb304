package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/hubserver"
)

// Timing of discovery, election and failover.
const (
	// DefaultCheckInterval is how often a bridge checks that the hub it
	// uses still answers. A hub that exits also drops the bridge's event
	// stream, which is noticed at once; the checks catch a hub that hangs.
	DefaultCheckInterval = 300 * time.Millisecond
	// healthTimeout bounds one health check.
	healthTimeout = time.Second
	// electionPause is the base pause between election attempts; each
	// waits a random part of it again, so that bridges do not retry in
	// lockstep.
	electionPause = 150 * time.Millisecond
	// DefaultHubWait is how long a tool call waits for a hub to be
	// reachable before it reports that none is.
	DefaultHubWait = 20 * time.Second
)

// link is the bridge's connection to the hub: which hub it uses, whether
// this process runs it, and a generation that changes whenever the hub
// goes away, so that calls in flight can be cancelled and retried on the
// next one.
type link struct {
	url      string
	elect    bool // may start a hub in this process
	startHub func(ctx context.Context) (*hubserver.Hub, error)
	base     *client.Client // no credential of its own: health checks
	interval time.Duration
	log      *slog.Logger

	mu     sync.Mutex
	gen    int64
	up     bool
	ready  chan struct{}      // closed while up; replaced when down
	genCtx context.Context    // cancelled when this generation ends
	cancel context.CancelFunc // of genCtx
	hosted *hubserver.Hub     // the hub this process runs, if any
	last   error              // why the hub could not be reached
	wake   chan struct{}      // pokes the supervisor to check now
}

func newLink(url string, elect bool, startHub func(context.Context) (*hubserver.Hub, error), base *client.Client, interval time.Duration, log *slog.Logger) *link {
	l := &link{url: url, elect: elect, startHub: startHub, base: base, interval: interval, log: log,
		ready: make(chan struct{}), wake: make(chan struct{}, 1)}
	l.genCtx, l.cancel = context.WithCancel(context.Background())
	return l
}

// run keeps the bridge connected until ctx ends: it finds a hub or
// starts one, then watches it, and starts over when it goes away. When
// ctx ends it stops the hub this process runs, if any.
func (l *link) run(ctx context.Context) {
	defer l.stopHosted()
	for ctx.Err() == nil {
		hosted, err := l.establish(ctx)
		if err != nil {
			return // ctx ended
		}
		gen := l.markUp(hosted)
		l.watch(ctx, gen, hosted)
		l.markDown(gen)
	}
}

// establish returns once a hub answers, possibly one it started.
func (l *link) establish(ctx context.Context) (*hubserver.Hub, error) {
	for {
		err := l.health(ctx)
		if err == nil {
			return nil, nil
		}
		l.setLast(err)
		if l.elect {
			h, err := l.startHub(ctx)
			switch {
			case err == nil:
				l.log.Info("became the hub", "url", l.url, "data", h.DataDir())
				return h, nil
			case errors.Is(err, hubserver.ErrLocked), errors.Is(err, hubserver.ErrAddrInUse):
				// Another process won, or is still letting go: connect to
				// it, once it answers.
				l.log.Debug("election lost", "err", err)
			default:
				l.setLast(err)
				l.log.Warn("cannot start a hub", "err", err)
			}
		}
		pause := electionPause + rand.N(electionPause)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		case <-l.wake:
		}
	}
}

// watch returns when the hub of generation gen stops answering, or ctx
// ends.
func (l *link) watch(ctx context.Context, gen int64, hosted *hubserver.Hub) {
	var done <-chan struct{}
	if hosted != nil {
		done = hosted.Done()
	}
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			l.log.Warn("the hub this process ran stopped", "err", hosted.Err())
			l.stopHosted()
			return
		case <-l.wake:
		case <-t.C:
		}
		if !l.current(gen) {
			return
		}
		if hosted != nil {
			continue // this process is the hub; it answers while it runs
		}
		if err := l.health(ctx); err != nil && ctx.Err() == nil {
			l.log.Info("hub stopped answering", "url", l.url, "err", err)
			l.setLast(err)
			return
		}
	}
}

func (l *link) health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	return l.base.Health(ctx)
}

func (l *link) setLast(err error) {
	l.mu.Lock()
	l.last = err
	l.mu.Unlock()
}

func (l *link) markUp(hosted *hubserver.Hub) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	l.up = true
	l.hosted = hosted
	l.last = nil
	close(l.ready)
	return l.gen
}

// markDown ends generation gen: calls in flight on it are cancelled.
func (l *link) markDown(gen int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen != l.gen || !l.up {
		return
	}
	l.up = false
	l.cancel()
	l.genCtx, l.cancel = context.WithCancel(context.Background())
	l.ready = make(chan struct{})
}

func (l *link) current(gen int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.up && l.gen == gen
}

// report tells the supervisor that a call of generation gen failed as if
// the hub were gone; it checks at once.
func (l *link) report(gen int64) {
	if !l.current(gen) {
		return
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// hostedHub returns the hub this process runs, or nil.
func (l *link) hostedHub() *hubserver.Hub {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.up {
		return nil
	}
	return l.hosted
}

func (l *link) stopHosted() {
	l.mu.Lock()
	h := l.hosted
	l.hosted = nil
	l.mu.Unlock()
	if h != nil {
		if err := h.Close(); err != nil {
			l.log.Warn("stop hub", "err", err)
		}
	}
}

// await blocks until a hub answers, at most wait, and returns the
// generation and a context that ends with it.
func (l *link) await(ctx context.Context, wait time.Duration) (int64, context.Context, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		l.mu.Lock()
		up, gen, gctx, ready, last := l.up, l.gen, l.genCtx, l.ready, l.last
		l.mu.Unlock()
		if up {
			return gen, gctx, nil
		}
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-timer.C:
			msg := fmt.Sprintf("no Parley hub answers at %s", l.url)
			if last != nil {
				msg += ": " + last.Error()
			}
			return 0, nil, &hub.Error{Code: hub.CodeUnavailable, Message: msg + " (start one with `parley serve`, or check PARLEY_URL)"}
		case <-ready:
		}
	}
}

// retry says whether a call may be repeated after the hub went away
// during it.
type retry int

const (
	// retrySafe: repeating the call has no effect beyond the first
	// (reads, waits, idempotent writes).
	retrySafe retry = iota
	// retryOnce: the call changes something each time; it is repeated only
	// when the hub never received it.
	retryOnce
)

// errInterrupted reports a call the hub may or may not have carried out.
var errInterrupted = errors.New("the hub went away during the call, so it may or may not have taken effect; check before repeating it")

// do runs fn against the hub, waiting for one to answer. When the hub
// goes away during the call, do waits for the next one (this process may
// become it) and repeats the call, if mode allows; fn gets a context
// that also ends when the hub is found gone.
func (l *link) do(ctx context.Context, mode retry, wait time.Duration, fn func(ctx context.Context) error) error {
	deadline := time.Now().Add(wait)
	for {
		gen, gctx, err := l.await(ctx, time.Until(deadline))
		if err != nil {
			return err
		}
		cctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(gctx, cancel)
		err = fn(cctx)
		stop()
		cancel()
		if err == nil || ctx.Err() != nil || !hubGone(err, gctx) {
			return err
		}
		l.report(gen)
		if mode == retryOnce && !neverSent(err) {
			return fmt.Errorf("%w: %v", errInterrupted, err)
		}
		if time.Now().After(deadline) {
			return err
		}
		// Wait for the supervisor to notice; await blocks until the next
		// generation is up.
		l.waitDown(ctx, gen)
	}
}

// waitDown returns when generation gen is over or the hub answers again
// within a short while (a transient failure).
func (l *link) waitDown(ctx context.Context, gen int64) {
	t := time.NewTimer(2 * l.interval)
	defer t.Stop()
	for {
		l.mu.Lock()
		over := !l.up || l.gen != gen
		gctx := l.genCtx
		l.mu.Unlock()
		if over {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-gctx.Done():
			return
		case <-t.C:
			return
		}
	}
}

// hubGone reports whether err means the hub could not be reached or
// went away, rather than an answer from the hub.
func hubGone(err error, gctx context.Context) bool {
	if gctx.Err() != nil {
		return true
	}
	var he *hub.Error
	if errors.As(err, &he) {
		return he.Code == hub.CodeUnavailable
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

// neverSent reports whether err happened before the request reached the
// hub: the connection was refused.
func neverSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
