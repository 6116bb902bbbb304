package attack_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/hubserver"
)

// badNames are the names PEERS.md lists (claude-ipc-mcp's bad-input
// list and failure 6) and their relatives: each must be refused
// wherever a name is given.
var badNames = map[string]string{
	"64+ characters":   strings.Repeat("a", 65),
	"dot dot":          "..",
	"dots inside":      "a..b",
	"slash":            "a/b",
	"traversal":        "../../etc/passwd",
	"space":            "x y",
	"full-width":       "ａｌｉｃｅ",
	"trailing newline": "alice\n",
	"trailing space":   "alice ",
	"leading dot":      ".alice",
	"leading dash":     "-alice",
	"NUL":              "ali\x00ce",
	"backslash":        `a\b`,
	"colon":            "a:b",
}

// TestBadInputToSend: every malformed send is refused with 400 and the
// problem named, and stores nothing (claude-ipc-mcp's bad-input list;
// AI-Connect failure 7).
func TestBadInputToSend(t *testing.T) {
	e := start(t, nil)
	alice := e.register("alice")
	e.register("bob")
	before := e.state()
	for _, tc := range []struct {
		name string
		body any
		code hub.Code
		says string
	}{
		{"malformed JSON", `{"to":"bob","body":`, hub.CodeInvalid, "malformed JSON"},
		{"a JSON array", `[{"to":"bob","body":"hi"}]`, hub.CodeInvalid, "must be a JSON object"},
		{"a JSON string", `"hello bob"`, hub.CodeInvalid, "must be a JSON object"},
		{"JSON null", `null`, hub.CodeInvalid, "must be a JSON object"},
		{"invalid UTF-8", []byte("{\"to\":\"bob\",\"body\":\"\xff\xfe\xfd\"}"), hub.CodeInvalid, "UTF-8"},
		{"empty body", ``, hub.CodeInvalid, "empty"},
		{"only white space", " \n\t ", hub.CodeInvalid, "empty"},
		{"missing to", `{"body":"hi"}`, hub.CodeInvalid, ""},
		{"body a number", `{"to":"bob","body":123}`, hub.CodeInvalid, `"body"`},
		{"body an object", `{"to":"bob","body":{"text":"hi"}}`, hub.CodeInvalid, `"body"`},
		{"to a number", `{"to":5,"body":"hi"}`, hub.CodeInvalid, `"to"`},
		{"to a list with a number", `{"to":["bob",1],"body":"hi"}`, hub.CodeInvalid, `"to"`},
		{"ack_required a string", `{"to":"bob","body":"hi","ack_required":"yes"}`, hub.CodeInvalid, `"ack_required"`},
		{"unknown field", `{"to":"bob","body":"hi","admin":true}`, hub.CodeInvalid, "unknown field"},
		{"data after the object", `{"to":"bob","body":"hi"} {"to":"bob","body":"again"}`, hub.CodeInvalid, "after the object"},
		{"two objects glued", `{"to":"bob","body":"hi"}{}`, hub.CodeInvalid, ""},
		{"empty recipient", `{"to":"","body":"hi"}`, hub.CodeInvalidName, ""},
	} {
		a := e.do("POST", "/messages", tc.body, alice)
		refused(t, tc.name, a, http.StatusBadRequest, tc.code)
		if tc.says != "" && !strings.Contains(a.msg, tc.says) {
			t.Errorf("%s: message %q does not say %q", tc.name, a.msg, tc.says)
		}
	}
	for what, name := range badNames {
		a := e.do("POST", "/messages", map[string]string{"to": name, "body": "hi"}, alice)
		refused(t, "send to "+what, a, http.StatusBadRequest, hub.CodeInvalidName)
	}
	e.unchanged("bad sends", before)
}

