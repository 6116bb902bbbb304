package hub

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Pending is a wait whose first check found nothing: the second half of
// Wait, WaitCommand, WaitChannel, WaitSignal, WaitState and
// WaitProposal, which their Start variants hand back. It holds the
// caller's presence, a subscription and a timer, but no goroutine:
// Finish blocks on the caller's, or a transport waits by its own means
// (Park, Check, End; package httpapi parks it off net/http). Nothing
// committed between the first check and the rest of the wait is missed,
// since the subscription came first.
type Pending[T any] struct {
	w       *pendingWait
	ctx     context.Context // the context checks run under
	check   func(context.Context) (T, bool, error)
	res     T // what the last check found
	release func()
	what    string // names the wait in its errors; "" leaves them as they are
}

// ParkedWait is a Wait whose first read of the inbox found nothing
// (StartWait).
type ParkedWait = Pending[ReadResult]

// startPending subscribes to f, then runs check once under ctx. When that
// check is the answer (done, an error, or a timeout of 0) it returns its
// result with a nil Pending, and calls release. Otherwise the wait must
// go on: it returns a Pending whose Finish (or Park and End) releases.
// what names the wait in the errors it returns.
func startPending[T any](ctx context.Context, bus Bus, f Filter, timeout time.Duration, release func(), what string, check func(context.Context) (T, bool, error)) (T, *Pending[T], error) {
	p := &Pending[T]{ctx: ctx, check: check, release: release, what: what}
	defer func() {
		if p.w == nil { // over at once, or the check panicked
			p.release()
		}
	}()
	var zero T
	var err error
	switch p.w, err = startWait(bus, f, timeout, p.run); {
	case err != nil:
		return zero, nil, p.wrap(err)
	case p.w == nil:
		return p.res, nil, nil
	}
	return zero, p, nil
}

// noRelease is the release of a wait that holds no presence.
func noRelease() {}

// wrap names the wait in err.
func (p *Pending[T]) wrap(err error) error {
	if err == nil || p.what == "" {
		return err
	}
	return fmt.Errorf("%s: %w", p.what, err)
}

// wait is a whole Wait method from what its Start returned: the first
// check's answer when p is nil, else the rest of the wait on the caller's
// goroutine.
func (p *Pending[T]) wait(ctx context.Context, res T, err error) (T, error) {
	if p == nil {
		return res, err
	}
	return p.Finish(ctx)
}

// run is the check as pendingWait runs it.
func (p *Pending[T]) run() (bool, error) {
	res, done, err := p.check(p.ctx)
	p.res = res
	return done, err
}

// Finish blocks until the wait has its answer, the timeout passes or
// ctx ends, then returns what the Wait method would. It releases the
// subscription, the timer and the caller's presence before returning.
// Checks run under ctx, which may be another context than the start's.
func (p *Pending[T]) Finish(ctx context.Context) (T, error) {
	if err := p.block(ctx); err != nil {
		var zero T
		return zero, p.wrap(err)
	}
	return p.res, nil
}

// block is Finish's blocking part. A parked goroutine sleeps in it, so
// it holds as little stack as it can (noinline keeps Finish's results
// out of it): see pendingWait.block.
//
//go:noinline
func (p *Pending[T]) block(ctx context.Context) error {
	defer p.end()
	p.ctx = ctx
	return p.w.block(ctx)
}

// FinishWithin is Finish for at most d. When the wait is still pending
// after d it reports false and keeps everything it holds, so that
// nothing committed meanwhile is missed; Finish must follow.
func (p *Pending[T]) FinishWithin(ctx context.Context, d time.Duration) (T, bool, error) {
	var zero T
	gctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	p.ctx = gctx
	err := p.w.block(gctx)
	if err != nil && ctx.Err() == nil && gctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
		return zero, false, nil
	}
	p.end()
	if err != nil {
		return zero, true, p.wrap(err)
	}
	return p.res, true, nil
}

// Park is for a transport that waits by its own means, without a
// goroutine blocked in Finish: from now on wake is called, on the
// publisher's goroutine and without blocking, whenever the answer may
// have come, and the transport times the rest of the wait itself (Park
// returns the time left). The transport then calls Check after every
// wake, and once before it waits (an event may have come while Park
// switched over), and End when it is done. Finish must not be called.
func (p *Pending[T]) Park(wake func()) time.Duration {
	return p.w.notify(wake)
}

// Check runs the wait's check under ctx, as a woken wait does; done
// means there is something to answer, or an error.
func (p *Pending[T]) Check(ctx context.Context) (done bool, err error) {
	p.ctx = ctx
	done, err = shallow(p.run)
	return done, p.wrap(err)
}

// Result is what the last check found, as Finish returns it: on a
// timeout, the answer of a wait that timed out.
func (p *Pending[T]) Result() T { return p.res }

// End releases the subscription and the caller's presence, after Park.
func (p *Pending[T]) End() { p.end() }

// end releases what the wait holds.
func (p *Pending[T]) end() {
	p.w.close()
	p.release()
}
