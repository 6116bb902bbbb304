package bench

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// mixedOp is one kind of call of the mixed workload, with its share.
type mixedOp struct {
	name   string
	weight int
	call   func(ctx context.Context, m *mixedRun, w int, i int64) error
}

// mixedRun is the state of one mixed workload.
type mixedRun struct {
	agents  []*agent
	role    string
	body    string
	channel string
	post    json.RawMessage
}

// peer returns an agent other than agents[w], chosen by i.
func (m *mixedRun) peer(w int, i int64) *agent {
	n := len(m.agents)
	return m.agents[(w+1+int(i%int64(n-1)))%n]
}

// mixedOps is the mixed workload: mostly direct sends and inbox reads,
// as agents at work make them, with presence, history, role sends and
// channel posts around them. Weights are out of 100.
var mixedOps = []mixedOp{
	{"send", 35, func(ctx context.Context, m *mixedRun, w int, i int64) error {
		_, err := m.agents[w].c.Send(ctx, hub.SendRequest{To: []string{m.peer(w, i).name}, Body: m.body})
		return err
	}},
	{"inbox", 25, func(ctx context.Context, m *mixedRun, w int, _ int64) error {
		_, err := m.agents[w].c.Inbox(ctx, hub.ReadOptions{})
		return err
	}},
	{"send.role", 5, func(ctx context.Context, m *mixedRun, w int, _ int64) error {
		_, err := m.agents[w].c.Send(ctx, hub.SendRequest{To: []string{"role:" + m.role}, Body: m.body})
		return err
	}},
	{"status", 10, func(ctx context.Context, m *mixedRun, w int, _ int64) error {
		s, st := "benchmarking", "busy"
		_, err := m.agents[w].c.SetStatus(ctx, hub.StatusUpdate{Status: &s, State: &st})
		return err
	}},
	{"peers", 5, func(ctx context.Context, m *mixedRun, w int, _ int64) error {
		_, err := m.agents[w].c.Peers(ctx, m.role)
		return err
	}},
	{"history", 10, func(ctx context.Context, m *mixedRun, w int, i int64) error {
		_, err := m.agents[w].c.Conversation(ctx, m.peer(w, i).name, hub.Page{Limit: 20})
		return err
	}},
	{"channel.post", 5, func(ctx context.Context, m *mixedRun, w int, _ int64) error {
		_, err := m.agents[w].c.PostChannel(ctx, m.channel, m.post)
		return err
	}},
	{"channel.read", 5, func(ctx context.Context, m *mixedRun, w int, _ int64) error {
		_, err := m.agents[w].c.ReadChannel(ctx, m.channel, hub.ChannelReadOptions{Limit: 20})
		return err
	}},
}

// mixed runs the mixed workload: Agents agents, one worker each, each
// call drawn by the weights of mixedOps.
func (r *runner) mixed(ctx context.Context) error {
	n := max(r.opts.Agents, 2)
	role := r.role("mix")
	ags, err := r.register(ctx, "m", role, n)
	if err != nil {
		return err
	}
	post, _ := json.Marshal(map[string]string{"text": body(r.opts.Body)})
	m := &mixedRun{agents: ags, role: role, body: body(r.opts.Body), channel: "bench-mix-" + r.runID, post: post}
	var table []int // 100 slots, each an index into mixedOps
	for k, op := range mixedOps {
		for range op.weight {
			table = append(table, k)
		}
	}
	hists := make([][]Histogram, len(mixedOps))
	for k := range hists {
		hists[k] = make([]Histogram, n)
	}
	var mu sync.Mutex
	errs := make([]int64, len(mixedOps))
	cpu := r.startCPU()
	st := r.loopTimed(ctx, "mixed", n, r.opts.count(ScenarioMixed), func(ctx context.Context, w int, i int64) (time.Duration, error) {
		// Spread the kinds over workers and calls (a fixed-stride walk
		// of the table, so runs are comparable).
		k := table[(i*37+int64(w)*11)%int64(len(table))]
		t0 := time.Now()
		if err := mixedOps[k].call(ctx, m, w, i); err != nil {
			mu.Lock()
			errs[k]++
			mu.Unlock()
			return 0, err
		}
		d := time.Since(t0)
		hists[k][w].Record(d)
		return d, nil
	})
	res := r.result(ScenarioMixed, "mixed", st, "calls/s")
	res.Metrics = map[string]float64{"agents": float64(n)}
	cpu.record(res.Metrics, st.ops)
	r.add(res)
	for k, op := range mixedOps {
		var h Histogram
		for w := range hists[k] {
			h.Merge(&hists[k][w])
		}
		sub := Result{Scenario: ScenarioMixed, Target: r.label, Op: "mixed/" + op.name, Ops: int64(h.Count()),
			Errors: errs[k], Seconds: st.elapsed.Seconds(), Unit: "calls/s", Latency: latencyOf(&h)}
		if st.elapsed > 0 {
			sub.Rate = float64(h.Count()) / st.elapsed.Seconds()
		}
		r.add(sub)
	}
	return nil
}
