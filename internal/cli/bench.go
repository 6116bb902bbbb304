package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/bench"
	"github.com/parley-dev/parley/internal/client"
)

// benchFlags are the flags of parley bench.
type benchFlags struct {
	self       bool
	spawn      bool
	sync       string
	scenarios  []string
	baselines  []string
	duration   time.Duration
	count      int64
	runs       int
	senders    int
	receivers  int
	batch      int
	fanout     int
	waiters    int
	streams    int
	agents     int
	body       int
	preload    string
	cpuprofile string
}

func newBenchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a hub: throughput and latency of its calls",
		Long: `Drive a hub with bench agents and report throughput and latency
percentiles (p50, p90, p99, p99.9) per scenario, then compare them with
baselines measured in the same run and with Parley's targets.

The hub is the one at --url when it answers (bench agents register with the
admin secret read from --data, or the join secret --secret, and are
deregistered at the end), else one started in this process on 127.0.0.1:0
with a temporary data directory (--self). --spawn starts a real
"parley serve" child process instead, so that the hub's memory is its own.
Hubs started by bench run without rate limits; start a hub you bench at
--url with "parley serve --rate 0", or its limits are what you measure.

Scenarios (--scenario, repeatable; all by default):
  send       direct sends, --senders agents to --receivers agents; with
             --batch N, N messages per request (POST /messages/batch),
             reported as send.batch in messages per second
  wake       send-to-wake latency of an agent blocked in a wait (wake,
             wake.since), and of one following its event stream as a
             bridge that pushes mail does (wake.stream)
  broadcast  one send to a role of --fanout agents, each waiting
  inbox      inbox reads as the inbox grows to each --preload size
  channel    channel posts followed by readers, and page reads
  command    command round trip: send, claim, ack, result
  mixed      a mix of common calls by --agents agents
  waiters    hub memory per parked waiter (--waiters), then waking all
  fleet      --streams agents follow their event streams as bridges that
             push mail do: hub memory per stream, then the send scenario
             with them open
  cli        "parley inbox --json" as a whole process
  idle       resident memory of an idle "parley serve"

Baselines (--baseline, repeatable): http-echo (a plain net/http handler,
the floor for a request), nats (NATS core request-reply through
nats-server, the floor for delivery latency), sync (the store-bound
scenarios again with the other --sync mode).

Every scenario stops after --duration or --count operations, whichever
comes first. A progress line is drawn on stderr when it is a terminal;
--json prints the whole report as JSON.`,
		Example: `  parley bench --self --scenario send --scenario wake --baseline http-echo --baseline nats
  parley bench --spawn --scenario waiters --waiters 10000
  parley bench --spawn --scenario fleet --streams 5000
  parley bench --self --scenario inbox --preload 10000,1000000
  parley bench --self --scenario send --cpuprofile send.pprof`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.self, "self", false, "start a hub in this process (the default when none answers at --url)")
	fl.BoolVar(&f.spawn, "spawn", false, `start a "parley serve" child process as the hub`)
	fl.StringVar(&f.sync, "sync", "full", "durability of a hub the bench starts: full or normal")
	fl.StringSliceVar(&f.scenarios, "scenario", nil, "scenario to run, repeatable: "+strings.Join(bench.Scenarios, ", ")+" (default all)")
	fl.StringSliceVar(&f.baselines, "baseline", nil, "baseline to measure, repeatable: "+strings.Join(bench.Baselines, ", ")+", or all")
	fl.DurationVar(&f.duration, "duration", bench.DefaultDuration, "longest measured phase of each scenario")
	fl.Int64Var(&f.count, "count", 0, "most operations of each scenario (default: a per-scenario bound)")
	fl.IntVar(&f.runs, "runs", 1, "repeat the whole run (scenarios, then baselines) and report the median of each number")
	fl.IntVar(&f.senders, "senders", bench.DefaultSenders, "sending agents of the send scenario, and clients of http-echo")
	fl.IntVar(&f.receivers, "receivers", bench.DefaultReceivers, "receiving agents of the send scenario")
	fl.IntVar(&f.batch, "batch", 0, "messages per request of the send scenario, through the batch endpoint (0: one per request)")
	fl.IntVar(&f.fanout, "fanout", bench.DefaultFanout, "agents one broadcast reaches")
	fl.IntVar(&f.waiters, "waiters", bench.DefaultWaiters, "concurrent waiters of the waiters scenario")
	fl.IntVar(&f.streams, "streams", bench.DefaultStreams, "agents following their event streams in the fleet scenario")
	fl.IntVar(&f.agents, "agents", bench.DefaultAgents, "agents of the mixed workload")
	fl.IntVar(&f.body, "body", bench.DefaultBody, "message body size in bytes")
	fl.StringVar(&f.preload, "preload", strconv.Itoa(bench.DefaultPreload), "inbox sizes at which the inbox scenario reads, ascending, such as 10k,1M")
	fl.StringVar(&f.cpuprofile, "cpuprofile", "", "write a CPU profile of the scenarios to this file (hub in this process only)")
	return cmd
}

