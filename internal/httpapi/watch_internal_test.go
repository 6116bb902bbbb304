package httpapi

import (
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// wrapped hides a connection's type, as a wrapper without NetConn does:
// the epoll watcher falls back to a reading goroutine for it.
type wrapped struct{ net.Conn }

func TestConnWatchers(t *testing.T) {
	watchers := map[string]func() connWatcher{
		"native": newConnWatcher,
		"read":   func() connWatcher { return readWatcher{} },
	}
	tests := []struct {
		name   string
		client func(net.Conn)
		want   clientEvent
	}{
		{"client closes", func(c net.Conn) { c.Close() }, clientLeft},
		{"client shuts its sending half", func(c net.Conn) { c.(*net.TCPConn).CloseWrite() }, clientLeft},
		{"client sends more", func(c net.Conn) { c.Write([]byte("GET / HTTP/1.1\r\n\r\n")) }, clientSentMore},
	}
	for wname, newWatcher := range watchers {
		for _, tt := range tests {
			for _, wrap := range []bool{false, true} {
				name := wname + "/" + tt.name
				if wrap {
					name += "/without a descriptor"
				}
				t.Run(name, func(t *testing.T) {
					w := newWatcher()
					defer w.close()
					client, server := tcpPair(t)
					if wrap {
						server = wrapped{server}
					}
					got := make(chan clientEvent, 2)
					stop := w.watch(server, func(ev clientEvent) { got <- ev })
					defer stop()
					tt.client(client)
					select {
					case ev := <-got:
						if ev != tt.want {
							t.Fatalf("event %d, want %d", ev, tt.want)
						}
					case <-time.After(10 * time.Second):
						t.Fatal("no event")
					}
				})
			}
		}
	}
}

// After stop, nothing is reported, and the connection can still be
// written and read: a parked wait answers on it after stopping its watch.
func TestConnWatcherStop(t *testing.T) {
	for name, w := range map[string]connWatcher{"native": newConnWatcher(), "read": readWatcher{}} {
		t.Run(name, func(t *testing.T) {
			defer w.close()
			client, server := tcpPair(t)
			got := make(chan clientEvent, 1)
			stop := w.watch(server, func(ev clientEvent) { got <- ev })
			stop()
			if _, err := server.Write([]byte("answer")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 6)
			if _, err := client.Read(buf); err != nil || string(buf) != "answer" {
				t.Fatalf("read %q, %v", buf, err)
			}
			client.Close()
			select {
			case ev := <-got:
				t.Fatalf("event %d after stop", ev)
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// Closing a watcher twice is safe; so is watching after it closed.
func TestConnWatcherCloseTwice(t *testing.T) {
	w := newConnWatcher()
	client, server := tcpPair(t)
	w.watch(server, func(clientEvent) {})()
	w.close()
	w.close()
	got := make(chan clientEvent, 1)
	stop := w.watch(server, func(ev clientEvent) { got <- ev })
	defer stop()
	client.Close()
	select {
	case ev := <-got:
		if ev != clientLeft {
			t.Fatalf("event %d, want clientLeft", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event after close: the watcher should fall back to a reading goroutine")
	}
}
