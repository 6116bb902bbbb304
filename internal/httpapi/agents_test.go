package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

func TestAgentRoutes(t *testing.T) {
	whoami := func(name, cred string) func(e *env, r response) {
		return func(e *env, r response) {
			var p hub.Peer
			e.mustJSON(e.call("GET", "/whoami", "", cred), 200, &p)
			if p.Name != name {
				t.Errorf("whoami = %q, want %q", p.Name, name)
			}
		}
	}
	notFound := func(name string) func(e *env, r response) {
		return func(e *env, r response) {
			if r := e.call("GET", "/peers/"+name, "", "admin"); r.status != 404 {
				t.Errorf("GET /peers/%s: status %d, want 404", name, r.status)
			}
		}
	}
	runScenarios(t, []scenario{
		// POST /peers/connect
		{name: "register with admin secret", method: "POST", path: "/peers/connect", body: `{"name":"dave","role":"qa","capabilities":["tcp"]}`, cred: "admin",
			want: 201, changes: true, contains: []string{`"id":"dave"`, `"name":"dave"`, `"token":"pt_`, `"role":"qa"`, `"capabilities":["tcp"]`, `"reclaimed":false`}},
		{name: "register with join secret", method: "POST", path: "/peers/connect", body: `{"name":"dave"}`, cred: "join", want: 201, changes: true},
		{name: "register case-folds the name", method: "POST", path: "/peers/connect", body: `{"name":"Dave"}`, cred: "admin", want: 201, changes: true, contains: []string{`"name":"dave"`}},
		{name: "register without credential", method: "POST", path: "/peers/connect", body: `{"name":"dave"}`, want: 401, wantCode: "unauthenticated"},
		{name: "register with bad token", method: "POST", path: "/peers/connect", body: `{"name":"dave"}`, cred: "raw:Bearer pt_forged", want: 401, wantCode: "unauthenticated"},
		{name: "taking a live name without its token", method: "POST", path: "/peers/connect", body: `{"name":"alice"}`, cred: "admin",
			want: 409, wantCode: "name_taken", contains: []string{"needs its token"}, check: whoami("alice", "alice")},
		{name: "taking a live name with another's token in the body", method: "POST", path: "/peers/connect", body: `{"name":"alice","token":"{bobtoken}"}`, cred: "admin",
			want: 409, wantCode: "name_taken", check: whoami("alice", "alice")},
		{name: "agent token re-registers its own name", method: "POST", path: "/peers/connect", body: `{"name":"alice","role":"reviewer"}`, cred: "alice",
			want: 201, changes: true, contains: []string{`"reclaimed":true`, `"role":"reviewer"`}, check: whoami("alice", "alice")},
		{name: "agent token cannot register another name", method: "POST", path: "/peers/connect", body: `{"name":"mallory"}`, cred: "alice", want: 403, wantCode: "forbidden"},
		{name: "agent token cannot take another live name", method: "POST", path: "/peers/connect", body: `{"name":"bob"}`, cred: "alice", want: 403, wantCode: "forbidden", check: whoami("bob", "bob")},
		{name: "seed connect without name under open", open: true, method: "POST", path: "/peers/connect", body: `{"role":"qa","capabilities":["tcp","server"]}`,
			want: 201, changes: true, contains: []string{`"id":"qa"`, `"role":"qa"`, `"capabilities":["tcp","server"]`}},
		{name: "open: taking a live name without its token", open: true, method: "POST", path: "/peers/connect", body: `{"name":"bob"}`, want: 409, wantCode: "name_taken", check: whoami("bob", "bob")},

		// GET /peers, /peers/discover, /peers/{name}
		{name: "list peers", method: "GET", path: "/peers", cred: "alice", want: 200,
			contains: []string{`"name":"alice"`, `"name":"bob"`, `"name":"carol"`, `"name":"human"`, `"count":4`, `"id":"bob"`}},
		{name: "list peers by role", method: "GET", path: "/peers?role=frontend", cred: "alice", want: 200,
			contains: []string{`"name":"bob"`, `"name":"carol"`, `"count":2`}, excludes: []string{`"name":"alice"`}},
		{name: "list peers without credential", method: "GET", path: "/peers", want: 401, wantCode: "unauthenticated"},
		{name: "list peers open", open: true, method: "GET", path: "/peers", want: 200, contains: []string{`"name":"carol"`}},
		{name: "discover online peers", method: "GET", path: "/peers/discover", cred: "alice", want: 200,
			contains: []string{`"name":"alice"`, `"online":true`, `"count":`}, excludes: []string{`"online":false`}},
		{name: "discover skips peers gone quiet", method: "GET", path: "/peers/discover", cred: "alice", want: 200,
			setup:    func(e *env) { e.clock.Add(time.Hour) },
			contains: []string{`"name":"alice"`, `"count":1`}, excludes: []string{`"name":"bob"`}},
		{name: "get one peer", method: "GET", path: "/peers/bob", cred: "alice", want: 200, contains: []string{`"name":"bob"`, `"unread":1`, `"role":"frontend"`}},
		{name: "get unknown peer", method: "GET", path: "/peers/nobody", cred: "alice", want: 404, wantCode: "not_found"},
		{name: "get peer case-folds", method: "GET", path: "/peers/BOB", cred: "alice", want: 200, contains: []string{`"name":"bob"`}},

		// DELETE /peers/{name}
		{name: "deregister self", method: "DELETE", path: "/peers/carol", cred: "carol", want: 200, changes: true, check: notFound("carol")},
		{name: "deregister another", method: "DELETE", path: "/peers/carol", cred: "alice", want: 403, wantCode: "forbidden", contains: []string{"does not match your token"}},
		{name: "deregister as admin acting as the agent", method: "DELETE", path: "/peers/carol", cred: "admin", header: []string{"X-Parley-As", "carol"}, want: 200, changes: true, check: notFound("carol")},
		{name: "deregister as admin acting as human", method: "DELETE", path: "/peers/carol", cred: "admin", want: 403, wantCode: "forbidden"},
		{name: "deregister without credential", method: "DELETE", path: "/peers/carol", want: 401, wantCode: "unauthenticated"},
		{name: "deregister open", open: true, method: "DELETE", path: "/peers/carol", want: 200, changes: true, check: notFound("carol")},

		// POST /peers/{name}/rename
		{name: "rename self", method: "POST", path: "/peers/alice/rename", body: `{"name":"alicia"}`, cred: "alice", want: 200, changes: true,
			contains: []string{`"name":"alicia"`}, check: func(e *env, r response) {
				var res hub.SendResult
				e.mustJSON(e.call("POST", "/messages", `{"to":"alice","body":"still there?"}`, "bob"), 201, &res)
				if res.Forwarded["alice"] != "alicia" {
					t.Errorf("forwarded = %v, want alice -> alicia", res.Forwarded)
				}
				whoami("alicia", "alice")(e, r)
			}},
		{name: "rename to a taken name", method: "POST", path: "/peers/alice/rename", body: `{"name":"bob"}`, cred: "alice", want: 409, wantCode: "name_taken"},
		{name: "rename another agent", method: "POST", path: "/peers/bob/rename", body: `{"name":"bobby"}`, cred: "alice", want: 403, wantCode: "forbidden", check: whoami("bob", "bob")},
		{name: "rename with spoofed from", method: "POST", path: "/peers/alice/rename", body: `{"name":"x1","from":"bob"}`, cred: "alice", want: 403, wantCode: "forbidden"},
		{name: "rename to an invalid name", method: "POST", path: "/peers/alice/rename", body: `{"name":"a/b"}`, cred: "alice", want: 400, wantCode: "invalid_name"},
		{name: "rename without credential", method: "POST", path: "/peers/alice/rename", body: `{"name":"x1"}`, want: 401, wantCode: "unauthenticated"},

		// POST /peers/{name}/status
		{name: "set status", method: "POST", path: "/peers/alice/status", body: `{"status":"reviewing PR 12","state":"busy"}`, cred: "alice", want: 200, changes: true,
			contains: []string{`"status":"reviewing PR 12"`, `"state":"busy"`}},
		{name: "heartbeat with empty body", method: "POST", path: "/peers/alice/status", cred: "alice", want: 200, changes: true},
		{name: "set status of another", method: "POST", path: "/peers/bob/status", body: `{"state":"busy"}`, cred: "alice", want: 403, wantCode: "forbidden"},
		{name: "set an unknown state", method: "POST", path: "/peers/alice/status", body: `{"state":"asleep"}`, cred: "alice", want: 400, wantCode: "invalid_argument", contains: []string{"asleep"}},
		{name: "set status open", open: true, method: "POST", path: "/peers/bob/status", body: `{"state":"idle"}`, want: 200, changes: true, contains: []string{`"state":"idle"`}},

		// GET /whoami
		{name: "whoami agent", method: "GET", path: "/whoami", cred: "alice", want: 200, contains: []string{`"name":"alice"`}},
		{name: "whoami admin is human", method: "GET", path: "/whoami", cred: "admin", want: 200, contains: []string{`"name":"human"`}},
		{name: "whoami admin as bob", method: "GET", path: "/whoami", cred: "admin", header: []string{"X-Parley-As", "bob"}, want: 200, contains: []string{`"name":"bob"`}},
		{name: "whoami admin as unknown", method: "GET", path: "/whoami", cred: "admin", header: []string{"X-Parley-As", "nobody"}, want: 404, wantCode: "not_found"},
		{name: "whoami agent as another", method: "GET", path: "/whoami", cred: "alice", header: []string{"X-Parley-As", "bob"}, want: 403, wantCode: "forbidden"},
		{name: "whoami join secret", method: "GET", path: "/whoami", cred: "join", want: 403, wantCode: "forbidden", contains: []string{"only register"}},
		{name: "whoami without credential", method: "GET", path: "/whoami", want: 401, wantCode: "unauthenticated"},
		{name: "whoami open by header", open: true, method: "GET", path: "/whoami", header: []string{"X-Parley-As", "bob"}, want: 200, contains: []string{`"name":"bob"`}},
		{name: "whoami open anonymous", open: true, method: "GET", path: "/whoami", want: 401, wantCode: "unauthenticated", contains: []string{"X-Parley-As"}},
		{name: "whoami open with token", open: true, method: "GET", path: "/whoami", cred: "carol", want: 200, contains: []string{`"name":"carol"`}},
	})
}

