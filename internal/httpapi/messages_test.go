package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/parley-dev/parley/internal/hub"
)

func TestMessageRoutes(t *testing.T) {
	unread := func(name string, want int) func(e *env, r response) {
		return func(e *env, r response) {
			t.Helper()
			var p hub.Peer
			e.mustJSON(e.call("GET", "/peers/"+name, "", "admin"), 200, &p)
			if p.Unread != want {
				t.Errorf("%s unread = %d, want %d", name, p.Unread, want)
			}
		}
	}
	big := strings.Repeat("x", testMsgMax+1)
	runScenarios(t, []scenario{
		// POST /messages
		{name: "send to a name", method: "POST", path: "/messages", body: `{"to":"bob","body":"hi","subject":"s"}`, cred: "alice",
			want: 201, changes: true, contains: []string{`"from":"alice"`, `"to":["bob"]`, `"deliveries":[{"to":"bob","state":"unread","seq":2}]`}, check: unread("bob", 2)},
		{name: "send to a list", method: "POST", path: "/messages", body: `{"to":["bob","carol"],"body":"hi"}`, cred: "alice",
			want: 201, changes: true, check: func(e *env, r response) { unread("bob", 2)(e, r); unread("carol", 1)(e, r) }},
		{name: "send to a role", method: "POST", path: "/messages", body: `{"to":"role:frontend","body":"hi"}`, cred: "alice",
			want: 201, changes: true, check: func(e *env, r response) { unread("bob", 2)(e, r); unread("carol", 1)(e, r) }},
		{name: "broadcast", method: "POST", path: "/messages", body: `{"to":"*","body":"hi all"}`, cred: "alice",
			want: 201, changes: true, check: func(e *env, r response) { unread("human", 1)(e, r); unread("carol", 1)(e, r); unread("alice", 0)(e, r) }},
		{name: "send to a future agent", method: "POST", path: "/messages", body: `{"to":"zed","body":"for later"}`, cred: "alice",
			want: 201, changes: true, contains: []string{`"queued":["zed"]`, `"state":"held"`}, check: func(e *env, r response) {
				reg := e.call("POST", "/peers/connect", `{"name":"zed"}`, "admin")
				if !strings.Contains(reg.body, `"delivered":1`) {
					t.Errorf("registering zed: %s", reg.body)
				}
			}},
		{name: "send with matching from", method: "POST", path: "/messages", body: `{"from":"alice","to":"bob","body":"hi"}`, cred: "alice", want: 201, changes: true},
		{name: "send with spoofed from", method: "POST", path: "/messages", body: `{"from":"bob","to":"carol","body":"hi"}`, cred: "alice",
			want: 403, wantCode: "forbidden", contains: []string{"from does not match your token"}},
		{name: "send as admin is human", method: "POST", path: "/messages", body: `{"to":"bob","body":"from the dashboard"}`, cred: "admin",
			want: 201, changes: true, contains: []string{`"from":"human"`}},
		{name: "send as admin with from human", method: "POST", path: "/messages", body: `{"from":"human","to":"bob","body":"x"}`, cred: "admin", want: 201, changes: true},
		{name: "send as admin with from another", method: "POST", path: "/messages", body: `{"from":"carol","to":"bob","body":"x"}`, cred: "admin", want: 403, wantCode: "forbidden"},
		{name: "send with join secret", method: "POST", path: "/messages", body: `{"to":"bob","body":"x"}`, cred: "join", want: 403, wantCode: "forbidden"},
		{name: "send without credential", method: "POST", path: "/messages", body: `{"to":"bob","body":"x"}`, want: 401, wantCode: "unauthenticated"},
		{name: "send open with from", open: true, method: "POST", path: "/messages", body: `{"from":"carol","to":"bob","body":"x"}`, want: 201, changes: true, contains: []string{`"from":"carol"`}},
		{name: "send open without from", open: true, method: "POST", path: "/messages", body: `{"to":"bob","body":"x"}`, want: 401, wantCode: "unauthenticated"},
		{name: "send open from unknown", open: true, method: "POST", path: "/messages", body: `{"from":"ghost","to":"bob","body":"x"}`, want: 404, wantCode: "not_found"},
		{name: "send message over the limit", method: "POST", path: "/messages", body: `{"to":"bob","body":"` + big + `"}`, cred: "alice",
			want: 413, wantCode: "too_large", contains: []string{"2048 bytes"}},
		{name: "send empty body", method: "POST", path: "/messages", body: `{"to":"bob","body":"  "}`, cred: "alice", want: 400, wantCode: "invalid_argument"},
		{name: "send to nobody", method: "POST", path: "/messages", body: `{"to":[],"body":"x"}`, cred: "alice", want: 400, wantCode: "invalid_argument"},
		{name: "send to unknown role", method: "POST", path: "/messages", body: `{"to":"role:ghosts","body":"x"}`, cred: "alice", want: 404, wantCode: "not_found"},
		{name: "send bad importance", method: "POST", path: "/messages", body: `{"to":"bob","body":"x","importance":"meh"}`, cred: "alice", want: 400, wantCode: "invalid_argument"},
		{name: "reply to an unknown message", method: "POST", path: "/messages", body: `{"to":"bob","body":"x","reply_to":999999}`, cred: "alice", want: 404, wantCode: "not_found"},
		{name: "idempotency key header and body differ", method: "POST", path: "/messages", body: `{"to":"bob","body":"x","idempotency_key":"a"}`, cred: "alice",
			header: []string{"Idempotency-Key", "b"}, want: 400, wantCode: "invalid_argument"},
		{name: "idempotent retry is stored once", method: "POST", path: "/messages", body: `{"to":"bob","body":"once"}`, cred: "alice",
			header: []string{"Idempotency-Key", "k1"}, want: 201, changes: true, setup: func(e *env) {
				e.mustJSON(e.call("POST", "/messages", `{"to":"bob","body":"once","idempotency_key":"k1"}`, "alice"), 201, nil)
			}, contains: []string{`"duplicate":true`}, check: unread("bob", 2)},

		// GET /messages/{id}
		{name: "get message as recipient", method: "GET", path: "/messages/{msg}", cred: "bob", want: 200, contains: []string{`"body":"hello bob"`, `"state":"unread"`}, excludes: []string{`"deliveries"`}},
		{name: "get message as sender", method: "GET", path: "/messages/{msg}", cred: "alice", want: 200, contains: []string{`"deliveries":[`}},
		{name: "get message as admin", method: "GET", path: "/messages/{msg}", cred: "admin", want: 200, contains: []string{`"deliveries":[`}},
		{name: "get message as a stranger", method: "GET", path: "/messages/{msg}", cred: "carol", want: 404, wantCode: "not_found"},
		{name: "get unknown message", method: "GET", path: "/messages/999999", cred: "bob", want: 404, wantCode: "not_found"},
		{name: "get message open by header", open: true, method: "GET", path: "/messages/{msg}", header: []string{"X-Parley-As", "bob"}, want: 200},

		// POST /messages/{id}/ack
		{name: "ack as recipient", method: "POST", path: "/messages/{msg}/ack", cred: "bob", want: 200, changes: true, check: func(e *env, r response) {
			var v hub.MessageView
			e.mustJSON(e.call("GET", fmt.Sprintf("/messages/%d", e.msgID), "", "bob"), 200, &v)
			if v.State != hub.DeliveryAcked {
				t.Errorf("state = %q, want acked", v.State)
			}
		}},
		{name: "ack with from", method: "POST", path: "/messages/{msg}/ack", body: `{"from":"bob"}`, cred: "bob", want: 200, changes: true},
		{name: "ack as a stranger", method: "POST", path: "/messages/{msg}/ack", cred: "carol", want: 404, wantCode: "not_found"},
		{name: "ack with spoofed from", method: "POST", path: "/messages/{msg}/ack", body: `{"from":"bob"}`, cred: "carol", want: 403, wantCode: "forbidden"},
		{name: "ack open with from", open: true, method: "POST", path: "/messages/{msg}/ack", body: `{"from":"bob"}`, want: 200, changes: true},

		// GET /inbox/{agent}
		{name: "read inbox", method: "GET", path: "/inbox/bob", cred: "bob", want: 200, changes: true,
			contains: []string{`"body":"hello bob"`, `"seq":1`, `"unread":0`, `"next":1`}, check: unread("bob", 0)},
		{name: "read inbox twice returns nothing new", method: "GET", path: "/inbox/bob", cred: "bob", want: 200, changes: true,
			setup: func(e *env) { e.call("GET", "/inbox/bob", "", "bob") }, contains: []string{`"messages":[]`}},
		{name: "peek leaves unread", method: "GET", path: "/inbox/bob?peek=true", cred: "bob", want: 200, contains: []string{`"body":"hello bob"`}, check: unread("bob", 1)},
		{name: "since returns read messages again", method: "GET", path: "/inbox/bob?since=0", cred: "bob", want: 200, changes: true,
			setup: func(e *env) { e.call("GET", "/inbox/bob", "", "bob") }, contains: []string{`"body":"hello bob"`}},
		{name: "since after the last", method: "GET", path: "/inbox/bob?since=1", cred: "bob", want: 200, contains: []string{`"messages":[]`}},
		{name: "preview truncates", method: "GET", path: "/inbox/bob?peek=1&preview=5", cred: "bob", want: 200, contains: []string{`"body":"hello"`, `"truncated":true`}},
		{name: "limit pages", method: "GET", path: "/inbox/bob?peek=true&limit=1", cred: "bob", want: 200, changes: false,
			setup: func(e *env) { e.call("POST", "/messages", `{"to":"bob","body":"two"}`, "carol") }, contains: []string{`"more":true`}},
		{name: "read another's inbox", method: "GET", path: "/inbox/bob", cred: "alice", want: 403, wantCode: "forbidden", contains: []string{"does not match your token"}},
		{name: "read inbox as admin acting as human", method: "GET", path: "/inbox/bob", cred: "admin", want: 403, wantCode: "forbidden"},
		{name: "read inbox as admin acting as bob", method: "GET", path: "/inbox/bob?peek=true", cred: "admin", header: []string{"X-Parley-As", "bob"}, want: 200, contains: []string{"hello bob"}},
		{name: "read inbox open by path", open: true, method: "GET", path: "/inbox/bob?peek=true", want: 200, contains: []string{"hello bob"}},
		{name: "read inbox open, header names another", open: true, method: "GET", path: "/inbox/bob", header: []string{"X-Parley-As", "alice"}, want: 403, wantCode: "forbidden"},
		{name: "read inbox of unknown agent open", open: true, method: "GET", path: "/inbox/ghost", want: 404, wantCode: "not_found"},

		// GET /inbox/{agent}/wait
		{name: "wait returns pending mail at once", method: "GET", path: "/inbox/bob/wait?timeout=0", cred: "bob", want: 200, changes: true, contains: []string{"hello bob"}},
		{name: "wait with nothing pending", method: "GET", path: "/inbox/alice/wait?timeout=0", cred: "alice", want: 200, contains: []string{`"messages":[]`}},
		{name: "wait on another's inbox", method: "GET", path: "/inbox/bob/wait?timeout=0", cred: "alice", want: 403, wantCode: "forbidden"},
		{name: "wait open by path", open: true, method: "GET", path: "/inbox/bob/wait?timeout=0&peek=true", want: 200, contains: []string{"hello bob"}},

		// GET /threads/{id}, /history/{peer}, /search
		{name: "thread as participant", method: "GET", path: "/threads/{msg}", cred: "alice", want: 200, contains: []string{"hello bob"}},
		{name: "thread as outsider is not found", method: "GET", path: "/threads/{msg}", cred: "carol", want: 404, wantCode: "not_found"},
		{name: "unknown thread", method: "GET", path: "/threads/nope", cred: "alice", want: 404, wantCode: "not_found"},
		{name: "thread as admin", method: "GET", path: "/threads/{msg}", cred: "admin", want: 200, contains: []string{"hello bob"}},
		{name: "history with a peer", method: "GET", path: "/history/bob", cred: "alice", want: 200, contains: []string{"hello bob"}},
		{name: "history with a stranger", method: "GET", path: "/history/carol", cred: "alice", want: 200, contains: []string{`"messages":[]`}},
		{name: "history with unknown peer", method: "GET", path: "/history/ghost", cred: "alice", want: 404, wantCode: "not_found"},
		{name: "history pages", method: "GET", path: "/history/bob?limit=1", cred: "alice", want: 200,
			setup: func(e *env) { e.call("POST", "/messages", `{"to":"alice","body":"back"}`, "bob") }, contains: []string{`"more":true`, `"body":"back"`, `"before":`}},
		{name: "search finds", method: "GET", path: "/search?q=hello", cred: "bob", want: 200, contains: []string{"hello bob"}},
		{name: "search hides others' mail", method: "GET", path: "/search?q=hello", cred: "carol", want: 200, contains: []string{`"messages":[]`}},
		{name: "search without words", method: "GET", path: "/search?q=", cred: "bob", want: 400, wantCode: "invalid_argument"},
		{name: "search open needs an identity", open: true, method: "GET", path: "/search?q=hello", want: 401, wantCode: "unauthenticated"},
	})
}

