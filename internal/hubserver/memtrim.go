package hubserver

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Memory a hub no longer uses.
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
// them (BENCHMARKS.md, fix 21). Beside the Go heap, SQLite keeps the
// pages each connection read or wrote, up to its cache size, for as long
// as the connection is open: after a burst of sends an idle hub held
// 80 to 95 MB, where a new one holds 21 (fix 22).
//
// So the hub looks at the runtime's memory every trimInterval. A look is
// quiet when less than quietAlloc was allocated since the last, and idle
// when less than idleAlloc was (the ticks of parked waits and streams
// allocate a little). When the hub has grown by more than trimGrowth
// since it last gave memory back and the look is quiet, it collects and
// returns what is free (debug.FreeOSMemory: one collection, then a
// release of every free page). When it did anything at all and then has
// been idle for idleAfter, it empties the store's caches first. A busy
// hub is left to the runtime's own pacing, and a hub that stays idle is
// left alone.
const (
	trimInterval = 500 * time.Millisecond
	trimGrowth   = 32 << 20
	quietAlloc   = 4 << 20
	idleAlloc    = 256 << 10
	idleAfter    = 5 * time.Second
)

// Runtime metrics the trimmer reads.
const (
	metricAllocs   = "/gc/heap/allocs:bytes"
	metricTotal    = "/memory/classes/total:bytes"
	metricReleased = "/memory/classes/heap/released:bytes"
)

// memTrimmer decides when to give memory back; trim and idle do it.
type memTrimmer struct {
	samples []metrics.Sample
	// allocs is the bytes allocated in all, at the last look.
	allocs uint64
	// floor is the least the runtime held from the operating system
	// since it last gave memory back.
	floor uint64
	// idleLooks is the number of idle looks in a row; used is set by a
	// look that was not idle, and cleared when the idle hub gave its
	// caches back.
	idleLooks int
	used      bool
	// trim gives back the Go heap's free memory; idle, when set, empties
	// the caches of a hub gone idle, before trim.
	trim func()
	idle func()
}

func newMemTrimmer(trim, idle func()) *memTrimmer {
	t := &memTrimmer{
		samples: []metrics.Sample{{Name: metricAllocs}, {Name: metricTotal}, {Name: metricReleased}},
		trim:    trim,
		idle:    idle,
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
	delta := allocs - t.allocs
	t.allocs = allocs
	t.floor = min(t.floor, held)
	if delta < idleAlloc {
		t.idleLooks++
	} else {
		t.idleLooks, t.used = 0, true
	}
	idle := t.used && t.idle != nil && time.Duration(t.idleLooks)*trimInterval >= idleAfter
	grown := delta < quietAlloc && held >= t.floor+trimGrowth
	if !idle && !grown {
		return false, held, held
	}
	if idle {
		t.idle()
		t.used = false
	}
	t.trim()
	t.allocs, t.floor = t.read()
	return true, held, t.floor
}

// trimMemory looks every trimInterval until ctx ends; idle empties the
// store's caches. It logs each time it gave memory back, at debug level:
// it is the runtime's housekeeping, not an event of the hub's.
func trimMemory(ctx context.Context, log *slog.Logger, idle func()) {
	t := newMemTrimmer(debug.FreeOSMemory, idle)
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
