package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
)

// Bounds of the waits the scenarios make.
const (
	// pollWait is the long-poll timeout of receivers that loop.
	pollWait = 5 * time.Second
	// drainTimeout bounds how long a scenario waits, after its senders
	// stop, for receivers to get what was sent.
	drainTimeout = 10 * time.Second
	// wakeTimeout bounds the wait for one woken waiter.
	wakeTimeout = 10 * time.Second
	// parkSettle is how long after a waiter's request was written the
	// sender assumes it is parked, when the hub is not in this process.
	parkSettle = 500 * time.Microsecond
)

// send measures durable direct sends per second: Senders agents send as
// fast as the hub accepts to Receivers agents, which drain their inboxes
// with long-polls at the same time.
func (r *runner) send(ctx context.Context) error {
	res, err := r.sendRun(ctx, ScenarioSend, "", "")
	if err != nil {
		return err
	}
	r.add(res)
	return nil
}

// sendRun runs the send measurement and returns its result, under
// scenario, its op named "send" or "send.batch" after opPrefix, its
// agents' names beginning with names.
func (r *runner) sendRun(ctx context.Context, scenario, opPrefix, names string) (Result, error) {
	o := r.opts
	senders, err := r.register(ctx, names+"s", "", o.Senders)
	if err != nil {
		return Result{}, err
	}
	receivers, err := r.register(ctx, names+"r", "", o.Receivers)
	if err != nil {
		return Result{}, err
	}
	b := body(o.Body)
	rx := r.receive(ctx, receivers, nil)
	cpu := r.startCPU()
	var st *loopStats
	op, per := opPrefix+"send", int64(1)
	if o.Batch > 0 {
		// Each call sends Batch messages, to the receivers in turn.
		op, per = opPrefix+"send.batch", int64(o.Batch)
		count := max(1, o.count(ScenarioSend)/per)
		st = r.loop(ctx, op, o.Senders, count, func(ctx context.Context, w int, i int64) error {
			reqs := make([]hub.SendRequest, per)
			for j := range reqs {
				to := receivers[(int64(w)+i*per+int64(j))%int64(len(receivers))].name
				reqs[j] = hub.SendRequest{To: []string{to}, Body: b}
			}
			_, err := senders[w].c.SendBatch(ctx, reqs)
			return err
		})
	} else {
		st = r.loop(ctx, op, o.Senders, o.count(ScenarioSend), func(ctx context.Context, w int, i int64) error {
			to := receivers[(int64(w)+i)%int64(len(receivers))].name
			_, err := senders[w].c.Send(ctx, hub.SendRequest{To: []string{to}, Body: b})
			return err
		})
	}
	requests := st.ops
	sent := requests * per
	delivered, drain := rx.drain(sent)
	res := r.result(scenario, op, st, "msg/s")
	res.Ops = sent
	if st.elapsed > 0 {
		res.Rate = float64(sent) / st.elapsed.Seconds()
	}
	res.Metrics = map[string]float64{
		"senders": float64(o.Senders), "receivers": float64(o.Receivers), "body_bytes": float64(o.Body),
		"delivered": float64(delivered), "delivered_per_s": float64(delivered) / (st.elapsed + drain).Seconds(),
	}
	if per > 1 {
		res.Metrics["batch"] = float64(per)
		res.Metrics["requests_per_s"] = float64(requests) / st.elapsed.Seconds()
		res.Note = joinNote(res.Note, fmt.Sprintf("%d messages per request; latency is per request", per))
	}
	cpu.record(res.Metrics, sent)
	if delivered < sent {
		res.Note = joinNote(res.Note, fmt.Sprintf("%d of %d sent messages not received within %s", sent-delivered, sent, drainTimeout))
	}
	return res, nil
}

// receivers drain inboxes with long-polls until stopped.
type receivers struct {
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	delivered atomic.Int64
	errs      atomic.Int64
}

