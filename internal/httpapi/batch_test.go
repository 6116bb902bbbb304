package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/parley-dev/parley/internal/httpapi"
	"github.com/parley-dev/parley/internal/hub"
)

func TestSendBatchRoute(t *testing.T) {
	const path = "/messages/batch"
	batch := func(items ...string) string { return `{"messages":[` + strings.Join(items, ",") + `]}` }
	many := make([]string, hub.MaxBatch+1)
	for i := range many {
		many[i] = `{"to":"bob","body":"x"}`
	}
	big := strings.Repeat("x", testMsgMax+1)
	runScenarios(t, []scenario{
		{name: "batch to several agents", method: "POST", path: path, cred: "alice",
			body: batch(`{"to":"bob","body":"one"}`, `{"to":["bob","carol"],"body":"two"}`, `{"to":"role:frontend","body":"three"}`),
			want: 201, changes: true, contains: []string{`"count":3`, `"results":[{"message":`, `"to":"bob","state":"unread","seq":2`, `"to":"bob","state":"unread","seq":4`, `"to":"carol","state":"unread","seq":2`},
			check: func(e *env, r response) {
				var res struct {
					Results []hub.SendResult `json:"results"`
				}
				if err := json.Unmarshal([]byte(r.body), &res); err != nil || len(res.Results) != 3 {
					t.Fatalf("results: %v %s", err, r.body)
				}
				var inbox hub.ReadResult
				e.mustJSON(e.call("GET", "/inbox/bob", "", "bob"), 200, &inbox)
				var got []string
				for _, m := range inbox.Messages {
					got = append(got, fmt.Sprintf("%s@%d", m.Body, m.Seq))
				}
				if want := "hello bob@1,one@2,two@3,three@4"; strings.Join(got, ",") != want {
					t.Errorf("bob's inbox %v, want %s", got, want)
				}
			}},
		{name: "batch with matching from", method: "POST", path: path, cred: "alice", body: batch(`{"from":"alice","to":"bob","body":"x"}`, `{"to":"bob","body":"y"}`), want: 201, changes: true},
		{name: "batch with a foreign from", method: "POST", path: path, cred: "alice", body: batch(`{"to":"bob","body":"x"}`, `{"from":"bob","to":"carol","body":"y"}`),
			want: 403, wantCode: "forbidden", contains: []string{"messages[1].from does not match your token"}},
		{name: "batch as admin is human", method: "POST", path: path, cred: "admin", body: batch(`{"to":"bob","body":"x"}`), want: 201, changes: true, contains: []string{`"from":"human"`}},
		{name: "batch as admin with from another", method: "POST", path: path, cred: "admin", body: batch(`{"from":"carol","to":"bob","body":"x"}`), want: 403, wantCode: "forbidden"},
		{name: "batch with join secret", method: "POST", path: path, cred: "join", body: batch(`{"to":"bob","body":"x"}`), want: 403, wantCode: "forbidden"},
		{name: "batch without credential", method: "POST", path: path, body: batch(`{"to":"bob","body":"x"}`), want: 401, wantCode: "unauthenticated"},
		{name: "batch open with from", open: true, method: "POST", path: path, body: batch(`{"from":"carol","to":"bob","body":"x"}`, `{"to":"bob","body":"y"}`), want: 201, changes: true, contains: []string{`"from":"carol"`}},
		{name: "batch open with two froms", open: true, method: "POST", path: path, body: batch(`{"from":"carol","to":"bob","body":"x"}`, `{"from":"alice","to":"bob","body":"y"}`), want: 403, wantCode: "forbidden"},
		{name: "batch open without from", open: true, method: "POST", path: path, body: batch(`{"to":"bob","body":"x"}`), want: 401, wantCode: "unauthenticated"},
		{name: "batch with an invalid message", method: "POST", path: path, cred: "alice", body: batch(`{"to":"bob","body":"x"}`, `{"to":"bob","body":"y"}`, `{"to":"Bob!","body":"z"}`),
			want: 400, wantCode: "invalid_name", contains: []string{"messages[2].to[0]: "}},
		{name: "batch failing when stored", method: "POST", path: path, cred: "alice", body: batch(`{"to":"bob","body":"x"}`, `{"to":"role:ghosts","body":"y"}`),
			want: 404, wantCode: "not_found", contains: []string{`messages[1]: no other agent has role \"ghosts\"`}},
		{name: "batch message over the limit", method: "POST", path: path, cred: "alice", body: batch(`{"to":"bob","body":"x"}`, `{"to":"bob","body":"`+big+`"}`),
			want: 413, wantCode: "too_large", contains: []string{"messages[1]: message is 2049 bytes"}},
		{name: "batch of too many", method: "POST", path: path, cred: "alice", body: batch(many...), want: 413, wantCode: "too_large", contains: []string{"at most 500"}},
		{name: "batch body over the limit", method: "POST", path: path, cred: "alice", body: batch(`{"to":"bob","body":"` + strings.Repeat("x", 9<<20) + `"}`),
			want: 413, wantCode: "too_large", contains: []string{"limit of 8454144 bytes"}},
		{name: "batch empty", method: "POST", path: path, cred: "alice", body: batch(), want: 400, wantCode: "invalid_argument"},
		{name: "batch without messages", method: "POST", path: path, cred: "alice", body: `{}`, want: 400, wantCode: "invalid_argument"},
		{name: "batch unknown field", method: "POST", path: path, cred: "alice", body: batch(`{"to":"bob","body":"x","urgent":true}`), want: 400, wantCode: "invalid_argument", contains: []string{`unknown field \"urgent\"`}},
		{name: "batch wrong type", method: "POST", path: path, cred: "alice", body: batch(`{"to":"bob","body":5}`), want: 400, wantCode: "invalid_argument", contains: []string{`field \"messages.body\": want string, got number`}},
		{name: "batch with an idempotency header", method: "POST", path: path, cred: "alice", body: batch(`{"to":"bob","body":"x"}`),
			header: []string{"Idempotency-Key", "k"}, want: 400, wantCode: "invalid_argument"},
		{name: "batch idempotent within and across", method: "POST", path: path, cred: "alice",
			body: batch(`{"to":"bob","body":"a","idempotency_key":"k1"}`, `{"to":"bob","body":"a","idempotency_key":"k1"}`, `{"to":"bob","body":"b","idempotency_key":"k2"}`),
			setup: func(e *env) {
				e.mustJSON(e.call("POST", "/messages", `{"to":"bob","body":"b","idempotency_key":"k2"}`, "alice"), 201, nil)
			},
			want: 201, changes: true, check: func(e *env, r response) {
				var res struct {
					Results []hub.SendResult `json:"results"`
				}
				e.mustJSON(r, 201, &res)
				if res.Results[0].Duplicate || !res.Results[1].Duplicate || res.Results[1].Message.ID != res.Results[0].Message.ID || !res.Results[2].Duplicate {
					t.Errorf("duplicates: %s", r.body)
				}
				var p hub.Peer
				e.mustJSON(e.call("GET", "/peers/bob", "", "admin"), 200, &p)
				if p.Unread != 3 { // hello bob, b, a
					t.Errorf("bob unread = %d, want 3", p.Unread)
				}
			}},
	})
}

