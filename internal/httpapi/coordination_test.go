package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// The coordination routes join every bad-input check of
// TestBadInputEveryEndpoint.
func init() {
	endpoints = append(endpoints, coordinationEndpoints...)
}

var coordinationEndpoints = []endpoint{
	{method: "POST", path: "/commands/send", body: `{"target":"backend","action":"start_server","params":{"port":7400}}`, cred: "bob",
		wrongTypes: [][2]string{{`{"target":5,"action":"x"}`, "target"}, {`{"target":"bob","action":["x"]}`, "action"}, {`{"target":"bob","action":"x","from":1}`, "from"}}},
	{method: "GET", path: "/commands", cred: "admin", queries: [][2]string{{"status=weird", "status"}, {"limit=-1", "limit"}, {"before=x", "before"}}},
	{method: "GET", path: "/commands/alice", cred: "alice", namePath: "/commands/%s", queries: [][2]string{{"status=weird", "status"}, {"limit=abc", "limit"}}},
	{method: "GET", path: "/commands/alice/wait?timeout=0", cred: "alice", namePath: "/commands/%s/wait",
		queries: [][2]string{{"timeout=-1", "timeout"}, {"timeout=600001", "timeout"}, {"timeout=1s", "timeout"}}},
	{method: "POST", path: "/commands/1/ack", body: `{"result":{"status":"ok"}}`, cred: "alice",
		wrongTypes: [][2]string{{`{"status":5}`, "status"}, {`{"error":true}`, "error"}, {`{"from":1}`, "from"}}},
	{method: "GET", path: "/commands/1/result", cred: "alice", queries: [][2]string{{"timeout=-1", "timeout"}, {"timeout=x", "timeout"}}},
	{method: "GET", path: "/channels", cred: "alice"},
	// The body of a post is any JSON: the body checks do not apply.
	{method: "POST", path: "/channels/results/send", cred: "alice", namePath: "/channels/%s/send"},
	{method: "GET", path: "/channels/results/messages", cred: "alice", namePath: "/channels/%s/messages",
		queries: [][2]string{{"since=-1", "since"}, {"since=x", "since"}, {"limit=-1", "limit"}}},
	{method: "GET", path: "/channels/results/wait?timeout=0", cred: "alice", namePath: "/channels/%s/wait",
		queries: [][2]string{{"timeout=-1", "timeout"}, {"since=-2", "since"}}},
	{method: "GET", path: "/signals", cred: "alice"},
	{method: "POST", path: "/signals/server_ready", body: `{"data":{"port":7400}}`, cred: "alice", namePath: "/signals/%s",
		wrongTypes: [][2]string{{`{"from":1}`, "from"}}},
	{method: "GET", path: "/signals/server_ready", cred: "alice", namePath: "/signals/%s"},
	{method: "GET", path: "/signals/server_ready/wait?timeout=0", cred: "alice", namePath: "/signals/%s/wait",
		queries: [][2]string{{"timeout=-1", "timeout"}, {"timeout=99999999999999999999", "timeout"}}},
	{method: "DELETE", path: "/signals/server_ready", cred: "alice", namePath: "/signals/%s"},
	{method: "POST", path: "/proposals", body: `{"question":"Ship?","voters":["alice","bob"]}`, cred: "alice",
		wrongTypes: [][2]string{{`{"question":5}`, "question"}, {`{"question":"q","options":"x"}`, "options"}, {`{"question":"q","rule":1}`, "rule"},
			{`{"question":"q","voters":5}`, "voters"}, {`{"question":"q","voters":["a",1]}`, "voters"}}},
	{method: "GET", path: "/proposals", cred: "alice", queries: [][2]string{{"status=weird", "status"}, {"limit=-1", "limit"}, {"before=x", "before"}}},
	{method: "GET", path: "/proposals/1", cred: "alice"},
	{method: "POST", path: "/proposals/1/vote", body: `{"choice":"approve"}`, cred: "alice",
		wrongTypes: [][2]string{{`{"choice":5}`, "choice"}, {`{"choice":"approve","comment":1}`, "comment"}}},
	{method: "GET", path: "/proposals/1/wait?timeout=0", cred: "alice", queries: [][2]string{{"timeout=-1", "timeout"}}},
	{method: "POST", path: "/leases", body: `{"patterns":["src/**"],"ttl":"1h"}`, cred: "alice",
		wrongTypes: [][2]string{{`{"patterns":5}`, "patterns"}, {`{"patterns":"x","exclusive":"yes"}`, "exclusive"}, {`{"patterns":"x","reason":5}`, "reason"}}},
	{method: "GET", path: "/leases", cred: "alice"},
	{method: "POST", path: "/leases/check", body: `{"paths":["a.go"]}`, cred: "alice", wrongTypes: [][2]string{{`{"paths":"a.go"}`, "paths"}}},
	{method: "GET", path: "/leases/1", cred: "alice"},
	{method: "POST", path: "/leases/1/renew", body: `{"ttl":"1h"}`, cred: "alice"},
	{method: "POST", path: "/leases/1/release", body: `{}`, cred: "alice"},
	{method: "DELETE", path: "/leases/1", cred: "alice"},
	{method: "GET", path: "/state", cred: "alice", queries: [][2]string{{"limit=-1", "limit"}}},
	{method: "GET", path: "/state/k", cred: "alice", namePath: "/state/%s"},
	{method: "PUT", path: "/state/k", body: `{"value":{"a":1}}`, cred: "alice", namePath: "/state/%s",
		wrongTypes: [][2]string{{`{"value":1,"expected_revision":"1"}`, "expected_revision"}, {`{"value":1,"expected_revision":1.5}`, "expected_revision"}}},
	{method: "DELETE", path: "/state/k", cred: "alice", namePath: "/state/%s",
		queries: [][2]string{{"expected_revision=-1", "expected_revision"}, {"expected_revision=x", "expected_revision"}}},
	{method: "GET", path: "/state/k/wait?timeout=0", cred: "alice", namePath: "/state/%s/wait",
		queries: [][2]string{{"after=-1", "after"}, {"timeout=-1", "timeout"}}},
}

