package httpapi

import (
	"errors"
	"net"
	"sync"

	"golang.org/x/sys/unix"
)

// newConnWatcher returns an epoll watcher; it starts its goroutine when
// it first watches.
func newConnWatcher() connWatcher {
	return &epollWatcher{byID: make(map[uint64]func(clientEvent))}
}

// epollWatcher watches every parked connection with one epoll instance
// and one goroutine. Each watch has an id of its own in the epoll event,
// never the file descriptor, which the next connection may reuse while
// an event for the old one is still on its way. Registrations are
// one-shot: a connection reports once, then its wait ends.
type epollWatcher struct {
	startOnce sync.Once
	startErr  error
	closeOnce sync.Once
	epfd      int
	wakefd    int // an eventfd: a write ends the loop
	done      chan struct{}

	mu     sync.Mutex
	closed bool
	next   uint64
	byID   map[uint64]func(clientEvent)
}

// wakeID is the eventfd's id; watches count from 1.
const wakeID = 0

func (w *epollWatcher) start() error {
	w.startOnce.Do(func() {
		w.epfd, w.startErr = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if w.startErr != nil {
			return
		}
		w.wakefd, w.startErr = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if w.startErr != nil {
			unix.Close(w.epfd)
			return
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN}
		if w.startErr = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, w.wakefd, &ev); w.startErr != nil {
			unix.Close(w.wakefd)
			unix.Close(w.epfd)
			return
		}
		w.done = make(chan struct{})
		go w.loop()
	})
	return w.startErr
}

func (w *epollWatcher) watch(conn net.Conn, notify func(clientEvent)) func() {
	rc := rawConn(conn)
	if rc == nil || w.start() != nil {
		return readWatcher{}.watch(conn, notify)
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return readWatcher{}.watch(conn, notify)
	}
	w.next++
	id := w.next
	w.byID[id] = notify
	w.mu.Unlock()
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT,
		Fd:     int32(uint32(id)), Pad: int32(uint32(id >> 32)),
	}
	var err error
	if cerr := rc.Control(func(fd uintptr) { err = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		w.forget(id)
		return readWatcher{}.watch(conn, notify)
	}
	return func() {
		// Under the lock, so that close cannot release epfd meanwhile.
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.byID, id)
		if !w.closed {
			_ = rc.Control(func(fd uintptr) { _ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
		}
	}
}

// forget drops a watch and returns its notify, nil if it was gone.
func (w *epollWatcher) forget(id uint64) func(clientEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	notify := w.byID[id]
	delete(w.byID, id)
	return notify
}

// loop delivers events until close writes to the eventfd.
func (w *epollWatcher) loop() {
	defer close(w.done)
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(w.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			// Not expected with valid descriptors. Parked waits still end
			// by their timeout, a message or shutdown; a client that
			// leaves is noticed then.
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == wakeID {
				return
			}
			notify := w.forget(id)
			if notify == nil {
				continue // stopped meanwhile
			}
			if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				notify(clientLeft)
			} else {
				notify(clientSentMore)
			}
		}
	}
}

// close ends the loop and releases the descriptors, once: a second
// close must not close descriptors that now belong to someone else.
// Watches that are left are not notified.
func (w *epollWatcher) close() {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		w.startOnce.Do(func() { w.startErr = errors.New("closed") })
		if w.startErr != nil {
			return
		}
		one := [8]byte{1}
		_, _ = unix.Write(w.wakefd, one[:])
		<-w.done
		unix.Close(w.wakefd)
		unix.Close(w.epfd)
	})
}
