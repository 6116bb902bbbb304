package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-dev/parley/internal/hub"
)

func TestSendBatch(t *testing.T) {
	e := two(t)
	e.ok("register", "carol")
	lines := `{"to":"bob","body":"task 1","idempotency_key":"t1"}

{"to":["bob","carol"],"body":"task 2","subject":"plan"}
{"to":"role:frontend","body":"task 3"}
`
	out, _, err := e.runIn(lines, "send", "--as", "alice", "--batch")
	if err != nil {
		t.Fatalf("send --batch: %v\n%s", err, out)
	}
	for _, want := range []string{"sent #", "to bob, carol", "3 messages sent"} {
		if !strings.Contains(out, want) {
			t.Errorf("send --batch printed %q, want %q", out, want)
		}
	}
	// From a file, with --json; the retried key is a duplicate.
	path := filepath.Join(t.TempDir(), "msgs.jsonl")
	os.WriteFile(path, []byte(`{"to":"bob","body":"task 1","idempotency_key":"t1"}`+"\n"+`{"to":"carol","body":"task 4"}`), 0o600)
	var res struct {
		Results []hub.SendResult `json:"results"`
		Count   int              `json:"count"`
	}
	e.jsonOf(&res, "send", "--as", "alice", "--batch", "--file", path)
	if res.Count != 2 || !res.Results[0].Duplicate || res.Results[1].Message.Body != "task 4" {
		t.Fatalf("send --batch --json = %+v", res)
	}
	out = e.ok("inbox", "--as", "bob")
	for _, want := range []string{"task 1", "task 2", "task 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("bob's inbox lacks %q:\n%s", want, out)
		}
	}

	// Refused input: nothing is sent.
	before := e.snapshot()
	for _, tt := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"not json", "{\"to\":\"bob\",\"body\":\"ok\"}\nhello\n", nil, "stdin line 2: not a message"},
		{"unknown field", `{"to":"bob","body":"x","urgent":true}`, nil, `line 1: not a message: json: unknown field "urgent"`},
		{"no to", `{"body":"x"}`, nil, `line 1: "to" is missing`},
		{"bad name", `{"to":"Bob!","body":"x"}`, nil, `line 1: recipient "Bob!"`},
		{"empty body", `{"to":"bob","body":" "}`, nil, `line 1: "body" is empty`},
		{"nothing", "\n\n", nil, "no messages in stdin"},
		{"with args", `{"to":"bob","body":"x"}`, []string{"bob"}, "not as arguments or flags"},
		{"with subject", `{"to":"bob","body":"x"}`, []string{"--subject", "s"}, "not as arguments or flags"},
		{"refused by the hub", "{\"to\":\"bob\",\"body\":\"ok\"}\n{\"to\":\"role:ghosts\",\"body\":\"x\"}", nil, `messages[1]: no other agent has role "ghosts"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"send", "--as", "alice", "--batch"}, tt.args...)
			_, _, err := e.runIn(tt.stdin, args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("send --batch: %v, want an error containing %q", err, tt.want)
			}
			if after := e.snapshot(); after != before {
				t.Errorf("state changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}