// TestCoordinationBadInput covers what the generic checks cannot: values
// of the right type that the rules refuse, and unknown ids. None changes
// anything.
func TestCoordinationBadInput(t *testing.T) {
	big := `"` + strings.Repeat("x", testMaxBody) + `"`
	scs := []scenario{
		{name: "command params not an object", method: "POST", path: "/commands/send", body: `{"target":"bob","action":"x","params":"port=1"}`, cred: "alice", want: 400, wantCode: "invalid_argument", contains: []string{"params"}},
		{name: "command deadline bad", method: "POST", path: "/commands/send", body: `{"target":"bob","action":"x","deadline":"soon"}`, cred: "alice", want: 400, wantCode: "invalid_argument", contains: []string{"deadline"}},
		{name: "command deadline negative", method: "POST", path: "/commands/send", body: `{"target":"bob","action":"x","deadline":-5}`, cred: "alice", want: 400, wantCode: "invalid_argument", contains: []string{"deadline"}},
		{name: "command deadline wrong type", method: "POST", path: "/commands/send", body: `{"target":"bob","action":"x","deadline":true}`, cred: "alice", want: 400, wantCode: "invalid_argument", contains: []string{"deadline"}},
		{name: "command to nobody", method: "POST", path: "/commands/send", body: `{"target":"nobody","action":"x"}`, cred: "alice", want: 404, wantCode: "not_found"},
		{name: "command target bad name", method: "POST", path: "/commands/send", body: `{"target":"a/b","action":"x"}`, cred: "alice", want: 400, wantCode: "invalid_name"},
		{name: "command from another agent", method: "POST", path: "/commands/send", body: `{"from":"bob","target":"bob","action":"x"}`, cred: "alice", want: 403, wantCode: "forbidden"},
		{name: "ack unknown command", method: "POST", path: "/commands/424242/ack", body: `{}`, cred: "alice", want: 404, wantCode: "not_found"},
		{name: "ack bad id", method: "POST", path: "/commands/abc/ack", body: `{}`, cred: "alice", want: 400, wantCode: "invalid_argument"},
		{name: "result of unknown command", method: "GET", path: "/commands/424242/result", cred: "alice", want: 404, wantCode: "not_found"},
		{name: "commands of unknown agent", method: "GET", path: "/commands/nobody", cred: "admin", want: 404, wantCode: "not_found"},
		{name: "commands of another agent", method: "GET", path: "/commands/bob", cred: "alice", want: 403, wantCode: "forbidden"},
		{name: "channel post not JSON", method: "POST", path: "/channels/results/send", body: `{nope`, cred: "alice", want: 400, wantCode: "invalid_argument", contains: []string{"malformed JSON"}},
		{name: "channel post empty", method: "POST", path: "/channels/results/send", cred: "alice", want: 400, wantCode: "invalid_argument"},
		{name: "channel post oversized", method: "POST", path: "/channels/results/send", body: big, cred: "alice", want: 413, wantCode: "too_large"},
		{name: "signal data not JSON", method: "POST", path: "/signals/s", body: `{"data":nope}`, cred: "alice", want: 400, wantCode: "invalid_argument"},
		{name: "proposal unknown", method: "GET", path: "/proposals/424242", cred: "alice", want: 404, wantCode: "not_found"},
		{name: "vote unknown proposal", method: "POST", path: "/proposals/424242/vote", body: `{"choice":"approve"}`, cred: "alice", want: 404, wantCode: "not_found"},
		{name: "proposal bad rule", method: "POST", path: "/proposals", body: `{"question":"q","rule":"most"}`, cred: "alice", want: 400, wantCode: "invalid_argument"},
		{name: "proposal unknown voter", method: "POST", path: "/proposals", body: `{"question":"q","voters":"zed"}`, cred: "alice", want: 404, wantCode: "not_found"},
		{name: "lease absolute pattern", method: "POST", path: "/leases", body: `{"patterns":"/etc/**"}`, cred: "alice", want: 400, wantCode: "invalid_argument"},
		{name: "lease bad ttl", method: "POST", path: "/leases", body: `{"patterns":"x","ttl":"forever"}`, cred: "alice", want: 400, wantCode: "invalid_argument", contains: []string{"duration"}},
		{name: "lease ttl too long", method: "POST", path: "/leases", body: `{"patterns":"x","ttl":"10000h"}`, cred: "alice", want: 400, wantCode: "invalid_argument", contains: []string{"ttl"}},
		{name: "renew unknown lease", method: "POST", path: "/leases/424242/renew", body: `{}`, cred: "alice", want: 404, wantCode: "not_found"},
		{name: "release unknown lease", method: "DELETE", path: "/leases/424242", cred: "alice", want: 404, wantCode: "not_found"},
		{name: "lease bad id", method: "GET", path: "/leases/0", cred: "alice", want: 400, wantCode: "invalid_argument"},
		{name: "state unset", method: "GET", path: "/state/nothing", cred: "alice", want: 404, wantCode: "not_found"},
		{name: "state no value", method: "PUT", path: "/state/k", body: `{}`, cred: "alice", want: 400, wantCode: "invalid_argument", contains: []string{"value"}},
		{name: "state stale revision", method: "PUT", path: "/state/k", body: `{"value":1,"expected_revision":9}`, cred: "alice", want: 409, wantCode: "conflict", contains: []string{`"current_revision":0`}},
		{name: "state bad prefix", method: "GET", path: "/state?prefix=a/b", cred: "alice", want: 400, wantCode: "invalid_name"},
		{name: "state delete unset", method: "DELETE", path: "/state/nothing", cred: "alice", want: 404, wantCode: "not_found"},
	}
	runScenarios(t, scs)
}

