package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
)

// registerWorkers bounds concurrent registrations and clean-ups.
const registerWorkers = 32

// maxErrors stops a scenario whose calls keep failing: past this many
// errors, when they are more than a tenth of the calls.
const maxErrors = 100

// runner runs scenarios against one target.
type runner struct {
	opts  *Options
	t     *target
	label string // Result.Target
	prog  *progress
	rep   *Report
	base  *client.Client // registers agents
	runID string

	mu     sync.Mutex
	agents []*agent // registered, for cleanup
}

// agent is a registered bench agent and a client acting as it. Every
// agent's client shares the base client's connections.
type agent struct {
	name  string
	token string
	c     *client.Client
}

func newRunner(opts *Options, t *target, label string, prog *progress, rep *Report) (*runner, error) {
	var id [3]byte
	_, _ = rand.Read(id[:])
	base, err := client.New(t.url, client.Options{AdminSecret: t.admin, JoinSecret: t.join, UserAgent: "parley-bench"})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return &runner{opts: opts, t: t, label: label, prog: prog, rep: rep, base: base, runID: hex.EncodeToString(id[:])}, nil
}

// runAll runs scenarios in order; a scenario that fails is reported and
// the next one runs.
func (r *runner) runAll(ctx context.Context, scenarios []string) error {
	var errs []error
	for _, s := range scenarios {
		if ctx.Err() != nil {
			break
		}
		if why := r.skip(s); why != "" {
			r.rep.Skipped = append(r.rep.Skipped, s+": "+why)
			continue
		}
		r.opts.Logger.Info("scenario", "name", s, "target", r.label)
		if err := r.run(ctx, s); err != nil {
			if ctx.Err() != nil {
				break
			}
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
			r.rep.Skipped = append(r.rep.Skipped, fmt.Sprintf("%s: failed: %v", s, err))
		}
	}
	return errors.Join(errs...)
}

// skip says why a scenario cannot run against this target, or "".
func (r *runner) skip(s string) string {
	switch s {
	case ScenarioCLI, ScenarioIdle:
		if r.opts.Exe == "" {
			return "needs the parley binary"
		}
		if s == ScenarioIdle && r.label != "hub" {
			return "runs once"
		}
	}
	return ""
}

func (r *runner) run(ctx context.Context, s string) error {
	switch s {
	case ScenarioSend:
		return r.send(ctx)
	case ScenarioWake:
		return r.wake(ctx)
	case ScenarioBroadcast:
		return r.broadcast(ctx)
	case ScenarioInbox:
		return r.inbox(ctx)
	case ScenarioChannel:
		return r.channel(ctx)
	case ScenarioCommand:
		return r.command(ctx)
	case ScenarioMixed:
		return r.mixed(ctx)
	case ScenarioWaiters:
		return r.waiters(ctx)
	case ScenarioFleet:
		return r.fleet(ctx)
	case ScenarioCLI:
		return r.cli(ctx)
	case ScenarioIdle:
		return r.idle(ctx)
	}
	return fmt.Errorf("unknown scenario %q", s)
}

// register registers n agents named bench-<run>-<prefix><i>, with role
// when not empty, concurrently.
func (r *runner) register(ctx context.Context, prefix, role string, n int) ([]*agent, error) {
	agents := make([]*agent, n)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	phase := r.prog.start("register "+prefix, int64(n), 0)
	for range min(n, registerWorkers) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				name := fmt.Sprintf("bench-%s-%s%d", r.runID, prefix, i)
				reg, err := r.base.Register(ctx, hub.RegisterRequest{Name: name, Role: role, Client: "bench"})
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("register %s: %w", name, err) })
					return
				}
				agents[i] = &agent{name: reg.Agent.Name, token: reg.Token, c: r.base.WithAgent(reg.Agent.Name, reg.Token)}
				phase.add(1)
			}
		})
	}
	wg.Wait()
	phase.done()
	r.mu.Lock()
	for _, a := range agents {
		if a != nil {
			r.agents = append(r.agents, a)
		}
	}
	r.mu.Unlock()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return agents, firstErr
}

// role returns a role name unique to this run.
func (r *runner) role(name string) string { return "bench-" + r.runID + "-" + name }

// cleanup deregisters the agents of the run from a hub that outlives
// it; a hub the run started goes away with its data.
func (r *runner) cleanup() error {
	if r.t.kind != kindRemote {
		return nil
	}
	r.mu.Lock()
	agents := r.agents
	r.agents = nil
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	phase := r.prog.start("clean up", int64(len(agents)), 0)
	for range min(len(agents), registerWorkers) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(agents) {
					return
				}
				if err := agents[i].c.Deregister(ctx); err != nil {
					failed.Add(1)
				}
				phase.add(1)
			}
		})
	}
	wg.Wait()
	phase.done()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("bench: %d bench agents could not be deregistered", n)
	}
	return nil
}