// TestSendBatchRateLimit: a batch counts one request per message against
// the agent's rate limit, so batching does not multiply its sending rate;
// a refused batch stores nothing.
func TestSendBatchRateLimit(t *testing.T) {
	e := newEnv(t, envOptions{limits: httpapi.Limits{Rate: 0.001, Burst: 5}, bare: true})
	e.register("alice", "")
	e.register("bob", "")
	three := `{"messages":[{"to":"bob","body":"a"},{"to":"bob","body":"b"},{"to":"bob","body":"c"}]}`
	if r := e.call("POST", "/messages/batch", three, "alice"); r.status != 201 {
		t.Fatalf("first batch of 3 within a burst of 5: %d %s", r.status, r.body)
	}
	r := e.call("POST", "/messages/batch", three, "alice")
	if r.status != 429 || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "a batch of 3 messages counts as 3 requests") {
		t.Fatalf("second batch of 3 with 2 tokens left: %d %q %s, want 429 with Retry-After", r.status, r.header.Get("Retry-After"), r.body)
	}
	var inbox hub.ReadResult
	e.mustJSON(e.call("GET", "/inbox/bob?peek=true", "", "bob"), 200, &inbox)
	if len(inbox.Messages) != 3 {
		t.Errorf("bob's inbox after a refused batch: %d messages, want 3", len(inbox.Messages))
	}
}
