package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// preloadWorkers is how many sends fill an inbox at once: enough for
// group commit to batch them.
const preloadWorkers = 32

// inbox measures reads of one agent's inbox as it grows to each size of
// Options.Preload, all of its mail read already, as an agent with a long
// history has:
//   - inbox.empty: a read that finds nothing new (what `parley inbox`
//     does most of the time);
//   - inbox.new: a read that returns one new message and marks it read;
//   - inbox.since: a page of 50 from a random point of the history (a
//     client catching up).
func (r *runner) inbox(ctx context.Context) error {
	ags, err := r.register(ctx, "i", "", 2)
	if err != nil {
		return err
	}
	reader, sender := ags[0], ags[1]
	fillers, err := r.register(ctx, "p", "", 8)
	if err != nil {
		return err
	}
	b := body(r.opts.Body)
	count := r.opts.count(ScenarioInbox)
	have := 0
	for _, size := range r.opts.Preload {
		start := time.Now()
		if err := r.preload(ctx, fillers, reader, size-have, b); err != nil {
			return fmt.Errorf("preload %d messages: %w", size, err)
		}
		if err := r.readAll(ctx, reader); err != nil {
			return fmt.Errorf("mark preloaded mail read: %w", err)
		}
		fill := time.Since(start)
		have = size
		at := "@" + shortCount(size)
		note := fmt.Sprintf("inbox of %d read messages (filled in %.1fs)", size, fill.Seconds())

		st := r.loop(ctx, "inbox.empty"+at, 1, count, func(ctx context.Context, _ int, _ int64) error {
			res, err := reader.c.Inbox(ctx, hub.ReadOptions{})
			if err == nil && len(res.Messages) != 0 {
				err = fmt.Errorf("empty inbox returned %d messages", len(res.Messages))
			}
			return err
		})
		res := r.result(ScenarioInbox, "inbox.empty"+at, st, "reads/s")
		res.Note = joinNote(res.Note, note)
		res.Metrics = map[string]float64{"stored": float64(size)}
		r.add(res)

		st = r.loopTimed(ctx, "inbox.new"+at, 1, count, func(ctx context.Context, _ int, _ int64) (time.Duration, error) {
			if _, err := sender.c.Send(ctx, hub.SendRequest{To: []string{reader.name}, Body: b}); err != nil {
				return 0, err
			}
			t0 := time.Now()
			res, err := reader.c.Inbox(ctx, hub.ReadOptions{})
			if err == nil && len(res.Messages) != 1 {
				err = fmt.Errorf("got %d new messages, want 1", len(res.Messages))
			}
			return max(time.Since(t0), 1), err
		})
		have += int(st.ops)
		res = r.result(ScenarioInbox, "inbox.new"+at, st, "reads/s")
		res.Note = joinNote(res.Note, "one new message, marked read (a commit)")
		res.Metrics = map[string]float64{"stored": float64(size)}
		r.add(res)

		rng := rand.New(rand.NewPCG(uint64(size), 7))
		var rmu sync.Mutex
		st = r.loop(ctx, "inbox.since"+at, 1, count, func(ctx context.Context, _ int, _ int64) error {
			rmu.Lock()
			since := rng.Int64N(int64(max(size-50, 1)))
			rmu.Unlock()
			res, err := reader.c.Inbox(ctx, hub.ReadOptions{Since: since, HasSince: true, Limit: 50})
			if err == nil && len(res.Messages) == 0 {
				err = fmt.Errorf("page after %d is empty", since)
			}
			return err
		})
		res = r.result(ScenarioInbox, "inbox.since"+at, st, "reads/s")
		res.Note = joinNote(res.Note, "a page of 50 from a random point of the history")
		res.Metrics = map[string]float64{"stored": float64(size)}
		r.add(res)
	}
	return nil
}

// preload sends n messages from fillers to reader, through the service
// when the hub is in this process (the same Send, without HTTP), else
// over HTTP.
func (r *runner) preload(ctx context.Context, fillers []*agent, reader *agent, n int, b string) error {
	if n <= 0 {
		return nil
	}
	send := func(ctx context.Context, w int) error {
		_, err := fillers[w%len(fillers)].c.Send(ctx, hub.SendRequest{To: []string{reader.name}, Body: b})
		return err
	}
	if svc := r.t.svc; svc != nil {
		callers := make([]hub.Caller, len(fillers))
		for i, f := range fillers {
			c, err := svc.Authenticate(ctx, f.token)
			if err != nil {
				return err
			}
			callers[i] = c
		}
		send = func(ctx context.Context, w int) error {
			_, err := svc.Send(ctx, callers[w%len(callers)], hub.SendRequest{To: []string{reader.name}, Body: b})
			return err
		}
	}
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	phase := r.prog.start(fmt.Sprintf("preload %s", shortCount(n)), int64(n), 0)
	defer phase.done()
	for w := range preloadWorkers {
		wg.Go(func() {
			for ctx.Err() == nil && next.Add(1) <= int64(n) {
				if err := send(ctx, w); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				phase.add(1)
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// readAll reads the agent's inbox until nothing is unread.
func (r *runner) readAll(ctx context.Context, a *agent) error {
	read := func(ctx context.Context) (int, error) {
		res, err := a.c.Inbox(ctx, hub.ReadOptions{Limit: hub.MaxReadLimit})
		return len(res.Messages), err
	}
	if svc := r.t.svc; svc != nil {
		c, err := svc.Authenticate(ctx, a.token)
		if err != nil {
			return err
		}
		read = func(ctx context.Context) (int, error) {
			res, err := svc.Read(ctx, c, hub.ReadOptions{Limit: hub.MaxReadLimit})
			return len(res.Messages), err
		}
	}
	for {
		n, err := read(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
}

// shortCount writes 10000 as 10k and 1000000 as 1M.
func shortCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