func runBench(cmd *cobra.Command, f benchFlags) error {
	g, err := globalsOf(cmd)
	if err != nil {
		return err
	}
	if f.self && f.spawn {
		return errors.New("--self and --spawn: choose one")
	}
	preload, err := parseSizes(f.preload)
	if err != nil {
		return fmt.Errorf("--preload: %w", err)
	}
	baselines := f.baselines
	if len(baselines) == 1 && baselines[0] == "all" {
		baselines = bench.Baselines
	}
	exe, err := os.Executable()
	if err != nil {
		exe = ""
	}
	opts := bench.Options{
		Spawn: f.spawn, Sync: f.sync, Scenarios: f.scenarios, Baselines: baselines,
		Duration: f.duration, Count: f.count, Runs: f.runs, Senders: f.senders, Receivers: f.receivers, Batch: f.batch,
		Fanout: f.fanout, Waiters: f.waiters, Streams: f.streams, Agents: f.agents, Body: f.body, Preload: preload,
		Exe: exe,
	}
	if f.duration <= 0 || f.count < 0 || f.runs < 1 || f.batch < 0 {
		return errors.New("--duration must be positive, --count and --batch not negative and --runs at least 1")
	}
	ctx := cmd.Context()
	if !f.self && !f.spawn {
		if hubAnswers(ctx, g.url) {
			opts.URL = g.url
			opts.AdminSecret = g.adminSecret()
			opts.JoinSecret = g.secret
			if opts.AdminSecret != "" {
				opts.HubPID = bench.HubPID(g.data)
			}
		} else if flagChanged(cmd, flagURL) {
			return fmt.Errorf("no hub answers at %s (leave --url out, or pass --self, to bench a hub started here)", g.url)
		}
	}
	stderr := cmd.ErrOrStderr()
	if fd, ok := stderr.(interface{ Fd() uintptr }); ok && isatty.IsTerminal(fd.Fd()) {
		opts.Progress = stderr
	}
	if f.cpuprofile != "" {
		pf, err := os.Create(f.cpuprofile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pf.Close()
		opts.CPUProfile = pf
	}
	switch {
	case opts.URL != "":
		fmt.Fprintf(stderr, "parley bench: driving the hub at %s\n", opts.URL)
	case f.spawn:
		fmt.Fprintln(stderr, `parley bench: starting "parley serve" on 127.0.0.1 with a temporary data directory`)
	default:
		fmt.Fprintln(stderr, "parley bench: starting a hub in this process on 127.0.0.1 with a temporary data directory")
	}
	rep, runErr := bench.Run(ctx, opts)
	if rep != nil {
		out := cmd.OutOrStdout()
		var err error
		if g.json {
			err = rep.WriteJSON(out)
		} else {
			err = rep.WriteText(out)
		}
		if err != nil && runErr == nil {
			runErr = err
		}
	}
	if runErr != nil {
		return fmt.Errorf("bench: %w", runErr)
	}
	return nil
}

// hubAnswers reports whether a hub answers /healthz at url within a
// second.
func hubAnswers(ctx context.Context, url string) bool {
	c, err := client.New(url, client.Options{})
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return c.Health(ctx) == nil
}

func flagChanged(cmd *cobra.Command, name string) bool {
	f := cmd.Flag(name)
	return f != nil && f.Changed
}

// parseSizes parses a list of counts such as "10k,1M" or "10000".
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(strings.ToLower(part))
		if part == "" {
			continue
		}
		mult := 1
		switch {
		case strings.HasSuffix(part, "k"):
			mult, part = 1000, strings.TrimSuffix(part, "k")
		case strings.HasSuffix(part, "m"):
			mult, part = 1_000_000, strings.TrimSuffix(part, "m")
		}
		n, err := strconv.Atoi(part)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive count (such as 10000, 10k or 1M)", part)
		}
		out = append(out, n*mult)
	}
	return out, nil
}
