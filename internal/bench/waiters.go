package bench

import (
	"context"
	"fmt"
	"net/http/httptrace"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// Bounds of the waiters scenario.
const (
	// parkTimeout bounds how long parking every waiter may take.
	parkTimeout = 2 * time.Minute
	// settle is how long the run lets a hub in another process take the
	// last waits before it reads the hub's memory.
	settle = 2 * time.Second
	// fdReserve is kept free of waiter connections for everything else.
	fdReserve = 512
	// targetWaiters is the count the memory target is stated for.
	targetWaiters = 10_000
)

// memSample is a hub's memory at one moment.
type memSample struct {
	rss  int64 // resident set of the hub's process, bytes; 0 if unknown
	heap int64 // Go heap and stacks in use, bytes, for a hub in process
}

// memory samples the hub's memory: the resident set of its process when
// it runs on this machine, and for a hub in this process the Go heap and
// stacks in use after a collection.
func (r *runner) memory() memSample {
	var m memSample
	if r.t.kind == kindSelf {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		m.heap = int64(ms.HeapInuse + ms.StackInuse)
	}
	if r.t.pid > 0 {
		if pm, err := readProcMemory(r.t.pid); err == nil {
			m.rss = pm.RSS
		}
	}
	return m
}

// fitConnections bounds n connections of the bench's own, each held
// open at once, to what this process's limit of open files allows,
// keeping fdReserve and reserved more for everything else. The note
// says so when it had to.
func (r *runner) fitConnections(n int, what string, reserved int) (int, string) {
	lim := fdLimit()
	if lim <= 0 {
		return n, ""
	}
	per := 1
	if r.t.kind == kindSelf {
		per = 2 // this process holds both ends of each connection
	}
	fit := max((lim-fdReserve-reserved)/per, 0)
	if n <= fit {
		return n, ""
	}
	return fit, fmt.Sprintf("%d %s asked, %d fit this process's limit of %d open files", n, what, fit, lim)
}

// waiters parks Waiters agents in a wait, each on its own connection,
// measures the hub's memory before and after, then wakes them all with
// one send to a role they share and measures how long until each wait
// returns.
func (r *runner) waiters(ctx context.Context) error {
	var notes []string
	n, note := r.fitConnections(r.opts.Waiters, "waiters", 0)
	if note != "" {
		notes = append(notes, note)
	}
	if r.t.kind == kindSelf {
		notes = append(notes, "hub in this process: its memory includes the bench's own client connections (--spawn measures the hub alone)")
	}
	role := r.role("park")
	wakers, err := r.register(ctx, "k", "", 1)
	if err != nil {
		return err
	}
	agents, err := r.register(ctx, "t", role, n)
	if err != nil {
		return err
	}
	before := r.memory()

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wrote, failed atomic.Int64
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Add(1) }}
	tctx := httptrace.WithClientTrace(wctx, trace)
	returned := make([]time.Time, n)
	got := make([]int, n)
	var firstErr error
	var errOnce sync.Once
	timeout := min(r.opts.Duration+parkTimeout+time.Minute, hub.MaxWait)
	subs0 := 0
	if r.t.subscribers != nil {
		subs0 = r.t.subscribers()
	}
	var wg sync.WaitGroup
	start := time.Now()
	phase := r.prog.start("park waiters", int64(n), 0)
	for i, a := range agents {
		wg.Go(func() {
			res, err := a.c.Wait(tctx, hub.ReadOptions{}, timeout)
			returned[i] = time.Now()
			if err != nil {
				failed.Add(1)
				if wctx.Err() == nil {
					errOnce.Do(func() { firstErr = err })
				}
				return
			}
			got[i] = len(res.Messages)
		})
	}
	parked := func() int64 {
		if r.t.subscribers != nil {
			return int64(r.t.subscribers() - subs0)
		}
		return wrote.Load()
	}
	deadline := start.Add(parkTimeout)
	for parked()+failed.Load() < int64(n) && time.Now().Before(deadline) && ctx.Err() == nil {
		phase.n.Store(parked())
		time.Sleep(10 * time.Millisecond)
	}
	phase.done()
	if r.t.subscribers == nil {
		time.Sleep(settle)
	}
	parkTime := time.Since(start)
	nParked := parked()
	after := r.memory()

	park := Result{Scenario: ScenarioWaiters, Target: r.label, Op: "waiters.park", Ops: nParked,
		Errors: failed.Load(), Seconds: parkTime.Seconds(), Metrics: map[string]float64{"waiters": float64(n)}}
	if nParked > 0 {
		if before.rss > 0 && after.rss > 0 {
			per := float64(after.rss-before.rss) / float64(nParked)
			park.Metrics["rss_before_mb"] = mb(before.rss)
			park.Metrics["rss_after_mb"] = mb(after.rss)
			park.Metrics["rss_per_waiter_kb"] = per / 1024
			park.Metrics["rss_at_10000_mb"] = mb(before.rss + int64(per*targetWaiters))
		}
		if before.heap > 0 {
			per := float64(after.heap-before.heap) / float64(nParked)
			park.Metrics["heap_before_mb"] = mb(before.heap)
			park.Metrics["heap_after_mb"] = mb(after.heap)
			park.Metrics["heap_per_waiter_kb"] = per / 1024
		}
	}
	if before.rss == 0 {
		notes = append(notes, "hub memory unknown: give --data of a hub on this machine, or use --spawn")
	}
	if firstErr != nil {
		notes = append(notes, "first error: "+firstLine(firstErr.Error()))
	}
	for _, n := range notes {
		park.Note = joinNote(park.Note, n)
	}
	r.add(park)

	// Wake every waiter with one message to their role.
	t0 := time.Now()
	_, err = wakers[0].c.Send(ctx, hub.SendRequest{To: []string{"role:" + role}, Body: body(r.opts.Body)})
	sendTime := time.Since(t0)
	if err != nil {
		cancel()
		wg.Wait()
		return fmt.Errorf("wake the waiters: %w", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drainTimeout + time.Duration(n)*time.Millisecond):
		cancel()
		<-done
	case <-ctx.Done():
		<-done
	}
	var h Histogram
	woken := 0
	for i := range agents {
		if got[i] > 0 {
			h.Record(returned[i].Sub(t0))
			woken++
		}
	}
	wake := Result{Scenario: ScenarioWaiters, Target: r.label, Op: "waiters.wake", Ops: int64(woken),
		Seconds: time.Since(t0).Seconds(), Latency: latencyOf(&h),
		Metrics: map[string]float64{"send_ms": ms(sendTime)},
		Note:    fmt.Sprintf("one send to a role wakes %d parked waiters; latency until each wait returns", nParked)}
	if woken < int(nParked) {
		wake.Note = joinNote(wake.Note, fmt.Sprintf("%d waiters not woken", int(nParked)-woken))
	}
	r.add(wake)
	return nil
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
