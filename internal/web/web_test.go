package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/clocktest"
	"github.com/parley-dev/parley/internal/web"
)

const secret = "pa_test-admin-secret-0123456789"

// fakeAPI records the requests the dashboard forwards.
type fakeAPI struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.reqs = append(f.reqs, r)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ok":true}`)
}

func (f *fakeAPI) last(tb testing.TB) *http.Request {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		tb.Fatal("no request reached the API")
	}
	return f.reqs[len(f.reqs)-1]
}

func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

type env struct {
	h   *web.Handler
	api *fakeAPI
	clk *clocktest.Clock
}

func newEnv(tb testing.TB, mod func(*web.Options)) *env {
	tb.Helper()
	e := &env{api: &fakeAPI{}, clk: clocktest.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))}
	opts := web.Options{API: e.api, AdminSecret: secret, Now: e.clk.Now}
	if mod != nil {
		mod(&opts)
	}
	h, err := web.New(opts)
	if err != nil {
		tb.Fatalf("web.New: %v", err)
	}
	e.h = h
	return e
}

// do serves one request on host example.test and returns the response.
func (e *env) do(method, target string, body io.Reader, hdr map[string]string, cookies ...*http.Cookie) *http.Response {
	r := httptest.NewRequest(method, "http://parley.test"+target, body)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w.Result()
}

// login logs in with the admin secret and returns the session cookie and
// the CSRF token from the page.
func (e *env) login(tb testing.TB) (*http.Cookie, string) {
	tb.Helper()
	res := e.do("POST", "/dashboard/login", strings.NewReader("secret="+url.QueryEscape(secret)),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://parley.test"})
	if res.StatusCode != http.StatusSeeOther {
		tb.Fatalf("login: status %d, want 303", res.StatusCode)
	}
	c := sessionCookie(tb, res)
	return c, e.csrf(tb, c)
}

func (e *env) csrf(tb testing.TB, c *http.Cookie) string {
	tb.Helper()
	res := e.do("GET", "/dashboard/", nil, nil, c)
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("index: status %d, want 200", res.StatusCode)
	}
	b, _ := io.ReadAll(res.Body)
	m := regexp.MustCompile(`name="parley-csrf" content="([^"]+)"`).FindSubmatch(b)
	if m == nil {
		tb.Fatalf("index has no CSRF token:\n%s", b)
	}
	return string(m[1])
}

func sessionCookie(tb testing.TB, res *http.Response) *http.Cookie {
	tb.Helper()
	for _, c := range res.Cookies() {
		if c.Name == web.SessionCookie && c.Value != "" {
			return c
		}
	}
	tb.Fatalf("no session cookie in response (status %d)", res.StatusCode)
	return nil
}

func TestOptionsValidate(t *testing.T) {
	api := &fakeAPI{}
	tests := []struct {
		name string
		opts web.Options
		ok   bool
	}{
		{"no API", web.Options{AdminSecret: secret}, false},
		{"no secret", web.Options{API: api}, false},
		{"open without secret", web.Options{API: api, Open: true}, true},
		{"negative TTL", web.Options{API: api, AdminSecret: secret, SessionTTL: -1}, false},
		{"complete", web.Options{API: api, AdminSecret: secret}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := web.New(tt.opts)
			if (err == nil) != tt.ok {
				t.Fatalf("New: got err %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestRefusedWithoutLogin(t *testing.T) {
	e := newEnv(t, nil)
	res := e.do("GET", "/dashboard/", nil, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/dashboard/login" {
		t.Fatalf("index without login: got %d to %q, want 303 to /dashboard/login", res.StatusCode, res.Header.Get("Location"))
	}
	for _, tc := range []struct{ method, path string }{
		{"GET", "/dashboard/api/peers"},
		{"GET", "/dashboard/api/events"},
		{"POST", "/dashboard/api/messages"},
	} {
		res := e.do(tc.method, tc.path, strings.NewReader("{}"), map[string]string{"Origin": "http://parley.test"})
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without login: got %d, want 401", tc.method, tc.path, res.StatusCode)
		}
		var body struct{ Error struct{ Code string } }
		json.NewDecoder(res.Body).Decode(&body)
		if body.Error.Code != "unauthenticated" {
			t.Errorf("%s %s: error code %q, want unauthenticated", tc.method, tc.path, body.Error.Code)
		}
	}
	if n := e.api.count(); n != 0 {
		t.Fatalf("%d requests reached the API without login", n)
	}
	// A made-up cookie is no session.
	res = e.do("GET", "/dashboard/api/peers", nil, nil, &http.Cookie{Name: web.SessionCookie, Value: "forged"})
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged cookie: got %d, want 401", res.StatusCode)
	}
}

func TestLoginWithSecret(t *testing.T) {
	e := newEnv(t, nil)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://parley.test"}

	res := e.do("POST", "/dashboard/login", strings.NewReader("secret=wrong"), form)
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong secret: got %d, want 401", res.StatusCode)
	}
	if len(res.Cookies()) != 0 {
		t.Fatalf("wrong secret set cookies: %v", res.Cookies())
	}

	res = e.do("POST", "/dashboard/login", strings.NewReader("secret="+url.QueryEscape(secret)),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example"})
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("login from another origin: got %d, want 403", res.StatusCode)
	}

	res = e.do("POST", "/dashboard/login", strings.NewReader("secret="+url.QueryEscape(secret)), form)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/dashboard/" {
		t.Fatalf("login: got %d to %q, want 303 to /dashboard/", res.StatusCode, res.Header.Get("Location"))
	}
	c := sessionCookie(t, res)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/dashboard/" {
		t.Fatalf("cookie: HttpOnly=%v SameSite=%v Secure=%v Path=%q; want HttpOnly, Strict, not Secure without TLS, /dashboard/", c.HttpOnly, c.SameSite, c.Secure, c.Path)
	}
	res = e.do("GET", "/dashboard/", nil, nil, c)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("index after login: got %d", res.StatusCode)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("index Cache-Control %q, want no-store", cc)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("index CSP %q: want script-src 'self' and nothing inline", csp)
	}

	// The session ends with its TTL.
	e.clk.Add(web.DefaultSessionTTL + time.Second)
	res = e.do("GET", "/dashboard/api/peers", nil, nil, c)
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired session: got %d, want 401", res.StatusCode)
	}
}

