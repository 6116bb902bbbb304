package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		method, target string
		class          requestClass
		waiter         bool
	}{
		{"GET", "/healthz", classExempt, false},
		{"GET", "/inbox/bob", classRead, false},
		{"GET", "/inbox/bob/wait?timeout=5", classRead, true},
		{"POST", "/messages/12/ack", classRead, false},
		{"POST", "/messages", classNormal, false},
		{"GET", "/events", classNormal, true},
		{"GET", "/channels/c/wait", classNormal, true},
		{"GET", "/commands/7/result?timeout=100", classNormal, true},
		{"GET", "/commands/7/result", classNormal, false},
		{"GET", "/mcp/sse", classNormal, true},
		{"POST", "/mcp", classNormal, false},
		{"POST", "/healthz", classNormal, false},
		{"DELETE", "/inbox/bob", classNormal, false},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		class, waiter := classify(r)
		if class != tc.class || waiter != tc.waiter {
			t.Errorf("%s %s: got class %d waiter %v, want %d %v", tc.method, tc.target, class, waiter, tc.class, tc.waiter)
		}
	}
}

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000":               "",
		"[::1]:5000":                   "",
		"192.0.2.7:5000":               "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:5000":  "2001:db8:1:2::/64",
		"[2001:db8:1:2:ff::1]:1":       "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:5000":      "192.0.2.7",
		"not an address":               "",
		"[2001:db8:1:3:3:4:5:6]:5000":  "2001:db8:1:3::/64",
		"[2001:db8:1:3::]:5000":        "2001:db8:1:3::/64",
		"10.1.2.3:80":                  "10.1.2.3",
		"[fe80::1%eth0]:80":            "fe80::/64",
		"[2001:db8:0:0:1:0:0:1]:65535": "2001:db8::/64",
	} {
		if got := addrKey(in); got != want {
			t.Errorf("addrKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBucketsBoundedAndRefilling(t *testing.T) {
	b := newBuckets(1, 2, 3)
	for i, want := range []bool{true, true, false} {
		wait, ok := b.take("a")
		if ok != want {
			t.Fatalf("take %d: %v, want %v", i, ok, want)
		}
		if !ok && (wait <= 0 || wait > 1) {
			t.Errorf("wait %v s, want (0, 1]", wait)
		}
	}
	b.take("b")
	b.take("c")
	// The table is full of recently used keys: new keys share one bucket
	// instead of growing it.
	b.take("d")
	b.take("e")
	if _, ok := b.take("f"); ok {
		t.Errorf("a third new key past the bound was given a fresh bucket")
	}
	if n := b.len(); n != 3 {
		t.Errorf("%d buckets kept, want 3", n)
	}
}

func newTestLimitServer(lim Limits) *Server {
	return &Server{log: slog.New(slog.DiscardHandler), limiter: newLimiter(lim, "pa_admin")}
}

func serve(h http.Handler, method, target, remote string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestAddressLimit: a remote address is limited whatever credentials it
// shows; loopback addresses are not; each address has its own bucket.
func TestAddressLimit(t *testing.T) {
	s := newTestLimitServer(Limits{Rate: 1, Burst: 2})
	h := s.limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	for i, want := range []int{204, 204, 429} {
		// A new made-up token each time: the address still counts.
		w := serve(h, "GET", "/peers", "192.0.2.7:1000", "Authorization", "Bearer pt_made_up_"+string(rune('a'+i)))
		if w.Code != want {
			t.Fatalf("request %d from 192.0.2.7: %d, want %d", i, w.Code, want)
		}
		if w.Code == 429 && (w.Header().Get("Retry-After") == "" || w.Header().Get("Content-Type") != "application/json") {
			t.Errorf("429 without Retry-After or JSON: %v", w.Header())
		}
	}
	if w := serve(h, "GET", "/peers", "192.0.2.8:1000"); w.Code != 204 {
		t.Errorf("another address: %d", w.Code)
	}
	for range 10 {
		if w := serve(h, "GET", "/peers", "127.0.0.1:1000"); w.Code != 204 {
			t.Fatalf("loopback, anonymous: %d, want no address limit", w.Code)
		}
	}
	if w := serve(h, "GET", "/healthz", "192.0.2.7:1000"); w.Code != 204 {
		t.Errorf("health check from a limited address: %d, want it exempt", w.Code)
	}
}

// TestAgentLimitAndReadBucket: an agent's credential has its own bucket,
// wherever it comes from; reading its inbox has another; the admin's
// bucket is per agent it acts as.
func TestAgentLimitAndReadBucket(t *testing.T) {
	s := newTestLimitServer(Limits{Rate: 1, Burst: 1})
	h := s.limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	alice := []string{"Authorization", "Bearer pt_alice"}
	if w := serve(h, "POST", "/messages", "127.0.0.1:1", alice...); w.Code != 204 {
		t.Fatalf("first send: %d", w.Code)
	}
	if w := serve(h, "POST", "/messages", "127.0.0.1:2", alice...); w.Code != 429 {
		t.Fatalf("second send: %d, want 429", w.Code)
	}
	if w := serve(h, "GET", "/inbox/alice", "127.0.0.1:1", alice...); w.Code != 204 {
		t.Errorf("alice reads her inbox while limited: %d", w.Code)
	}
	if w := serve(h, "POST", "/messages", "127.0.0.1:1", "Authorization", "Bearer pt_bob"); w.Code != 204 {
		t.Errorf("bob: %d", w.Code)
	}
	admin := []string{"Authorization", "Bearer pa_admin"}
	serve(h, "POST", "/messages", "127.0.0.1:1", admin...)
	if w := serve(h, "POST", "/messages", "127.0.0.1:1", admin...); w.Code != 429 {
		t.Errorf("admin as human twice: %d, want 429", w.Code)
	}
	if w := serve(h, "POST", "/messages", "127.0.0.1:1", append(admin, "X-Parley-As", "carol")...); w.Code != 204 {
		t.Errorf("admin as carol: %d, want a bucket of its own", w.Code)
	}
}

func TestWaiterLimit(t *testing.T) {
	s := newTestLimitServer(Limits{MaxWaiters: 2})
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	h := s.limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.WriteHeader(204)
	}))
	tok := []string{"Authorization", "Bearer pt_alice"}
	done := make(chan int, 2)
	for range 2 {
		go func() { done <- serve(h, "GET", "/inbox/alice/wait", "127.0.0.1:1", tok...).Code }()
	}
	<-entered
	<-entered
	if w := serve(h, "GET", "/events", "127.0.0.1:1", tok...); w.Code != 429 {
		t.Errorf("third wait: %d, want 429", w.Code)
	}
	close(release)
	<-done
	<-done
	go func() { <-entered }()
	if w := serve(h, "GET", "/events", "127.0.0.1:1", tok...); w.Code != 204 {
		t.Errorf("a wait after the others ended: %d", w.Code)
	}
}

