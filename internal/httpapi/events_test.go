package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// sseEvent is one event as a client parsed it.
type sseEvent struct {
	id    int64
	kind  string
	event hub.Event
}

// sseClient reads an event stream in the background.
type sseClient struct {
	t        testing.TB
	resp     *http.Response
	events   chan sseEvent
	comments chan string
	cancel   context.CancelFunc
	done     chan struct{}
}

// openEvents opens GET path as cred and waits for the stream to start.
func (e *env) openEvents(path, cred string, headers ...string) *sseClient {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", e.http.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth := e.authHeader(cred); auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		cancel()
		e.t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		resp.Body.Close()
		e.t.Fatalf("GET %s: status %d", path, resp.StatusCode)
	}
	c := &sseClient{t: e.t, resp: resp, events: make(chan sseEvent, 10000), comments: make(chan string, 100), cancel: cancel, done: make(chan struct{})}
	go c.read()
	e.t.Cleanup(c.close)
	if got := c.comment(); got != "connected" {
		e.t.Fatalf("first comment %q, want connected", got)
	}
	return c
}

func (c *sseClient) read() {
	defer close(c.done)
	sc := bufio.NewScanner(c.resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var ev sseEvent
	var data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.kind != "" {
				if err := json.Unmarshal([]byte(data), &ev.event); err != nil {
					c.t.Errorf("event %d: bad data %q: %v", ev.id, data, err)
				}
				c.events <- ev
			}
			ev, data = sseEvent{}, ""
		case strings.HasPrefix(line, ": "):
			select {
			case c.comments <- strings.TrimPrefix(line, ": "):
			default:
			}
		case strings.HasPrefix(line, "id: "):
			ev.id, _ = strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
		case strings.HasPrefix(line, "event: "):
			ev.kind = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		default:
			c.t.Errorf("unexpected line in event stream: %q", line)
		}
	}
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
	<-c.done
}

// next returns the next event that is not about presence.
func (c *sseClient) next() sseEvent {
	c.t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case ev := <-c.events:
			if ev.kind == hub.EventAgentOnline || ev.kind == hub.EventAgentOffline {
				continue
			}
			return ev
		case <-timeout.C:
			c.t.Fatal("timed out waiting for an event")
			return sseEvent{}
		}
	}
}

func (c *sseClient) comment() string {
	c.t.Helper()
	select {
	case s := <-c.comments:
		return s
	case <-time.After(10 * time.Second):
		c.t.Fatal("timed out waiting for a comment")
		return ""
	}
}

func TestEventsLiveDelivery(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.openEvents("/events", "bob")
	if ct := c.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := c.resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	var res hub.SendResult
	e.mustJSON(e.call("POST", "/messages", `{"to":"bob","body":"live"}`, "alice"), 201, &res)
	ev := c.next()
	if ev.kind != hub.EventMessageSent || ev.event.Kind != ev.kind || ev.event.ID != ev.id || ev.event.Actor != "alice" || !slices.Contains(ev.event.Targets, "bob") {
		t.Fatalf("event = %+v", ev)
	}
	if ev.event.Subject != strconv.FormatInt(res.Message.ID, 10) {
		t.Errorf("subject %q, want message id %d", ev.event.Subject, res.Message.ID)
	}
}

func TestEventsKindFilter(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.openEvents("/events?kind=agent", "admin")
	e.mustJSON(e.call("POST", "/messages", `{"to":"bob","body":"not for this stream"}`, "alice"), 201, nil)
	e.register("dave", "qa")
	ev := c.next()
	if ev.kind != hub.EventAgentRegistered || ev.event.Subject != "dave" {
		t.Fatalf("first event %s %q, want agent.registered dave", ev.kind, ev.event.Subject)
	}
	// A list of kinds, exact and by prefix.
	c2 := e.openEvents("/events?kind=message.acked,agent.status", "admin")
	e.mustJSON(e.call("POST", "/messages", `{"to":"bob","body":"skip"}`, "alice"), 201, nil)
	e.mustJSON(e.call("POST", fmt.Sprintf("/messages/%d/ack", e.msgID), "", "bob"), 200, nil)
	e.mustJSON(e.call("POST", "/peers/bob/status", `{"state":"busy"}`, "bob"), 200, nil)
	if ev := c2.next(); ev.kind != hub.EventMessageAcked {
		t.Fatalf("got %s, want message.acked", ev.kind)
	}
	if ev := c2.next(); ev.kind != hub.EventAgentStatus {
		t.Fatalf("got %s, want agent.status", ev.kind)
	}
}

