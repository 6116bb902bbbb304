package httpapi

import "testing"

// shallow runs f to completion before returning, and a panic in f is
// raised again in the caller, where logRequests recovers it.
func TestShallow(t *testing.T) {
	ran := false
	shallow(func() { ran = true })
	if !ran {
		t.Fatal("shallow returned before f ran")
	}
	defer func() {
		if p := recover(); p != "bad auth" {
			t.Fatalf("panic = %v, want %q", p, "bad auth")
		}
	}()
	shallow(func() { panic("bad auth") })
	t.Fatal("shallow did not raise the panic again")
}
