package hub

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Options configure a Service. Zero fields take the Default values.
type Options struct {
	// Open turns authentication off. Tokens issued while open are marked
	// and refused once authentication is on again.
	Open bool
	// PresenceTimeout is how long an agent stays online after its last
	// request when it holds no connection.
	PresenceTimeout time.Duration
	// ForwardTTL is how long a former name forwards after a rename.
	ForwardTTL time.Duration
	// HoldTTL is how long mail for an unregistered name is kept.
	HoldTTL time.Duration
	// MaxBody is the largest message body plus attachments, in bytes.
	MaxBody int
	// Preview is the body size beyond which tools show a preview.
	Preview int
	// KeepEvents is how many events are kept for resuming followers.
	KeepEvents int
	// MaxUnread bounds each agent's queue: a send does not deliver to an
	// agent that already has this many unread messages (SendResult.Full),
	// and fails when it reaches no one else. Zero: no bound. Mail held
	// for a name that has not registered yet is delivered whole when it
	// registers.
	MaxUnread int
	// Retain is how long messages are kept; zero keeps them forever. A
	// message older than Retain is removed, with its deliveries, once no
	// recipient still needs it: every delivery read, or acked when the
	// message asks for acks, and none held for an unregistered name.
	// Unread mail is never removed. Less than MinRetain is for tests.
	Retain time.Duration
	// TokenTTL is how long an agent token stays valid after its last use
	// (sliding; see tokens.go). Negative: tokens never expire.
	TokenTTL time.Duration
	// Audit, when set, receives every admin action (reset, revocation,
	// forced release) after it is committed, for the audit log.
	Audit func(AuditRecord)
	// Coordination configures commands, channels, proposals, leases and
	// shared state.
	Coordination CoordinationOptions
	// Now returns the current time; tests inject a clock.
	Now func() time.Time
	// Logger receives the service's logs.
	Logger *slog.Logger
}

// Defaults for Options.
const (
	DefaultPresenceTimeout = 30 * time.Second
	DefaultForwardTTL      = 2 * time.Hour
	DefaultHoldTTL         = 7 * 24 * time.Hour
	DefaultMaxBody         = 1 << 20
	DefaultPreview         = 8 << 10
	DefaultKeepEvents      = 100_000
	DefaultReadLimit       = 50
	MaxReadLimit           = 500
	// MaxReadBytes bounds the bodies one read returns; the rest is paged.
	MaxReadBytes = 4 << 20
	// MaxWait is the longest a wait may block.
	MaxWait = 10 * time.Minute
	// MaxRecipients bounds the addresses of one send.
	MaxRecipients = 256
	// waiterBuffer is the event buffer of a waiter's subscription. One is
	// enough: the event only wakes the waiter, which then reads the store;
	// events that arrive while one is pending are covered by that read, or,
	// when they overflow and the bus drops the subscription, by the read
	// after resubscribing. A larger buffer costs every parked waiter
	// 128 bytes per event and makes it re-read the store once per event.
	waiterBuffer = 1
)

