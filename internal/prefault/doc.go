// Package prefault maps the stretch of the Go heap a parley process is
// about to use in one system call, instead of one page fault per page.
//
// Import it for its side effect, from package main only:
//
//	import _ "github.com/parley-dev/parley/internal/prefault"
//
// Why: most parley processes are short. A command such as `parley inbox
// --json` runs for about 20 ms, and on a virtual machine whose page
// faults are costly (12 µs each on the 2-vCPU machine of BENCHMARKS.md,
// against well under 1 µs on bare metal) a few hundred first touches of
// fresh heap pages are a tenth of that. Populating the same pages with
// one madvise(MADV_POPULATE_WRITE) costs under 1 µs a page. It saved
// 2.2–2.7 ms of 22–24 ms (medians, alternated) per CLI command there.
//
// The work is done in init because by the time main runs most of the
// heap a short command uses has been touched, by the packages' own
// initialisation. The language initializes a package as soon as the
// packages it imports are, so this one, which imports only syscall and
// unsafe, runs ahead of nearly every other (`GODEBUG=inittrace=1`).
//
// What it costs: at most heapAhead of resident memory a process would
// otherwise not have touched, and nothing when the kernel lacks
// MADV_POPULATE_WRITE (Linux before 5.14) or the system is not Linux.
package prefault
