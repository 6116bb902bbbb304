package web_test

// Browser tests: Debian's chromium, driven by chromedp, against a real
// hub (hubserver on 127.0.0.1:0 with a temporary data directory).

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestBrowserMessageAppearsLive(t *testing.T) {
	h := startHub(t, false)
	alice := register(t, h, "alice", "backend", "go", "sql")
	bob := register(t, h, "bob", "frontend")
	ctx := browser(t, 1280, 800)
	openDashboard(t, ctx, h)

	// Agents with presence, role and capabilities.
	waitFor(t, ctx, "alice's card", `!!document.querySelector('[data-agent="alice"]')`)
	waitFor(t, ctx, "alice's role and capabilities", `(() => { const c = document.querySelector('[data-agent="alice"]'); return c.innerText.includes('backend') && c.innerText.includes('sql'); })()`)
	aliceCard := `document.querySelector('[data-agent="alice"]')`
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`window.__aliceCard = `+aliceCard))

	// Status changes stream in and update the card in place.
	bob.setStatus("reviewing PR 12", "busy")
	waitFor(t, ctx, "bob's new status", `(() => { const c = document.querySelector('[data-agent="bob"]'); return c && c.innerText.includes('reviewing PR 12') && c.innerText.toLowerCase().includes('busy'); })()`)
	if !eval[bool](t, ctx, `window.__aliceCard === `+aliceCard) {
		t.Error("alice's card was rebuilt when only bob changed: the list must update in place")
	}

	// A message between agents shows up in the feed and in Messages,
	// without a reload.
	alice.send([]string{"bob"}, "Schema change", "The users table gets a column: email_verified.", nil)
	waitFor(t, ctx, "the message in the live feed", `document.getElementById('feed-list').innerText.includes('Schema change')`)
	goTo(t, ctx, "#/messages")
	waitFor(t, ctx, "the thread in Messages", `[...document.querySelectorAll('.thread-item')].some(e => e.innerText.includes('Schema change'))`)
	// Unread for bob.
	goTo(t, ctx, "#/agents")
	waitFor(t, ctx, "bob's unread count", `document.querySelector('[data-agent="bob"]').innerText.includes('1 unread')`)

	// A reply while the thread is open appears in it.
	goTo(t, ctx, "#/messages")
	click(t, ctx, ".thread-item a")
	waitFor(t, ctx, "the open thread", `document.querySelectorAll('.thread-msgs .msg').length === 1`)
	var first struct {
		Messages []struct {
			ID int64 `json:"id"`
		} `json:"messages"`
	}
	bob.must("GET", "/inbox/bob", nil, &first)
	bob.send([]string{"alice"}, "", "Fine by me, ship it.", map[string]any{"reply_to": first.Messages[0].ID})
	waitFor(t, ctx, "the reply in the open thread", `document.querySelectorAll('.thread-msgs .msg').length === 2 && document.querySelector('.thread-msgs').innerText.includes('ship it')`)

	// The human replies from the page; the agents receive it.
	setField(t, ctx, `textarea[name="reply"]`, "Thanks both, merging now.")
	click(t, ctx, `form.reply button[type="submit"]`)
	waitFor(t, ctx, "the human's reply in the thread", `document.querySelectorAll('.thread-msgs .msg').length === 3`)
	var in struct {
		Messages []struct {
			From string `json:"from"`
			Body string `json:"body"`
		} `json:"messages"`
	}
	alice.must("GET", "/inbox/alice", nil, &in)
	found := false
	for _, m := range in.Messages {
		found = found || m.From == "human" && m.Body == "Thanks both, merging now."
	}
	if !found {
		t.Fatalf("alice did not receive the human's reply: %+v", in.Messages)
	}

	// A message to the human from the composer's view: new message form.
	goTo(t, ctx, "#/messages")
	setField(t, ctx, `input[name="to"]`, "role:backend")
	setField(t, ctx, `input[name="subject"]`, "Deploy window")
	setField(t, ctx, `textarea[name="body"]`, "Deploy at 15:00, please.")
	click(t, ctx, `form.composer button[type="submit"]`)
	waitFor(t, ctx, "the sent message's thread", `location.hash.startsWith('#/messages/') && document.querySelector('.thread-msgs') && document.querySelector('.thread-msgs').innerText.includes('Deploy at 15:00')`)
	alice.must("GET", "/inbox/alice", nil, &in)
	if len(in.Messages) != 1 || in.Messages[0].Body != "Deploy at 15:00, please." {
		t.Fatalf("alice (role backend) got %+v, want the human's message to role:backend", in.Messages)
	}

	// Search.
	setField(t, ctx, `input[name="q"]`, "email_verified")
	click(t, ctx, `form.search button[type="submit"]`)
	waitFor(t, ctx, "a search result", `document.querySelector('.threads-pane').textContent.includes('1 result for')`)
	sameLoad(t, ctx)
}

