package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/bench"
)

// TestRunTiny runs every scenario that needs no parley binary, a few
// operations each, against a hub in this process, with the http-echo
// baseline (and nats when nats-server is installed), and checks that
// the summary holds positive numbers for each.
func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub and drives it")
	}
	opts := bench.Options{
		Sync: "normal",
		Scenarios: []string{
			bench.ScenarioSend, bench.ScenarioWake, bench.ScenarioBroadcast, bench.ScenarioInbox,
			bench.ScenarioChannel, bench.ScenarioCommand, bench.ScenarioMixed, bench.ScenarioWaiters,
			bench.ScenarioFleet,
		},
		Baselines: []string{bench.BaselineHTTPEcho},
		Duration:  5 * time.Second, Count: 20,
		Senders: 2, Receivers: 2, Fanout: 3, Waiters: 10, Streams: 12, Agents: 3, Body: 64,
		Preload: []int{30, 60},
	}
	if _, err := os.Stat(bench.DefaultNATSServer); err == nil {
		opts.Baselines = append(opts.Baselines, bench.BaselineNATS)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := bench.Run(ctx, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(rep.Skipped) > 0 {
		t.Errorf("skipped: %v", rep.Skipped)
	}
	want := []struct{ target, op string }{
		{"hub", "send"}, {"hub", "wake"}, {"hub", "wake.since"}, {"hub", "wake.stream"}, {"hub", "broadcast"}, {"hub", "broadcast.last"},
		{"hub", "inbox.empty@30"}, {"hub", "inbox.new@60"}, {"hub", "inbox.since@60"},
		{"hub", "channel.post"}, {"hub", "channel.read"}, {"hub", "command"}, {"hub", "mixed"},
		{"hub", "waiters.park"}, {"hub", "waiters.wake"}, {"hub", "fleet.streams"}, {"hub", "fleet.send"},
		{"http-echo", "http-echo"},
	}
	if strings.Contains(strings.Join(opts.Baselines, ","), bench.BaselineNATS) {
		want = append(want, struct{ target, op string }{"nats", "nats.reqreply"})
	}
	for _, w := range want {
		r := find(rep, w.target, w.op)
		if r == nil {
			t.Errorf("no result for %s %s", w.target, w.op)
			continue
		}
		if r.Ops <= 0 || r.Errors != 0 {
			t.Errorf("%s %s: ops %d errors %d (%s), want ops > 0 and no errors", w.target, w.op, r.Ops, r.Errors, r.Note)
		}
		if w.op != "waiters.park" && w.op != "fleet.streams" && (r.Latency == nil || r.Latency.P50 <= 0 || r.Latency.P99 < r.Latency.P50) {
			t.Errorf("%s %s: latency %+v, want 0 < p50 <= p99", w.target, w.op, r.Latency)
		}
	}
	if r := find(rep, "hub", "send"); r != nil && (r.Rate <= 0 || r.Metrics["delivered"] != float64(r.Ops)) {
		t.Errorf("send: rate %v, delivered %v of %d", r.Rate, r.Metrics["delivered"], r.Ops)
	}
	if r := find(rep, "hub", "waiters.park"); r != nil && r.Metrics["heap_per_waiter_kb"] == 0 {
		t.Errorf("waiters.park: no memory per waiter in %v", r.Metrics)
	}
	if r := find(rep, "hub", "waiters.wake"); r != nil && r.Ops != 10 {
		t.Errorf("waiters.wake: %d woken, want 10", r.Ops)
	}
	if r := find(rep, "hub", "fleet.streams"); r != nil && (r.Ops != 12 || r.Metrics["heap_per_stream_kb"] == 0) {
		t.Errorf("fleet.streams: %d streams, metrics %v; want 12 and the memory per stream", r.Ops, r.Metrics)
	}
	if r := find(rep, "hub", "fleet.send"); r != nil && (r.Metrics["streams"] != 12 || r.Metrics["delivered"] != float64(r.Ops)) {
		t.Errorf("fleet.send: metrics %v, want 12 streams and every message delivered", r.Metrics)
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"p99 ms", "inbox.new@60", "targets:", "send >= 20,000 msg/s", "against baselines"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("summary lacks %q:\n%s", s, text.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Results     []bench.Result     `json:"results"`
		Comparisons []bench.Comparison `json:"comparisons"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON report: %v", err)
	}
	if len(back.Results) != len(rep.Results) || len(back.Comparisons) == 0 {
		t.Errorf("JSON report: %d results, %d comparisons; want %d and some", len(back.Results), len(back.Comparisons), len(rep.Results))
	}
}

// TestRunSendBatch runs the send scenario with batches: it counts
// messages, not requests, and every message arrives.
func TestRunSendBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub and drives it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := bench.Run(ctx, bench.Options{
		Sync: "normal", Scenarios: []string{bench.ScenarioSend}, Duration: 5 * time.Second, Count: 40,
		Senders: 2, Receivers: 3, Body: 64, Batch: 7,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	r := find(rep, "hub", "send.batch")
	if r == nil || find(rep, "hub", "send") != nil {
		t.Fatalf("results %+v, want send.batch only", rep.Results)
	}
	// 40 / 7 = 5 requests of 7 messages.
	if r.Ops != 35 || r.Errors != 0 || r.Metrics["delivered"] != 35 || r.Metrics["batch"] != 7 || r.Rate <= 0 {
		t.Errorf("send.batch: ops %d errors %d metrics %v (%s)", r.Ops, r.Errors, r.Metrics, r.Note)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "send.batch >= 20,000 msg/s") {
		t.Errorf("summary lacks the batch check:\n%s", text.String())
	}
}

func find(rep *bench.Report, target, op string) *bench.Result {
	for i := range rep.Results {
		if rep.Results[i].Target == target && rep.Results[i].Op == op {
			return &rep.Results[i]
		}
	}
	return nil
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts bench.Options
		want string
	}{
		{"unknown scenario", bench.Options{Scenarios: []string{"nope"}}, "unknown scenario"},
		{"unknown baseline", bench.Options{Baselines: []string{"nope"}}, "unknown baseline"},
		{"bad sync", bench.Options{Sync: "off"}, "Sync"},
		{"negative count", bench.Options{Count: -1}, "Count"},
		{"negative batch", bench.Options{Batch: -1}, "Batch"},
		{"batch too large", bench.Options{Batch: 501}, "Batch"},
		{"preload not ascending", bench.Options{Preload: []int{100, 10}}, "ascending"},
		{"profile of a remote hub", bench.Options{URL: "http://127.0.0.1:1", CPUProfile: &bytes.Buffer{}}, "CPUProfile"},
		{"spawn without binary", bench.Options{Spawn: true}, "Exe"},
		{"hub on another machine", bench.Options{URL: "http://192.0.2.1:7878"}, "loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error naming %q", err, tt.want)
			}
		})
	}
	if err := (bench.Options{}).Validate(); err != nil {
		t.Errorf("zero Options: %v", err)
	}
}
