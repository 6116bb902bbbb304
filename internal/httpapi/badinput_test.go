package httpapi_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// endpoint is one route of docs/API.md with a request that would succeed.
type endpoint struct {
	method, path string
	body         string // a valid body, when the route reads one
	cred         string
	// nameInPath marks routes whose path ends in (or holds) a name: the
	// path is a format with one %s.
	namePath string
	// wrongTypes are bodies with a field of the wrong type, and the
	// field's name, which the error must mention.
	wrongTypes [][2]string
	// queries are bad query strings and the parameter the error names.
	queries [][2]string
}

// endpoints lists every route of the API but /healthz, which takes no
// input.
var endpoints = []endpoint{
	{method: "GET", path: "/status", cred: "admin"},
	{method: "POST", path: "/reset", body: `{}`, cred: "admin"},
	{method: "GET", path: "/peers/discover", cred: "alice", queries: [][2]string{{"role=a/b", "role"}}},
	{method: "POST", path: "/peers/connect", body: `{"name":"dave"}`, cred: "admin",
		wrongTypes: [][2]string{{`{"name":5}`, "name"}, {`{"capabilities":"tcp"}`, "capabilities"}, {`{"capabilities":[1]}`, "capabilities"}, {`{"pid":"12"}`, "pid"}, {`{"pid":1.5}`, "pid"}}},
	{method: "GET", path: "/peers", cred: "alice", queries: [][2]string{{"role=x%20y", "role"}}},
	{method: "GET", path: "/peers/bob", cred: "alice", namePath: "/peers/%s"},
	{method: "DELETE", path: "/peers/carol", cred: "carol", namePath: "/peers/%s"},
	{method: "POST", path: "/peers/alice/rename", body: `{"name":"alicia"}`, cred: "alice", namePath: "/peers/%s/rename",
		wrongTypes: [][2]string{{`{"name":["x"]}`, "name"}, {`{"name":"x","from":1}`, "from"}}},
	{method: "POST", path: "/peers/alice/status", body: `{"state":"busy"}`, cred: "alice", namePath: "/peers/%s/status",
		wrongTypes: [][2]string{{`{"state":1}`, "state"}, {`{"status":true}`, "status"}}},
	{method: "GET", path: "/whoami", cred: "alice"},
	{method: "POST", path: "/messages", body: `{"to":"bob","body":"hi"}`, cred: "alice",
		wrongTypes: [][2]string{
			{`{"to":5,"body":"x"}`, "to"}, {`{"to":{"a":1},"body":"x"}`, "to"}, {`{"to":["bob",5],"body":"x"}`, "to"},
			{`{"to":"bob","body":5}`, "body"}, {`{"to":"bob","body":"x","ack_required":"yes"}`, "ack_required"},
			{`{"to":"bob","body":"x","reply_to":"1"}`, "reply_to"}, {`{"to":"bob","body":"x","attachments":{}}`, "attachments"},
			{`{"to":"bob","body":"x","attachments":[{"content":1}]}`, "attachments.content"},
		}},
	{method: "GET", path: "/messages/{msg}", cred: "bob"},
	{method: "POST", path: "/messages/{msg}/ack", body: `{}`, cred: "bob", wrongTypes: [][2]string{{`{"from":5}`, "from"}}},
	{method: "GET", path: "/inbox/bob", cred: "bob", namePath: "/inbox/%s", queries: readQueries},
	{method: "GET", path: "/inbox/bob/wait?timeout=0", cred: "bob", namePath: "/inbox/%s/wait",
		queries: append([][2]string{
			{"timeout=-1", "timeout"}, {"timeout=600001", "timeout"}, {"timeout=99999999999999999999", "timeout"}, {"timeout=1s", "timeout"},
		}, readQueries...)},
	{method: "GET", path: "/threads/{msg}", cred: "alice", queries: pageQueries},
	{method: "GET", path: "/history/bob", cred: "alice", namePath: "/history/%s", queries: pageQueries},
	{method: "GET", path: "/search?q=hello", cred: "bob", queries: append([][2]string{{"q=", "q"}}, pageQueries...)},
	{method: "GET", path: "/events", cred: "alice", queries: [][2]string{
		{"since=-1", "since"}, {"since=abc", "since"}, {"kind=message!", "kind"}, {"kind=MESSAGE", "kind"}, {"agent=a/b", "agent"}, {"agent=x%20y", "agent"},
	}},
}

var readQueries = [][2]string{
	{"limit=abc", "limit"}, {"limit=-1", "limit"}, {"limit=1.5", "limit"}, {"since=-1", "since"}, {"since=x", "since"},
	{"preview=-5", "preview"}, {"peek=maybe", "peek"},
}

var pageQueries = [][2]string{{"before=-1", "before"}, {"before=x", "before"}, {"limit=-2", "limit"}}