func (o *Options) setDefaults() {
	if o.PresenceTimeout <= 0 {
		o.PresenceTimeout = DefaultPresenceTimeout
	}
	if o.ForwardTTL <= 0 {
		o.ForwardTTL = DefaultForwardTTL
	}
	if o.HoldTTL <= 0 {
		o.HoldTTL = DefaultHoldTTL
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Preview <= 0 {
		o.Preview = DefaultPreview
	}
	if o.KeepEvents <= 0 {
		o.KeepEvents = DefaultKeepEvents
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	o.Coordination.setDefaults()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Service implements every operation of the hub. It is safe for
// concurrent use.
type Service struct {
	store Store
	bus   Bus
	opts  Options
	log   *slog.Logger

	mu       sync.Mutex // guards presence
	presence map[string]*presence

	// extending holds the hashes of tokens whose expiry is being
	// extended, so concurrent requests write it once (tokens.go).
	extending sync.Map

	tokens tokenCache

	// handoffs are the waits a send may hand its message to (handoff.go).
	handoffs *handoffs
}

type presence struct {
	// conns counts the connections held since the last goodbye
	// (Disconnect), which voids the ones opened before it: they are
	// closing, and their releases must not bring the agent back.
	conns    int
	goodbyes int // Disconnects so far; a connection remembers the count it began under
	lastSeen time.Time
	online   bool // as last announced
}

// New returns a Service over store and bus.
func New(store Store, bus Bus, opts Options) *Service {
	opts.setDefaults()
	return &Service{
		store:    store,
		bus:      bus,
		opts:     opts,
		log:      opts.Logger,
		presence: make(map[string]*presence),
		handoffs: newHandoffs(),
	}
}

// Options returns the options in force, defaults filled in.
func (s *Service) Options() Options { return s.opts }

// Open reports whether authentication is off.
func (s *Service) Open() bool { return s.opts.Open }

// Bus returns the service's event bus.
func (s *Service) Bus() Bus { return s.bus }

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

// retainBatch bounds the messages one pass over old messages looks at
// for Options.Retain; the store bounds the text and deliveries it removes
// too. Looking is not free either: a message's age is stored after its
// body, so each look reads the whole row (256 unread messages of 300 KB
// took 55 ms to look at). 64 keeps a pass to a few milliseconds for
// messages of a few kilobytes. While passes remove messages and end on
// a bound they run every second, not every five: up to 5.5 million
// messages a day.
const retainBatch = 64

// MinRetain is the shortest Options.Retain a hub should run with (parley
// serve and hubserver refuse less): messages must outlive retried sends (idempotency
// keys), replies to them, and any wait that a send has handed them to
// (at most MaxWait).
const MinRetain = time.Hour

// Run performs periodic work (presence changes, expiry of held mail,
// forwards, old events and messages past Options.Retain, deadlines)
// until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastExpire := time.Time{}
	var sweep retention
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		s.announcePresence(ctx)
		if err := s.expireDeadlines(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("deadlines", "err", err)
		}
		// Expire often, so each run deletes little and never stalls the
		// writer for long under load; old messages every second while
		// there are many to remove.
		now := s.now()
		due := now.Sub(lastExpire) >= 5*time.Second
		if due || sweep.behind {
			sweep = s.expireMessages(ctx, now, sweep)
		}
		if due {
			lastExpire = now
			if err := s.store.Update(ctx, func(tx Tx) error {
				return tx.Expire(ctx, now, s.opts.KeepEvents)
			}); err != nil && ctx.Err() == nil {
				s.log.Error("expire", "err", err)
			}
		}
	}
}

// retention is where Run's passes over messages past Options.Retain
// stand.
type retention struct {
	// after is the ID the next pass starts after: passes walk messages
	// in ID order and start over once they reach one too young to go.
	after int64
	// behind says the last pass removed messages and stopped on a
	// bound: the next one should not wait.
	behind bool
}

// expireMessages makes one pass over messages past Options.Retain, in an
// Update of its own so that its failure stops no other expiry. After a
// failure the next pass starts over, at the usual pace.
func (s *Service) expireMessages(ctx context.Context, now time.Time, r retention) retention {
	if s.opts.Retain <= 0 {
		return retention{}
	}
	var next int64
	var removed int
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		next, removed, err = tx.ExpireMessages(ctx, now.Add(-s.opts.Retain), r.after, retainBatch)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("expire messages", "err", err)
		}
		return retention{}
	}
	if removed > 0 {
		s.log.Debug("removed messages past retention", "count", removed, "retain", s.opts.Retain)
	}
	return retention{after: next, behind: removed > 0 && next != 0}
}

// event builds an event of kind raised by actor.
func (s *Service) event(kind, actor, subject string, targets []string, data any) Event {
	e := Event{Kind: kind, Time: s.now(), Actor: actor, Subject: subject, Targets: targets}
	if data != nil {
		b, err := json.Marshal(data)
		if err == nil {
			e.Data = b
		}
	}
	return e
}

// appendEvents stores events in tx.
func appendEvents(ctx context.Context, tx Tx, events ...Event) error {
	for _, e := range events {
		if _, err := tx.AppendEvent(ctx, e); err != nil {
			return fmt.Errorf("append event %s: %w", e.Kind, err)
		}
	}
	return nil
}

// newToken returns a fresh agent token and its hash.
func newToken() (string, []byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("new token: %w", err)
	}
	tok := "pt_" + base64.RawURLEncoding.EncodeToString(b[:])
	return tok, HashToken(tok), nil
}

// HashToken returns the stored form of a token. Tokens carry 256 random
// bits, so a plain SHA-256 is enough to make the stored form useless.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// clampWait bounds a requested wait.
func clampWait(d time.Duration) (time.Duration, error) {
	if d < 0 {
		return 0, Errorf(CodeInvalid, "timeout must not be negative")
	}
	if d > MaxWait {
		return 0, Errorf(CodeInvalid, "timeout %s is longer than the maximum %s", d, MaxWait)
	}
	return d, nil
}

