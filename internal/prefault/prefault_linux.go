package prefault

import (
	"syscall"
	"unsafe"
)

// madvPopulateWrite is MADV_POPULATE_WRITE (Linux 5.14). It is spelled
// out rather than taken from golang.org/x/sys/unix because importing
// that package would make this one's init wait for it, and for the
// packages the language initializes first in that wait.
const madvPopulateWrite = 23

// frontierSize is larger than any object the compiler may place on the
// stack (64 KiB for new and make), so an allocation of it comes from the
// heap's page allocator, which hands out the lowest free pages: where the
// heap grows next.
const frontierSize = 80 << 10

// populateHeap populates n bytes of the heap from where it grows next.
func populateHeap(n uintptr) error {
	frontier := make([]byte, frontierSize)
	page := uintptr(syscall.Getpagesize())
	start := uintptr(unsafe.Pointer(&frontier[0])) &^ (page - 1)
	return populate(start, n)
}

// populate maps the pages of [start, start+n) writable and resident, as
// writing a byte to each would, in one system call. Pages already there
// are left as they are. It fails, having populated what it could, where
// the range leaves the heap's mapped part.
func populate(start, n uintptr) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, start, n, madvPopulateWrite); errno != 0 {
		return errno
	}
	return nil
}
