package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

// Parley's performance targets, checked (never asserted) by every run.
const (
	targetSendRate     = 20_000 // durable direct messages per second
	targetWakeP50      = 0.3    // ms
	targetWakeP99      = 2.0    // ms
	targetWaitersMB    = 300    // hub memory with 10,000 waiters
	targetInboxGrowth  = 2.0    // p99 at the largest preload / at the smallest
	targetCLIMedian    = 15.0   // ms, `parley inbox --json`
	targetIdleRSSMB    = 40.0   // an idle `parley serve`
	hubLabel           = "hub"
	inboxOpEmpty       = "inbox.empty"
	inboxOpNew         = "inbox.new"
	inboxOpSince       = "inbox.since"
	waitersTargetLabel = "waiters.park"
)

// find returns the result of op on target, or nil.
func (rep *Report) find(target, op string) *Result {
	for i := range rep.Results {
		if rep.Results[i].Target == target && rep.Results[i].Op == op {
			return &rep.Results[i]
		}
	}
	return nil
}

// checks compares the hub's results with the targets.
func checks(rep *Report, opts *Options) []Check {
	var cs []Check
	for _, op := range []string{"send", "send.batch"} {
		if r := rep.find(hubLabel, op); r != nil && r.Ops > 0 {
			note := fmt.Sprintf("%d senders, %d receivers, sync=%s", opts.Senders, opts.Receivers, rep.Sync)
			if op == "send.batch" {
				note += fmt.Sprintf(", %d messages per request", opts.Batch)
			}
			cs = append(cs, Check{
				Target: fmt.Sprintf("%s >= %s msg/s", op, thousands(targetSendRate)),
				Got:    thousands(r.Rate) + " msg/s", Met: r.Rate >= targetSendRate, Note: note,
			})
		}
	}
	if r := rep.find(hubLabel, "wake"); r != nil && r.Latency != nil {
		cs = append(cs,
			Check{Target: fmt.Sprintf("wake p50 <= %.1f ms", targetWakeP50), Got: fmt.Sprintf("%.3f ms", r.Latency.P50), Met: r.Latency.P50 <= targetWakeP50},
			Check{Target: fmt.Sprintf("wake p99 <= %.0f ms", targetWakeP99), Got: fmt.Sprintf("%.3f ms", r.Latency.P99), Met: r.Latency.P99 <= targetWakeP99})
	}
	if r := rep.find(hubLabel, waitersTargetLabel); r != nil {
		if v, ok := r.Metrics["rss_at_10000_mb"]; ok {
			note := fmt.Sprintf("%.1f KiB per waiter", r.Metrics["rss_per_waiter_kb"])
			if r.Ops < targetWaiters {
				note += fmt.Sprintf(", extrapolated from %d waiters", r.Ops)
			}
			if rep.Hub == kindSelf {
				note += "; includes the bench's client side"
			}
			cs = append(cs, Check{Target: fmt.Sprintf("10,000 waiters: hub <= %d MB", targetWaitersMB),
				Got: fmt.Sprintf("%.0f MB", v), Met: v <= targetWaitersMB, Note: note})
		}
	}
	if len(opts.Preload) > 1 {
		lo, hi := opts.Preload[0], opts.Preload[len(opts.Preload)-1]
		for _, op := range []string{inboxOpEmpty, inboxOpNew, inboxOpSince} {
			a := rep.find(hubLabel, op+"@"+shortCount(lo))
			b := rep.find(hubLabel, op+"@"+shortCount(hi))
			if a == nil || b == nil || a.Latency == nil || b.Latency == nil || a.Latency.P99 == 0 {
				continue
			}
			ratio := b.Latency.P99 / a.Latency.P99
			cs = append(cs, Check{
				Target: fmt.Sprintf("%s p99 @%s <= %.0fx @%s", op, shortCount(hi), targetInboxGrowth, shortCount(lo)),
				Got:    fmt.Sprintf("%.2fx (%.3f / %.3f ms)", ratio, b.Latency.P99, a.Latency.P99), Met: ratio <= targetInboxGrowth,
			})
		}
	}
	if r := rep.find(hubLabel, "cli.inbox"); r != nil && r.Latency != nil {
		cs = append(cs, Check{Target: fmt.Sprintf("parley inbox --json median <= %.0f ms", targetCLIMedian),
			Got: fmt.Sprintf("%.1f ms", r.Latency.P50), Met: r.Latency.P50 <= targetCLIMedian})
	}
	if r := rep.find(hubLabel, "idle"); r != nil {
		v := r.Metrics["rss_mb"]
		cs = append(cs, Check{Target: fmt.Sprintf("idle parley serve <= %.0f MB resident", targetIdleRSSMB),
			Got: fmt.Sprintf("%.1f MB", v), Met: v <= targetIdleRSSMB})
		if u, ok := r.Metrics["used_rss_mb"]; ok {
			cs = append(cs, Check{Target: fmt.Sprintf("idle parley serve after a burst of sends <= %.0f MB resident", targetIdleRSSMB),
				Got: fmt.Sprintf("%.1f MB", u), Met: u <= targetIdleRSSMB})
		}
	}
	return cs
}