func TestSecureCookie(t *testing.T) {
	e := newEnv(t, func(o *web.Options) { o.Secure = true })
	res := e.do("POST", "/dashboard/login", strings.NewReader("secret="+url.QueryEscape(secret)),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://parley.test"})
	if c := sessionCookie(t, res); !c.Secure {
		t.Fatal("cookie is not Secure with Options.Secure")
	}
}

func TestForwardsAsHuman(t *testing.T) {
	e := newEnv(t, nil)
	c, _ := e.login(t)
	res := e.do("GET", "/dashboard/api/search?q=hello+world", nil, map[string]string{"Authorization": "Bearer pt_someone-else", "X-Parley-As": "mallory"}, c)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET through the dashboard: got %d", res.StatusCode)
	}
	r := e.api.last(t)
	if r.URL.Path != "/search" || r.URL.Query().Get("q") != "hello world" {
		t.Errorf("forwarded to %q ?q=%q, want /search ?q=hello world", r.URL.Path, r.URL.Query().Get("q"))
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+secret {
		t.Errorf("Authorization %q, want the admin secret", got)
	}
	if got := r.Header.Get("X-Parley-As"); got != "human" {
		t.Errorf("X-Parley-As %q, want human", got)
	}
	if got := r.Header.Get("Cookie"); got != "" {
		t.Errorf("the session cookie reached the API: %q", got)
	}
}

func TestCrossSiteRefused(t *testing.T) {
	e := newEnv(t, nil)
	c, csrf := e.login(t)
	before := e.api.count()
	tests := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no CSRF token", map[string]string{"Origin": "http://parley.test"}, 403},
		{"wrong CSRF token", map[string]string{"Origin": "http://parley.test", web.CSRFHeader: "nope"}, 403},
		{"foreign Origin", map[string]string{"Origin": "https://evil.example", web.CSRFHeader: csrf}, 403},
		{"null Origin", map[string]string{"Origin": "null", web.CSRFHeader: csrf}, 403},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site", web.CSRFHeader: csrf}, 403},
		{"same-site other origin", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://parley.test", web.CSRFHeader: csrf}, 403},
		{"no Origin at all", map[string]string{web.CSRFHeader: csrf}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("POST", "/dashboard/api/messages", strings.NewReader(`{"to":["bob"],"body":"x"}`), tt.hdr, c)
			if res.StatusCode != tt.want {
				t.Fatalf("got %d, want %d", res.StatusCode, tt.want)
			}
		})
	}
	if n := e.api.count(); n != before {
		t.Fatalf("%d refused requests reached the API", n-before)
	}
	for _, hdr := range []map[string]string{
		{"Origin": "http://parley.test", web.CSRFHeader: csrf},
		{"Sec-Fetch-Site": "same-origin", web.CSRFHeader: csrf},
	} {
		res := e.do("POST", "/dashboard/api/messages", strings.NewReader(`{"to":["bob"],"body":"x"}`), hdr, c)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("same-origin POST with token (%v): got %d, want 200", hdr, res.StatusCode)
		}
		if r := e.api.last(t); r.Method != "POST" || r.URL.Path != "/messages" {
			t.Fatalf("forwarded %s %s, want POST /messages", r.Method, r.URL.Path)
		}
	}
}