func TestBrowserEscapesAgentData(t *testing.T) {
	h := startHub(t, false)
	const script = `<script>window.__xss = 'script'</script>`
	const img = `<img src=x onerror="window.__xss = 'img'">`
	evil := register(t, h, "evil", "attacker", script, img)
	evil.must("POST", "/peers/evil/status", map[string]any{"status": img + " " + script}, nil)
	ctx := browser(t, 1280, 800)
	openDashboard(t, ctx, h)

	waitFor(t, ctx, "the evil agent's status as text", `document.querySelector('[data-agent="evil"]') && document.querySelector('[data-agent="evil"]').textContent.includes(`+js(img)+`)`)
	evil.send([]string{"human"}, script, img+"\n"+script, nil)
	waitFor(t, ctx, "the message in the feed", `document.getElementById('feed-list').textContent.includes(`+js(script)+`)`)
	goTo(t, ctx, "#/messages")
	click(t, ctx, ".thread-item a")
	waitFor(t, ctx, "the message body as text", `document.querySelector('.thread-msgs') && document.querySelector('.thread-msgs').textContent.includes(`+js(img)+`) && document.querySelector('.thread-msgs').textContent.includes(`+js(script)+`)`)
	goTo(t, ctx, "#/agents/evil")
	waitFor(t, ctx, "the agent page", `document.querySelector('.facts') && document.querySelector('.facts').textContent.includes(`+js(script)+`)`)

	noMarkup := func(where string) {
		t.Helper()
		// The markup stayed text: no element came from agent data, and
		// nothing ran. (The CSP would stop inline code too; this checks
		// that the page never builds markup from data.)
		if n := eval[int](t, ctx, `document.querySelectorAll('img[src="x"], img:not([src^="/dashboard/"]), script:not([src]), [onerror]').length`); n != 0 {
			t.Fatalf("%s: %d elements were made from agent data", where, n)
		}
		if v := eval[string](t, ctx, `String(window.__xss)`); v != "undefined" {
			t.Fatalf("%s: injected code ran: window.__xss = %s", where, v)
		}
	}
	noMarkup("agents and messages")

	// The same through commands, proposals, channels and signals.
	evil.must("POST", "/commands/send", map[string]any{"target": "human", "action": "<img/src=x/onerror=window.__xss=1>", "params": map[string]any{"html": img}}, nil)
	evil.must("POST", "/proposals", map[string]any{"question": script + " " + img, "voters": []string{"human"}}, nil)
	evil.must("POST", "/channels/evil/send", map[string]any{"html": script}, nil)
	evil.must("POST", "/signals/evil", map[string]any{"data": img}, nil)
	for _, v := range []struct{ route, sel, text string }{
		{"#/commands", ".cmd-list", "<img/src=x/onerror=window.__xss=1>"},
		{"#/proposals", ".prop-list", script},
		{"#/channels/evil", ".post-list", script},
		{"#/signals", "#main table", img},
	} {
		goTo(t, ctx, v.route)
		waitFor(t, ctx, v.route, `!!document.querySelector(`+js(v.sel)+`) && document.querySelector(`+js(v.sel)+`).textContent.includes(`+js(v.text)+`)`)
		noMarkup(v.route)
	}
}

