package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/parley-dev/parley/internal/hubserver"
)

// waitTimeout bounds how long a test waits for the page to reach a
// state. It is a deadline for a DOM condition, not a timing assertion.
const waitTimeout = 20 * time.Second

// chromePath finds Debian's chromium, or $CHROME_PATH. Without one the
// test is skipped, except under CI=true, where a missing browser fails.
func chromePath(tb testing.TB) string {
	tb.Helper()
	candidates := []string{os.Getenv("CHROME_PATH"), "/usr/bin/chromium", "/usr/bin/chromium-browser"}
	for _, p := range candidates {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	msg := "no chromium found at $CHROME_PATH or /usr/bin/chromium: install it (apt-get install chromium) to run the dashboard's browser tests"
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}

// startHub runs a real hub in process on a free loopback port with its
// own data directory.
func startHub(tb testing.TB, open bool) *hubserver.Hub {
	tb.Helper()
	h, err := hubserver.Start(context.Background(), hubserver.Config{
		DataDir:     tb.TempDir(),
		Addr:        "127.0.0.1:0",
		Open:        open,
		Synchronous: "normal",
		Version:     "test",
	})
	if err != nil {
		tb.Fatalf("start hub: %v", err)
	}
	tb.Cleanup(func() {
		if err := h.Close(); err != nil {
			tb.Errorf("close hub: %v", err)
		}
	})
	return h
}

// apiCall makes one request to the hub's API with a bearer credential
// and decodes the JSON answer into out (when not nil). It returns the
// status code.
func apiCall(tb testing.TB, h *hubserver.Hub, bearer, method, path string, body, out any) int {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.URL()+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			tb.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return res.StatusCode
}

// agent is an agent registered through the API, acting with its token.
type agent struct {
	tb    testing.TB
	h     *hubserver.Hub
	name  string
	token string
}

// register registers an agent with the admin secret.
func register(tb testing.TB, h *hubserver.Hub, name, role string, caps ...string) *agent {
	tb.Helper()
	return registerClient(tb, h, name, role, "test", caps...)
}

// registerClient registers an agent of a kind of client (claude-code,
// gemini...).
func registerClient(tb testing.TB, h *hubserver.Hub, name, role, client string, caps ...string) *agent {
	tb.Helper()
	var res struct {
		Name  string `json:"name"`
		Token string `json:"token"`
	}
	req := map[string]any{"name": name, "role": role, "capabilities": caps, "client": client, "host": "ci"}
	if st := apiCall(tb, h, h.AdminSecret(), "POST", "/peers/connect", req, &res); st != http.StatusCreated {
		tb.Fatalf("register %s: status %d", name, st)
	}
	return &agent{tb: tb, h: h, name: res.Name, token: res.Token}
}

// must makes a call as the agent and fails the test unless it succeeds.
func (a *agent) must(method, path string, body, out any) {
	a.tb.Helper()
	if st := apiCall(a.tb, a.h, a.token, method, path, body, out); st >= 300 {
		a.tb.Fatalf("%s: %s %s: status %d", a.name, method, path, st)
	}
}

func (a *agent) setStatus(status, state string) {
	a.tb.Helper()
	body := map[string]any{"status": status}
	if state != "" {
		body["state"] = state
	}
	a.must("POST", "/peers/"+a.name+"/status", body, nil)
}

// send sends a message and returns its id.
func (a *agent) send(to []string, subject, body string, extra map[string]any) int64 {
	a.tb.Helper()
	req := map[string]any{"to": to, "subject": subject, "body": body}
	for k, v := range extra {
		req[k] = v
	}
	var res struct {
		Message struct {
			ID int64 `json:"id"`
		} `json:"message"`
	}
	a.must("POST", "/messages", req, &res)
	return res.Message.ID
}

// chrome is the one browser process the tests share; each test gets
// its own browser context (its own cookies and storage) in it, which
// starts in milliseconds where a new process takes seconds.
var chrome struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	dir    string
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if chrome.cancel != nil {
		chrome.cancel()
	}
	if chrome.dir != "" {
		os.RemoveAll(chrome.dir)
	}
	os.Exit(code)
}

// startChrome launches the shared headless chromium with a fresh
// profile.
func startChrome(path string) {
	chrome.dir, chrome.err = os.MkdirTemp("", "parley-chromium-*")
	if chrome.err != nil {
		return
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(chrome.dir),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx)
	chrome.ctx = bctx
	chrome.cancel = func() { cancel(); cancelAlloc() }
	chrome.err = chromedp.Do(bctx)
}