func TestCheckOrigin(t *testing.T) {
	s := newTestLimitServer(Limits{})
	h := s.checkOrigin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	for _, tc := range []struct {
		method, origin, site string
		want                 int
	}{
		{"POST", "", "", 204},
		{"POST", "http://hub.test:7878", "", 204},
		{"POST", "https://hub.test:7878", "same-origin", 204},
		{"POST", "http://HUB.test:7878", "", 204},
		{"POST", "http://hub.test:7879", "", 403},
		{"POST", "http://evil.test", "", 403},
		{"POST", "null", "", 403},
		{"POST", "file://", "", 403},
		{"POST", "", "cross-site", 403},
		{"POST", "", "same-site", 403},
		{"PUT", "http://evil.test", "", 403},
		{"DELETE", "http://evil.test", "", 403},
		{"GET", "http://evil.test", "cross-site", 204}, // reads: the Host check and CORS cover them
	} {
		r := httptest.NewRequest(tc.method, "http://hub.test:7878/messages", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if tc.site != "" {
			r.Header.Set("Sec-Fetch-Site", tc.site)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s Origin %q Sec-Fetch-Site %q: %d, want %d", tc.method, tc.origin, tc.site, w.Code, tc.want)
		}
	}
}

func TestCheckDepth(t *testing.T) {
	deep := func(n int) string {
		b := make([]byte, 0, 2*n)
		for range n {
			b = append(b, '[')
		}
		for range n {
			b = append(b, ']')
		}
		return string(b)
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{deep(MaxJSONDepth), true},
		{deep(MaxJSONDepth + 1), false},
		{`{"a":"` + deep(1000) + `"}`, true}, // brackets inside a string do not count
		{`{"a":"\"[[[[" }`, true},
		{deep(1_000_000), false},
	} {
		if err := checkDepth([]byte(tc.in)); (err == nil) != tc.ok {
			t.Errorf("checkDepth(%s): %v, want ok %v", truncate(tc.in, 40), err, tc.ok)
		}
	}
}

// len returns the number of buckets kept.
func (b *buckets) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}