// Comparison is a ratio of the hub's number to a baseline's from the
// same run.
type Comparison struct {
	What     string  `json:"what"`
	Hub      float64 `json:"hub"`
	Baseline float64 `json:"baseline"`
	// Ratio is Hub / Baseline.
	Ratio float64 `json:"ratio"`
	Unit  string  `json:"unit"`
}

// Comparisons returns the ratios of the hub's results to the baselines
// measured in the same run.
func (rep *Report) Comparisons() []Comparison {
	var cs []Comparison
	add := func(what string, hub, base float64, unit string) {
		if hub > 0 && base > 0 {
			cs = append(cs, Comparison{What: what, Hub: hub, Baseline: base, Ratio: hub / base, Unit: unit})
		}
	}
	rate := func(r *Result) float64 {
		if r == nil {
			return 0
		}
		return r.Rate
	}
	p := func(r *Result, q func(*Latency) float64) float64 {
		if r == nil || r.Latency == nil {
			return 0
		}
		return q(r.Latency)
	}
	p50 := func(l *Latency) float64 { return l.P50 }
	p99 := func(l *Latency) float64 { return l.P99 }
	send, echo := rep.find(hubLabel, "send"), rep.find(BaselineHTTPEcho, "http-echo")
	add("send rate / http-echo rate", rate(send), rate(echo), "req/s")
	add("send p50 / http-echo p50", p(send, p50), p(echo, p50), "ms")
	add("send.batch msg/s / http-echo req/s", rate(rep.find(hubLabel, "send.batch")), rate(echo), "msg/s per req/s")
	wake, serial := rep.find(hubLabel, "wake"), rep.find(BaselineHTTPEcho, "http-echo.serial")
	rr, one := rep.find(BaselineNATS, "nats.reqreply"), rep.find(BaselineNATS, "nats.oneway")
	add("wake p50 / one http-echo request p50", p(wake, p50), p(serial, p50), "ms")
	add("wake p50 / nats request-reply p50", p(wake, p50), p(rr, p50), "ms")
	add("wake p99 / nats request-reply p99", p(wake, p99), p(rr, p99), "ms")
	add("wake p50 / nats one-way p50", p(wake, p50), p(one, p50), "ms")
	since := rep.find(hubLabel, "wake.since")
	add("wake.since p50 / nats request-reply p50", p(since, p50), p(rr, p50), "ms")
	add("wake.stream p50 / nats one-way p50", p(rep.find(hubLabel, "wake.stream"), p50), p(one, p50), "ms")
	for _, l := range rep.targets() {
		if l == hubLabel || !strings.HasPrefix(l, "hub sync=") {
			continue
		}
		mode := strings.TrimPrefix(l, "hub sync=")
		other := fmt.Sprintf("sync=%s / sync=%s", rep.Sync, mode)
		add("send rate "+other, rate(send), rate(rep.find(l, "send")), "msg/s")
		add("send.batch rate "+other, rate(rep.find(hubLabel, "send.batch")), rate(rep.find(l, "send.batch")), "msg/s")
		add("wake p50 "+other, p(wake, p50), p(rep.find(l, "wake"), p50), "ms")
		add("wake.stream p50 "+other, p(rep.find(hubLabel, "wake.stream"), p50), p(rep.find(l, "wake.stream"), p50), "ms")
		add("broadcast rate "+other, rate(rep.find(hubLabel, "broadcast")), rate(rep.find(l, "broadcast")), "sends/s")
		add("command p50 "+other, p(rep.find(hubLabel, "command"), p50), p(rep.find(l, "command"), p50), "ms")
	}
	return cs
}