// TestRegisterBodyToken re-registers with the token in the body, as a
// client that lost nothing but its connection does.
func TestRegisterBodyToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	body := `{"name":"bob","role":"frontend","token":"` + e.tokens["bob"] + `"}`
	var reg struct {
		Token     string `json:"token"`
		Reclaimed bool   `json:"reclaimed"`
	}
	e.mustJSON(e.call("POST", "/peers/connect", body, "admin"), 201, &reg)
	if !reg.Reclaimed || reg.Token != e.tokens["bob"] {
		t.Errorf("reclaimed=%v token changed=%v", reg.Reclaimed, reg.Token != e.tokens["bob"])
	}
}

// TestNameTheftKeepsOwnerWorking: a second client that asks for a live
// name gets an error, and the owner's token keeps working for sending
// and reading.
func TestNameTheftKeepsOwnerWorking(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, cred := range []string{"admin", "join", "", "raw:Bearer pt_guess"} {
		r := e.call("POST", "/peers/connect", `{"name":"bob"}`, cred)
		if r.status < 400 {
			t.Fatalf("cred %q: taking bob succeeded: %s", cred, r.body)
		}
		if strings.Contains(r.body, "pt_") {
			t.Fatalf("cred %q: a token leaked: %s", cred, r.body)
		}
	}
	e.mustJSON(e.call("POST", "/messages", `{"to":"alice","body":"still me"}`, "bob"), 201, nil)
	var in hub.ReadResult
	e.mustJSON(e.call("GET", "/inbox/bob", "", "bob"), 200, &in)
	if len(in.Messages) != 1 || in.Messages[0].Body != "hello bob" {
		t.Errorf("bob's inbox = %+v", in.Messages)
	}
}