// loopStats is what a loop measured.
type loopStats struct {
	hist    Histogram
	ops     int64
	errs    int64
	elapsed time.Duration
	err     error // the first error
}

// loop runs workers goroutines that call op until count calls have
// started or the duration has passed, and records each call's latency.
// op gets the worker's number and the call's number (from 0). A call in
// flight when the time is up finishes and counts.
func (r *runner) loop(ctx context.Context, what string, workers int, count int64, op func(ctx context.Context, worker int, i int64) error) *loopStats {
	return r.loopTimed(ctx, what, workers, count, func(ctx context.Context, worker int, i int64) (time.Duration, error) {
		return 0, op(ctx, worker, i)
	})
}

// loopTimed is loop for operations that measure their own latency: op
// returns it, or 0 to have the whole call measured.
func (r *runner) loopTimed(ctx context.Context, what string, workers int, count int64, op func(ctx context.Context, worker int, i int64) (time.Duration, error)) *loopStats {
	var (
		next  atomic.Int64
		errs  atomic.Int64
		mu    sync.Mutex
		st    loopStats
		wg    sync.WaitGroup
		stop  atomic.Bool
		start = time.Now()
	)
	deadline := start.Add(r.opts.Duration)
	phase := r.prog.start(what, count, r.opts.Duration)
	for w := range workers {
		wg.Go(func() {
			var h Histogram
			var ops int64
			for !stop.Load() && ctx.Err() == nil && time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if i >= count {
					break
				}
				t0 := time.Now()
				d, err := op(ctx, w, i)
				if d == 0 {
					d = time.Since(t0)
				}
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					n := errs.Add(1)
					mu.Lock()
					if st.err == nil {
						st.err = err
					}
					mu.Unlock()
					if n > maxErrors && n*10 > next.Load() {
						stop.Store(true)
					}
					continue
				}
				h.Record(d)
				ops++
				phase.add(1)
			}
			mu.Lock()
			st.hist.Merge(&h)
			st.ops += ops
			mu.Unlock()
		})
	}
	wg.Wait()
	phase.done()
	st.elapsed = time.Since(start)
	st.errs = errs.Load()
	return &st
}

// result turns loop stats into a Result with a rate in unit.
func (r *runner) result(scenario, op string, st *loopStats, unit string) Result {
	res := Result{
		Scenario: scenario, Target: r.label, Op: op, Ops: st.ops, Errors: st.errs,
		Seconds: st.elapsed.Seconds(), Unit: unit, Latency: latencyOf(&st.hist),
	}
	if st.elapsed > 0 {
		res.Rate = float64(st.ops) / st.elapsed.Seconds()
	}
	if st.err != nil {
		res.Note = "first error: " + firstLine(st.err.Error())
	}
	return res
}

func (r *runner) add(res Result) { r.rep.Results = append(r.rep.Results, res) }

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// body returns a message body of n bytes.
func body(n int) string {
	const text = "Parley bench: please review the group commit change in internal/sqlite; tests pass locally. "
	var b strings.Builder
	b.Grow(n)
	for b.Len() < n {
		b.WriteString(text[:min(len(text), n-b.Len())])
	}
	return b.String()
}

// cpuMeter measures the CPU time the hub's process spends over a phase,
// when the hub runs on this machine.
type cpuMeter struct {
	pid   int
	self  bool // the hub runs in this process: the bench's own work counts too
	start time.Duration
	ok    bool
}

func (r *runner) startCPU() *cpuMeter {
	m := &cpuMeter{pid: r.t.pid, self: r.t.kind == kindSelf}
	if m.pid > 0 {
		if d, err := readProcCPU(m.pid); err == nil {
			m.start, m.ok = d, true
		}
	}
	return m
}

// record adds the CPU time per operation since start to metrics, as
// hub_cpu_us_per_op, or process_cpu_us_per_op when the hub shares this
// process with the bench.
func (m *cpuMeter) record(metrics map[string]float64, ops int64) {
	if !m.ok || ops <= 0 {
		return
	}
	d, err := readProcCPU(m.pid)
	if err != nil {
		return
	}
	name := "hub_cpu_us_per_op"
	if m.self {
		name = "process_cpu_us_per_op"
	}
	metrics[name] = float64((d - m.start).Microseconds()) / float64(ops)
}
