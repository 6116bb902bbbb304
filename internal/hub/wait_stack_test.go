//go:build !race

// The race detector enlarges stack frames; the sizes below are those of
// a normal build.

package hub_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// stackBytes returns the memory held by goroutine stacks after a
// collection, which frees the stacks of goroutines that ended.
func stackBytes() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// A parked wait must not keep the stack its store reads needed: the
// SQLite driver grows a goroutine's stack to 16 to 32 KiB, and a hub
// parks thousands of waits. Each check runs on a goroutine of its own,
// so a parked wait keeps only the stack of the wait itself.
//
// The collector shrinks idle stacks, which would hide a grown one here
// (this test's waits park a few frames deep, a request's much deeper), so
// the test runs itself again with shrinking turned off.
func TestParkedWaitKeepsASmallStack(t *testing.T) {
	if os.Getenv("PARLEY_TEST_STACK_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestParkedWaitKeepsASmallStack$", "-test.v")
		cmd.Env = append(os.Environ(), "PARLEY_TEST_STACK_CHILD=1", "GODEBUG=gcshrinkstackoff=1")
		out, err := cmd.CombinedOutput()
		t.Logf("with stack shrinking off:\n%s", out)
		if err != nil {
			t.Fatalf("the test failed with stack shrinking off: %v", err)
		}
		return
	}
	const n = 300
	e := newEnv(t, hub.Options{})
	callers := make([]hub.Caller, n)
	for i := range callers {
		callers[i] = e.register(fmt.Sprintf("w%d", i), "")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := stackBytes()
	var wg sync.WaitGroup
	for _, c := range callers {
		wg.Go(func() {
			// The first check reads an inbox (and stores nothing); the
			// wait then parks until cancelled.
			_, _ = e.svc.Wait(ctx, c, hub.ReadOptions{}, time.Minute)
		})
	}
	waitUntil(t, func() bool { return waiters(e) == n })
	after := stackBytes()
	cancel()
	wg.Wait()

	per := float64(int64(after)-int64(before)) / n
	t.Logf("goroutine stacks: %.1f KiB per parked wait", per/1024)
	// A goroutine that ran the driver itself holds at least 16 KiB.
	if per >= 12<<10 {
		t.Fatalf("a parked wait holds %.1f KiB of stack, want < 12 KiB: is a store read running on the waiting goroutine?", per/1024)
	}
}
