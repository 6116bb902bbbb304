package web_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/parley-dev/parley/internal/hubserver"
)

// TestScreenshots saves pictures of the main views at 1280x800 for the
// README: PARLEY_SCREENSHOTS=1 go test ./internal/web -run Screenshots
// writes docs/dashboard-*.png. PARLEY_SCREENSHOTS=<directory> writes
// every view there instead, for review. It seeds a hub with a small team
// of agents at work.
func TestScreenshots(t *testing.T) {
	dir, all := os.Getenv("PARLEY_SCREENSHOTS"), true
	switch dir {
	case "":
		t.Skip("set PARLEY_SCREENSHOTS=1 to write docs/dashboard-*.png")
	case "1":
		dir, all = filepath.Join("..", "..", "docs"), false
	}
	h, err := hubserver.Start(context.Background(), hubserver.Config{
		DataDir: t.TempDir(), Addr: "127.0.0.1:0", Synchronous: "normal", Version: "dev",
		PresenceTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	seed(t, h)

	ctx := browser(t, 1280, 800)
	openDashboard(t, ctx, h)
	shoot := func(name, route, ready string) {
		t.Helper()
		if route != "" {
			goTo(t, ctx, route)
		}
		waitFor(t, ctx, name, ready)
		// Let the relative times and the feed settle on one frame.
		do(t, ctx, chromedp.Evaluate[chromedp.Void](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))`, chromedp.EvalAwaitPromise))
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "dashboard-"+name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}
	waitFor(t, ctx, "the offline agent", `(() => { const c = document.querySelector('[data-agent="docs-writer"]'); return c && c.classList.contains('is-offline'); })()`)
	shoot("agents", "#/agents", `document.querySelectorAll('.agent-card').length >= 5 && document.getElementById('feed-list').children.length > 10`)
	extra := func(name, route, ready string) {
		t.Helper()
		if all {
			shoot(name, route, ready)
		}
	}
	extra("compose", "#/messages", `document.querySelectorAll('.thread-item').length >= 4`)
	goTo(t, ctx, "#/messages")
	waitFor(t, ctx, "the threads", `[...document.querySelectorAll('.thread-item a')].some(a => a.textContent.includes('API schema'))`)
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('.thread-item a')].find(a => a.textContent.includes('API schema')).click()`))
	shoot("messages", "", `document.querySelectorAll('.thread-msgs .msg').length >= 3`)
	shoot("commands", "#/commands", `document.querySelectorAll('.cmd').length >= 4 && document.querySelector('.cmd .result')`)
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`(() => { const f = document.querySelector('textarea[name="params"]'); f.value = '{"port": 7400, "env": "staging"}'; f.dispatchEvent(new Event('input')); document.querySelector('input[name="target"]').value = 'role:backend'; document.querySelector('input[name="action"]').value = 'restart_server'; })()`))
	shoot("commands", "#/commands", `document.querySelector('.json-state').textContent === 'Valid JSON'`)
	shoot("proposals", "#/proposals", `document.querySelectorAll('.proposal').length >= 3`)
	extra("agent", "#/agents/backend", `document.querySelectorAll('.agent-page .feed-item').length > 3`)
	extra("channels", "#/channels/test-results", `document.querySelectorAll('.post').length >= 2`)
	extra("signals", "#/signals", `document.querySelectorAll('[data-signal]').length >= 2`)
	extra("leases", "#/leases", `document.querySelectorAll('#main tbody tr').length >= 2`)
	extra("state", "#/state", `document.querySelectorAll('#main tbody tr').length >= 3`)
	extra("activity", "#/activity", `document.querySelectorAll('#main .feed-item').length > 5`)

	// Dark, as the system asks, and a narrow window.
	do(t, ctx, colorScheme("dark"))
	shoot("dark", "#/commands", `matchMedia('(prefers-color-scheme: dark)').matches`)
	extra("dark-messages", "#/messages", `document.querySelectorAll('.thread-msgs .msg').length >= 3 || document.querySelectorAll('.thread-item').length >= 4`)
	do(t, ctx, chromedp.EmulateViewport(390, 800))
	shoot("narrow", "#/agents", `innerWidth === 390`)
	extra("narrow-commands", "#/commands", `innerWidth === 390`)
	do(t, ctx, colorScheme("light"))
	extra("narrow-light", "#/proposals", `innerWidth === 390`)
	ctx2 := browser(t, 1280, 800)
	do(t, ctx2, chromedp.Navigate(h.URL()+"/dashboard/"))
	waitFor(t, ctx2, "login", `!!document.getElementById('secret')`)
	if all {
		png, err := chromedp.Run(ctx2, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "dashboard-login.png"), png, 0o644)
	}
}