// receive starts one long-poll loop per agent. Each message received is
// counted and passed to got, when not nil, with the time it arrived.
func (r *runner) receive(ctx context.Context, agents []*agent, got func(who int, m hub.Inbound, at time.Time)) *receivers {
	rctx, cancel := context.WithCancel(ctx)
	rx := &receivers{cancel: cancel}
	for i, a := range agents {
		rx.wg.Go(func() {
			for rctx.Err() == nil {
				res, err := a.c.Wait(rctx, hub.ReadOptions{Limit: hub.MaxReadLimit}, pollWait)
				if err != nil {
					if rctx.Err() != nil {
						return
					}
					rx.errs.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				at := time.Now()
				rx.delivered.Add(int64(len(res.Messages)))
				if got != nil {
					for _, m := range res.Messages {
						got(i, m, at)
					}
				}
			}
		})
	}
	return rx
}

// drain waits until want messages were received or drainTimeout passes,
// then stops the receivers; it returns how many were received and how
// long it waited.
func (rx *receivers) drain(want int64) (int64, time.Duration) {
	start := time.Now()
	for rx.delivered.Load() < want && time.Since(start) < drainTimeout {
		time.Sleep(5 * time.Millisecond)
	}
	waited := time.Since(start)
	rx.cancel()
	rx.wg.Wait()
	return rx.delivered.Load(), waited
}

// wake measures send-to-wake latency: a waiter is blocked in a wait,
// a sender sends it one message, and the time from the start of the send
// to the waiter's wait returning with it is one sample. Two ways to read
// are measured: a plain wait, which marks the message read (the send
// hands it over, marked read in its own commit, when the waiter is
// waiting with nothing unread), and a peeking wait with a since cursor,
// which writes nothing (the send hands it the delivery right after its
// cursor).
// A third agent follows its event stream instead, as a bridge that
// pushes mail into its session does: its sample ends when the message's
// event arrives.
func (r *runner) wake(ctx context.Context) error {
	// A waiter of its own for each way, so that the since cursor starts
	// on an empty inbox.
	ags, err := r.register(ctx, "w", "", 4)
	if err != nil {
		return err
	}
	sender := ags[0]
	base := 0
	if r.t.subscribers != nil {
		base = r.t.subscribers()
	}
	for i, since := range []bool{false, true} {
		// The previous waiter's subscription ends when the hub notices
		// its request was cancelled: let it go before counting.
		r.settleSubscribers(base)
		op := "wake"
		if since {
			op = "wake.since"
		}
		if err := r.wakeOnce(ctx, op, sender, ags[1+i], since); err != nil {
			return err
		}
	}
	return r.wakeStream(ctx, sender, ags[3])
}

// wakeStream is the wake scenario for an agent that follows its event
// stream: from the start of a send to the arrival of its message.sent
// event.
func (r *runner) wakeStream(ctx context.Context, sender, follower *agent) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	es, err := follower.c.Events(sctx, client.EventOptions{Kinds: []string{hub.EventMessageSent}})
	if err != nil {
		return err
	}
	arrived := make(chan woken, 16)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		for {
			_, err := es.Next()
			select {
			case arrived <- woken{at: time.Now(), n: 1, err: err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
	b := body(r.opts.Body)
	cpu := r.startCPU()
	st := r.loopTimed(ctx, "wake.stream", 1, r.opts.count(ScenarioWake), func(ctx context.Context, _ int, _ int64) (time.Duration, error) {
		t0 := time.Now()
		if _, err := sender.c.Send(ctx, hub.SendRequest{To: []string{follower.name}, Body: b}); err != nil {
			return 0, err
		}
		return sinceArrival(ctx, arrived, t0, "event stream")
	})
	res := r.result(ScenarioWake, "wake.stream", st, "events/s")
	res.Metrics = map[string]float64{}
	cpu.record(res.Metrics, st.ops)
	res.Note = joinNote(res.Note, "the agent follows its event stream, as a bridge that pushes mail does: until the message's event arrives")
	r.add(res)
	return nil
}

// woken is what one wait of the wake scenario returned.
type woken struct {
	at  time.Time
	n   int
	err error
}

// sinceArrival waits up to wakeTimeout for what arrives on ch and returns
// how long after t0 it arrived; who names the receiver in errors.
func sinceArrival(ctx context.Context, ch <-chan woken, t0 time.Time, who string) (time.Duration, error) {
	select {
	case w := <-ch:
		if w.err != nil {
			return 0, fmt.Errorf("%s: %w", who, w.err)
		}
		return max(w.at.Sub(t0), 1), nil
	case <-time.After(wakeTimeout):
		return 0, fmt.Errorf("%s: nothing arrived within %s", who, wakeTimeout)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// settleSubscribers waits up to a second for the hub in this process to
// have no more event subscriptions than base.
func (r *runner) settleSubscribers(base int) {
	if r.t.subscribers == nil {
		return
	}
	deadline := time.Now().Add(time.Second)
	for r.t.subscribers() > base && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

func (r *runner) wakeOnce(ctx context.Context, op string, sender, waiter *agent, since bool) error {
	b := body(r.opts.Body)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan woken, 1)
	parked := make(chan struct{}, 1)
	// The waiter signals each time its wait request is on the wire.
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
		select {
		case parked <- struct{}{}:
		default:
		}
	}}
	subs0 := 0
	if r.t.subscribers != nil {
		subs0 = r.t.subscribers()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		o := hub.ReadOptions{}
		if since {
			o.HasSince, o.Peek = true, true
		}
		tctx := httptrace.WithClientTrace(wctx, trace)
		for wctx.Err() == nil {
			res, err := waiter.c.Wait(tctx, o, pollWait)
			if err == nil && len(res.Messages) == 0 {
				continue // timed out with nothing: wait again
			}
			at := time.Now()
			if since && err == nil {
				o.Since = res.Next
			}
			select {
			case results <- woken{at: at, n: len(res.Messages), err: err}:
			case <-wctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
	var sendH Histogram
	cpu := r.startCPU()
	st := r.loopTimed(ctx, op, 1, r.opts.count(ScenarioWake), func(ctx context.Context, _ int, _ int64) (time.Duration, error) {
		if err := r.awaitParked(ctx, parked, subs0); err != nil {
			return 0, err
		}
		t0 := time.Now()
		if _, err := sender.c.Send(ctx, hub.SendRequest{To: []string{waiter.name}, Body: b}); err != nil {
			return 0, err
		}
		sendH.Record(time.Since(t0))
		return sinceArrival(ctx, results, t0, "waiter")
	})
	res := r.result(ScenarioWake, op, st, "wakes/s")
	res.Metrics = map[string]float64{
		"send_p50_ms": ms(sendH.Quantile(0.5)), "send_p99_ms": ms(sendH.Quantile(0.99)),
	}
	cpu.record(res.Metrics, st.ops)
	if since {
		res.Note = joinNote(res.Note, "the waiter peeks with a since cursor: nothing marked (the send hands it the delivery after its cursor)")
	} else {
		res.Note = joinNote(res.Note, "the wait marks the message read (the send hands it over, read, when the waiter waits with nothing unread)")
	}
	r.add(res)
	return nil
}

// awaitParked waits until the waiter's wait is on the wire and, for a
// hub in this process, until it has subscribed; for another process it
// allows parkSettle for the hub to take the request.
func (r *runner) awaitParked(ctx context.Context, parked <-chan struct{}, subs0 int) error {
	select {
	case <-parked:
	case <-time.After(wakeTimeout):
		return errors.New("waiter did not send its wait")
	case <-ctx.Done():
		return ctx.Err()
	}
	if r.t.subscribers == nil {
		time.Sleep(parkSettle)
		return nil
	}
	deadline := time.Now().Add(100 * time.Millisecond)
	for r.t.subscribers() <= subs0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Microsecond)
	}
	return nil
}

// broadcast measures fan-out: one sender sends to a role that Fanout
// agents have, each of which is blocked in a wait. Per message it
// records the send (every delivery durable) and the time until the
// last of the agents has it.
func (r *runner) broadcast(ctx context.Context) error {
	k := r.opts.Fanout
	role := r.role("fan")
	senders, err := r.register(ctx, "b", "", 1)
	if err != nil {
		return err
	}
	agents, err := r.register(ctx, "f", role, k)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	sentAt := map[int64]time.Time{}
	last := map[int64]time.Time{} // message ID -> latest arrival
	got := map[int64]int{}        // message ID -> receivers that have it
	rx := r.receive(ctx, agents, func(_ int, m hub.Inbound, at time.Time) {
		mu.Lock()
		if at.After(last[m.ID]) {
			last[m.ID] = at
		}
		got[m.ID]++
		mu.Unlock()
	})
	b := body(r.opts.Body)
	cpu := r.startCPU()
	st := r.loop(ctx, "broadcast", 1, r.opts.count(ScenarioBroadcast), func(ctx context.Context, _ int, _ int64) error {
		t0 := time.Now()
		res, err := senders[0].c.Send(ctx, hub.SendRequest{To: []string{"role:" + role}, Body: b})
		if err != nil {
			return err
		}
		mu.Lock()
		sentAt[res.Message.ID] = t0
		mu.Unlock()
		return nil
	})
	delivered, drain := rx.drain(st.ops * int64(k))
	cpuMetrics := map[string]float64{}
	cpu.record(cpuMetrics, delivered)
	var fan Histogram
	complete := 0
	mu.Lock()
	for id, t0 := range sentAt {
		if got[id] == k {
			fan.Record(last[id].Sub(t0))
			complete++
		}
	}
	mu.Unlock()
	res := r.result(ScenarioBroadcast, "broadcast", st, "sends/s")
	res.Metrics = map[string]float64{
		"fanout": float64(k), "deliveries": float64(delivered),
		"deliveries_per_s": float64(delivered) / (st.elapsed + drain).Seconds(),
	}
	for k, v := range cpuMetrics {
		res.Metrics[strings.Replace(k, "per_op", "per_delivery", 1)] = v
	}
	res.Note = joinNote(res.Note, "latency: the send, every delivery durable")
	r.add(res)
	all := Result{Scenario: ScenarioBroadcast, Target: r.label, Op: "broadcast.last", Ops: int64(complete),
		Seconds: (st.elapsed + drain).Seconds(), Latency: latencyOf(&fan),
		Note: fmt.Sprintf("latency: from the send until the last of %d waiters has the message", k)}
	if int64(complete) < st.ops {
		all.Note = joinNote(all.Note, fmt.Sprintf("%d of %d broadcasts not received by all within %s", st.ops-int64(complete), st.ops, drainTimeout))
	}
	r.add(all)
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func joinNote(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
