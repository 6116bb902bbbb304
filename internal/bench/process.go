package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/parley-dev/parley/internal/config"
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
// directory, lets it settle, and reads its resident memory.
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
	select {
	case <-time.After(idleSettle):
	case <-ctx.Done():
		return ctx.Err()
	}
	m, err := readProcMemory(p.cmd.Process.Pid)
	if err != nil {
		return fmt.Errorf("memory of the idle hub: %w", err)
	}
	r.add(Result{Scenario: ScenarioIdle, Target: r.label, Op: "idle", Ops: 1, Seconds: ready.Seconds(),
		Metrics: map[string]float64{"rss_mb": mb(m.RSS), "hwm_mb": mb(m.HWM), "start_ms": ms(ready)},
		Note:    "`parley serve`, empty data directory, after its first /healthz and " + idleSettle.String()})
	return nil
}
