package hubserver

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Memory a burst leaves behind.
//
// When thousands of agents connect at once (a fleet starting, a hub
// restarting under its bridges), the hub holds thousands of requests in
// flight for a moment: net/http's buffers, the requests' goroutines and
// their stacks, each wait's first read of the store. Once the waits have
// parked, that memory is free, but the Go runtime keeps it from the
// operating system: the collector's goal stays where the burst left it
// until the next collection, which a quiet hub reaches only by the forced
// one every two minutes, and the background scavenger returns memory
// only down to that goal. 10,000 parked waits hold about 60 MB of live
// heap, yet the hub's resident set stayed at 185 to 341 MB after parking
// them (BENCHMARKS.md, fix 21).
//
// So the hub looks at the runtime's memory every trimInterval. When it has
// grown by more than trimGrowth since it last gave memory back, and it
// has gone quiet (it allocated less than quietAlloc since the last look),
// it collects and returns what is free at once (debug.FreeOSMemory: one
// collection, then a release of every free page). A busy hub allocates
// too much to be quiet and is left to the runtime's own pacing; a quiet
// hub that did not grow is left alone.
const (
	trimInterval = 500 * time.Millisecond
	trimGrowth   = 32 << 20
	quietAlloc   = 4 << 20
)

// Runtime metrics the trimmer reads.
const (
	metricAllocs   = "/gc/heap/allocs:bytes"
	metricTotal    = "/memory/classes/total:bytes"
	metricReleased = "/memory/classes/heap/released:bytes"
)

// memTrimmer decides when to give memory back; trim does it.
type memTrimmer struct {
	samples []metrics.Sample
	// allocs is the bytes allocated in all, at the last look.
	allocs uint64
	// floor is the least the runtime held from the operating system
	// since it last gave memory back.
	floor uint64
	trim  func()
}

func newMemTrimmer(trim func()) *memTrimmer {
	t := &memTrimmer{
		samples: []metrics.Sample{{Name: metricAllocs}, {Name: metricTotal}, {Name: metricReleased}},
		trim:    trim,
	}
	t.allocs, t.floor = t.read()
	return t
}

// read returns the bytes allocated in all and the bytes the runtime holds
// from the operating system (mapped and not released).
func (t *memTrimmer) read() (allocs, held uint64) {
	metrics.Read(t.samples)
	allocs = t.samples[0].Value.Uint64()
	total, released := t.samples[1].Value.Uint64(), t.samples[2].Value.Uint64()
	return allocs, total - min(released, total)
}

// look is one look at the runtime's memory. It reports whether it gave
// memory back, and then what the runtime held before and after.
func (t *memTrimmer) look() (trimmed bool, before, after uint64) {
	allocs, held := t.read()
	quiet := allocs-t.allocs < quietAlloc
	t.allocs = allocs
	t.floor = min(t.floor, held)
	if !quiet || held < t.floor+trimGrowth {
		return false, held, held
	}
	t.trim()
	_, t.floor = t.read()
	return true, held, t.floor
}

// trimMemory looks every trimInterval until ctx ends, and logs each
// time it gave memory back (at debug level: it is the runtime's
// housekeeping, not an event of the hub's).
func trimMemory(ctx context.Context, log *slog.Logger) {
	t := newMemTrimmer(debug.FreeOSMemory)
	tick := time.NewTicker(trimInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			start := time.Now()
			if trimmed, before, after := t.look(); trimmed {
				log.Debug("gave memory back to the system", "held_mb", before>>20, "now_mb", after>>20, "took", time.Since(start))
			}
		case <-ctx.Done():
			return
		}
	}
}
