package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/parley-dev/parley/internal/httpapi"
	"github.com/parley-dev/parley/internal/hub"
)

func TestSystemRoutes(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "healthz needs no credential", method: "GET", path: "/healthz", want: 200, contains: []string{`{"ok":true}`}},
		{name: "status as admin", method: "GET", path: "/status", cred: "admin", want: 200,
			contains: []string{`"version":"test"`, `"uptime_s":`, `"open":false`, `"name":"alice"`, `"count":4`, `"online":`}},
		{name: "status as agent", method: "GET", path: "/status", cred: "bob", want: 200, contains: []string{`"peers":[`}},
		{name: "status with join secret", method: "GET", path: "/status", cred: "join", want: 200},
		{name: "status without credential", method: "GET", path: "/status", want: 401, wantCode: "unauthenticated"},
		{name: "status open without credential", open: true, method: "GET", path: "/status", want: 200, contains: []string{`"open":true`}},
		{name: "reset as admin", method: "POST", path: "/reset", cred: "admin", want: 200, changes: true,
			check: func(e *env, r response) {
				peers, err := e.svc.Peers(t.Context(), "", false)
				if err != nil {
					t.Fatal(err)
				}
				if len(peers) != 1 || peers[0].Name != hub.HumanName {
					t.Errorf("after reset peers = %v, want only human", peers)
				}
			}},
		{name: "reset with empty object", method: "POST", path: "/reset", body: `{}`, cred: "admin", want: 200, changes: true},
		{name: "reset as agent", method: "POST", path: "/reset", cred: "alice", want: 403, wantCode: "forbidden"},
		{name: "reset with join secret", method: "POST", path: "/reset", cred: "join", want: 403, wantCode: "forbidden"},
		{name: "reset without credential", method: "POST", path: "/reset", want: 401, wantCode: "unauthenticated"},
		{name: "reset open without credential", open: true, method: "POST", path: "/reset", want: 200, changes: true},
		{name: "reset with a body that is not an object", method: "POST", path: "/reset", body: `[1]`, cred: "admin", want: 400, wantCode: "invalid_argument"},
		{name: "unknown route", method: "GET", path: "/nope", cred: "admin", want: 404, wantCode: "not_found", contains: []string{"no route GET /nope"}},
		{name: "wrong method", method: "PUT", path: "/messages", cred: "admin", want: 405, wantCode: "method_not_allowed",
			check: func(e *env, r response) {
				if got := r.header.Get("Allow"); !strings.Contains(got, "POST") {
					t.Errorf("Allow = %q, want POST in it", got)
				}
			}},
		{name: "foreign host refused", method: "GET", path: "/healthz", header: []string{"Host", "evil.example:7878"}, want: 403, wantCode: "forbidden", contains: []string{"loopback"}},
		{name: "foreign origin refused", method: "POST", path: "/messages", body: `{"to":"bob","body":"x"}`, cred: "alice",
			header: []string{"Origin", "http://evil.example"}, want: 403, wantCode: "forbidden", contains: []string{"origin"}},
		{name: "loopback origin allowed", method: "GET", path: "/whoami", cred: "alice", header: []string{"Origin", "http://localhost:7878"}, want: 200},
		{name: "localhost host allowed", method: "GET", path: "/healthz", header: []string{"Host", "localhost:7878"}, want: 200},
	})
}

func TestErrorsAreJSONWithoutInternals(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.call("GET", "/peers/nobody", "", "alice")
	if r.status != 404 {
		t.Fatalf("status %d, want 404", r.status)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var body map[string]map[string]string
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if body["error"]["code"] != "not_found" || !strings.Contains(body["error"]["message"], `"nobody"`) {
		t.Errorf("error = %v", body)
	}
}

func TestStatusCodesCoverEveryCode(t *testing.T) {
	for code, want := range map[hub.Code]int{
		hub.CodeInvalid: 400, hub.CodeInvalidName: 400, hub.CodeUnauthenticated: 401,
		hub.CodeForbidden: 403, hub.CodeNotFound: 404, hub.CodeNameTaken: 409,
		hub.CodeConflict: 409, hub.CodeTooLarge: 413, hub.CodeRateLimited: 429,
		hub.CodeUnavailable: 503, hub.CodeInternal: 500, "something_new": 500,
	} {
		if got := httpapi.StatusOf(code); got != want {
			t.Errorf("status of %s = %d, want %d", code, got, want)
		}
	}
}

// TestUnauthenticatedHasChallenge checks the WWW-Authenticate header.
func TestUnauthenticatedHasChallenge(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.call("GET", "/whoami", "", "raw:Bearer pt_nope")
	if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("status %d, WWW-Authenticate %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}
