package hub

import (
	"errors"
	"testing"
)

// shallow returns what the check returns, and a panic in the check is
// raised again on the caller's goroutine, where the request's recovery
// turns it into a 500 instead of the process dying.
func TestShallow(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		check     func() (bool, error)
		done      bool
		err       error
		wantPanic any
	}{
		{name: "done", check: func() (bool, error) { return true, nil }, done: true},
		{name: "not yet", check: func() (bool, error) { return false, nil }},
		{name: "error", check: func() (bool, error) { return false, boom }, err: boom},
		{name: "panic", check: func() (bool, error) { panic("bad check") }, wantPanic: "bad check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if p := recover(); p != tt.wantPanic {
					t.Fatalf("panic = %v, want %v", p, tt.wantPanic)
				}
			}()
			done, err := shallow(tt.check)
			if done != tt.done || !errors.Is(err, tt.err) {
				t.Fatalf("shallow = %v, %v; want %v, %v", done, err, tt.done, tt.err)
			}
		})
	}
}

// Shallow runs f to completion before returning, and a panic in f is
// raised again in the caller, where the request's recovery sees it.
func TestShallowFunc(t *testing.T) {
	ran := false
	Shallow(func() { ran = true })
	if !ran {
		t.Fatal("Shallow returned before f ran")
	}
	defer func() {
		if p := recover(); p != "bad auth" {
			t.Fatalf("panic = %v, want %q", p, "bad auth")
		}
	}()
	Shallow(func() { panic("bad auth") })
	t.Fatal("Shallow did not raise the panic again")
}