func TestBrowserNeedsLogin(t *testing.T) {
	h := startHub(t, false)
	ctx := browser(t, 1280, 800)
	do(t, ctx, chromedp.Navigate(h.URL()+"/dashboard/"))
	waitFor(t, ctx, "the login page", `location.pathname === '/dashboard/login' && !!document.getElementById('secret')`)
	if eval[bool](t, ctx, `!!document.getElementById('main')`) {
		t.Fatal("the dashboard showed without login")
	}
	// Its API refuses the browser too, the event stream included.
	for _, p := range []string{"/dashboard/api/peers", "/dashboard/api/events", "/dashboard/api/status"} {
		st := eval[int](t, ctx, fmt.Sprintf(`fetch(%s).then(r => r.status)`, js(p)))
		if st != http.StatusUnauthorized {
			t.Errorf("GET %s without login: %d, want 401", p, st)
		}
	}
	st := eval[int](t, ctx, `fetch('/dashboard/api/messages', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({to: ['human'], body: 'hi'})}).then(r => r.status)`)
	if st != http.StatusUnauthorized {
		t.Errorf("POST without login: %d, want 401", st)
	}

	// A wrong secret is refused with a clear message; the right one logs in.
	setField(t, ctx, "#secret", "pa_wrong")
	click(t, ctx, `button[type="submit"]`)
	waitFor(t, ctx, "the error", `!!document.querySelector('.error') && document.querySelector('.error').innerText.includes('not the admin secret')`)
	setField(t, ctx, "#secret", h.AdminSecret())
	click(t, ctx, `button[type="submit"]`)
	waitFor(t, ctx, "the dashboard", `location.pathname === '/dashboard/' && document.getElementById('conn') && document.getElementById('conn').dataset.state === 'live'`)
	if c := eval[string](t, ctx, `document.cookie`); c != "" {
		t.Fatalf("the session cookie is readable from script: %q", c)
	}

	// A spent link does not log in again.
	link := loginLink(t, h)
	ctx2 := browser(t, 1280, 800)
	do(t, ctx2, chromedp.Navigate(link))
	waitFor(t, ctx2, "the dashboard from the link", `location.pathname === '/dashboard/' && !!document.getElementById('main')`)
	ctx3 := browser(t, 1280, 800)
	do(t, ctx3, chromedp.Navigate(link))
	waitFor(t, ctx3, "the spent link's error", `!!document.querySelector('.error') && document.querySelector('.error').innerText.includes('expired or was already used')`)
}

