package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// command measures the round trip of a command: a sender sends it to an
// agent blocked in a command wait, which claims it and acknowledges it
// with a result, while the sender waits for that result.
func (r *runner) command(ctx context.Context) error {
	ags, err := r.register(ctx, "c", "", 2)
	if err != nil {
		return err
	}
	sender, worker := ags[0], ags[1]
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var workerErrs atomic.Int64
	wg.Go(func() {
		for wctx.Err() == nil {
			cmd, ok, err := worker.c.WaitCommand(wctx, pollWait)
			if err != nil {
				if wctx.Err() != nil {
					return
				}
				workerErrs.Add(1)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if !ok {
				continue
			}
			if _, err := worker.c.AckCommand(wctx, cmd.ID, hub.AckRequest{Result: json.RawMessage(`{"ok":true}`)}); err != nil && wctx.Err() == nil {
				workerErrs.Add(1)
			}
		}
	})
	st := r.loop(ctx, "command", 1, r.opts.count(ScenarioCommand), func(ctx context.Context, _ int, i int64) error {
		cmd, err := sender.c.SendCommand(ctx, hub.CommandRequest{
			Target: worker.name, Action: "bench", Params: json.RawMessage(`{"i":` + strconv.FormatInt(i, 10) + `}`),
		})
		if err != nil {
			return err
		}
		done, err := sender.c.Command(ctx, cmd.ID, wakeTimeout)
		if err != nil {
			return err
		}
		if done.Status != hub.CommandDone {
			return fmt.Errorf("command %d is %s, want done", cmd.ID, done.Status)
		}
		return nil
	})
	cancel()
	wg.Wait()
	res := r.result(ScenarioCommand, "command", st, "round trips/s")
	res.Note = joinNote(res.Note, "send, claim (the worker's wait), ack with a result, the sender's wait for it")
	if n := workerErrs.Load(); n > 0 {
		res.Note = joinNote(res.Note, fmt.Sprintf("%d worker errors", n))
	}
	r.add(res)
	return nil
}

// channel measures posts to a channel by Senders agents while
// Receivers agents follow it with waits, then random reads of a page of
// 50 posts.
func (r *runner) channel(ctx context.Context) error {
	posters, readers := min(r.opts.Senders, 16), r.opts.Receivers
	ags, err := r.register(ctx, "h", "", posters+readers)
	if err != nil {
		return err
	}
	name := "bench-" + r.runID
	data, _ := json.Marshal(map[string]string{"text": body(r.opts.Body)})

	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var received atomic.Int64
	for _, a := range ags[posters:] {
		wg.Go(func() {
			o := hub.ChannelReadOptions{HasSince: true, Limit: hub.MaxReadLimit}
			for rctx.Err() == nil {
				res, err := a.c.WaitChannel(rctx, name, o, pollWait)
				if err != nil {
					if rctx.Err() != nil {
						return
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				received.Add(int64(len(res.Messages)))
				o.Since = max(o.Since, res.Next)
			}
		})
	}
	st := r.loop(ctx, "channel.post", posters, r.opts.count(ScenarioChannel), func(ctx context.Context, w int, _ int64) error {
		_, err := ags[w].c.PostChannel(ctx, name, data)
		return err
	})
	start := time.Now()
	for received.Load() < st.ops*int64(readers) && time.Since(start) < drainTimeout {
		time.Sleep(5 * time.Millisecond)
	}
	drain := time.Since(start)
	cancel()
	wg.Wait()
	res := r.result(ScenarioChannel, "channel.post", st, "posts/s")
	res.Metrics = map[string]float64{
		"posters": float64(posters), "readers": float64(readers),
		"received_per_s": float64(received.Load()) / (st.elapsed + drain).Seconds(),
	}
	r.add(res)

	if st.ops == 0 {
		return nil
	}
	kept := st.ops
	rng := rand.New(rand.NewPCG(uint64(kept), 11))
	var rmu sync.Mutex
	st = r.loop(ctx, "channel.read", 1, r.opts.count(ScenarioInbox), func(ctx context.Context, _ int, _ int64) error {
		rmu.Lock()
		since := rng.Int64N(max(kept-50, 1))
		rmu.Unlock()
		_, err := ags[0].c.ReadChannel(ctx, name, hub.ChannelReadOptions{Since: since, HasSince: true, Limit: 50})
		return err
	})
	res = r.result(ScenarioChannel, "channel.read", st, "reads/s")
	res.Note = joinNote(res.Note, "a page of 50 posts from a random point")
	r.add(res)
	return nil
}