// targets lists the Result targets in order of first appearance.
func (rep *Report) targets() []string {
	var ts []string
	for _, r := range rep.Results {
		if !slices.Contains(ts, r.Target) {
			ts = append(ts, r.Target)
		}
	}
	return ts
}

// WriteJSON writes the report, with its comparisons, as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	type out struct {
		*Report
		Comparisons []Comparison `json:"comparisons"`
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out{Report: rep, Comparisons: rep.Comparisons()})
}

// WriteText writes the summary tables: every result, the comparisons
// with baselines, and the targets.
func (rep *Report) WriteText(w io.Writer) error {
	hubDesc := rep.Hub
	if rep.Sync != "" {
		hubDesc += ", sync=" + rep.Sync
	}
	fmt.Fprintf(w, "parley bench: %s, %s, %d CPUs (GOMAXPROCS %d), hub %s\n\n", rep.Go, rep.OS, rep.CPUs, rep.GOMAXPROCS, hubDesc)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\top\tops\terrors\trate\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\t")
	for _, r := range rep.Results {
		rate := ""
		if r.Rate > 0 && r.Unit != "" {
			rate = thousands(r.Rate) + " " + r.Unit
		}
		lat := []string{"", "", "", "", ""}
		if l := r.Latency; l != nil {
			lat = []string{msStr(l.P50), msStr(l.P90), msStr(l.P99), msStr(l.P999), msStr(l.Max)}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Target, r.Op, thousands(float64(r.Ops)), errStr(r.Errors), rate, strings.Join(lat, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Metrics and notes, one line per result that has any.
	var extra []string
	for _, r := range rep.Results {
		var parts []string
		keys := make([]string, 0, len(r.Metrics))
		for k := range r.Metrics {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			parts = append(parts, k+"="+num(r.Metrics[k]))
		}
		if r.Note != "" {
			parts = append(parts, r.Note)
		}
		if len(parts) > 0 {
			extra = append(extra, fmt.Sprintf("  %s %s: %s", r.Target, r.Op, strings.Join(parts, ", ")))
		}
	}
	if len(extra) > 0 {
		fmt.Fprintln(w)
		for _, e := range extra {
			fmt.Fprintln(w, e)
		}
	}
	if cs := rep.Comparisons(); len(cs) > 0 {
		fmt.Fprintln(w, "\nagainst baselines of this run:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range cs {
			fmt.Fprintf(tw, "  %s\t%s / %s %s\t= %.2fx\n", c.What, num(c.Hub), num(c.Baseline), c.Unit, c.Ratio)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(rep.Checks) > 0 {
		fmt.Fprintln(w, "\ntargets:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range rep.Checks {
			mark := "MISSED"
			if c.Met {
				mark = "met"
			}
			line := fmt.Sprintf("  %s\t%s\t%s", c.Target, c.Got, mark)
			if c.Note != "" {
				line += "\t(" + c.Note + ")"
			}
			fmt.Fprintln(tw, line)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(rep.Skipped) > 0 {
		fmt.Fprintln(w, "\nnot run:")
		for _, s := range rep.Skipped {
			fmt.Fprintln(w, "  "+s)
		}
	}
	return nil
}

func msStr(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

func errStr(n int64) string {
	if n == 0 {
		return ""
	}
	return thousands(float64(n))
}

// num formats a metric compactly.
func num(v float64) string {
	switch {
	case v >= 10_000:
		return thousands(v)
	case v == float64(int64(v)):
		return fmt.Sprintf("%d", int64(v))
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}