func TestEventsAgentFilter(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.openEvents("/events?agent=carol&kind=message", "admin")
	e.mustJSON(e.call("POST", "/messages", `{"to":"bob","body":"not about carol"}`, "alice"), 201, nil)
	e.mustJSON(e.call("POST", "/messages", `{"to":"carol","body":"about carol"}`, "alice"), 201, nil)
	ev := c.next()
	if !slices.Equal(ev.event.Targets, []string{"carol"}) {
		t.Fatalf("first event targets %v, want [carol]", ev.event.Targets)
	}
}

// TestEventsVisibility: an agent sees message events only when they
// concern it, since they carry a preview of the body.
func TestEventsVisibility(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.openEvents("/events", "carol")
	e.mustJSON(e.call("POST", "/messages", `{"to":"bob","body":"private"}`, "alice"), 201, nil)
	e.register("dave", "qa")
	if ev := c.next(); ev.kind != hub.EventAgentRegistered {
		t.Fatalf("carol saw %s %s, want agent.registered first", ev.kind, ev.event.Data)
	}
	// Replay hides it too.
	c2 := e.openEvents("/events?since=0&kind=message", "carol")
	e.mustJSON(e.call("POST", "/messages", `{"to":"carol","body":"mine"}`, "alice"), 201, nil)
	if ev := c2.next(); !strings.Contains(string(ev.event.Data), "mine") {
		t.Fatalf("carol's first replayed message event: %s", ev.event.Data)
	}
}

// messageEventIDs returns the ids of stored message events after 'after'.
func (e *env) messageEventIDs(after int64) []int64 {
	e.t.Helper()
	evs, err := e.svc.Events(context.Background(), after, 100000, hub.Filter{Kinds: []string{"message"}})
	if err != nil {
		e.t.Fatal(err)
	}
	ids := make([]int64, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return ids
}

// TestEventsResume resumes after an event while sends go on, and checks
// that every event after it arrives once, in order.
func TestEventsResume(t *testing.T) {
	for _, how := range []string{"Last-Event-ID", "since", "header beats since"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			for i := range 10 {
				e.mustJSON(e.call("POST", "/messages", fmt.Sprintf(`{"to":"bob","body":"before %d"}`, i), "alice"), 201, nil)
			}
			ids := e.messageEventIDs(0)
			from := ids[4]
			var wg sync.WaitGroup
			wg.Go(func() {
				for i := range 20 {
					e.mustJSON(e.call("POST", "/messages", fmt.Sprintf(`{"to":"carol","body":"during %d"}`, i), "alice"), 201, nil)
				}
			})
			var c *sseClient
			switch how {
			case "Last-Event-ID":
				c = e.openEvents("/events?kind=message", "admin", "Last-Event-ID", strconv.FormatInt(from, 10))
			case "since":
				c = e.openEvents(fmt.Sprintf("/events?kind=message&since=%d", from), "admin")
			default:
				c = e.openEvents("/events?kind=message&since=0", "admin", "Last-Event-ID", strconv.FormatInt(from, 10))
			}
			wg.Wait()
			e.mustJSON(e.call("POST", "/messages", `{"to":"bob","body":"after"}`, "alice"), 201, nil)
			want := e.messageEventIDs(from)
			var got []int64
			for len(got) < len(want) {
				got = append(got, c.next().id)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got ids %v\nwant %v", got, want)
			}
			select {
			case ev := <-c.events:
				if ev.kind != hub.EventAgentOnline && ev.kind != hub.EventAgentOffline {
					t.Fatalf("extra event %d %s", ev.id, ev.kind)
				}
			default:
			}
		})
	}
}