// browser returns a new tab, in a browser context of its own, with a
// width x height viewport; it closes at the end of the test.
func browser(tb testing.TB, width, height int) context.Context {
	tb.Helper()
	path := chromePath(tb)
	chrome.once.Do(func() { startChrome(path) })
	if chrome.err != nil {
		tb.Fatalf("start chromium: %v", chrome.err)
	}
	logs := &consoleLog{}
	ctx, cancel := chromedp.NewContext(chrome.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(logs.listen))
	tb.Cleanup(func() {
		cancel()
		if tb.Failed() {
			if s := logs.String(); s != "" {
				tb.Logf("browser console:\n%s", s)
			}
		}
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		tb.Fatalf("open tab: %v", err)
	}
	return ctx
}

// consoleLog keeps the page's console messages and uncaught exceptions,
// shown when a test fails.
type consoleLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *consoleLog) listen(ev any) {
	var line string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			if len(a.Value) > 0 {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		line = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		line = "exception: " + d.Text
		if d.Exception != nil {
			line += " " + d.Exception.Description
		}
	default:
		return
	}
	l.mu.Lock()
	l.buf.WriteString(line + "\n")
	l.mu.Unlock()
}

func (l *consoleLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// do runs actions in the tab and fails the test on error.
func do(tb testing.TB, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page, awaiting it when
// it is a promise.
func eval[T any](tb testing.TB, ctx context.Context, expr string) T {
	tb.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor waits until the JavaScript expression is truthy in the page,
// failing with what and the page's text after waitTimeout.
func waitFor(tb testing.TB, ctx context.Context, what, expr string) {
	tb.Helper()
	deadline := time.Now().Add(waitTimeout)
	var err error
	for {
		_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
			chromedp.WithPollingTimeout(time.Until(deadline)), chromedp.WithPollingInterval(50*time.Millisecond)))
		// A poll does not survive a navigation (a login redirect, a
		// form post): poll again in the new page.
		if err == nil || time.Now().After(deadline) || !navigated(err) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ''`))
		tb.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, text)
	}
}

func navigated(err error) bool {
	s := err.Error()
	return strings.Contains(s, "context with specified id") || strings.Contains(s, "navigated or closed") ||
		strings.Contains(s, "Execution context was destroyed")
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// loginLink asks the hub for a one-time login URL, as parley dashboard
// does.
func loginLink(tb testing.TB, h *hubserver.Hub) string {
	tb.Helper()
	var res struct {
		URL string `json:"url"`
	}
	if st := apiCall(tb, h, h.AdminSecret(), "POST", "/dashboard/login-links", nil, &res); st != http.StatusCreated {
		tb.Fatalf("login link: status %d", st)
	}
	return res.URL
}

// openDashboard logs the browser in with a one-time link and waits for
// the dashboard to be live.
func openDashboard(tb testing.TB, ctx context.Context, h *hubserver.Hub) {
	tb.Helper()
	do(tb, ctx, chromedp.Navigate(loginLink(tb, h)))
	waitFor(tb, ctx, "the dashboard after the login link", `location.pathname === '/dashboard/' && document.getElementById('conn') && document.getElementById('conn').dataset.state === 'live'`)
	// Marks this page load: a reload would lose it.
	do(tb, ctx, chromedp.Evaluate[chromedp.Void](`window.__sameLoad = true`))
}

// go navigates within the dashboard to a hash route.
func goTo(tb testing.TB, ctx context.Context, hash string) {
	tb.Helper()
	do(tb, ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = %s`, js(hash))))
}

// setField sets a form field's value as typing would, firing input.
func setField(tb testing.TB, ctx context.Context, selector, value string) {
	tb.Helper()
	expr := fmt.Sprintf(`(() => { const el = document.querySelector(%s); if (!el) throw new Error('no field ' + %s); el.focus(); el.value = %s; el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true})); })()`, js(selector), js(selector), js(value))
	do(tb, ctx, chromedp.Evaluate[chromedp.Void](expr))
}

// click clicks the first element that matches a CSS selector.
func click(tb testing.TB, ctx context.Context, selector string) {
	tb.Helper()
	do(tb, ctx, chromedp.Click(chromedp.CSS(selector)))
}

// pageHasText reports (as a JavaScript expression) whether the main view
// shows text.
func pageHasText(text string) string {
	return fmt.Sprintf(`document.body.innerText.includes(%s)`, js(text))
}

// sameLoad fails the test if the page was reloaded since openDashboard.
func sameLoad(tb testing.TB, ctx context.Context) {
	tb.Helper()
	if !eval[bool](tb, ctx, `window.__sameLoad === true`) {
		tb.Fatal("the page reloaded; updates must arrive without reloads")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