// pendingWait is a wait whose first check found nothing: it holds the
// subscription and the timer until close. A Pending (the Start methods
// of Service) blocks in it on the caller's goroutine, or lets a
// transport wait by its own means.
//
// Each check runs on a short-lived goroutine of its own (shallow): a
// check reads the store, whose driver (modernc SQLite) needs a deep
// stack, and a goroutine keeps a grown stack while it blocks. Run on the
// waiting goroutine, every parked wait would hold 16 to 32 KiB of stack
// for as long as it waits; this way the deep frames live only as long
// as the check.
type pendingWait struct {
	bus   Bus
	f     Filter
	sub   Subscription
	ch    <-chan Event // sub's
	timer *time.Timer
	// deadline is when the timer fires.
	deadline time.Time
	check    func() (bool, error)
}

// startWait subscribes, then runs check once. It returns nil when the
// wait is over already: check is done, failed, or timeout is 0.
// Otherwise the timeout starts, and the caller must close what it gets.
func startWait(bus Bus, f Filter, timeout time.Duration, check func() (bool, error)) (*pendingWait, error) {
	if f.Buffer == 0 {
		// A waiter only needs to be woken: it re-checks the store, and a
		// dropped subscription is renewed below.
		f.Buffer = waiterBuffer
	}
	sub := bus.Subscribe(f)
	parked := false
	defer func() {
		if !parked { // done, failed, or check panicked
			sub.Close()
		}
	}()
	if done, err := shallow(check); done || err != nil || timeout <= 0 {
		return nil, err
	}
	parked = true
	return &pendingWait{bus: bus, f: f, sub: sub, ch: sub.C(), timer: time.NewTimer(timeout),
		deadline: time.Now().Add(timeout), check: check}, nil
}

// block waits until check reports done, re-running it whenever the
// subscription delivers an event, or until the timeout or ctx ends.
//
// A parked wait sleeps in this frame, so it does nothing else: a
// goroutine that parks within 1 KiB of stack keeps a 2 KiB stack.
func (w *pendingWait) block(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.timer.C:
			return nil
		case <-w.ch:
			if done, err := w.woken(); done || err != nil {
				return err
			}
		}
	}
}

// woken runs check after an event, first renewing a subscription that
// fell behind and was closed. It is kept out of block (noinline), and
// block receives no event, so neither weighs on the parked frame.
//
//go:noinline
func (w *pendingWait) woken() (bool, error) {
	select {
	case _, open := <-w.ch:
		// Closed (the event that woke block was the close), or one more
		// event, which this check covers too.
		if !open {
			w.sub.Close()
			w.sub = w.bus.Subscribe(w.f)
			w.ch = w.sub.C()
		}
	default:
	}
	return shallow(w.check)
}

// notify replaces the wait's channel and timer with calls of wake, for
// a caller that waits by other means (Pending.Park). It subscribes
// anew before it drops the old subscription, so no event is missed, and
// returns the time left until the timeout.
func (w *pendingWait) notify(wake func()) time.Duration {
	w.timer.Stop()
	f := w.f
	f.Notify = func(Event) { wake() }
	old := w.sub
	w.sub = w.bus.Subscribe(f)
	w.ch = w.sub.C()
	old.Close()
	return time.Until(w.deadline)
}

// close stops the timer and ends the subscription.
func (w *pendingWait) close() {
	w.timer.Stop()
	w.sub.Close()
}

// Shallow runs f on a goroutine of its own and waits for it, so that
// the stack f grows is released when it returns instead of staying with
// the caller's goroutine: a goroutine keeps a grown stack while it
// blocks, and the SQLite driver's frames are deep, so a long wait that
// ran its store reads on its own goroutine would hold 16 to 32 KiB of
// stack for as long as it waits. A panic in f is raised again in the
// caller, where the request's recovery sees it.
func Shallow(f func()) {
	var p any
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		defer func() { p = recover() }()
		f()
	}()
	<-ran
	if p != nil {
		panic(p)
	}
}

// shallow is Shallow for a wait's check.
func shallow(check func() (bool, error)) (done bool, err error) {
	Shallow(func() { done, err = check() })
	return done, err
}
