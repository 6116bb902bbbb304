package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

const apiBenchBody = "Please review PR 12: the group commit change in internal/sqlite. Tests pass locally."

// serve runs one request through the API's handler, without a network.
func (e *env) serve(b *testing.B, method, path, body, cred string, want int) {
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, "http://127.0.0.1"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(method, "http://127.0.0.1"+path, nil)
	}
	req.Header.Set("Authorization", e.authHeader(cred))
	w := httptest.NewRecorder()
	e.server.Handler().ServeHTTP(w, req)
	if w.Code != want {
		b.Fatalf("%s %s: status %d, want %d: %s", method, path, w.Code, want, w.Body.String())
	}
}

// BenchmarkHandleSend is the whole cost of POST /messages in the hub
// but the network: middleware, token authentication, decoding, Send
// with its commit (synchronous=NORMAL), encoding.
func BenchmarkHandleSend(b *testing.B) {
	e := newEnv(b, envOptions{})
	body := `{"to":"bob","body":"` + apiBenchBody + `"}`
	b.ReportAllocs()
	for b.Loop() {
		e.serve(b, http.MethodPost, "/messages", body, "alice", http.StatusCreated)
	}
}

// BenchmarkHandleInboxEmpty is GET /inbox/{agent} with nothing new: the
// request `parley inbox` makes most often.
func BenchmarkHandleInboxEmpty(b *testing.B) {
	e := newEnv(b, envOptions{})
	b.ReportAllocs()
	for b.Loop() {
		e.serve(b, http.MethodGet, "/inbox/carol", "", "carol", http.StatusOK)
	}
}

// BenchmarkHandleHealth is the floor of the middleware: no auth, no store.
func BenchmarkHandleHealth(b *testing.B) {
	e := newEnv(b, envOptions{bare: true})
	b.ReportAllocs()
	for b.Loop() {
		e.serve(b, http.MethodGet, "/healthz", "", "", http.StatusOK)
	}
}

// benchMessage is a message as the hub returns it.
func benchMessage(id int64) hub.Inbound {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return hub.Inbound{
		Message: hub.Message{
			ID: id, From: "alice", To: []string{"bob"}, Thread: strconv.FormatInt(id, 10), Body: apiBenchBody,
			Importance: hub.ImportanceNormal, CreatedAt: now, Size: len(apiBenchBody),
		},
		Seq: id, State: hub.DeliveryUnread,
	}
}

// BenchmarkEncode measures the JSON encoding of the hub's most frequent
// answers, as the API writes them (encoding/json).
func BenchmarkEncode(b *testing.B) {
	page := hub.ReadResult{Next: 50}
	for i := range 50 {
		page.Messages = append(page.Messages, benchMessage(int64(i+1)))
	}
	m := benchMessage(1)
	values := []struct {
		name string
		v    any
	}{
		{"send_result", hub.SendResult{Message: m.Message, Deliveries: []hub.DeliveryStatus{{To: "bob", State: hub.DeliveryUnread, Seq: 1}}}},
		{"read_1", hub.ReadResult{Messages: []hub.Inbound{m}, Next: 1}},
		{"read_50", page},
		{"event", hub.Event{ID: 1, Kind: hub.EventMessageSent, Time: m.CreatedAt, Actor: "alice", Targets: []string{"bob"}, Subject: "1", Data: json.RawMessage(`{"id":1}`)}},
	}
	for _, v := range values {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				out, err := json.Marshal(v.v)
				if err != nil {
					b.Fatal(err)
				}
				n = len(out)
			}
			b.SetBytes(int64(n))
		})
	}
}
