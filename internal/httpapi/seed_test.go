package httpapi_test

import (
	"strings"
	"testing"
)

// TestSeedPeerFlowOpen runs seed 001's peer and system curl examples, in
// order, against an open hub: no credential, no name.
func TestSeedPeerFlowOpen(t *testing.T) {
	e := newEnv(t, envOptions{open: true, bare: true})
	steps := []struct {
		method, path, body string
		want               int
		contains           []string
	}{
		{"GET", "/peers/discover", "", 200, []string{`"peers":[]`, `"count":0`}},
		{"POST", "/peers/connect", `{"role":"backend","capabilities":["tcp","server"]}`, 201, []string{`"id":"backend"`, `"role":"backend"`, `"capabilities":["tcp","server"]`, `"token":"pt_`}},
		{"POST", "/peers/connect", `{"role":"backend","capabilities":["tcp","server"]}`, 201, []string{`"id":"backend-2"`}},
		{"GET", "/peers", "", 200, []string{`"id":"backend"`, `"id":"backend-2"`, `"id":"human"`}},
		{"GET", "/peers/discover", "", 200, []string{`"id":"backend"`, `"count":2`}},
		{"GET", "/status", "", 200, []string{`"open":true`, `"id":"backend-2"`, `"online":2`}},
		{"POST", "/reset", "", 200, []string{`"ok":true`}},
		{"GET", "/peers", "", 200, []string{`"count":1`, `"id":"human"`}},
	}
	for _, s := range steps {
		r := e.call(s.method, s.path, s.body, "")
		if r.status != s.want {
			t.Fatalf("%s %s: status %d, want %d: %s", s.method, s.path, r.status, s.want, r.body)
		}
		for _, c := range s.contains {
			if !strings.Contains(r.body, c) {
				t.Errorf("%s %s: body lacks %s: %s", s.method, s.path, c, r.body)
			}
		}
	}
}
