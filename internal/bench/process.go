package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/hub"
)

// idleSettle is how long an idle hub runs before its memory is read.
const idleSettle = 2 * time.Second

// cli measures `parley inbox --json` as a user's shell runs it: a whole
// process, start to exit, for an agent with no mail, authenticated by a
// token stored as `parley register` stores it (in a temporary config
// directory).
func (r *runner) cli(ctx context.Context) error {
	ags, err := r.register(ctx, "cli", "", 1)
	if err != nil {
		return err
	}
	a := ags[0]
	dir, err := os.MkdirTemp("", "parley-bench-config-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ts, err := config.NewTokenStore(dir, r.t.url)
	if err != nil {
		return err
	}
	if err := ts.Save(a.name, a.token); err != nil {
		return err
	}
	env := append(os.Environ(), config.EnvConfig+"="+dir, config.EnvURL+"="+r.t.url, config.EnvAgent+"="+a.name)
	st := r.loop(ctx, "cli inbox", 1, r.opts.count(ScenarioCLI), func(ctx context.Context, _ int, _ int64) error {
		cmd := exec.CommandContext(ctx, r.opts.Exe, "inbox", "--json")
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("parley inbox --json: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
		}
		var res struct {
			Messages []json.RawMessage `json:"messages"`
		}
		if err := json.Unmarshal(out, &res); err != nil {
			return fmt.Errorf("parley inbox --json printed %q: %w", firstLine(string(out)), err)
		}
		if len(res.Messages) != 0 {
			return fmt.Errorf("parley inbox --json: %d messages, want none", len(res.Messages))
		}
		return nil
	})
	res := r.result(ScenarioCLI, "cli.inbox", st, "runs/s")
	res.Note = joinNote(res.Note, "`parley inbox --json`, whole process, no mail")
	r.add(res)
	return nil
}

// idle starts a `parley serve` process of its own with an empty data
// directory, lets it settle, and reads its resident memory; then it
// drives a burst of sends through it, lets it idle again, and reads its
// memory once more: an idle hub is one that has done something too.
func (r *runner) idle(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "parley-bench-idle-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	p, err := startServe(ctx, r.opts.Exe, dir, r.opts.Sync)
	if err != nil {
		return err
	}
	defer p.stop()
	ready := time.Since(start)
	m, err := memoryAfter(ctx, p, idleSettle)
	if err != nil {
		return fmt.Errorf("memory of the idle hub: %w", err)
	}
	sent, err := useHub(ctx, p.url, dir)
	if err != nil {
		return fmt.Errorf("burst of sends to the idle hub: %w", err)
	}
	used, err := memoryAfter(ctx, p, usedSettle)
	if err != nil {
		return fmt.Errorf("memory of the idle hub after use: %w", err)
	}
	r.add(Result{Scenario: ScenarioIdle, Target: r.label, Op: "idle", Ops: 1, Seconds: ready.Seconds(),
		Metrics: map[string]float64{"rss_mb": mb(m.RSS), "hwm_mb": mb(m.HWM), "start_ms": ms(ready),
			"used_rss_mb": mb(used.RSS), "used_hwm_mb": mb(used.HWM), "used_sent": float64(sent)},
		Note: fmt.Sprintf("`parley serve`, empty data directory, after its first /healthz and %s; used_*: after %d sends from %d senders, then %s idle",
			idleSettle, sent, useSenders, usedSettle)})
	return nil
}

// memoryAfter lets p idle for d, then reads its memory.
func memoryAfter(ctx context.Context, p *serveProcess, d time.Duration) (procMemory, error) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return procMemory{}, ctx.Err()
	}
	return readProcMemory(p.cmd.Process.Pid)
}

// The burst the idle scenario drives through its hub before it measures
// it again: useSenders agents sending to one for useFor, then usedSettle
// of nothing, long enough for the hub to give back what it no longer
// uses (hubserver's memtrim.go gives its caches back after 5 s idle).
const (
	useSenders = 32
	useFor     = 2 * time.Second
	usedSettle = 8 * time.Second
)

// useHub registers agents on the hub at url, whose data directory is
// dir, and sends as fast as useSenders of them can for useFor. It
// returns how many messages were sent.
func useHub(ctx context.Context, url, dir string) (int64, error) {
	secret, err := config.ReadSecret(config.AdminSecretPath(dir))
	if err != nil {
		return 0, err
	}
	admin, err := client.New(url, client.Options{AdminSecret: secret, UserAgent: "parley-bench"})
	if err != nil {
		return 0, err
	}
	regs := make([]hub.Registration, useSenders+1)
	for i := range regs {
		if regs[i], err = admin.Register(ctx, hub.RegisterRequest{Name: fmt.Sprintf("idle-%d", i), Client: "bench"}); err != nil {
			return 0, err
		}
	}
	to := regs[0].Agent.Name
	uctx, cancel := context.WithTimeout(ctx, useFor)
	defer cancel()
	var sent atomic.Int64
	g, gctx := errgroup.WithContext(uctx)
	for _, reg := range regs[1:] {
		c := admin.WithAgent(reg.Agent.Name, reg.Token)
		g.Go(func() error {
			for gctx.Err() == nil {
				_, err := c.Send(gctx, hub.SendRequest{To: []string{to}, Body: body(100)})
				if err != nil && gctx.Err() == nil {
					return err
				}
				if err == nil {
					sent.Add(1)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return sent.Load(), err
	}
	return sent.Load(), ctx.Err()
}
