package prefault

import (
	"errors"
	"syscall"
	"testing"
	"unsafe"
)

// resident reports, page by page, whether [start, start+n) is in memory.
func resident(t *testing.T, start, n uintptr) []bool {
	t.Helper()
	vec := make([]byte, (n+pageSize-1)/pageSize)
	if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, start, n, uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	in := make([]bool, len(vec))
	for i, v := range vec {
		in[i] = v&1 != 0
	}
	return in
}

// fresh maps pages of anonymous memory no one has touched yet.
func fresh(t *testing.T, pages int, prot int) []byte {
	t.Helper()
	b, err := syscall.Mmap(-1, 0, pages*int(pageSize), prot, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(b) })
	return b
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

var pageSize = uintptr(syscall.Getpagesize())

// skipWithoutPopulate skips a test on kernels that do not know
// MADV_POPULATE_WRITE (before Linux 5.14): they refuse it on any page.
func skipWithoutPopulate(t *testing.T) {
	t.Helper()
	b := fresh(t, 1, syscall.PROT_READ|syscall.PROT_WRITE)
	if err := populate(addr(b), pageSize); errors.Is(err, syscall.EINVAL) {
		t.Skip("the kernel has no MADV_POPULATE_WRITE (Linux 5.14)")
	}
}

func TestPopulateMakesEveryPageResident(t *testing.T) {
	skipWithoutPopulate(t)
	for _, pages := range []int{1, 16, 300} {
		b := fresh(t, pages, syscall.PROT_READ|syscall.PROT_WRITE)
		for i, in := range resident(t, addr(b), uintptr(len(b))) {
			if in {
				t.Fatalf("%d pages: page %d resident before populate", pages, i)
			}
		}
		if err := populate(addr(b), uintptr(len(b))); err != nil {
			t.Fatalf("%d pages: populate: %v", pages, err)
		}
		for i, in := range resident(t, addr(b), uintptr(len(b))) {
			if !in {
				t.Fatalf("%d pages: page %d not resident after populate", pages, i)
			}
		}
		b[len(b)-1] = 1 // still writable, and zero before
	}
}

// The heap's mapping ends somewhere past its frontier, in address space
// it has only reserved: populating across that edge must fail without
// harm to what lies before it.
func TestPopulateStopsAtAReservedRange(t *testing.T) {
	skipWithoutPopulate(t)
	b := fresh(t, 8, syscall.PROT_READ|syscall.PROT_WRITE)
	if err := syscall.Mprotect(b[4*pageSize:], syscall.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	err := populate(addr(b), uintptr(len(b)))
	if err == nil {
		t.Fatal("populate across a PROT_NONE range succeeded")
	}
	in := resident(t, addr(b), uintptr(len(b)))
	for i := range 4 {
		if !in[i] {
			t.Errorf("page %d, before the reserved range, not populated (err %v)", i, err)
		}
	}
	for i := 4; i < 8; i++ {
		if in[i] {
			t.Errorf("page %d, reserved, became resident", i)
		}
	}
}

func TestPopulateHeapLeavesTheHeapUsable(t *testing.T) {
	skipWithoutPopulate(t)
	// The frontier may lie close to the end of the heap's mapping, so an
	// error here is allowed; what is not is a heap that no longer works.
	_ = populateHeap(heapAhead)
	var keep [][]byte
	for i := range 64 {
		b := make([]byte, 32<<10)
		for j := range b {
			if b[j] != 0 {
				t.Fatalf("allocation %d byte %d is %d, want a zeroed heap", i, j, b[j])
			}
		}
		b[len(b)-1] = byte(i)
		keep = append(keep, b)
	}
	for i, b := range keep {
		if b[len(b)-1] != byte(i) {
			t.Fatalf("allocation %d lost its write", i)
		}
	}
}
