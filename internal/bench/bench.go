// Package bench is the load generator behind `parley bench`: it drives a
// hub over its HTTP API with the same Go client the command line and the
// MCP bridge use, and reports throughput and latency percentiles for each
// scenario, with baselines measured in the same run (a plain net/http
// echo handler, NATS core request-reply, the hub with the other SQLite
// synchronous mode) so that numbers taken on a noisy machine can still be
// compared.
//
// The hub is one the run starts itself, in process on 127.0.0.1:0 with a
// temporary data directory (the default), a real `parley serve` child process
// (Spawn, to measure the hub's own memory), or a running hub on this
// machine (URL). Every run is bounded in count and time, and talks only to
// loopback addresses.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/hubserver"
)

// Scenario names, in the order Run runs them when none are chosen.
const (
	ScenarioSend      = "send"      // direct-send throughput, N senders to M receivers
	ScenarioWake      = "wake"      // send-to-wake latency of a blocked waiter
	ScenarioBroadcast = "broadcast" // fan-out of one send to K agents
	ScenarioInbox     = "inbox"     // inbox reads as the store grows (Preload)
	ScenarioChannel   = "channel"   // channel post and read
	ScenarioCommand   = "command"   // command send, claim, ack, result
	ScenarioMixed     = "mixed"     // a mix of the common calls
	ScenarioWaiters   = "waiters"   // memory per parked waiter, and waking them all
	ScenarioFleet     = "fleet"     // memory per agent event stream, and sends with them open
	ScenarioCLI       = "cli"       // `parley inbox --json` as a whole process
	ScenarioIdle      = "idle"      // resident memory of an idle `parley serve`
)

// Scenarios lists every scenario in the order Run runs them.
var Scenarios = []string{
	ScenarioSend, ScenarioWake, ScenarioBroadcast, ScenarioInbox, ScenarioChannel,
	ScenarioCommand, ScenarioMixed, ScenarioWaiters, ScenarioFleet, ScenarioCLI, ScenarioIdle,
}

// Baseline names.
const (
	// BaselineHTTPEcho is a plain net/http handler that echoes the body:
	// the floor for the cost of one request.
	BaselineHTTPEcho = "http-echo"
	// BaselineNATS is NATS core (nats-server, no persistence): the floor
	// for delivery latency.
	BaselineNATS = "nats"
	// BaselineSync runs the hub scenarios again on an in-process hub
	// with the other SQLite synchronous mode (FULL against NORMAL).
	BaselineSync = "sync"
)

// Baselines lists every baseline.
var Baselines = []string{BaselineHTTPEcho, BaselineNATS, BaselineSync}

// Defaults for Options.
const (
	DefaultDuration  = 10 * time.Second
	DefaultSenders   = 128
	DefaultReceivers = 4
	DefaultFanout    = 100
	DefaultWaiters   = 10_000
	DefaultStreams   = 2_000
	DefaultAgents    = 16 // agents of the mixed workload
	DefaultBody      = 100
	DefaultPreload   = 10_000
	// DefaultNATSServer is where Debian installs nats-server.
	DefaultNATSServer = "/usr/sbin/nats-server"
)

// defaultCount is how many operations a scenario runs when Options.Count
// is zero; Duration usually ends it first.
var defaultCount = map[string]int64{
	ScenarioSend:      1_000_000,
	ScenarioWake:      5_000,
	ScenarioBroadcast: 5_000,
	ScenarioInbox:     2_000,
	ScenarioChannel:   1_000_000,
	ScenarioCommand:   5_000,
	ScenarioMixed:     1_000_000,
	ScenarioCLI:       50,
}

