//go:build unix

package hubserver

import "syscall"

// fdLimit returns how many files this process may open, or 0 when
// unknown. Go raises the soft limit to the hard one at start.
func fdLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return int(min(rl.Cur, 1<<30))
}
