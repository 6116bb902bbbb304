package httpapi

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxBuckets bounds the token buckets kept in memory per table. Keys come
// from requests, so a client inventing credentials could otherwise grow
// the table without end.
const maxBuckets = 50_000

// buckets is a table of token buckets by key, bounded in size. It is
// safe for concurrent use.
type buckets struct {
	rate  rate.Limit
	burst int
	max   int
	// idle is how long a bucket takes to refill: one unused that long is
	// full, the same as a new one, and may be dropped.
	idle time.Duration

	mu        sync.Mutex
	m         map[string]*bucket
	overflow  *rate.Limiter // shared by new keys while the table is full
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newBuckets(perSecond float64, burst, maxKeys int) *buckets {
	idle := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &buckets{
		rate:     rate.Limit(perSecond),
		burst:    burst,
		max:      maxKeys,
		idle:     max(idle, time.Second),
		m:        make(map[string]*bucket),
		overflow: rate.NewLimiter(rate.Limit(perSecond), burst),
	}
}

// take spends one token of key's bucket. When the bucket is empty it
// reports false and how many seconds until a token is back.
func (b *buckets) take(key string) (waitSeconds float64, ok bool) {
	return b.takeN(key, 1)
}

// takeN is take for n tokens at once; n must not exceed the burst.
func (b *buckets) takeN(key string, n int) (waitSeconds float64, ok bool) {
	now := time.Now()
	b.mu.Lock()
	lim := b.limiterLocked(key, now)
	b.mu.Unlock()
	res := lim.ReserveN(now, n)
	if !res.OK() {
		return 1, false
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d.Seconds(), false
	}
	return 0, true
}

// limiterLocked returns key's limiter, creating it. When the table is
// full it drops buckets idle long enough to be full again, at most once
// a second (a sweep reads the whole table); while it stays full, new
// keys share one overflow bucket.
func (b *buckets) limiterLocked(key string, now time.Time) *rate.Limiter {
	if e := b.m[key]; e != nil {
		e.last = now
		return e.lim
	}
	if len(b.m) >= b.max && now.Sub(b.lastSweep) >= time.Second {
		b.lastSweep = now
		for k, e := range b.m {
			if now.Sub(e.last) >= b.idle {
				delete(b.m, k)
			}
		}
	}
	if len(b.m) >= b.max {
		return b.overflow
	}
	e := &bucket{lim: rate.NewLimiter(b.rate, b.burst), last: now}
	b.m[key] = e
	return e.lim
}
