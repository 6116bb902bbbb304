package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parley-dev/parley/internal/hub"
)

// MaxWaitMillis is the longest long-poll timeout, in milliseconds.
const MaxWaitMillis = int64(hub.MaxWait / time.Millisecond)

// decodeJSON reads the request body, at most Options.MaxBody bytes, into
// v, a pointer to a struct. It refuses, with a message naming the
// problem: a body over the limit (413), invalid UTF-8, malformed JSON,
// JSON that is not an object, fields of the wrong type, unknown fields
// and data after the object. An empty body is an error unless
// allowEmpty, when v is left as it is.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) error {
	data, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	return decodeBody(data, v, allowEmpty)
}

// readBody reads a whole request body: at most Options.MaxBody bytes
// (413 beyond), within Options.BodyTimeout.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	// Deadlines are on the wall clock, whatever clock the service uses.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.opts.BodyTimeout))
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()

	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, hub.Errorf(hub.CodeTooLarge, "request body is larger than the limit of %d bytes", s.opts.MaxBody)
		}
		return nil, hub.Errorf(hub.CodeInvalid, "reading request body failed")
	}
	return data, nil
}

// decodeBody decodes a whole request body; see decodeJSON.
func decodeBody(data []byte, v any, allowEmpty bool) error {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		if allowEmpty {
			return nil
		}
		return hub.Errorf(hub.CodeInvalid, "request body is empty: send a JSON object")
	}
	if !utf8.Valid(data) {
		return hub.Errorf(hub.CodeInvalid, "request body is not valid UTF-8")
	}
	if err := checkDepth(trimmed); err != nil {
		return err
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return hub.Errorf(hub.CodeInvalid, "malformed JSON: %s", syntaxMessage(json.Unmarshal(trimmed, new(any))))
		}
		return hub.Errorf(hub.CodeInvalid, "request body must be a JSON object, not %s", jsonKind(trimmed))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return hub.Errorf(hub.CodeInvalid, "malformed JSON: unexpected data after the object")
	}
	return nil
}

// decodeError turns an encoding/json error into a message for the client.
func decodeError(err error) error {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		got := te.Value
		switch {
		case strings.HasPrefix(got, "number "):
			got = "number" // "number 1.5": a fraction where an integer belongs
		case got == "bool":
			got = "boolean"
		}
		field := jsonField(te.Field)
		if field == "" {
			return hub.Errorf(hub.CodeInvalid, "request body: want %s, got %s", describeType(te.Type), got)
		}
		return hub.Errorf(hub.CodeInvalid, "field %q: want %s, got %s", field, describeType(te.Type), got)
	}
	if he, ok := errors.AsType[*hub.Error](err); ok {
		return he // a field's own decoder (hub.Deadline...) says what is wrong
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return hub.Errorf(hub.CodeInvalid, "unknown field %s", f)
	}
	return hub.Errorf(hub.CodeInvalid, "malformed JSON: %s", syntaxMessage(err))
}

// jsonField returns the JSON path of a decode error's field, without the
// Go names of embedded structs ("SendRequest.body" becomes "body"): JSON
// names in this API are lower case, Go type names are not.
func jsonField(path string) string {
	var parts []string
	for p := range strings.SplitSeq(path, ".") {
		if p != "" && !unicode.IsUpper(rune(p[0])) {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ".")
}

// syntaxMessage describes a JSON syntax error without Go's prefixes.
func syntaxMessage(err error) string {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("%s (at byte %d)", strings.TrimPrefix(se.Error(), "json: "), se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of input"
	}
	if err == nil {
		return "not JSON"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// jsonKind names the kind of a JSON value from its first byte.
func jsonKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '[':
		return "an array"
	case '{':
		return "an object"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

var stringListType = reflect.TypeFor[stringList]()

// describeType names a Go type as a JSON client sees it.
func describeType(t reflect.Type) string {
	if t == stringListType {
		return "string or list of strings"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "list of " + describeType(t.Elem()) + "s"
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return t.String()
}

// stringList is a JSON string or list of strings, as `to` accepts.
type stringList []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *stringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	kind := jsonKind(b)
	kind = kind[strings.IndexByte(kind, ' ')+1:] // "an object" -> "object"
	bad := &json.UnmarshalTypeError{Value: kind, Type: stringListType}
	switch {
	case string(b) == "null":
		*l = nil
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = stringList{s}
		return nil
	case len(b) > 0 && b[0] == '[':
		var ss []string
		if err := json.Unmarshal(b, &ss); err != nil {
			bad.Value = "an array with a non-string item"
			return bad
		}
		*l = ss
		return nil
	}
	return bad
}

// query reads validated query parameters; the first error sticks, so a
// handler reads every parameter and checks Err once.
type query struct {
	r      *http.Request
	values url.Values // parsed on first use: URL.Query parses on every call
	err    error
}

func newQuery(r *http.Request) *query { return &query{r: r} }

// vals returns the request's parameters, parsed once.
func (q *query) vals() url.Values {
	if q.values == nil {
		q.values = q.r.URL.Query()
	}
	return q.values
}

// Err returns the first error met.
func (q *query) Err() error { return q.err }

func (q *query) fail(format string, args ...any) {
	if q.err == nil {
		q.err = hub.Errorf(hub.CodeInvalid, format, args...)
	}
}

// Has reports whether the parameter is present.
func (q *query) Has(name string) bool { return q.vals().Has(name) }

// String returns a parameter as given.
func (q *query) String(name string) string { return q.vals().Get(name) }

// Int returns a non-negative integer parameter, or def when absent.
func (q *query) Int(name string, def int64) int64 {
	v := q.String(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		if ne, ok := errors.AsType[*strconv.NumError](err); ok && ne.Err == strconv.ErrRange {
			q.fail("%s: %s is out of range", name, truncate(v, 40))
		} else {
			q.fail("%s: %q is not an integer", name, truncate(v, 40))
		}
		return def
	}
	if n < 0 {
		q.fail("%s: must not be negative, got %d", name, n)
		return def
	}
	return n
}

// Bool returns a boolean parameter, or false when absent. A bare
// parameter (?peek) counts as true.
func (q *query) Bool(name string) bool {
	if !q.Has(name) {
		return false
	}
	v := q.String(name)
	if v == "" {
		return true
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		q.fail("%s: %q is not true or false", name, truncate(v, 40))
	}
	return b
}

// Timeout returns the long-poll timeout, given in milliseconds, at most
// MaxWaitMillis; def when absent.
func (q *query) Timeout(def time.Duration) time.Duration {
	if !q.Has("timeout") {
		return def
	}
	ms := q.Int("timeout", 0)
	if ms > MaxWaitMillis {
		q.fail("timeout: %d ms is longer than the maximum of %d ms", ms, MaxWaitMillis)
		return def
	}
	return time.Duration(ms) * time.Millisecond
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// pathID parses a numeric id from the path.
func pathID(r *http.Request, name, what string) (int64, error) {
	v := r.PathValue(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, hub.Errorf(hub.CodeInvalid, "%s %q is not a valid id (a positive integer)", what, truncate(v, 40))
	}
	return n, nil
}
