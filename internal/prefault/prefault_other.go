//go:build !linux

package prefault

// populateHeap does nothing: MADV_POPULATE_WRITE is Linux's.
func populateHeap(n uintptr) error { return nil }