// TestWaitWakesOnSend: a long-poll returns as soon as a message arrives.
func TestWaitWakesOnSend(t *testing.T) {
	e := newEnv(t, envOptions{bare: true})
	e.register("alice", "")
	e.register("bob", "")
	subs := e.bus.Subscribers()
	got := make(chan response, 1)
	go func() { got <- e.call("GET", "/inbox/bob/wait?timeout=600000", "", "bob") }()
	eventually(t, "the waiter to subscribe", func() bool { return e.bus.Subscribers() > subs })
	e.mustJSON(e.call("POST", "/messages", `{"to":"bob","body":"wake up"}`, "alice"), 201, nil)
	var res hub.ReadResult
	e.mustJSON(<-got, 200, &res)
	if len(res.Messages) != 1 || res.Messages[0].Body != "wake up" {
		t.Fatalf("wait returned %+v", res.Messages)
	}
}

// TestWaitEndsWithClient: a waiter whose client goes away stops waiting.
func TestWaitEndsWithClient(t *testing.T) {
	e := newEnv(t, envOptions{bare: true})
	e.register("bob", "")
	subs := e.bus.Subscribers()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.http.URL+"/inbox/bob/wait?timeout=600000", nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens["bob"])
	done := make(chan error, 1)
	go func() {
		resp, err := e.http.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	eventually(t, "the waiter to subscribe", func() bool { return e.bus.Subscribers() > subs })
	cancel()
	<-done
	eventually(t, "the waiter to unsubscribe", func() bool { return e.bus.Subscribers() == subs })
}
