package hubserver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// dirLock is the exclusive lock of a data directory: an OS file lock on
// DataDir/lock, which the kernel releases when the process dies, so a
// crashed hub never leaves a stale lock behind.
type dirLock struct {
	path string
	mu   sync.Mutex
	f    *os.File // nil once released
}

// lockDir takes the lock of dir and writes this process's pid into it.
// If another hub holds it, the error matches ErrLocked and names its pid.
func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("hubserver: open lock %s: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, fmt.Errorf("%w: another hub holds %s (%s)", ErrLocked, dir, holder(path))
		}
		return nil, fmt.Errorf("hubserver: lock %s: %w", path, err)
	}
	if err := writePID(f); err != nil {
		unlockFile(f)
		f.Close()
		return nil, fmt.Errorf("hubserver: write lock %s: %w", path, err)
	}
	return &dirLock{path: path, f: f}, nil
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return err
	}
	return f.Sync()
}

// holder describes who holds a lock, from the pid in its file.
func holder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "pid unknown"
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return "pid unknown"
	}
	return "pid " + strconv.Itoa(pid)
}

// release unlocks; it is safe to call more than once.
func (l *dirLock) release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := unlockFile(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