func TestBrowserRefusesCrossSite(t *testing.T) {
	h := startHub(t, false)
	bob := register(t, h, "bob", "frontend")
	ctx := browser(t, 1280, 800)
	openDashboard(t, ctx, h)

	// From the dashboard itself, a state-changing call without the CSRF
	// header is refused.
	st := eval[int](t, ctx, `fetch('/dashboard/api/messages', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({to: ['bob'], body: 'no token'})}).then(r => r.status)`)
	if st != http.StatusForbidden {
		t.Fatalf("POST without CSRF token: %d, want 403", st)
	}

	// A page of another origin on the same machine (same site, so the
	// Strict cookie goes along) posts to the dashboard's API, with a
	// script and with a plain form.
	target := h.URL() + "/dashboard/api/messages"
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<!doctype html><title>evil</title>
<form id="f" method="post" action="`+target+`" enctype="text/plain"><input name='{"to":["bob"],"body":"form","x":"' value='"}'></form>
<script>
window.done = fetch(`+js(target)+`, {method: 'POST', mode: 'no-cors', credentials: 'include',
  headers: {'Content-Type': 'text/plain', 'X-Parley-CSRF': 'guess'},
  body: JSON.stringify({to: ['bob'], body: 'fetch'})}).then(() => 'sent', e => 'error: ' + e);
</script>`)
	}))
	t.Cleanup(evil.Close)
	ctx2, cancel := chromedp.NewContext(ctx) // a second tab, same browser and cookies
	t.Cleanup(cancel)
	do(t, ctx2, chromedp.Navigate(evil.URL))
	waitFor(t, ctx2, "the cross-site fetch", `window.done && true`)
	if v := eval[string](t, ctx2, `window.done`); !strings.HasPrefix(v, "sent") && !strings.HasPrefix(v, "error") {
		t.Fatalf("fetch: %s", v)
	}
	do(t, ctx2, chromedp.Evaluate[chromedp.Void](`document.getElementById('f').submit()`))
	waitFor(t, ctx2, "the form post's answer", `location.href.startsWith(`+js(target)+`) && document.body && document.body.innerText.length > 0`)
	body := eval[string](t, ctx2, `document.body.innerText`)
	if !contains(body, "forbidden") {
		t.Fatalf("cross-site form post answered %q, want a forbidden error", body)
	}

	var in struct {
		Messages []any `json:"messages"`
	}
	bob.must("GET", "/inbox/bob?peek=true", nil, &in)
	if len(in.Messages) != 0 {
		t.Fatalf("a cross-site request sent %d messages as human", len(in.Messages))
	}
	// The same call from the dashboard, with its token, works.
	st = eval[int](t, ctx, `fetch('/dashboard/api/messages', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-Parley-CSRF': document.querySelector('meta[name="parley-csrf"]').content}, body: JSON.stringify({to: ['bob'], body: 'with token'})}).then(r => r.status)`)
	if st != http.StatusCreated {
		t.Fatalf("POST with the CSRF token: %d, want 201", st)
	}
}

func TestBrowserNarrowWindow(t *testing.T) {
	h := startHub(t, false)
	a := register(t, h, "a-very-long-agent-name-that-must-not-break-the-narrow-layout-x", "backend", "go")
	a.setStatus(strings.Repeat("working on something with a long description ", 5), "busy")
	a.send([]string{"human"}, "Narrow", strings.Repeat("word ", 200)+strings.Repeat("x", 300), nil)
	ctx := browser(t, 390, 800)
	openDashboard(t, ctx, h)
	for _, route := range []string{"#/agents", "#/messages", "#/commands", "#/proposals", "#/channels", "#/signals", "#/leases", "#/state", "#/activity"} {
		goTo(t, ctx, route)
		waitFor(t, ctx, route, `document.querySelector('#main .view-head') !== null`)
		if w := eval[int](t, ctx, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
			t.Errorf("%s overflows a 390px window by %dpx", route, w)
		}
	}
	// The feed has its own view in a narrow window.
	goTo(t, ctx, "#/activity")
	waitFor(t, ctx, "the activity view", pageHasText("Narrow"))
}

func TestBrowserCommandCenter(t *testing.T) {
	h := startHub(t, false)
	bob := register(t, h, "bob", "tester", "e2e")
	ctx := browser(t, 1280, 800)
	openDashboard(t, ctx, h)
	goTo(t, ctx, "#/commands")
	waitFor(t, ctx, "the command form", `!!document.querySelector('form.command-form')`)

	// Params are checked in the page before anything is sent.
	setField(t, ctx, `input[name="target"]`, "bob")
	setField(t, ctx, `input[name="action"]`, "run_tests")
	setField(t, ctx, `textarea[name="params"]`, `{"suite": `)
	waitFor(t, ctx, "the JSON error", `document.querySelector('form.command-form button[type="submit"]').disabled && document.querySelector('.json-state').textContent.startsWith('Invalid JSON')`)
	setField(t, ctx, `textarea[name="params"]`, `["not", "an", "object"]`)
	waitFor(t, ctx, "the object error", `document.querySelector('form.command-form button[type="submit"]').disabled && document.querySelector('.json-state').textContent.includes('must be a JSON object')`)
	setField(t, ctx, `textarea[name="params"]`, `{"suite": "web", "race": true}`)
	waitFor(t, ctx, "valid params", `!document.querySelector('form.command-form button[type="submit"]').disabled`)
	click(t, ctx, `form.command-form button[type="submit"]`)
	waitFor(t, ctx, "the pending command", `!!document.querySelector('.cmd[data-status="pending"]') && document.querySelector('.cmd[data-status="pending"]').textContent.includes('run_tests')`)

	// bob claims it through the API: the page shows it claimed.
	var claim struct {
		Command *struct {
			ID     int64          `json:"id"`
			From   string         `json:"from"`
			Action string         `json:"action"`
			Params map[string]any `json:"params"`
		} `json:"command"`
	}
	bob.must("GET", "/commands/bob/wait?timeout=10000", nil, &claim)
	if claim.Command == nil || claim.Command.From != "human" || claim.Command.Action != "run_tests" || claim.Command.Params["suite"] != "web" {
		t.Fatalf("bob claimed %+v, want the human's run_tests with suite web", claim.Command)
	}
	waitFor(t, ctx, "the claimed command", `(() => { const c = document.querySelector('.cmd[data-id="`+fmt.Sprint(claim.Command.ID)+`"]'); return c && c.dataset.status === 'claimed' && c.textContent.includes('claimed by bob'); })()`)

	// bob acknowledges with a result: the page shows it done, with the result.
	bob.must("POST", fmt.Sprintf("/commands/%d/ack", claim.Command.ID), map[string]any{"result": map[string]any{"passed": 42, "failed": 0, "report": "all green"}}, nil)
	waitFor(t, ctx, "the result", `(() => { const c = document.querySelector('.cmd[data-id="`+fmt.Sprint(claim.Command.ID)+`"]'); return c && c.dataset.status === 'done' && c.querySelector('.result') && c.querySelector('.result').textContent.includes('"passed": 42') && c.querySelector('.result').textContent.includes('all green'); })()`)
	waitFor(t, ctx, "the result in the feed", `document.getElementById('feed-list').textContent.includes('bob finished run_tests')`)
	sameLoad(t, ctx)
}

func TestBrowserVoteDecidesProposal(t *testing.T) {
	h := startHub(t, false)
	alice := register(t, h, "alice", "lead")
	var prop struct {
		ID int64 `json:"id"`
	}
	alice.must("POST", "/proposals", map[string]any{"question": "Ship v1.0 today?", "voters": []string{"alice", "human"}, "rule": "majority"}, &prop)
	ctx := browser(t, 1280, 800)
	openDashboard(t, ctx, h)
	goTo(t, ctx, "#/proposals")
	card := fmt.Sprintf(`document.querySelector('.proposal[data-id="%d"]')`, prop.ID)
	count := func(option string) string {
		return fmt.Sprintf(`%s.querySelector('.tally-row[data-option="%s"] .num').dataset.count`, card, option)
	}
	waitFor(t, ctx, "the open proposal", card+` && `+card+`.classList.contains('is-open') && `+count("approve")+` === '0'`)

	alice.must("POST", fmt.Sprintf("/proposals/%d/vote", prop.ID), map[string]any{"choice": "approve", "comment": "tests are green"}, nil)
	waitFor(t, ctx, "alice's vote in the tally", card+` && `+count("approve")+` === '1' && `+card+`.classList.contains('is-open')`)

	// The human votes in the page: the tally changes and the proposal is decided.
	setField(t, ctx, fmt.Sprintf(`.proposal[data-id="%d"] input[name="comment"]`, prop.ID), "agreed")
	click(t, ctx, fmt.Sprintf(`.proposal[data-id="%d"] button[data-choice="approve"]`, prop.ID))
	waitFor(t, ctx, "the decision", card+` && `+card+`.classList.contains('is-decided') && `+count("approve")+` === '2' && `+card+`.querySelector('.outcome-value').textContent === 'approve'`)

	var got struct {
		Status  string `json:"status"`
		Outcome string `json:"outcome"`
		Votes   []struct {
			Voter, Choice, Comment string
		} `json:"votes"`
	}
	alice.must("GET", fmt.Sprintf("/proposals/%d", prop.ID), nil, &got)
	if got.Status != "decided" || got.Outcome != "approve" || len(got.Votes) != 2 || got.Votes[1].Voter != "human" || got.Votes[1].Comment != "agreed" {
		t.Fatalf("proposal after the page's vote: %+v, want decided approve with the human's vote", got)
	}
	sameLoad(t, ctx)
}

func TestBrowserOpenHubNeedsNoLogin(t *testing.T) {
	h := startHub(t, true)
	register(t, h, "alice", "backend")
	ctx := browser(t, 1280, 800)
	do(t, ctx, chromedp.Navigate(h.URL()+"/dashboard/"))
	waitFor(t, ctx, "the dashboard without login", `location.pathname === '/dashboard/' && document.getElementById('conn').dataset.state === 'live' && !!document.querySelector('[data-agent="alice"]')`)
	if eval[bool](t, ctx, `!!document.querySelector('form.logout')`) {
		t.Error("an open hub's dashboard offers to log out")
	}
}
