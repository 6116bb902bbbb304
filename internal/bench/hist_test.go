package bench

import (
	"math"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 10_000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 5000 * time.Microsecond},
		{0.9, 9000 * time.Microsecond},
		{0.99, 9900 * time.Microsecond},
		{0.999, 9990 * time.Microsecond},
		{1, 10_000 * time.Microsecond},
	}
	for _, tt := range tests {
		got := h.Quantile(tt.q)
		if rel := math.Abs(float64(got-tt.want)) / float64(tt.want); rel > 0.01 {
			t.Errorf("Quantile(%v) = %v, want %v within 1%%", tt.q, got, tt.want)
		}
	}
	if got, want := h.Count(), uint64(10_000); got != want {
		t.Errorf("Count() = %d, want %d", got, want)
	}
	if got, want := h.Max(), 10*time.Millisecond; got != want {
		t.Errorf("Max() = %v, want %v", got, want)
	}
	if got, want := h.Mean(), 5000500*time.Nanosecond; got != want {
		t.Errorf("Mean() = %v, want %v", got, want)
	}
}

func TestHistogramMergeAndSmallValues(t *testing.T) {
	var a, b Histogram
	for i := range 100 {
		a.Record(time.Duration(i)) // exact below 128 ns
		b.Record(time.Duration(i + 100))
	}
	a.Merge(&b)
	a.Merge(nil)
	if got := a.Count(); got != 200 {
		t.Errorf("Count() after Merge = %d, want 200", got)
	}
	if got := a.Quantile(0.25); got != 49 {
		t.Errorf("Quantile(0.25) = %v, want 49ns", got)
	}
	if got := a.Quantile(0); got != 0 {
		t.Errorf("Quantile(0) = %v, want the minimum 0", got)
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Max() != 0 || empty.Mean() != 0 {
		t.Error("empty histogram: want zeros")
	}
}

func TestBucketsCoverEveryValue(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 1 << 20, 1<<62 + 12345, math.MaxInt64} {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of [0, %d)", v, i, histBuckets)
		}
		if mid := bucketValue(i); v >= subBuckets && math.Abs(float64(mid-v))/float64(v) > 0.01 {
			t.Errorf("bucketValue(bucketOf(%d)) = %d, more than 1%% off", v, mid)
		}
	}
}
