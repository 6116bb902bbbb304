package hubserver

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// connLimiter bounds the hub's open connections, so that idle or silent
// clients cannot exhaust its file descriptors. When a new connection
// would pass the bound, the oldest connection that is not serving a
// request (connected but silent, half-way through its headers, or idle
// between requests) is closed to make room; only when every connection
// is busy is the new one closed at once. Working clients therefore keep
// their connections while thousands of idle ones churn.
//
// Its listener wraps the TCP listener; http.Server reports connection
// states to its ConnState hook. It is safe for concurrent use.
type connLimiter struct {
	max int
	log *slog.Logger

	mu       sync.Mutex
	conns    map[net.Conn]*connEntry // keyed by the *limitConn Accept returned
	lastWarn time.Time
}

type connEntry struct {
	busy  bool      // serving a request
	since time.Time // accepted, or idle since
}

// connWarnEvery spaces the warnings of a limiter that keeps evicting.
const connWarnEvery = 10 * time.Second

func newConnLimiter(max int, log *slog.Logger) *connLimiter {
	return &connLimiter{max: max, log: log, conns: make(map[net.Conn]*connEntry)}
}

// listener wraps ln so that every connection it accepts is counted.
func (l *connLimiter) listener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, l: l}
}

type limitListener struct {
	net.Listener
	l *connLimiter
}

// Accept returns the next connection, making room for it, or closing it
// when every connection is busy.
func (ln *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitConn{Conn: c, l: ln.l}
		if ln.l.admit(lc) {
			return lc, nil
		}
		c.Close()
	}
}

// limitConn removes itself from the limiter when closed.
type limitConn struct {
	net.Conn
	l    *connLimiter
	once sync.Once
}

// Close removes the connection from the limiter, once, and closes it.
func (c *limitConn) Close() error {
	c.once.Do(func() { c.l.remove(c) })
	return c.Conn.Close()
}

// NetConn returns the connection underneath, as tls.Conn.NetConn does,
// for code that needs its file descriptor: a parked wait's watcher
// (package httpapi).
func (c *limitConn) NetConn() net.Conn { return c.Conn }

// CloseWrite half-closes a TCP connection, as http.Server does before
// closing one whose request body it did not read, so the client gets the
// answer rather than a reset.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// admit counts c, closing the oldest connection not serving a request
// when the limiter is full. It reports false when every connection is
// busy.
func (l *connLimiter) admit(c net.Conn) bool {
	now := time.Now()
	l.mu.Lock()
	var victim net.Conn
	if len(l.conns) >= l.max {
		var oldest time.Time
		for vc, e := range l.conns {
			if !e.busy && (victim == nil || e.since.Before(oldest)) {
				victim, oldest = vc, e.since
			}
		}
		if victim == nil {
			l.warnLocked(now, "connection limit reached and every connection is busy: refusing new connections")
			l.mu.Unlock()
			return false
		}
		delete(l.conns, victim)
		l.warnLocked(now, "connection limit reached: closing the oldest idle connections to make room")
	}
	l.conns[c] = &connEntry{since: now}
	l.mu.Unlock()
	if victim != nil {
		victim.Close()
	}
	return true
}

func (l *connLimiter) warnLocked(now time.Time, msg string) {
	if now.Sub(l.lastWarn) < connWarnEvery {
		return
	}
	l.lastWarn = now
	l.log.Warn(msg, "max_conns", l.max)
}

func (l *connLimiter) remove(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// connState is the http.Server ConnState hook: it tracks which
// connections are serving a request.
func (l *connLimiter) connState(c net.Conn, st http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.conns[c]
	if e == nil {
		return
	}
	switch st {
	case http.StateActive:
		e.busy = true
	case http.StateHijacked:
		// Still open, now held by a handler (a parked long poll): busy
		// until it closes the connection, which removes it.
		e.busy = true
	case http.StateIdle:
		e.busy, e.since = false, time.Now()
	case http.StateClosed:
		delete(l.conns, c)
	}
}

// count returns the connections open now.
func (l *connLimiter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}