func TestLoginLink(t *testing.T) {
	e := newEnv(t, nil)
	res := e.do("POST", "/dashboard/login-links", nil, nil)
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("link without the admin secret: got %d, want 401", res.StatusCode)
	}
	res = e.do("POST", "/dashboard/login-links", nil, map[string]string{"Authorization": "Bearer wrong"})
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("link with a wrong secret: got %d, want 401", res.StatusCode)
	}
	link := func() string {
		res := e.do("POST", "/dashboard/login-links", nil, map[string]string{"Authorization": "Bearer " + secret})
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("link: got %d, want 201", res.StatusCode)
		}
		var body struct {
			URL, Path string
		}
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(body.URL, "http://parley.test/dashboard/login?token=") || !strings.HasSuffix(body.URL, body.Path) {
			t.Fatalf("link URL %q path %q", body.URL, body.Path)
		}
		return body.Path
	}
	p := link()
	res = e.do("GET", p, nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("first use: got %d, want 200", res.StatusCode)
	}
	c := sessionCookie(t, res)
	if b, _ := io.ReadAll(res.Body); !strings.Contains(string(b), `http-equiv="refresh"`) {
		t.Errorf("first use does not move on to the dashboard:\n%s", b)
	}
	if res := e.do("GET", "/dashboard/api/peers", nil, nil, c); res.StatusCode != http.StatusOK {
		t.Fatalf("API after link login: got %d", res.StatusCode)
	}
	res = e.do("GET", p, nil, nil)
	if res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 {
		t.Fatalf("second use: got %d with %d cookies, want 401 and none", res.StatusCode, len(res.Cookies()))
	}
	p = link()
	e.clk.Add(web.DefaultLinkTTL + time.Second)
	if res := e.do("GET", p, nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired link: got %d, want 401", res.StatusCode)
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t, nil)
	c, csrf := e.login(t)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://parley.test"}
	if res := e.do("POST", "/dashboard/logout", strings.NewReader("csrf=wrong"), form, c); res.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without token: got %d, want 403", res.StatusCode)
	}
	if res := e.do("POST", "/dashboard/logout", strings.NewReader("csrf="+csrf), form, c); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: got %d, want 303", res.StatusCode)
	}
	if res := e.do("GET", "/dashboard/api/peers", nil, nil, c); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API after logout: got %d, want 401", res.StatusCode)
	}
}

func TestOpenNeedsNoLogin(t *testing.T) {
	e := newEnv(t, func(o *web.Options) { o.Open, o.AdminSecret = true, "" })
	res := e.do("GET", "/dashboard/", nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("open index: got %d, want 200", res.StatusCode)
	}
	c := sessionCookie(t, res)
	if res := e.do("GET", "/dashboard/api/peers", nil, nil, c); res.StatusCode != http.StatusOK {
		t.Fatalf("open API: got %d", res.StatusCode)
	}
	if r := e.api.last(t); r.Header.Get("Authorization") != "" || r.Header.Get("X-Parley-As") != "human" {
		t.Fatalf("open API forwarded Authorization %q As %q; want none and human", r.Header.Get("Authorization"), r.Header.Get("X-Parley-As"))
	}
	// Cross-site protection holds on an open hub too.
	if res := e.do("POST", "/dashboard/api/messages", strings.NewReader("{}"), map[string]string{"Origin": "https://evil.example"}, c); res.StatusCode != http.StatusForbidden {
		t.Fatalf("open cross-site POST: got %d, want 403", res.StatusCode)
	}
}

func TestAssets(t *testing.T) {
	e := newEnv(t, nil)
	res := e.do("GET", "/dashboard/login", nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("login page: %d", res.StatusCode)
	}
	b, _ := io.ReadAll(res.Body)
	m := regexp.MustCompile(`href="(/dashboard/assets/app\.css\?v=[0-9a-f]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("login page links no versioned stylesheet:\n%s", b)
	}
	res = e.do("GET", string(m[1]), nil, nil)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("stylesheet: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("versioned asset Cache-Control %q, want immutable", cc)
	}
	etag := res.Header.Get("ETag")
	res = e.do("GET", "/dashboard/assets/app.css", nil, map[string]string{"If-None-Match": etag})
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: got %d, want 304", res.StatusCode)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("unversioned asset Cache-Control %q, want no-cache", cc)
	}
	for _, p := range []string{"/dashboard/assets/app.js", "/dashboard/assets/lib.js", "/dashboard/assets/favicon.svg"} {
		res := e.do("GET", p, nil, nil)
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", p, res.StatusCode)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", p)
		}
	}
	if res := e.do("GET", "/dashboard/assets/nope.js", nil, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("missing asset: %d", res.StatusCode)
	}
	if res := e.do("GET", "/dashboard", nil, nil); res.StatusCode != http.StatusMovedPermanently {
		t.Errorf("/dashboard: %d, want a redirect to /dashboard/", res.StatusCode)
	}
}
