//go:build !linux

package httpapi

// newConnWatcher returns the portable watcher: a goroutine per parked
// wait (watch.go).
func newConnWatcher() connWatcher { return readWatcher{} }