func TestRegisterResponseShape(t *testing.T) {
	e := newEnv(t, envOptions{bare: true})
	r := e.call("POST", "/peers/connect", `{"name":"zed"}`, "admin")
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "name", "token", "role", "capabilities", "reclaimed", "delivered", "agent"} {
		if _, ok := m[k]; !ok {
			t.Errorf("response lacks %q: %s", k, r.body)
		}
	}
	if string(m["capabilities"]) != "[]" {
		t.Errorf("capabilities = %s, want []", m["capabilities"])
	}
}

func TestDisconnectMarksOfflineAtOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	online := func(name string) bool {
		t.Helper()
		var p hub.Peer
		e.mustJSON(e.call("GET", "/peers/"+name, "", "admin"), 200, &p)
		return p.Online
	}
	if !online("bob") {
		t.Fatal("bob registered just now but shows offline")
	}
	if r := e.call("POST", "/peers/bob/disconnect", "", "alice"); r.status != 403 {
		t.Fatalf("alice disconnecting bob: status %d, want 403; %s", r.status, r.body)
	}
	if !online("bob") {
		t.Fatal("another agent's disconnect took bob offline")
	}
	e.mustJSON(e.call("POST", "/peers/bob/disconnect", "", "bob"), 200, nil)
	if online("bob") {
		t.Fatal("bob still online after disconnecting")
	}
}

func TestStatusGivesLastEventID(t *testing.T) {
	e := newEnv(t, envOptions{})
	var st struct {
		LastEventID int64 `json:"last_event_id"`
	}
	e.mustJSON(e.call("GET", "/status", "", "alice"), 200, &st)
	before := st.LastEventID
	if before == 0 {
		t.Fatal("last_event_id is 0 after registrations and a send")
	}
	e.mustJSON(e.call("POST", "/messages", `{"to":"bob","body":"again"}`, "alice"), 201, nil)
	e.mustJSON(e.call("GET", "/status", "", "alice"), 200, &st)
	if st.LastEventID <= before {
		t.Fatalf("last_event_id = %d after a send, want more than %d", st.LastEventID, before)
	}
}
