package sqlite

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-dev/parley/internal/hub"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Times are stored as integer unix nanoseconds in UTC, so they sort as
// numbers and round-trip exactly; 0 stands for the zero time.
var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// encodeTime returns the stored form of t. Times beyond what nanoseconds
// since 1970 hold in 64 bits (years 1678 to 2262) are clamped.
func encodeTime(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minTime):
		return math.MinInt64 + 1
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// decodeTime is the inverse of encodeTime.
func decodeTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// encodeStrings returns a list as compact JSON, or "" when it is empty.
// Names and roles need no escaping, so the common case skips
// encoding/json.
func encodeStrings(list []string) string {
	if len(list) == 0 {
		return ""
	}
	n := 2
	for _, s := range list {
		if !plainJSON(s) {
			b, _ := json.Marshal(list) // a []string always marshals
			return string(b)
		}
		n += len(s) + 3
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte('[')
	for i, s := range list {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

// plainJSON reports whether s is printable ASCII that JSON writes as is.
// HTML characters count as plain: encoding/json escapes them only to make
// JSON safe inside HTML, which stored data never is.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// decodeStrings is the inverse of encodeStrings; "" decodes to nil.
func decodeStrings(s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	if len(s) >= 4 && s[0] == '[' && s[1] == '"' && s[len(s)-1] == ']' && s[len(s)-2] == '"' && !strings.ContainsRune(s, '\\') {
		// No escapes: every quote delimits, so the items are what lies
		// between `","` separators.
		return strings.Split(s[2:len(s)-2], `","`), nil
	}
	var list []string
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, err
	}
	return list, nil
}

// encodeAttachments returns attachments as compact JSON, or "" when there
// are none.
func encodeAttachments(as []hub.Attachment) (string, error) {
	if len(as) == 0 {
		return "", nil
	}
	b, err := json.Marshal(as)
	return string(b), err
}

func decodeAttachments(s string) ([]hub.Attachment, error) {
	if s == "" {
		return nil, nil
	}
	var as []hub.Attachment
	err := json.Unmarshal([]byte(s), &as)
	return as, err
}

// boolInt is how a bool is stored.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// isUnique reports whether err is a violation of a UNIQUE or PRIMARY KEY
// constraint.
func isUnique(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// isForeignKey reports whether err is a violation of a foreign key.
func isForeignKey(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// int64List returns ids as a JSON array, for json_each: one statement
// then handles any number of them.
func int64List(ids []int64) string {
	b := make([]byte, 0, 2+len(ids)*8)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}
