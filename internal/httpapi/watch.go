package httpapi

// Watching parked connections.
//
// A parked wait must notice its client leaving, to free its place under
// the waiter limit and show the agent offline, and a client that sends
// more; both make the connection readable. The net package tells only a
// goroutine blocked in Read, which would cost every parked wait a
// goroutine and its stack (4 KiB or more, most of a parked wait's
// memory). On Linux one epoll instance watches them all on a single
// goroutine (watch_linux.go); elsewhere, and for a connection that gives
// no file descriptor, each parked wait keeps a goroutine blocked in a
// one-byte Read (readWatcher).

import (
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// clientEvent is what a watched connection's client did.
type clientEvent int

const (
	// clientLeft: the client closed the connection, or its sending half.
	clientLeft clientEvent = iota + 1
	// clientSentMore: bytes arrived that the wait will not read.
	clientSentMore
)

// connWatcher tells parked waits when their connection becomes readable.
type connWatcher interface {
	// watch calls notify once, on another goroutine and without
	// blocking it, when the client leaves or sends more. After stop
	// returns, notify is not called again; stop must come before the
	// connection closes.
	watch(conn net.Conn, notify func(clientEvent)) (stop func())
	// close ends the watcher once nothing is watched.
	close()
}

// readWatcher watches each connection with a goroutine blocked in a
// one-byte Read; stop interrupts it with a read deadline.
type readWatcher struct{}

func (readWatcher) watch(conn net.Conn, notify func(clientEvent)) func() {
	var stopped atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b [1]byte
		_, err := conn.Read(b[:])
		switch {
		case stopped.Load():
		case err != nil:
			notify(clientLeft)
		default:
			notify(clientSentMore)
		}
	}()
	return func() {
		stopped.Store(true)
		_ = conn.SetReadDeadline(time.Unix(1, 0))
		<-done
		_ = conn.SetReadDeadline(time.Time{})
	}
}

func (readWatcher) close() {}

// rawConn returns the file descriptor behind conn, or nil when it has
// none. It looks through wrappers that say what they wrap, as tls.Conn
// does with NetConn.
func rawConn(conn net.Conn) syscall.RawConn {
	for {
		w, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		conn = w.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
