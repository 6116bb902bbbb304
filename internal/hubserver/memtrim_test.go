package hubserver

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// The trimmer gives back what a burst left, once the process is quiet,
// and only then: not while it allocates, not twice for one burst.
func TestTrimmerGivesBackWhatABurstLeft(t *testing.T) {
	// Free memory earlier tests left would take the burst without the
	// process holding more: start from none.
	debug.FreeOSMemory()
	trims := 0
	tr := newMemTrimmer(func() {
		trims++
		debug.FreeOSMemory()
	}, nil)
	burst := make([][]byte, 0, 64)
	for range 64 {
		burst = append(burst, make([]byte, 1<<20))
	}
	runtime.KeepAlive(burst)
	burst = nil

	if trimmed, _, _ := tr.look(); trimmed {
		t.Fatal("trimmed right after allocating 64 MiB: the process was not quiet")
	}
	trimmed, before, after := tr.look()
	if !trimmed {
		t.Fatalf("quiet, holding %d MiB over the floor of %d MiB, yet did not trim", (before-tr.floor)>>20, tr.floor>>20)
	}
	if after+trimGrowth > before {
		t.Errorf("the trim gave back %d MiB of the burst's 64", (int64(before)-int64(after))>>20)
	}
	if trimmed, _, _ := tr.look(); trimmed {
		t.Error("trimmed again with nothing new to give back")
	}
	if trims != 1 {
		t.Errorf("trimmed %d times, want 1", trims)
	}
}

// A hub that did something and then has been idle for idleAfter empties
// its caches once, not before, and not again until it does something.
func TestTrimmerEmptiesCachesOnceIdle(t *testing.T) {
	idles := 0
	tr := newMemTrimmer(func() {}, func() { idles++ })
	idleLooks := int(idleAfter / trimInterval)
	for i := range idleLooks {
		if tr.look(); idles != 0 {
			t.Fatalf("emptied the caches at idle look %d of a process that had done nothing", i+1)
		}
	}
	work := make([]byte, 2*idleAlloc)
	runtime.KeepAlive(work)
	tr.look() // not idle: it allocated
	for i := range idleLooks - 1 {
		if tr.look(); idles != 0 {
			t.Fatalf("emptied the caches after %d idle looks, want %d", i+1, idleLooks)
		}
	}
	if tr.look(); idles != 1 {
		t.Fatalf("after %d idle looks the caches were emptied %d times, want 1", idleLooks, idles)
	}
	for range 2 * idleLooks {
		tr.look()
	}
	if idles != 1 {
		t.Errorf("emptied the caches %d times while idle all along, want 1", idles)
	}
}