// TestBadNamesRefusedEverywhere: register, rename and every path that
// names an agent refuse the bad names with invalid_name.
func TestBadNamesRefusedEverywhere(t *testing.T) {
	e := start(t, nil)
	alice := e.register("alice")
	before := e.state()
	for what, name := range badNames {
		refused(t, "register "+what, e.do("POST", "/peers/connect", map[string]string{"name": name}, e.admin),
			http.StatusBadRequest, hub.CodeInvalidName)
		refused(t, "rename to "+what, e.do("POST", "/peers/alice/rename", map[string]string{"name": name}, alice),
			http.StatusBadRequest, hub.CodeInvalidName)
		refused(t, "role "+what, e.do("POST", "/peers/connect", map[string]string{"name": "fine", "role": name}, e.admin),
			http.StatusBadRequest, hub.CodeInvalidName)
	}
	refused(t, "rename to empty", e.do("POST", "/peers/alice/rename", `{"name":""}`, alice), http.StatusBadRequest, hub.CodeInvalidName)
	refused(t, "name a number", e.do("POST", "/peers/connect", `{"name":5}`, e.admin), http.StatusBadRequest, hub.CodeInvalid)
	refused(t, "capabilities a string", e.do("POST", "/peers/connect", `{"name":"x","capabilities":"a"}`, e.admin), http.StatusBadRequest, hub.CodeInvalid)
	refused(t, "pid negative", e.do("POST", "/peers/connect", `{"name":"x","pid":-1}`, e.admin), http.StatusBadRequest, hub.CodeInvalid)
	for _, p := range []string{"/inbox/a%2Fb", "/inbox/..%2F..%2Fetc", "/peers/x%20y", "/history/%EF%BD%81"} {
		a := e.do("GET", p, nil, alice)
		if a.status != http.StatusBadRequest && a.status != http.StatusForbidden {
			t.Errorf("GET %s: got %s; want 400 invalid_name or 403", p, a)
		}
	}
	e.unchanged("bad names", before)
}

