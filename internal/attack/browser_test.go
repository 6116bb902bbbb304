package attack_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/parley-dev/parley/internal/hub"
)

// TestForeignHostAndOrigin: against DNS rebinding and cross-site
// requests, a loopback hub answers only to loopback Host names, and
// refuses any state change a browser says comes from another origin, on
// the API, /mcp and /mcp/sse alike. It sends no CORS headers.
func TestForeignHostAndOrigin(t *testing.T) {
	e := start(t, nil)
	alice := e.register("alice")
	e.register("bob")
	send := `{"to":"bob","body":"hi"}`
	before := e.state()
	for _, host := range []string{"evil.example", "evil.example:" + portOf(e.host), "127.0.0.1.evil.example", "localhost.evil.example", "10.0.0.1"} {
		refused(t, "Host "+host, e.do("GET", "/peers", nil, alice, "Host", host), http.StatusForbidden, hub.CodeForbidden)
		refused(t, "Host "+host+" send", e.do("POST", "/messages", send, alice, "Host", host), http.StatusForbidden, hub.CodeForbidden)
		refused(t, "Host "+host+" /mcp", e.do("POST", "/mcp", `{}`, alice, "Host", host), http.StatusForbidden, hub.CodeForbidden)
		refused(t, "Host "+host+" /mcp/sse", e.do("GET", "/mcp/sse", nil, alice, "Host", host), http.StatusForbidden, hub.CodeForbidden)
		refused(t, "Host "+host+" dashboard", e.do("GET", "/dashboard/", nil, "", "Host", host), http.StatusForbidden, hub.CodeForbidden)
	}
	for _, tc := range []struct {
		name string
		hdr  []string
	}{
		{"foreign Origin", []string{"Origin", "http://evil.example"}},
		{"foreign Origin with the hub's port", []string{"Origin", "http://evil.example:" + portOf(e.host)}},
		{"loopback Origin of another port", []string{"Origin", "http://127.0.0.1:1"}},
		{"localhost Origin of another port", []string{"Origin", "http://localhost:3000"}},
		{"null Origin", []string{"Origin", "null"}},
		{"cross-site fetch", []string{"Sec-Fetch-Site", "cross-site"}},
		{"same-site fetch", []string{"Sec-Fetch-Site", "same-site"}},
	} {
		refused(t, tc.name+" send", e.do("POST", "/messages", send, alice, tc.hdr...), http.StatusForbidden, hub.CodeForbidden)
		refused(t, tc.name+" /mcp", e.do("POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, alice, tc.hdr...), http.StatusForbidden, hub.CodeForbidden)
		refused(t, tc.name+" /mcp/sse", e.do("POST", "/mcp/sse?sessionid=x", `{}`, alice, tc.hdr...), http.StatusForbidden, hub.CodeForbidden)
		refused(t, tc.name+" reset", e.do("POST", "/reset", nil, e.admin, tc.hdr...), http.StatusForbidden, hub.CodeForbidden)
	}
	refused(t, "foreign Origin read", e.do("GET", "/inbox/bob", nil, alice, "Origin", "http://evil.example"), http.StatusForbidden, hub.CodeForbidden)
	e.unchanged("foreign hosts and origins", before)

	// The hub's own origin (its dashboard) and programs without Origin pass.
	okay(t, "own origin", e.do("POST", "/messages", send, alice, "Origin", "http://"+e.host), nil)
	okay(t, "no origin", e.do("POST", "/messages", send, alice), nil)
	okay(t, "localhost Host", e.do("GET", "/healthz", nil, "", "Host", "localhost:"+portOf(e.host)), nil)
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	okay(t, "MCP initialize", e.do("POST", "/mcp", init, alice, "Accept", "application/json, text/event-stream"), nil)

	// No CORS: a preflight gets nothing that would let a page read or send.
	for _, a := range []answer{
		e.do("OPTIONS", "/messages", nil, "", "Origin", "http://evil.example", "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "authorization"),
		e.do("GET", "/peers", nil, alice, "Origin", "http://localhost:3000"),
		e.do("GET", "/healthz", nil, ""),
	} {
		for k := range a.header {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Errorf("response carries CORS header %s: %v", k, a.header[k])
			}
		}
	}
}

func portOf(hostport string) string {
	_, port, _ := strings.Cut(hostport, ":")
	return port
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestCrossSiteDashboard: the dashboard's cookie is HttpOnly and
// SameSite=Strict; a cross-site form post cannot log in, act or log out,
// with or without the cookie; a same-origin call without the CSRF token
// fails too. A same-origin call with it works, so the test can fail.
func TestCrossSiteDashboard(t *testing.T) {
	e := start(t, nil)
	e.register("bob")
	origin := "http://" + e.host
	form := func(path, origin, cookie, body string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", e.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	login := "secret=" + url.QueryEscape(e.admin)
	before := e.state()
	if r := form("/dashboard/login", "http://evil.example", "", login); r.StatusCode != 403 || len(r.Cookies()) != 0 {
		t.Errorf("cross-site login: %d, cookies %v; want 403 and none", r.StatusCode, r.Cookies())
	}
	if r := form("/dashboard/login", origin, "", "secret=wrong"); r.StatusCode != 401 || len(r.Cookies()) != 0 {
		t.Errorf("wrong secret: %d, cookies %v; want 401 and none", r.StatusCode, r.Cookies())
	}
	r := form("/dashboard/login", origin, "", login)
	var session *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == "parley_session" {
			session = c
		}
	}
	if r.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("login: %d, cookies %v", r.StatusCode, r.Cookies())
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/dashboard/" {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path /dashboard/", session)
	}
	cookie := session.Name + "=" + session.Value

	// The page carries the CSRF token for the session.
	req, _ := http.NewRequest("GET", e.url+"/dashboard/", nil)
	req.Header.Set("Cookie", cookie)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="parley-csrf" content="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the dashboard page")
	}
	csrf := string(m[1])

	send := `to=bob&body=hi`
	for _, tc := range []struct {
		name   string
		origin string
		hdr    []string
	}{
		{"cross-site form post", "http://evil.example", nil},
		{"cross-site form post with the CSRF token", "http://evil.example", []string{"X-Parley-CSRF", csrf}},
		{"cross-site without Origin", "", []string{"Sec-Fetch-Site", "cross-site"}},
		{"same-site page of another port", "http://127.0.0.1:1", []string{"Sec-Fetch-Site", "same-site"}},
		{"null origin", "null", []string{"X-Parley-CSRF", csrf}},
		{"same origin without the CSRF token", origin, nil},
		{"same origin with a wrong CSRF token", origin, []string{"X-Parley-CSRF", csrf + "x"}},
	} {
		if r := form("/dashboard/api/messages", tc.origin, cookie, send, tc.hdr...); r.StatusCode != 403 {
			t.Errorf("%s: %d, want 403", tc.name, r.StatusCode)
		}
	}
	if r := form("/dashboard/logout", "http://evil.example", cookie, "csrf="+csrf); r.StatusCode != 403 {
		t.Errorf("cross-site logout: %d, want 403", r.StatusCode)
	}
	e.unchanged("cross-site dashboard posts", before)

	// Control: the dashboard's own call works, as human.
	req, _ = http.NewRequest("POST", e.url+"/dashboard/api/messages", strings.NewReader(`{"to":"bob","body":"from the dashboard"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	req.Header.Set("Cookie", cookie)
	req.Header.Set("X-Parley-CSRF", csrf)
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(b), `"from":"human"`) {
		t.Fatalf("same-origin call with the CSRF token: %d %s", resp.StatusCode, b)
	}
}

// xssPayloads are script payloads an agent might store for a browser to
// render.
var xssPayloads = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(document.cookie)>`,
	`</textarea><svg/onload=alert(1)>`,
	`javascript:alert(1)`,
	`{{constructor.constructor('alert(1)')()}}${alert(1)}`,
	"line\u2028sep\u2029<b>bold</b>",
}

// TestScriptPayloadsStayData: every text field takes script payloads as
// data: stored and returned verbatim, as JSON with nosniff, never as
// markup. (The dashboard's browser tests check that it renders them as
// text.)
func TestScriptPayloadsStayData(t *testing.T) {
	e := start(t, nil)
	bob := e.register("bob")
	for i, p := range xssPayloads {
		name := fmt.Sprintf("x%d", i)
		tok := e.register(name)
		word := strings.ReplaceAll(p, " ", "")      // actions are one word
		line := strings.ReplaceAll(p, "\u2028", "") // capabilities are one line
		js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
		writes := []struct {
			what, method, path, body, cred, read string
		}{
			{"registration", "POST", "/peers/connect", js(map[string]any{"name": name, "token": tok, "description": p, "project": p, "client": p, "host": p, "capabilities": []string{line}}), e.admin, "/peers/" + name},
			{"status", "POST", "/peers/" + name + "/status", js(map[string]any{"status": p}), tok, "/peers/" + name},
			{"message", "POST", "/messages", js(map[string]any{"to": "bob", "subject": p, "body": p, "attachments": []map[string]string{{"kind": "data", "name": p, "content": p}}}), tok, "/inbox/bob?peek=true"},
			{"channel post", "POST", "/channels/" + name + "/send", js(map[string]any{"text": p}), tok, "/channels/" + name + "/messages"},
			{"signal", "POST", "/signals/" + name, js(map[string]any{"data": map[string]string{"t": p}}), tok, "/signals/" + name},
			{"state", "PUT", "/state/" + name, js(map[string]any{"value": p}), tok, "/state/" + name},
			{"command", "POST", "/commands/send", js(map[string]any{"target": "bob", "action": word, "params": map[string]string{"p": p}}), tok, "/commands/bob"},
			{"proposal", "POST", "/proposals", js(map[string]any{"question": p, "options": []string{p, "no"}}), tok, "/proposals"},
			{"lease", "POST", "/leases", js(map[string]any{"patterns": []string{"docs/" + name + "/**"}, "reason": p}), tok, "/leases"},
		}
		for _, w := range writes {
			a := e.do(w.method, w.path, w.body, w.cred)
			okay(t, w.what+" with "+p, a, nil)
			readCred := tok
			if w.what == "message" || w.what == "command" {
				readCred = bob
			}
			a = e.do("GET", w.read, nil, readCred)
			okay(t, "read "+w.what, a, nil)
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type %q", w.what, ct)
			}
			if a.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: no X-Content-Type-Options: nosniff", w.what)
			}
			if strings.Contains(string(a.body), "<script") || strings.Contains(string(a.body), "<svg") {
				t.Errorf("%s: raw < in JSON: %s", w.what, truncate(string(a.body), 200))
			}
			var v any
			if err := json.Unmarshal(a.body, &v); err != nil {
				t.Fatal(err)
			}
			want := p
			if w.what == "command" {
				want = word
			}
			if !holds(v, want) {
				t.Errorf("%s: %q not returned verbatim: %s", w.what, want, truncate(string(a.body), 300))
			}
		}
	}
}

// holds reports whether a decoded JSON value has the string s somewhere.
func holds(v any, s string) bool {
	switch x := v.(type) {
	case string:
		return x == s
	case []any:
		for _, y := range x {
			if holds(y, s) {
				return true
			}
		}
	case map[string]any:
		for _, y := range x {
			if holds(y, s) {
				return true
			}
		}
	}
	return false
}