// blockingWriter is a ResponseWriter whose writes wait for a gate, so a
// test can make an event stream fall behind the bus.
type blockingWriter struct {
	header  http.Header
	gate    chan struct{}
	started chan struct{}
	once    sync.Once
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (w *blockingWriter) Header() http.Header { return w.header }
func (w *blockingWriter) WriteHeader(int)     {}
func (w *blockingWriter) Flush()              {}
func (w *blockingWriter) Write(b []byte) (int, error) {
	w.once.Do(func() { close(w.started) })
	<-w.gate
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

func (w *blockingWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// ids returns the event ids written so far, in order.
func (w *blockingWriter) ids() []int64 {
	var got []int64
	for line := range strings.Lines(w.String()) {
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			id, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			got = append(got, id)
		}
	}
	return got
}

// blockedStream serves GET path with auth through a blockingWriter and
// returns once the stream has subscribed and is stuck writing; open the
// gate to let it go on, and call stop to end it.
func (e *env) blockedStream(path, auth string) (w *blockingWriter, stop func()) {
	w = &blockingWriter{header: http.Header{}, gate: make(chan struct{}), started: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, "GET", path, nil)
	req.Host = "127.0.0.1"
	req.Header.Set("Authorization", auth)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.server.Handler().ServeHTTP(w, req)
	}()
	<-w.started
	return w, func() { cancel(); <-done }
}

// TestEventsSlowConsumerCatchesUp: a stream whose bus subscription is
// closed for falling behind reads the gap from the store, so it still
// gets every event once and in order.
func TestEventsSlowConsumerCatchesUp(t *testing.T) {
	e := newEnv(t, envOptions{busBuffer: 4})
	w, stop := e.blockedStream("/events?kind=message", "Bearer "+testAdmin)
	before := e.messageEventIDs(0)
	for i := range 30 {
		e.mustJSON(e.call("POST", "/messages", fmt.Sprintf(`{"to":"bob","body":"burst %d"}`, i), "alice"), 201, nil)
	}
	want := e.messageEventIDs(before[len(before)-1])
	close(w.gate)
	last := fmt.Sprintf("id: %d\n", want[len(want)-1])
	eventually(t, "the last event", func() bool { return strings.Contains(w.String(), last) })
	stop()
	if got := w.ids(); !slices.Equal(got, want) {
		t.Fatalf("got ids %v\nwant %v", got, want)
	}
}

// TestAgentStreamCatchesUpWithItsOwnMail: an agent's stream, which the
// bus reaches only with its own mail and holds fewer events, falls
// behind a burst larger than its buffer and reads the gap from the
// store: it gets every message to it once and in order, and none of the
// messages to others sent in the same burst.
func TestAgentStreamCatchesUpWithItsOwnMail(t *testing.T) {
	e := newEnv(t, envOptions{})
	w, stop := e.blockedStream("/events?kind=message.sent", e.authHeader("bob"))
	before := e.messageEventIDs(0)
	var want []int64
	for i := range 150 {
		to := "bob"
		if i%3 == 0 {
			to = "carol"
		}
		e.mustJSON(e.call("POST", "/messages", fmt.Sprintf(`{"to":%q,"body":"burst %d"}`, to, i), "alice"), 201, nil)
		if ids := e.messageEventIDs(before[len(before)-1]); to == "bob" {
			want = append(want, ids[len(ids)-1])
		}
	}
	close(w.gate)
	last := fmt.Sprintf("id: %d\n", want[len(want)-1])
	eventually(t, "the last event", func() bool { return strings.Contains(w.String(), last) })
	stop()
	if got := w.ids(); !slices.Equal(got, want) {
		t.Fatalf("got ids %v\nwant %v", got, want)
	}
	if strings.Contains(w.String(), `"carol"`) {
		t.Error("bob's stream shows a message to carol")
	}
}

func TestEventsHeartbeat(t *testing.T) {
	e := newEnv(t, envOptions{heartbeat: 10 * time.Millisecond})
	c := e.openEvents("/events", "alice")
	if got := c.comment(); got != "ping" {
		t.Fatalf("comment %q, want ping", got)
	}
}

// TestEventsHoldPresence: an agent's open stream keeps it online however
// long it stays quiet; closing the stream lets it go offline.
func TestEventsHoldPresence(t *testing.T) {
	e := newEnv(t, envOptions{})
	online := func() bool {
		var p hub.Peer
		e.mustJSON(e.call("GET", "/peers/carol", "", "admin"), 200, &p)
		return p.Online
	}
	e.clock.Add(time.Hour)
	if online() {
		t.Fatal("carol online after an hour of silence")
	}
	c := e.openEvents("/events", "carol")
	e.clock.Add(time.Hour)
	if !online() {
		t.Fatal("carol offline while her event stream is open")
	}
	c.close()
	eventually(t, "the stream to end on the server", func() bool {
		e.clock.Add(time.Hour)
		return !online()
	})
}

func TestEventsOpenWithoutCredential(t *testing.T) {
	e := newEnv(t, envOptions{open: true})
	c := e.openEvents("/events?kind=message", "")
	e.mustJSON(e.call("POST", "/messages", `{"from":"alice","to":"bob","body":"open"}`, ""), 201, nil)
	if ev := c.next(); ev.event.Actor != "alice" {
		t.Fatalf("event %+v", ev)
	}
}

// TestEventsSurviveReset: event ids keep growing across a reset, so a
// stream goes on delivering after one.
func TestEventsSurviveReset(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.openEvents("/events", "admin")
	e.mustJSON(e.call("POST", "/reset", "", "admin"), 200, nil)
	var ids []int64
	for {
		ev := c.next()
		ids = append(ids, ev.id)
		if ev.kind == hub.EventHubReset {
			break
		}
	}
	e.register("dave", "qa")
	for {
		ev := c.next()
		ids = append(ids, ev.id)
		if ev.kind == hub.EventAgentRegistered && ev.event.Subject == "dave" {
			break
		}
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("event ids across a reset do not grow: %v", ids)
		}
	}
}