// TestBadCredentials: a missing, malformed, upper-cased or unknown token
// is refused with 401 and a WWW-Authenticate header; the join secret may
// only register (403 elsewhere).
func TestBadCredentials(t *testing.T) {
	join := "join-secret-0123456789abcdef"
	e := start(t, func(c *hubserver.Config) { c.JoinSecret = join })
	alice := e.register("alice")
	e.register("bob")
	before := e.state()
	send := `{"to":"bob","body":"hi"}`
	for _, tc := range []struct {
		name   string
		header string // Authorization, "" for none
	}{
		{"no token", ""},
		{"upper-cased token", "Bearer " + strings.ToUpper(alice)},
		{"token with a character changed", "Bearer " + alice[:len(alice)-1] + flip(alice[len(alice)-1])},
		{"random token", "Bearer pt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"token without Bearer", alice},
		{"Basic scheme", "Basic " + alice},
		{"Bearer and nothing", "Bearer "},
		{"upper-cased admin secret", "Bearer " + strings.ToUpper(e.admin)},
		{"admin secret with a prefix", "Bearer x" + e.admin},
	} {
		var hdr []string
		if tc.header != "" {
			hdr = []string{"Authorization", tc.header}
		}
		a := e.do("POST", "/messages", send, "", hdr...)
		refused(t, tc.name, a, http.StatusUnauthorized, hub.CodeUnauthenticated)
		if a.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
	}
	refused(t, "join secret sends", e.do("POST", "/messages", send, join), http.StatusForbidden, hub.CodeForbidden)
	refused(t, "join secret reads", e.do("GET", "/inbox/bob", nil, join), http.StatusForbidden, hub.CodeForbidden)
	refused(t, "join secret resets", e.do("POST", "/reset", nil, join), http.StatusForbidden, hub.CodeForbidden)
	e.unchanged("bad credentials", before)
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestNothingReadableWithoutCredentials: AI-Connect failure 1: no
// authentication, the peer list readable by anyone, offline mail given
// to whoever connects with the name.
func TestNothingReadableWithoutCredentials(t *testing.T) {
	e := start(t, nil)
	alice := e.register("alice")
	bob := e.register("bob")
	okay(t, "send", e.do("POST", "/messages", `{"to":"alice","body":"offline mail"}`, bob), nil)
	before := e.state()
	for _, p := range []string{
		"/peers", "/peers/discover", "/peers/alice", "/status", "/events", "/inbox/alice",
		"/inbox/alice/wait?timeout=0", "/history/bob", "/search?q=mail", "/messages/1", "/whoami",
		"/commands", "/channels", "/signals", "/proposals", "/leases", "/state",
	} {
		refused(t, "GET "+p, e.do("GET", p, nil, ""), http.StatusUnauthorized, hub.CodeUnauthenticated)
	}
	// A new connection with a used name neither takes it nor gets its mail.
	refused(t, "register alice without a secret", e.do("POST", "/peers/connect", `{"name":"alice"}`, ""),
		http.StatusUnauthorized, hub.CodeUnauthenticated)
	refused(t, "register alice with the admin secret but no token", e.do("POST", "/peers/connect", `{"name":"alice"}`, e.admin),
		http.StatusConflict, hub.CodeNameTaken)
	refused(t, "register alice with bob's token", e.do("POST", "/peers/connect", `{"name":"alice"}`, bob),
		http.StatusForbidden, hub.CodeForbidden)
	refused(t, "register alice with bob's token in the body", e.do("POST", "/peers/connect",
		fmt.Sprintf(`{"name":"alice","token":%q}`, bob), e.admin), http.StatusConflict, hub.CodeNameTaken)
	e.unchanged("unauthenticated reads", before)
	// alice still has her name, her token and her mail.
	var r hub.ReadResult
	okay(t, "alice reads", e.do("GET", "/inbox/alice", nil, alice), &r)
	if len(r.Messages) != 1 || r.Messages[0].Body != "offline mail" || r.Messages[0].From != "bob" {
		t.Fatalf("alice's inbox %+v, want bob's offline mail", r.Messages)
	}
}

// rawRequest writes req on conn and reads one response.
func rawRequest(t *testing.T, conn net.Conn, br *bufio.Reader, req string) *http.Response {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp
}

func post(host, path, auth, body string) string {
	h := "POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\n"
	if auth != "" {
		h += "Authorization: Bearer " + auth + "\r\n"
	}
	return h + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
}

// TestErrorsKeepTheConnection: AI-Connect failure 7: a message before
// registering, a JSON array or a non-string body closed the connection
// without a word. Here each gets a JSON error, and the same connection
// then serves the next request.
func TestErrorsKeepTheConnection(t *testing.T) {
	e := start(t, nil)
	e.register("bob")
	conn, err := net.Dial("tcp", e.host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for _, tc := range []struct {
		name, auth, body string
		status           int
		code             hub.Code
	}{
		{"send before registering", "", `{"to":"bob","body":"hi"}`, 401, hub.CodeUnauthenticated},
		{"a JSON array", e.admin, `[1,2,3]`, 400, hub.CodeInvalid},
		{"a non-string body", e.admin, `{"to":"bob","body":42}`, 400, hub.CodeInvalid},
	} {
		resp := rawRequest(t, conn, br, post(e.host, "/messages", tc.auth, tc.body))
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tc.status || !strings.Contains(string(b), `"code":"`+string(tc.code)+`"`) {
			t.Errorf("%s: got %d %s; want %d %s", tc.name, resp.StatusCode, b, tc.status, tc.code)
		}
		if resp.Close {
			t.Errorf("%s: the hub closed the connection", tc.name)
		}
	}
	resp := rawRequest(t, conn, br, "GET /healthz HTTP/1.1\r\nHost: "+e.host+"\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("healthz on the same connection: %d", resp.StatusCode)
	}
}

// TestSplitAndLargeRequests: claude-ipc-mcp failure 4: requests over
// 4 KB, or split over two TCP writes, failed. Both work here.
func TestSplitAndLargeRequests(t *testing.T) {
	e := start(t, nil)
	bob := e.register("bob")
	alice := e.register("alice")
	big := strings.Repeat("0123456789abcdef", 64<<10/16) // 64 KiB
	okay(t, "64 KiB send", e.do("POST", "/messages", fmt.Sprintf(`{"to":"bob","body":%q}`, big), alice), nil)

	conn, err := net.Dial("tcp", e.host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := post(e.host, "/messages", alice, `{"to":"bob","body":"split in two"}`)
	cut := len(req) - 10
	if _, err := io.WriteString(conn, req[:cut]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // two TCP segments, not one
	resp := rawRequest(t, conn, bufio.NewReader(conn), req[cut:])
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("split request: %d %s", resp.StatusCode, b)
	}
	var r hub.ReadResult
	okay(t, "bob reads", e.do("GET", "/inbox/bob", nil, bob), &r)
	if len(r.Messages) != 2 || r.Messages[0].Body != big || r.Messages[1].Body != "split in two" {
		t.Fatalf("bob's inbox has %d messages, want the 64 KiB one and the split one whole", len(r.Messages))
	}
}

// TestEmptyAndIdleConnections: connections that close at once, or send
// nothing, cost nothing lasting: an idle one is closed by the hub after
// ReadHeaderTimeout, without an answer, and the hub serves others.
func TestEmptyAndIdleConnections(t *testing.T) {
	e := start(t, func(c *hubserver.Config) { c.ReadHeaderTimeout = 300 * time.Millisecond })
	for range 50 {
		c, err := net.Dial("tcp", e.host)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	idle, err := net.Dial("tcp", e.host)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	_ = idle.SetReadDeadline(time.Now().Add(20 * time.Second)) // a bound, not the expectation
	n, err := idle.Read(make([]byte, 1))
	if n != 0 || !isClosed(err) {
		t.Fatalf("idle connection: read %d bytes, %v; want the hub to close it without an answer", n, err)
	}
	okay(t, "healthz after", e.do("GET", "/healthz", nil, ""), nil)
}

// isClosed reports whether a read error means the peer closed the
// connection (not our own deadline).
func isClosed(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

// TestCannotListenBeyondLoopbackByDefault: AI-Connect failure 8: it
// bound every interface by default, so any host on the LAN could inject
// instructions. The default is loopback, and any other address is refused
// without a join secret, before anything is bound.
func TestCannotListenBeyondLoopbackByDefault(t *testing.T) {
	host, _, err := net.SplitHostPort(config.DefaultAddr)
	if err != nil || !hubserver.IsLoopback(host) {
		t.Fatalf("default address %q is not loopback", config.DefaultAddr)
	}
	dir := filepath.Join(t.TempDir(), "data")
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.10:7878", "example.com:7878"} {
		_, err := hubserver.Start(context.Background(), hubserver.Config{DataDir: dir, Addr: addr})
		if err == nil || !strings.Contains(err.Error(), "join secret") {
			t.Errorf("start on %s without a join secret: %v; want a refusal naming the join secret", addr, err)
		}
		_, err = hubserver.Start(context.Background(), hubserver.Config{DataDir: dir, Addr: addr, Open: true, JoinSecret: "join-secret-0123456789"})
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("start --open on %s: %v; want a refusal (open is loopback only)", addr, err)
		}
		err = hubserver.Config{DataDir: dir, Addr: addr, JoinSecret: "short"}.Validate()
		if err == nil {
			t.Errorf("a 5-character join secret on %s was accepted", addr)
		}
	}
}

// TestOpenModeTokensDieWhenAuthenticationIsOn: claude-ipc-mcp failure 6:
// tokens issued in open mode stayed valid after a secret was set.
func TestOpenModeTokensDieWhenAuthenticationIsOn(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	h, err := hubserver.Start(context.Background(), hubserver.Config{DataDir: dir, Addr: "127.0.0.1:0", Open: true, Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	open := &env{t: t, h: h, url: h.URL(), host: h.Addr(), admin: h.AdminSecret(), dir: dir, hc: http.DefaultClient}
	var reg struct{ Token string }
	okay(t, "register while open", open.do("POST", "/peers/connect", `{"name":"alice"}`, ""), &reg)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	e := start(t, func(c *hubserver.Config) { c.DataDir = dir })
	before := e.state()
	a := e.do("GET", "/whoami", nil, reg.Token)
	refused(t, "open-mode token", a, http.StatusUnauthorized, hub.CodeUnauthenticated)
	if !strings.Contains(a.msg, "authentication was off") {
		t.Errorf("message %q does not say why", a.msg)
	}
	refused(t, "reclaim with the open-mode token", e.do("POST", "/peers/connect",
		fmt.Sprintf(`{"name":"alice","token":%q}`, reg.Token), e.admin), http.StatusConflict, hub.CodeNameTaken)
	e.unchanged("open-mode token", before)
}