// hold keeps an agent online by holding its event stream open, as a
// bridge does.
func hold(t *testing.T, a *agent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", a.h.URL()+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			if _, err := res.Body.Read(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); res.Body.Close(); <-done })
}

// seed fills a hub with a small team at work: five agents, threads,
// commands in every state, proposals, channels, signals, leases and
// shared state.
func seed(t *testing.T, h *hubserver.Hub) {
	docs := registerClient(t, h, "docs-writer", "docs", "windsurf", "markdown")
	docs.setStatus("updating the API guide", "")
	backend := registerClient(t, h, "backend", "backend", "claude-code", "go", "postgres", "docker")
	frontend := registerClient(t, h, "frontend", "frontend", "gemini", "typescript", "react")
	reviewer := registerClient(t, h, "reviewer", "reviewer", "codex", "code-review", "security")
	linux := registerClient(t, h, "linux-ci", "linux-client", "cli", "tcp", "e2e")
	human := &agent{tb: t, h: h, name: "human", token: h.AdminSecret()}
	for _, a := range []*agent{backend, frontend, reviewer, linux, human} {
		hold(t, a)
	}
	backend.setStatus("running migration 0042 on staging", "busy")
	frontend.setStatus("waiting for the /v2/users schema", "idle")
	reviewer.setStatus("reviewing PR #128", "")
	linux.setStatus("ready for end-to-end runs", "")

	m := backend.send([]string{"frontend"}, "API schema for /v2/users", "The users endpoint now returns `email_verified` and `last_login`.\nOpenAPI is updated in api/openapi.yaml.", nil)
	frontend.send([]string{"backend"}, "", "Thanks! Regenerating the client now. Is `last_login` nullable?", map[string]any{"reply_to": m})
	backend.send([]string{"frontend"}, "", "Yes, null until the first login after the migration.", map[string]any{"reply_to": m})
	reviewer.send([]string{"backend"}, "Review: PR #128", "Two findings:\n1. The migration is not wrapped in a transaction.\n2. Missing index on users(last_login).", map[string]any{"importance": "high", "ack_required": true})
	linux.send([]string{"role:backend"}, "E2E run 311 passed", "41 passed, 0 failed, 2 skipped in 3m12s.", nil)
	backend.send([]string{"human"}, "Approval needed", "May I run migration 0042 on staging? It locks the users table for about 20 s.", map[string]any{"importance": "urgent"})

	var done, claimed, failed, pending struct {
		ID int64 `json:"id"`
	}
	frontend.must("POST", "/commands/send", map[string]any{"target": "backend", "action": "regenerate_client", "params": map[string]any{"lang": "ts"}}, &failed)
	backend.must("POST", "/commands/send", map[string]any{"target": "reviewer", "action": "review_pr", "params": map[string]any{"pr": 128}, "deadline": "1h"}, &pending)
	human.must("POST", "/commands/send", map[string]any{"target": "role:linux-client", "action": "connect_and_test", "params": map[string]any{"ip": "localhost", "port": 7400}}, &claimed)
	human.must("POST", "/commands/send", map[string]any{"target": "backend", "action": "start_server", "params": map[string]any{"port": 7400}}, &done)
	backend.must("GET", "/commands/backend/wait?timeout=5000", nil, nil)
	backend.must("POST", fmt.Sprintf("/commands/%d/ack", failed.ID), map[string]any{"status": "failed", "error": "openapi.yaml: schema invalid at line 88: unknown type \"datetime\""}, nil)
	backend.must("GET", "/commands/backend/wait?timeout=5000", nil, nil)
	backend.must("POST", fmt.Sprintf("/commands/%d/ack", done.ID), map[string]any{"result": map[string]any{"status": "ok", "pid": 48211, "url": "http://127.0.0.1:7400"}}, nil)
	linux.must("GET", "/commands/linux-ci/wait?timeout=5000", nil, nil)

	var p1, p2, p3 struct {
		ID int64 `json:"id"`
	}
	reviewer.must("POST", "/proposals", map[string]any{"question": "Merge PR #128 into main?", "voters": []string{"backend", "frontend", "reviewer", "human"}, "rule": "majority", "deadline": "2h"}, &p1)
	reviewer.must("POST", fmt.Sprintf("/proposals/%d/vote", p1.ID), map[string]any{"choice": "approve", "comment": "after the two fixes"}, nil)
	frontend.must("POST", fmt.Sprintf("/proposals/%d/vote", p1.ID), map[string]any{"choice": "approve"}, nil)
	backend.must("POST", "/proposals", map[string]any{"question": "Freeze the public API until Friday's release?", "voters": []string{"backend", "frontend", "reviewer"}, "rule": "two_thirds", "deadline": "24h"}, &p2)
	frontend.must("POST", fmt.Sprintf("/proposals/%d/vote", p2.ID), map[string]any{"choice": "reject", "comment": "the client still needs last_login"}, nil)
	linux.must("POST", "/proposals", map[string]any{"question": "Run the e2e suite on every push?", "voters": []string{"linux-ci", "backend"}, "rule": "unanimous"}, &p3)
	linux.must("POST", fmt.Sprintf("/proposals/%d/vote", p3.ID), map[string]any{"choice": "approve"}, nil)
	backend.must("POST", fmt.Sprintf("/proposals/%d/vote", p3.ID), map[string]any{"choice": "approve", "comment": "cheap enough"}, nil)

	linux.must("POST", "/channels/test-results/send", map[string]any{"run": 311, "passed": 41, "failed": 0}, nil)
	linux.must("POST", "/channels/test-results/send", map[string]any{"run": 312, "passed": 40, "failed": 1, "flaky": "TestReconnect"}, nil)
	backend.must("POST", "/channels/deploys/send", map[string]any{"env": "staging", "version": "1.4.0-rc.2"}, nil)
	backend.must("POST", "/signals/server_ready", map[string]any{"data": map[string]any{"port": 7400}}, nil)
	linux.must("POST", "/signals/e2e_green", map[string]any{}, nil)
	backend.must("POST", "/leases", map[string]any{"patterns": []string{"internal/api/**", "migrations/0042_*.sql"}, "ttl": "30m", "reason": "schema migration"}, nil)
	frontend.must("POST", "/leases", map[string]any{"patterns": []string{"web/src/api/**"}, "ttl": "45m", "reason": "regenerating the client"}, nil)
	backend.must("PUT", "/state/build.status", map[string]any{"value": "green"}, nil)
	backend.must("PUT", "/state/release.version", map[string]any{"value": "1.4.0-rc.2"}, nil)
	linux.must("PUT", "/state/e2e.last_run", map[string]any{"value": map[string]any{"run": 312, "passed": 40, "failed": 1}}, nil)
}

// colorScheme emulates the system's light or dark preference.
func colorScheme(v string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}},
		})
		return chromedp.Void{}, err
	}
}