// badNames break the naming rules; each must be refused as invalid_name.
var badNames = []struct{ label, name string }{
	{"65 chars", strings.Repeat("a", 65)},
	{"dot dot", "a..b"},
	{"slash", "a/b"},
	{"space", "x y"},
	{"full-width", "ａｂｃ"},
	{"trailing newline", "alice\n"},
	{"leading dot", ".alice"},
	{"invalid UTF-8", "\xff"},
}

func TestBadInputEveryEndpoint(t *testing.T) {
	var scs []scenario
	add := func(sc scenario) { scs = append(scs, sc) }
	oversized := `{"body":"` + strings.Repeat("x", testMaxBody) + `"}`
	for _, ep := range endpoints {
		route := ep.method + " " + strings.SplitN(ep.path, "?", 2)[0]
		// Credentials.
		for _, c := range []struct{ label, cred string }{
			{"no credential", ""},
			{"forged token", "raw:Bearer pt_forged"},
			{"basic auth", "raw:Basic YWxpY2U6eA=="},
			{"bearer without token", "raw:Bearer "},
			{"wrong admin secret", "raw:Bearer pa_wrong"},
		} {
			add(scenario{name: route + ": " + c.label, method: ep.method, path: ep.path, body: ep.body, cred: c.cred, want: 401, wantCode: "unauthenticated"})
		}
		add(scenario{name: route + ": token in upper case", method: ep.method, path: ep.path, body: ep.body, cred: "upper:alice", want: 401, wantCode: "unauthenticated"})

		// Bodies.
		if ep.body != "" {
			for _, b := range []struct{ label, body, msg string }{
				{"malformed JSON", `{"to":`, "malformed JSON"},
				{"unquoted key", `{to:"bob"}`, "malformed JSON"},
				{"JSON array", `[{"to":"bob"}]`, "must be a JSON object, not an array"},
				{"JSON string", `"hello"`, "not a string"},
				{"JSON null", `null`, "not null"},
				{"trailing data", ep.body + ` {}`, "unexpected data after the object"},
				{"trailing garbage", ep.body + `x`, "unexpected data"},
				{"invalid UTF-8", "{\"name\":\"\xff\xfe\"}", "not valid UTF-8"},
				{"unknown field", `{"bdy":"typo"}`, `unknown field \"bdy\"`},
			} {
				add(scenario{name: route + ": " + b.label, method: ep.method, path: ep.path, body: b.body, cred: ep.cred,
					want: 400, wantCode: "invalid_argument", contains: []string{b.msg}})
			}
			add(scenario{name: route + ": oversized body", method: ep.method, path: ep.path, body: oversized, cred: ep.cred,
				want: 413, wantCode: "too_large", contains: []string{fmt.Sprintf("limit of %d bytes", testMaxBody)}})
			for i, wt := range ep.wrongTypes {
				add(scenario{name: fmt.Sprintf("%s: wrong type %d (%s)", route, i, wt[1]), method: ep.method, path: ep.path, body: wt[0], cred: ep.cred,
					want: 400, wantCode: "invalid_argument", contains: []string{fmt.Sprintf(`field \"%s\": want`, wt[1])}})
			}
			if strings.Contains(ep.body, `"from"`) || ep.method == "POST" && ep.path != "/peers/connect" && ep.path != "/reset" {
				for _, n := range badNames {
					add(scenario{name: route + ": from " + n.label, method: ep.method, path: ep.path, body: withField(ep.body, "from", n.name), cred: ep.cred,
						want: 400, wantCode: bodyNameCode(n.name)})
				}
			}
		}
		// Names in the path.
		if ep.namePath != "" {
			for _, n := range badNames {
				if n.label == "invalid UTF-8" {
					continue // not a valid URL
				}
				add(scenario{name: route + ": path name " + n.label, method: ep.method, path: fmt.Sprintf(ep.namePath, url.PathEscape(n.name)), body: ep.body, cred: ep.cred,
					want: 400, wantCode: "invalid_name"})
			}
		}
		// X-Parley-As.
		if ep.path != "/healthz" {
			add(scenario{name: route + ": X-Parley-As invalid", method: ep.method, path: ep.path, body: ep.body, cred: "admin",
				header: []string{"X-Parley-As", "x y"}, want: 400, wantCode: "invalid_name"})
		}
		// Query strings.
		for _, q := range ep.queries {
			base, raw, _ := strings.Cut(ep.path, "?")
			vals, err := url.ParseQuery(raw)
			if err != nil {
				t.Fatal(err)
			}
			bad, err := url.ParseQuery(q[0])
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range bad {
				vals[k] = v
			}
			path := base + "?" + vals.Encode()
			code := "invalid_argument"
			if q[1] == "role" || q[1] == "agent" {
				code = "invalid_name"
			}
			add(scenario{name: route + ": query " + q[0], method: ep.method, path: path, body: ep.body, cred: ep.cred, want: 400, wantCode: code, contains: []string{q[1]}})
		}
	}

	// Names in bodies.
	for _, n := range badNames {
		add(scenario{name: "register name " + n.label, method: "POST", path: "/peers/connect", body: withField(`{}`, "name", n.name), cred: "admin", want: 400, wantCode: bodyNameCode(n.name)})
		add(scenario{name: "register role " + n.label, method: "POST", path: "/peers/connect", body: withField(`{"name":"dave"}`, "role", n.name), cred: "admin", want: 400, wantCode: bodyNameCode(n.name)})
		add(scenario{name: "rename to " + n.label, method: "POST", path: "/peers/alice/rename", body: withField(`{}`, "name", n.name), cred: "alice", want: 400, wantCode: bodyNameCode(n.name)})
		add(scenario{name: "send to " + n.label, method: "POST", path: "/messages", body: withField(`{"body":"x"}`, "to", n.name), cred: "alice", want: 400, wantCode: bodyNameCode(n.name)})
		add(scenario{name: "send to list with " + n.label, method: "POST", path: "/messages", body: fmt.Sprintf(`{"to":["bob",%q],"body":"x"}`, n.name), cred: "alice", want: 400, wantCode: bodyNameCode(n.name)})
		add(scenario{name: "send to role " + n.label, method: "POST", path: "/messages", body: withField(`{"body":"x"}`, "to", "role:"+n.name), cred: "alice", want: 400, wantCode: bodyNameCode(n.name)})
	}
	add(scenario{name: "rename to empty", method: "POST", path: "/peers/alice/rename", body: `{"name":""}`, cred: "alice", want: 400, wantCode: "invalid_name"})
	add(scenario{name: "send to empty name", method: "POST", path: "/messages", body: `{"to":"","body":"x"}`, cred: "alice", want: 400, wantCode: "invalid_name"})
	add(scenario{name: "path name empty", method: "GET", path: "/inbox/", cred: "alice", want: 404, wantCode: "not_found"})

	// Unknown and malformed ids.
	for _, id := range []string{"abc", "0", "-1", "1.5", "99999999999999999999"} {
		add(scenario{name: "get message id " + id, method: "GET", path: "/messages/" + id, cred: "bob", want: 400, wantCode: "invalid_argument"})
		add(scenario{name: "ack message id " + id, method: "POST", path: "/messages/" + id + "/ack", cred: "bob", want: 400, wantCode: "invalid_argument"})
	}
	for _, sc := range []scenario{
		{name: "unknown message", method: "GET", path: "/messages/424242", cred: "bob", want: 404, wantCode: "not_found"},
		{name: "ack unknown message", method: "POST", path: "/messages/424242/ack", cred: "bob", want: 404, wantCode: "not_found"},
		{name: "unknown peer", method: "GET", path: "/peers/nobody", cred: "bob", want: 404, wantCode: "not_found"},
		{name: "deregister unknown", method: "DELETE", path: "/peers/nobody", cred: "admin", header: []string{"X-Parley-As", "nobody"}, want: 404, wantCode: "not_found"},
		{name: "inbox of unknown", method: "GET", path: "/inbox/nobody", cred: "admin", header: []string{"X-Parley-As", "nobody"}, want: 404, wantCode: "not_found"},
		{name: "history with unknown", method: "GET", path: "/history/nobody", cred: "bob", want: 404, wantCode: "not_found"},
		{name: "reply to unknown", method: "POST", path: "/messages", body: `{"to":"bob","body":"x","reply_to":424242}`, cred: "alice", want: 404, wantCode: "not_found"},
		{name: "thread id too long", method: "GET", path: "/threads/" + strings.Repeat("t", 129), cred: "bob", want: 400, wantCode: "invalid_argument"},
		{name: "negative reply_to", method: "POST", path: "/messages", body: `{"to":"bob","body":"x","reply_to":-1}`, cred: "alice", want: 400, wantCode: "invalid_argument"},
		{name: "negative pid", method: "POST", path: "/peers/connect", body: `{"name":"dave","pid":-1}`, cred: "admin", want: 400, wantCode: "invalid_argument"},
		{name: "Last-Event-ID not a number", method: "GET", path: "/events", cred: "alice", header: []string{"Last-Event-ID", "abc"}, want: 400, wantCode: "invalid_argument", contains: []string{"Last-Event-ID"}},
		{name: "Last-Event-ID negative", method: "GET", path: "/events", cred: "alice", header: []string{"Last-Event-ID", "-3"}, want: 400, wantCode: "invalid_argument"},
	} {
		add(sc)
	}
	runScenarios(t, scs)
}

// bodyNameCode is the error for a bad name in a body: invalid UTF-8
// fails the whole body before any name is read.
func bodyNameCode(name string) string {
	if !utf8.ValidString(name) {
		return "invalid_argument"
	}
	return "invalid_name"
}

// withField returns body, a JSON object, with one more string field.
func withField(body, field, value string) string {
	inner := strings.TrimSuffix(strings.TrimPrefix(body, "{"), "}")
	f := fmt.Sprintf("%q:%s", field, jsonString(value))
	if strings.TrimSpace(inner) == "" {
		return "{" + f + "}"
	}
	return "{" + inner + "," + f + "}"
}

// jsonString quotes s for JSON, keeping invalid UTF-8 bytes as they are
// so that the decoder sees them.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
