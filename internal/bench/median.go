package bench

import "sort"

// medians merges the results of several runs: one Result per target and
// op, in the order of first appearance, each number the median of the
// runs that measured it (errors are summed). With one run it returns
// that run's results.
func medians(runs [][]Result) []Result {
	if len(runs) == 1 {
		return runs[0]
	}
	type key struct{ target, op string }
	var order []key
	byKey := map[key][]Result{}
	for _, run := range runs {
		for _, r := range run {
			k := key{r.Target, r.Op}
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], r)
		}
	}
	out := make([]Result, 0, len(order))
	for _, k := range order {
		rs := byKey[k]
		m := rs[0]
		m.Ops = int64(median(rs, func(r Result) float64 { return float64(r.Ops) }))
		m.Seconds = median(rs, func(r Result) float64 { return r.Seconds })
		m.Rate = median(rs, func(r Result) float64 { return r.Rate })
		m.Errors = 0
		for _, r := range rs {
			m.Errors += r.Errors
		}
		var lats []Result
		for _, r := range rs {
			if r.Latency != nil {
				lats = append(lats, r)
			}
		}
		if len(lats) > 0 {
			m.Latency = &Latency{
				P50:  median(lats, func(r Result) float64 { return r.Latency.P50 }),
				P90:  median(lats, func(r Result) float64 { return r.Latency.P90 }),
				P99:  median(lats, func(r Result) float64 { return r.Latency.P99 }),
				P999: median(lats, func(r Result) float64 { return r.Latency.P999 }),
				Max:  median(lats, func(r Result) float64 { return r.Latency.Max }),
				Mean: median(lats, func(r Result) float64 { return r.Latency.Mean }),
			}
		}
		if len(m.Metrics) > 0 {
			names := map[string]bool{}
			for _, r := range rs {
				for n := range r.Metrics {
					names[n] = true
				}
			}
			m.Metrics = make(map[string]float64, len(names))
			for n := range names {
				var with []Result
				for _, r := range rs {
					if _, ok := r.Metrics[n]; ok {
						with = append(with, r)
					}
				}
				m.Metrics[n] = median(with, func(r Result) float64 { return r.Metrics[n] })
			}
		}
		if m.Metrics == nil {
			m.Metrics = map[string]float64{}
		}
		m.Metrics["runs"] = float64(len(rs))
		out = append(out, m)
	}
	return out
}

// median returns the median of f over rs (the mean of the middle two
// for an even count).
func median(rs []Result, f func(Result) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = f(r)
	}
	sort.Float64s(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}