// Options configure a run. Zero fields take the Default values.
type Options struct {
	// URL is a running hub to drive. Empty means Self (or Spawn).
	URL string
	// AdminSecret or JoinSecret registers the bench agents on the hub at
	// URL; a hub the run starts itself needs neither.
	AdminSecret string
	JoinSecret  string
	// HubPID is the process of the hub at URL when it runs on this
	// machine, for its memory; 0 when unknown.
	HubPID int
	// Spawn starts the hub as a child process (Exe serve) instead of in
	// process, so its memory is its own.
	Spawn bool
	// Sync is the synchronous mode of a hub the run starts: "full"
	// (default) or "normal".
	Sync string

	// Scenarios to run, in the order of the Scenarios list; empty runs
	// every one that can run.
	Scenarios []string
	// Baselines to measure alongside.
	Baselines []string

	// Duration bounds each scenario's measured phase.
	Duration time.Duration
	// Count bounds each scenario's operations; 0 takes a per-scenario
	// default, large enough that Duration usually ends the run first.
	Count int64
	// Runs repeats the whole run (scenarios, then baselines) this many
	// times; the report holds the median of each number (1 by default).
	Runs int
	// Senders and Receivers of the send scenario.
	Senders   int
	Receivers int
	// Batch, when positive, makes each sender of the send scenario send
	// Batch messages per request (POST /messages/batch), reported as op
	// send.batch in messages per second; 0 sends one per request.
	Batch int
	// Fanout is the number of agents a broadcast reaches.
	Fanout int
	// Waiters is the number of concurrent waiters of the waiters scenario.
	Waiters int
	// Streams is the number of agents following their event streams in
	// the fleet scenario.
	Streams int
	// Agents is the number of agents of the mixed workload.
	Agents int
	// Body is the size of message bodies in bytes.
	Body int
	// Preload lists the inbox sizes, ascending, at which the inbox
	// scenario measures reads; the inbox is filled up to each in turn.
	Preload []int

	// Exe is the parley binary, for the cli and idle scenarios and for
	// Spawn; those scenarios are skipped when it is empty.
	Exe string
	// NATSServer is the nats-server binary of the nats baseline.
	NATSServer string
	// CPUProfile, when set, receives a CPU profile of the scenarios run
	// against an in-process hub (not of the baselines).
	CPUProfile io.Writer
	// Progress, when set, receives a progress line, redrawn in place
	// (for a terminal).
	Progress io.Writer
	// Logger receives notes about the run.
	Logger *slog.Logger
}

// Validate reports the first invalid field, by name.
func (o Options) Validate() error {
	for _, s := range o.Scenarios {
		if !slices.Contains(Scenarios, s) {
			return fmt.Errorf("bench: Scenarios: unknown scenario %q (want one of %s)", s, strings.Join(Scenarios, ", "))
		}
	}
	for _, b := range o.Baselines {
		if !slices.Contains(Baselines, b) {
			return fmt.Errorf("bench: Baselines: unknown baseline %q (want one of %s)", b, strings.Join(Baselines, ", "))
		}
	}
	switch strings.ToLower(o.Sync) {
	case "", "full", "normal":
	default:
		return fmt.Errorf("bench: Sync %q: must be full or normal", o.Sync)
	}
	if o.URL != "" {
		u, err := url.Parse(o.URL)
		if err != nil || u.Host == "" {
			return fmt.Errorf("bench: URL %q: want http://host:port", o.URL)
		}
		if !hubserver.IsLoopback(u.Hostname()) {
			return fmt.Errorf("bench: URL %q: a load generator drives only hubs on this machine, at a loopback address (127.0.0.1, ::1, localhost)", o.URL)
		}
	}
	if o.URL != "" && o.Spawn {
		return errors.New("bench: Spawn: a run drives either the hub at URL or one it starts")
	}
	if o.Spawn && o.Exe == "" {
		return errors.New("bench: Spawn: needs Exe, the parley binary")
	}
	if o.CPUProfile != nil && (o.URL != "" || o.Spawn) {
		return errors.New("bench: CPUProfile: only a hub in this process (not URL or Spawn) can be profiled")
	}
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"Duration", int64(o.Duration)}, {"Count", o.Count}, {"Runs", int64(o.Runs)}, {"Senders", int64(o.Senders)},
		{"Receivers", int64(o.Receivers)}, {"Fanout", int64(o.Fanout)}, {"Waiters", int64(o.Waiters)}, {"Streams", int64(o.Streams)},
		{"Agents", int64(o.Agents)}, {"Body", int64(o.Body)}, {"Batch", int64(o.Batch)},
	} {
		if n.v < 0 {
			return fmt.Errorf("bench: %s %d: must not be negative", n.name, n.v)
		}
	}
	if o.Batch > hub.MaxBatch {
		return fmt.Errorf("bench: Batch %d: at most %d messages per request", o.Batch, hub.MaxBatch)
	}
	if o.Body > 512<<10 {
		return fmt.Errorf("bench: Body %d: at most %d bytes", o.Body, 512<<10)
	}
	for i, p := range o.Preload {
		if p < 0 || i > 0 && p <= o.Preload[i-1] {
			return fmt.Errorf("bench: Preload: sizes must be positive and ascending, got %v", o.Preload)
		}
	}
	return nil
}

