package hubserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/httpapi"
)

// Defaults of the limits that keep slow, idle or hostile clients from
// exhausting a hub. See SECURITY.md.
const (
	// DefaultReadHeaderTimeout closes a connection whose request headers
	// do not arrive in time (slowloris).
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultIdleTimeout closes keep-alive connections idle this long.
	DefaultIdleTimeout = 120 * time.Second
	// DefaultMaxConns bounds open connections, below the process's file
	// limit less fdReserve when that is lower.
	DefaultMaxConns = 16384
	// fdReserve keeps file descriptors free for the store and the rest.
	fdReserve = 256
	// minMaxConns is the least default bound, whatever the file limit.
	minMaxConns = 64
)

// validateSecurity checks the TLS and limit fields of c.
func (c Config) validateSecurity() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("hubserver: TLSCert and TLSKey: give both (--tls-cert and --tls-key) or neither")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ReadHeaderTimeout", c.ReadHeaderTimeout}, {"IdleTimeout", c.IdleTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("hubserver: %s %s: must not be negative", d.name, d.v)
		}
	}
	if c.RateBurst < 0 {
		return fmt.Errorf("hubserver: RateBurst %d: must not be negative", c.RateBurst)
	}
	return nil
}

// tlsConfig loads the certificate and key, or returns nil without TLS.
func (c Config) tlsConfig() (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("hubserver: TLS certificate %s and key %s: %w", c.TLSCert, c.TLSKey, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// limits returns the HTTP API's limits from c.
func (c Config) limits() httpapi.Limits {
	lim := httpapi.DefaultLimits
	switch {
	case c.RateLimit < 0:
		lim.Rate, lim.Burst = 0, 0
	case c.RateLimit > 0:
		lim.Rate, lim.Burst = c.RateLimit, c.RateBurst
	case c.RateBurst > 0:
		lim.Burst = c.RateBurst
	}
	switch {
	case c.MaxWaiters < 0:
		lim.MaxWaiters = 0
	case c.MaxWaiters > 0:
		lim.MaxWaiters = c.MaxWaiters
	}
	return lim
}

// maxConns returns the connection bound: MaxConns, else DefaultMaxConns
// lowered to the file limit less a reserve; 0 when unbounded.
func (c Config) maxConns() int {
	switch {
	case c.MaxConns < 0:
		return 0
	case c.MaxConns > 0:
		return c.MaxConns
	}
	n := DefaultMaxConns
	if fd := fdLimit(); fd > 0 {
		n = min(n, max(fd-fdReserve, minMaxConns))
	}
	return n
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// secureFiles makes the data directory's files readable only by this
// user before the store opens: it creates the database file 0600 when
// it is new (SQLite gives its WAL and shared-memory files the database
// file's mode) and tightens any existing file that others could read.
func secureFiles(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, DatabaseFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("hubserver: create store: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("hubserver: create store: %w", err)
	}
	for _, name := range []string{
		DatabaseFile, DatabaseFile + "-wal", DatabaseFile + "-shm", DatabaseFile + "-journal",
		LockFile, AuditFile, config.AdminSecretFile, SessionsFile,
	} {
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("hubserver: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return fmt.Errorf("hubserver: make %s private: %w", path, err)
			}
		}
	}
	return nil
}
