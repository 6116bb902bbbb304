package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations with a relative error under 1%, in a
// fixed amount of memory however many samples it holds: values below
// 128 ns are kept exactly, larger ones in 128 linear steps per power of
// two, as HdrHistogram does. The zero value is ready to use; it is not
// safe for concurrent use, so each worker keeps its own and Merge joins
// them.
type Histogram struct {
	counts []uint64
	n      uint64
	sum    float64 // nanoseconds
	min    int64
	max    int64
}

const (
	subBits    = 7
	subBuckets = 1 << subBits // 128
	// histBuckets covers every positive int64.
	histBuckets = subBuckets + (64-subBits)*subBuckets
)

func bucketOf(v int64) int {
	if v < subBuckets {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits - 1 // v>>e is in [128, 256)
	return subBuckets + e*subBuckets + int(uint64(v)>>uint(e)) - subBuckets
}

// bucketValue returns the middle of bucket i's range.
func bucketValue(i int) int64 {
	if i < subBuckets {
		return int64(i)
	}
	e := (i - subBuckets) / subBuckets
	m := int64((i-subBuckets)%subBuckets + subBuckets)
	lo := m << uint(e)
	return lo + (int64(1)<<uint(e))/2
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
		h.min = math.MaxInt64
	}
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
		h.min = math.MaxInt64
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Mean returns the mean, or 0 without samples.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Max returns the largest sample.
func (h *Histogram) Max() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.max)
}

// Quantile returns the duration below which the fraction q of samples
// fall (q in [0, 1]), or 0 without samples. It never exceeds Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return time.Duration(h.min)
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(bucketValue(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
