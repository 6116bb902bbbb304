package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
)

// fleetKinds are the kinds a bridge that pushes mail into its session
// follows on its agent's event stream.
var fleetKinds = []string{hub.EventHubReset, hub.EventMessageSent, hub.EventCommandSent, hub.EventSignalEmitted}

// streamOpenTimeout bounds opening every stream of the fleet scenario.
const streamOpenTimeout = 2 * time.Minute

// fleet measures a hub that carries a fleet: Streams agents follow their
// event streams as bridges that push mail into sessions do, and the
// hub's memory per stream and its send throughput while they are open
// are measured. The streams' agents receive none of the mail sent, so
// what they cost is the hub's, not the clients'.
func (r *runner) fleet(ctx context.Context) error {
	var notes []string
	// The send that follows needs connections of its own.
	n, note := r.fitConnections(r.opts.Streams, "streams", 2*(r.opts.Senders+r.opts.Receivers))
	if note != "" {
		notes = append(notes, note)
	}
	agents, err := r.register(ctx, "fa", "", n)
	if err != nil {
		return err
	}
	before := r.memory()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var events, failed atomic.Int64
	opened, err := r.openStreams(sctx, agents, &wg, &events, &failed)
	if err != nil {
		return err
	}
	if r.t.subscribers == nil {
		time.Sleep(settle)
	}
	after := r.memory()
	streams := Result{Scenario: ScenarioFleet, Target: r.label, Op: "fleet.streams", Ops: opened, Errors: failed.Load(),
		Metrics: map[string]float64{"streams": float64(n)}}
	if opened > 0 && before.rss > 0 && after.rss > 0 {
		streams.Metrics["rss_before_mb"] = mb(before.rss)
		streams.Metrics["rss_after_mb"] = mb(after.rss)
		streams.Metrics["rss_per_stream_kb"] = float64(after.rss-before.rss) / float64(opened) / 1024
	}
	if opened > 0 && before.heap > 0 {
		streams.Metrics["heap_per_stream_kb"] = float64(after.heap-before.heap) / float64(opened) / 1024
	}
	for _, note := range notes {
		streams.Note = joinNote(streams.Note, note)
	}
	if r.t.kind == kindSelf {
		streams.Note = joinNote(streams.Note, "hub in this process: its memory includes the streams' client side (--spawn measures the hub alone)")
	}
	streams.Note = joinNote(streams.Note, "each agent follows its event stream as a bridge that pushes mail does")
	r.add(streams)

	res, err := r.sendRun(ctx, ScenarioFleet, "fleet.", "f")
	if err != nil {
		return err
	}
	res.Metrics["streams"] = float64(opened)
	res.Metrics["stream_events"] = float64(events.Load())
	res.Note = joinNote(res.Note, fmt.Sprintf("the send scenario with %d agents following their event streams", opened))
	r.add(res)
	return nil
}

// openStreams opens an event stream for each agent, a few at a time, and
// drains each on a goroutine of wg until ctx ends. It returns how many
// opened.
func (r *runner) openStreams(ctx context.Context, agents []*agent, wg *sync.WaitGroup, events, failed *atomic.Int64) (int64, error) {
	phase := r.prog.start("open streams", int64(len(agents)), 0)
	defer phase.done()
	var opened, next atomic.Int64
	var open sync.WaitGroup
	deadline := time.Now().Add(streamOpenTimeout)
	for range min(len(agents), registerWorkers) {
		open.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(agents)) || ctx.Err() != nil || time.Now().After(deadline) {
					return
				}
				st, err := agents[i].c.Events(ctx, client.EventOptions{Kinds: fleetKinds})
				if err != nil {
					failed.Add(1)
					continue
				}
				phase.n.Store(opened.Add(1))
				wg.Go(func() {
					defer st.Close()
					for {
						if _, err := st.Next(); err != nil {
							return
						}
						events.Add(1)
					}
				})
			}
		})
	}
	open.Wait()
	return opened.Load(), ctx.Err()
}
