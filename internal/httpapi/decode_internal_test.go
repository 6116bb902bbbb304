package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/parley-dev/parley/internal/hub"
)

func TestStringList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{`{"to":"bob"}`, []string{"bob"}, ""},
		{`{"to":["bob","role:x","*"]}`, []string{"bob", "role:x", "*"}, ""},
		{`{"to":[]}`, []string{}, ""},
		{`{"to":null}`, nil, ""},
		{`{}`, nil, ""},
		{`{"to":5}`, nil, `field "to": want string or list of strings, got number`},
		{`{"to":true}`, nil, `field "to": want string or list of strings, got boolean`},
		{`{"to":{"a":"b"}}`, nil, `field "to": want string or list of strings, got object`},
		{`{"to":null,"body":[1]}`, nil, `field "body": want string, got array`},
		{`{"to":"x","body":false}`, nil, `field "body": want string, got boolean`},
		{`{"to":["a",1]}`, nil, `field "to": want string or list of strings, got an array with a non-string item`},
	} {
		var b sendBody
		err := decodeBody([]byte(tc.in), &b, false)
		if tc.err != "" {
			if err == nil || hub.PublicMessage(err) != tc.err || hub.ErrorCode(err) != hub.CodeInvalid {
				t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if len(b.To) != len(tc.want) || (tc.want == nil) != (b.To == nil) {
			t.Errorf("%s: to = %#v, want %#v", tc.in, b.To, tc.want)
		}
		for i := range tc.want {
			if b.To[i] != tc.want[i] {
				t.Errorf("%s: to = %#v, want %#v", tc.in, b.To, tc.want)
			}
		}
	}
}

func TestDecodeBodyFieldNames(t *testing.T) {
	for in, want := range map[string]string{
		`{"to":"b","body":5}`:                           `field "body": want string, got number`,
		`{"to":"b","attachments":[{"start_line":"1"}]}`: `field "attachments.start_line": want integer, got string`,
		`{"to":"b","reply_to":1.5}`:                     `field "reply_to": want integer, got number`,
		`{"to":"b","ack_required":"no"}`:                `field "ack_required": want boolean, got string`,
		`{"to":"b","attachments":"x"}`:                  `field "attachments": want list of objects, got string`,
	} {
		var b sendBody
		err := decodeBody([]byte(in), &b, false)
		if err == nil || hub.PublicMessage(err) != want {
			t.Errorf("%s: error %v, want %q", in, err, want)
		}
	}
}

// FuzzDecodeBody: whatever the bytes, decoding never panics, fails only
// with invalid_argument, and succeeds only on one JSON object.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"to":"bob","body":"hi"}`, `{"to":["a","b"],"attachments":[{"path":"x","content":"y"}]}`,
		`[]`, `{`, `{"to":5}`, `{} {}`, `null`, "{\"body\":\"\xff\"}", `{"from":"a","to":"b","body":"c","idempotency_key":"k"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b sendBody
		err := decodeBody(data, &b, false)
		if err != nil {
			if c := hub.ErrorCode(err); c != hub.CodeInvalid {
				t.Fatalf("code %s for %q: %v", c, data, err)
			}
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("accepted %q, which is not one JSON object: %v", data, err)
		}
		if strings.TrimSpace(string(data))[0] != '{' {
			t.Fatalf("accepted %q", data)
		}
	})
}