func (o *Options) setDefaults() {
	o.Sync = strings.ToLower(o.Sync)
	if o.Sync == "" {
		o.Sync = "full"
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Runs == 0 {
		o.Runs = 1
	}
	if o.Senders == 0 {
		o.Senders = DefaultSenders
	}
	if o.Receivers == 0 {
		o.Receivers = DefaultReceivers
	}
	if o.Fanout == 0 {
		o.Fanout = DefaultFanout
	}
	if o.Waiters == 0 {
		o.Waiters = DefaultWaiters
	}
	if o.Streams == 0 {
		o.Streams = DefaultStreams
	}
	if o.Agents == 0 {
		o.Agents = DefaultAgents
	}
	if o.Body == 0 {
		o.Body = DefaultBody
	}
	if len(o.Preload) == 0 {
		o.Preload = []int{DefaultPreload}
	}
	if o.NATSServer == "" {
		o.NATSServer = DefaultNATSServer
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// count returns the operation bound of a scenario.
func (o *Options) count(scenario string) int64 {
	if o.Count > 0 {
		return o.Count
	}
	if n, ok := defaultCount[scenario]; ok {
		return n
	}
	return 1_000_000
}

// Report is the outcome of a run.
type Report struct {
	Started    time.Time `json:"started"`
	Go         string    `json:"go"`
	OS         string    `json:"os"`
	CPUs       int       `json:"cpus"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	// Hub describes the hub driven: "self", "spawn" or the URL.
	Hub  string `json:"hub"`
	Sync string `json:"sync,omitempty"`
	// Options are the knobs in force.
	Options ReportOptions `json:"options"`
	// Results are the medians over Runs of each number.
	Results []Result `json:"results"`
	// Runs holds each run's results when there was more than one.
	Runs [][]Result `json:"runs,omitempty"`
	// Checks compare results with Parley's performance targets.
	Checks []Check `json:"checks"`
	// Skipped names scenarios that could not run here, with why.
	Skipped []string `json:"skipped,omitempty"`
}

// ReportOptions are the options of a run as reported.
type ReportOptions struct {
	Duration  string `json:"duration"`
	Count     int64  `json:"count,omitempty"`
	Runs      int    `json:"runs"`
	Senders   int    `json:"senders"`
	Receivers int    `json:"receivers"`
	Batch     int    `json:"batch,omitempty"`
	Fanout    int    `json:"fanout"`
	Waiters   int    `json:"waiters"`
	Streams   int    `json:"streams"`
	Agents    int    `json:"agents"`
	Body      int    `json:"body"`
	Preload   []int  `json:"preload"`
}

// Result is one measured operation of a scenario.
type Result struct {
	Scenario string `json:"scenario"`
	// Target is what was driven: "hub" for the hub under test, "hub
	// sync=normal" for the sync baseline, "http-echo", "nats".
	Target string `json:"target"`
	// Op names the measured operation, such as "send" or "wake".
	Op string `json:"op"`
	// Ops is the number of operations completed without error.
	Ops    int64 `json:"ops"`
	Errors int64 `json:"errors,omitempty"`
	// Seconds is the wall time of the measured phase.
	Seconds float64 `json:"seconds"`
	// Rate is Ops per second, in Unit.
	Rate float64 `json:"rate,omitempty"`
	Unit string  `json:"unit,omitempty"`
	// Latency of each operation, when measured.
	Latency *Latency `json:"latency,omitempty"`
	// Metrics are further numbers, named with their unit.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// Note says how to read the result, or the first error.
	Note string `json:"note,omitempty"`
}

// Latency holds percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

func latencyOf(h *Histogram) *Latency {
	if h.Count() == 0 {
		return nil
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return &Latency{
		P50: ms(h.Quantile(0.50)), P90: ms(h.Quantile(0.90)), P99: ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)), Max: ms(h.Max()), Mean: ms(h.Mean()),
	}
}

// Check compares a measurement with a target.
type Check struct {
	Target string `json:"target"` // what is asked, e.g. "send >= 20000 msg/s"
	Got    string `json:"got"`
	Met    bool   `json:"met"`
	Note   string `json:"note,omitempty"`
}

// Run runs the chosen scenarios and baselines and returns their report.
// It ends when every scenario has run, each bounded by Duration and
// Count, or when ctx ends; the report then holds what was measured.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	rep := &Report{
		Started: time.Now().UTC(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Sync: opts.Sync,
		Options: ReportOptions{
			Duration: opts.Duration.String(), Count: opts.Count, Runs: opts.Runs, Senders: opts.Senders,
			Receivers: opts.Receivers, Batch: opts.Batch, Fanout: opts.Fanout, Waiters: opts.Waiters, Streams: opts.Streams,
			Agents: opts.Agents, Body: opts.Body, Preload: opts.Preload,
		},
	}
	scenarios := opts.Scenarios
	if len(scenarios) == 0 {
		scenarios = Scenarios
	}
	// Run in the canonical order whatever order they were named in.
	scenarios = orderLike(Scenarios, scenarios)
	prog := newProgress(opts.Progress)
	defer prog.clear()

	var runs [][]Result
	var runErr error
	for i := range opts.Runs {
		if ctx.Err() != nil {
			break
		}
		one := &Report{}
		opts.Logger.Info("run", "n", i+1, "of", opts.Runs)
		err := runOnce(ctx, &opts, scenarios, prog, one)
		opts.CPUProfile = nil // a profile file holds one profile: the first run's
		rep.Hub, rep.Skipped = one.Hub, appendNew(rep.Skipped, one.Skipped...)
		if one.Hub != kindSelf && one.Hub != kindSpawn {
			rep.Sync = ""
		}
		runs = append(runs, one.Results)
		if err != nil {
			runErr = err
			break
		}
	}
	if len(runs) == 0 || len(runs) == 1 && len(runs[0]) == 0 && runErr != nil {
		return nil, runErr
	}
	rep.Results = medians(runs)
	if len(runs) > 1 {
		rep.Runs = runs
	}
	rep.Checks = checks(rep, &opts)
	if runErr == nil {
		runErr = ctx.Err()
	}
	return rep, runErr
}

// runOnce runs the scenarios against the hub, then the baselines, and
// adds their results to rep.
func runOnce(ctx context.Context, opts *Options, scenarios []string, prog *progress, rep *Report) error {
	tg, err := startTarget(ctx, opts, opts.Sync, opts.Spawn)
	if err != nil {
		return err
	}
	rep.Hub = tg.kind
	if tg.kind == kindRemote {
		rep.Hub = tg.url
	}
	r, err := newRunner(opts, tg, hubLabel, prog, rep)
	if err != nil {
		return errors.Join(err, tg.close())
	}
	profiling := opts.CPUProfile != nil && tg.kind == kindSelf
	if profiling {
		if err := pprof.StartCPUProfile(opts.CPUProfile); err != nil {
			tg.close()
			return fmt.Errorf("bench: cpu profile: %w", err)
		}
	}
	runErr := r.runAll(ctx, scenarios)
	if profiling {
		pprof.StopCPUProfile()
	}
	if err := r.cleanup(); err != nil && runErr == nil {
		runErr = err
	}
	if err := tg.close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("bench: stop hub: %w", err)
	}
	for _, b := range orderLike(Baselines, opts.Baselines) {
		if ctx.Err() != nil {
			break
		}
		if err := runBaseline(ctx, opts, b, scenarios, prog, rep); err != nil {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("baseline %s: %v", b, err))
			opts.Logger.Warn("baseline failed", "baseline", b, "err", err)
		}
	}
	return runErr
}

// appendNew appends the members of add that list does not hold yet.
func appendNew(list []string, add ...string) []string {
	for _, a := range add {
		if !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}

// orderLike returns the members of chosen in the order of all.
func orderLike(all, chosen []string) []string {
	var out []string
	for _, s := range all {
		if slices.Contains(chosen, s) {
			out = append(out, s)
		}
	}
	return out
}
