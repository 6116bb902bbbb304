//go:build !unix

package bridge

import "os"

// tryLock is a no-op where flock is not available: two bridges of one
// user may then pick the same name, and the hub's token check still keeps
// other users out.
func tryLock(f *os.File) (bool, error) { return true, nil }
