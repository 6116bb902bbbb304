package httpapi

import (
	"errors"
	"net"
	"testing"
	"time"
)

// TestInterruptEndsAStuckWrite: a parked stream's write to a client that
// does not read ends as soon as the stream is interrupted (its client
// left, its token was revoked, the hub shuts down), not when the write
// timeout passes; and every later write fails at once.
func TestInterruptEndsAStuckWrite(t *testing.T) {
	server, client := net.Pipe() // a write blocks until the other end reads
	defer client.Close()
	defer server.Close()
	cs := &connSink{pc: &parkedConn{conn: server}, timeout: time.Minute}
	done := make(chan error, 1)
	go func() { done <- cs.write([]byte(": ping\n\n")) }()
	select {
	case err := <-done:
		t.Fatalf("a write nobody reads returned: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	start := time.Now()
	cs.interrupt()
	select {
	case err := <-done:
		if !isWriteError(err) {
			t.Errorf("interrupted write: %v, want a writeError", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the interrupted write still blocks")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the interrupted write took %s to return", d)
	}
	if err := cs.write([]byte(": ping\n\n")); !isWriteError(err) || !errors.Is(err, net.ErrClosed) {
		t.Errorf("a write after interrupt: %v, want it to fail at once", err)
	}
}