// seedStep is one request of seed 001's curl examples.
type seedStep struct {
	method, path, body string
	want               int
	contains           []string
}

// TestSeedCurlExamples sends seed 001's coordination requests as its
// README writes them, without any credential, to an open hub.
func TestSeedCurlExamples(t *testing.T) {
	e := newEnv(t, envOptions{open: true})
	var cmd hub.Command
	steps := []seedStep{
		{"POST", "/commands/send", `{"from":"human","target":"backend","action":"start_server","params":{"port":7400}}`, 201,
			[]string{`"target":"role:backend"`, `"status":"pending"`, `"params":{"port":7400}`, `"from":"human"`}},
		{"GET", "/commands/alice", "", 200, []string{`"action":"start_server"`}},
		{"GET", "/commands/alice/wait?timeout=30000", "", 200, []string{`"status":"claimed"`, `"claimed_by":"alice"`, `"timed_out":false`}},
		{"POST", "/commands/{cmd}/ack", `{"result":{"status":"ok"}}`, 200, []string{`"status":"done"`, `"result":{"status":"ok"}`}},
		{"GET", "/commands/{cmd}/result", "", 200, []string{`"status":"done"`}},
		{"POST", "/channels/results/send", `{"test":"handshake","status":"pass"}`, 201, []string{`"seq":1`, `"data":{"test":"handshake","status":"pass"}`}},
		{"GET", "/channels/results/messages", "", 200, []string{`"seq":1`, `"test":"handshake"`}},
		{"GET", "/channels/results/messages?since=5", "", 200, []string{`"messages":[]`}},
		{"POST", "/signals/server_ready", `{"data":{"port":7400}}`, 200, []string{`"emitted":true`, `"data":{"port":7400}`}},
		{"GET", "/signals/server_ready/wait?timeout=30000", "", 200, []string{`"emitted":true`}},
		{"GET", "/signals/server_ready", "", 200, []string{`"emitted":true`, `"port":7400`}},
		{"GET", "/status", "", 200, []string{`"commands":[`, `"channels":[{"name":"results"`, `"signals":[{"name":"server_ready"`}},
		{"POST", "/reset", "", 200, []string{`"ok":true`}},
		{"GET", "/signals/server_ready", "", 200, []string{`"emitted":false`}},
		{"GET", "/channels/results/messages", "", 200, []string{`"messages":[]`}},
	}
	for _, st := range steps {
		path := strings.ReplaceAll(st.path, "{cmd}", fmt.Sprint(cmd.ID))
		r := e.call(st.method, path, st.body, "")
		if r.status != st.want {
			t.Fatalf("%s %s: status %d, want %d: %s", st.method, path, r.status, st.want, r.body)
		}
		for _, s := range st.contains {
			if !strings.Contains(r.body, s) {
				t.Fatalf("%s %s: body lacks %s: %s", st.method, path, s, r.body)
			}
		}
		if path == "/commands/send" {
			if err := json.Unmarshal([]byte(r.body), &cmd); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestCommandResultWaitOverHTTP has a sender wait for the result of a role
// command that one agent claims and fails.
func TestCommandResultWaitOverHTTP(t *testing.T) {
	e := newEnv(t, envOptions{})
	var cmd hub.Command
	e.mustJSON(e.call("POST", "/commands/send", `{"target":"frontend","action":"build","deadline":"10m"}`, "alice"), 201, &cmd)
	if cmd.Deadline.IsZero() {
		t.Fatalf("deadline not set: %+v", cmd)
	}
	// The sender waits for the result while a frontend agent works.
	done := make(chan response, 1)
	go func() { done <- e.call("GET", fmt.Sprintf("/commands/%d/result?timeout=60000", cmd.ID), "", "alice") }()
	eventually(t, "the sender waits", func() bool { return e.bus.Subscribers() > 0 })

	var claim struct {
		Command  *hub.Command `json:"command"`
		TimedOut bool         `json:"timed_out"`
	}
	e.mustJSON(e.call("GET", "/commands/carol/wait?timeout=1000", "", "carol"), 200, &claim)
	if claim.Command == nil || claim.Command.ID != cmd.ID {
		t.Fatalf("carol claimed %+v", claim)
	}
	// Bob has the role too, but the command is carol's now.
	e.mustJSON(e.call("GET", "/commands/bob/wait?timeout=0", "", "bob"), 200, &claim)
	if claim.Command != nil || !claim.TimedOut {
		t.Fatalf("bob claimed %+v", claim)
	}
	r := e.call("POST", fmt.Sprintf("/commands/%d/ack", cmd.ID), `{"result":{"ok":true}}`, "bob")
	if code, _ := errorOf(t, r); r.status != 403 || code != "forbidden" {
		t.Fatalf("bob acks carol's command: %d %s", r.status, r.body)
	}
	e.mustJSON(e.call("POST", fmt.Sprintf("/commands/%d/ack", cmd.ID), `{"status":"failed","error":"disk full"}`, "carol"), 200, nil)
	res := <-done
	if res.status != 200 || !containsAll(res.body, `"status":"failed"`, `"error":"disk full"`) {
		t.Fatalf("sender got %d %s", res.status, res.body)
	}
	// Only the agent itself waits on its commands.
	r = e.call("GET", "/commands/carol/wait?timeout=0", "", "bob")
	if r.status != 403 {
		t.Fatalf("bob waits as carol: %d %s", r.status, r.body)
	}
}

// TestLeasesAndStateOverHTTP covers lease conflicts and guard checks, and
// concurrent compare-and-swaps over HTTP.
func TestLeasesAndStateOverHTTP(t *testing.T) {
	e := newEnv(t, envOptions{})
	var l hub.Lease
	e.mustJSON(e.call("POST", "/leases", `{"patterns":["src/api/**"],"ttl":3600000,"reason":"refactor"}`, "alice"), 201, &l)
	r := e.call("POST", "/leases", `{"patterns":"src/**/*.go"}`, "bob")
	if code, msg := errorOf(t, r); r.status != 409 || code != "conflict" || !containsAll(msg, `"alice"`, "src/api/**", "refactor") {
		t.Fatalf("conflicting reservation: %d %s", r.status, r.body)
	}
	var check struct {
		Conflicts []hub.LeaseHit `json:"conflicts"`
		OK        bool           `json:"ok"`
	}
	e.mustJSON(e.call("POST", "/leases/check", `{"paths":["src/api/a.go","README.md"]}`, "bob"), 200, &check)
	if check.OK || len(check.Conflicts) != 1 || check.Conflicts[0].Lease.Holder != "alice" {
		t.Fatalf("check = %+v", check)
	}
	e.mustJSON(e.call("POST", fmt.Sprintf("/leases/%d/renew", l.ID), `{"ttl":"2h"}`, "alice"), 200, nil)
	e.mustJSON(e.call("DELETE", fmt.Sprintf("/leases/%d", l.ID), "", "alice"), 200, nil)
	e.mustJSON(e.call("POST", "/leases/check", `{"paths":["src/api/a.go"]}`, "bob"), 200, &check)
	if !check.OK {
		t.Fatalf("check after release = %+v", check)
	}

	// Two compare-and-swaps on one revision: exactly one wins, the other
	// learns the current revision.
	var it hub.StateItem
	e.mustJSON(e.call("PUT", "/state/deploy.phase", `{"value":"build","expected_revision":0}`, "alice"), 200, &it)
	var wg sync.WaitGroup
	results := make([]response, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.call("PUT", "/state/deploy.phase", fmt.Sprintf(`{"value":%d,"expected_revision":%d}`, i, it.Revision), "bob")
		}()
	}
	wg.Wait()
	wins := 0
	for _, r := range results {
		switch r.status {
		case 200:
			wins++
		case 409:
			var body struct {
				Error struct {
					Code            string `json:"code"`
					CurrentRevision int64  `json:"current_revision"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Error.Code != "conflict" || body.Error.CurrentRevision <= it.Revision {
				t.Fatalf("conflict body %s", r.body)
			}
		default:
			t.Fatalf("cas: %d %s", r.status, r.body)
		}
	}
	if wins != 1 {
		t.Fatalf("%d writers won, want 1", wins)
	}
	var watch hub.StateWatch
	e.mustJSON(e.call("GET", fmt.Sprintf("/state/deploy.phase/wait?after=%d&timeout=1000", it.Revision), "", "carol"), 200, &watch)
	if !watch.Changed || watch.Revision <= it.Revision {
		t.Fatalf("watch = %+v", watch)
	}
	var list struct {
		Items []hub.StateItem `json:"items"`
	}
	e.mustJSON(e.call("GET", "/state?prefix=deploy.", "", "carol"), 200, &list)
	if len(list.Items) != 1 {
		t.Fatalf("list = %+v", list)
	}
}

// TestProposalsOverHTTP votes a unanimous proposal to rejection while the
// proposer waits for the decision.
func TestProposalsOverHTTP(t *testing.T) {
	e := newEnv(t, envOptions{})
	var p hub.Proposal
	e.mustJSON(e.call("POST", "/proposals", `{"question":"Merge #12?","voters":"role:frontend","rule":"unanimous","deadline":"1h"}`, "alice"), 201, &p)
	if fmt.Sprint(p.Voters) != "[bob carol]" || p.Threshold != 2 {
		t.Fatalf("proposal = %+v", p)
	}
	r := e.call("POST", fmt.Sprintf("/proposals/%d/vote", p.ID), `{"choice":"approve"}`, "alice")
	if r.status != 403 {
		t.Fatalf("non-voter: %d %s", r.status, r.body)
	}
	done := make(chan response, 1)
	go func() { done <- e.call("GET", fmt.Sprintf("/proposals/%d/wait?timeout=60000", p.ID), "", "alice") }()
	eventually(t, "the proposer waits", func() bool { return e.bus.Subscribers() > 0 })
	e.mustJSON(e.call("POST", fmt.Sprintf("/proposals/%d/vote", p.ID), `{"choice":"approve","comment":"lgtm"}`, "bob"), 200, nil)
	e.mustJSON(e.call("POST", fmt.Sprintf("/proposals/%d/vote", p.ID), `{"choice":"reject"}`, "carol"), 200, &p)
	if p.Outcome != hub.OutcomeRejected {
		t.Fatalf("outcome %q, want rejected", p.Outcome)
	}
	if res := <-done; !strings.Contains(res.body, `"outcome":"rejected"`) {
		t.Fatalf("waiter got %s", res.body)
	}
	var list struct {
		Proposals []hub.Proposal `json:"proposals"`
	}
	e.mustJSON(e.call("GET", "/proposals?status=decided", "", "bob"), 200, &list)
	if len(list.Proposals) != 1 || list.Proposals[0].Tally["approve"] != 1 {
		t.Fatalf("list = %+v", list)
	}
}

// TestChannelWaitOverHTTP wakes a channel waiter with a text post.
func TestChannelWaitOverHTTP(t *testing.T) {
	e := newEnv(t, envOptions{})
	done := make(chan response, 1)
	go func() { done <- e.call("GET", "/channels/results/wait?timeout=60000", "", "bob") }()
	eventually(t, "the reader waits", func() bool { return e.bus.Subscribers() > 0 })
	r := e.call("POST", "/channels/results/send", "plain words", "alice", "Content-Type", "text/plain")
	if r.status != 201 || !strings.Contains(r.body, `"data":"plain words"`) || !strings.Contains(r.body, `"from":"alice"`) {
		t.Fatalf("text post: %d %s", r.status, r.body)
	}
	select {
	case res := <-done:
		if !strings.Contains(res.body, `"plain words"`) {
			t.Fatalf("woken with %s", res.body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiter was not woken")
	}
	e.mustJSON(e.call("GET", "/channels", "", "carol"), http.StatusOK, nil)
}
