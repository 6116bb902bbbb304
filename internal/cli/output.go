package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parley-dev/parley/internal/hub"
)

// Previews of message bodies in text output. A longer body is cut, with
// the command that prints the rest.
const (
	previewBytes = 2000
	previewLines = 30
	// listPreviewBytes and listPreviewLines bound bodies in history and
	// search, which show many messages.
	listPreviewBytes = 500
	listPreviewLines = 6
)

// printJSON prints the hub's JSON answer on a line of its own.
func printJSON(w io.Writer, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		raw = json.RawMessage("null")
	}
	_, err := fmt.Fprintf(w, "%s\n", raw)
	return err
}

// newTable returns a writer that aligns tab-separated columns.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// ago says how long before now t was: "just now", "42s ago", "3m ago",
// "5h ago", "2d ago", then the date.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h ago"
	case d < 30*24*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d ago"
	}
	return t.Local().Format("2006-01-02")
}

// duration prints a whole number of seconds as "3h2m", "5m", "40s".
func duration(secs float64) string {
	d := time.Duration(secs) * time.Second
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// clean makes untrusted text safe to print on a terminal: control
// characters (escape sequences among them) become U+FFFD. keepLines
// keeps newlines and tabs.
func clean(s string, keepLines bool) string {
	ok := true
	for _, r := range s {
		if unsafeRune(r, keepLines) {
			ok = false
			break
		}
	}
	if ok && utf8.ValidString(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unsafeRune(r, keepLines) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func unsafeRune(r rune, keepLines bool) bool {
	if keepLines && (r == '\n' || r == '\t') {
		return false
	}
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r)
}

// oneLine returns s cleaned and cut to max runes on one line.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(clean(s, true)), " ")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// cut returns body shortened to maxBytes and maxLines, and whether it cut.
func cut(body string, maxBytes, maxLines int) (string, bool) {
	cutAt := len(body)
	if maxBytes > 0 && cutAt > maxBytes {
		cutAt = maxBytes
		for cutAt > 0 && !utf8.RuneStart(body[cutAt]) {
			cutAt--
		}
	}
	if maxLines > 0 {
		n := 0
		for i := 0; i < cutAt; i++ {
			if body[i] == '\n' {
				n++
				if n == maxLines {
					cutAt = i
					break
				}
			}
		}
	}
	if cutAt >= len(body) {
		return body, false
	}
	return body[:cutAt], true
}

// messageView is what text output shows of one message.
type messageView struct {
	hub.Message
	// State is the reader's delivery state, when known.
	State string
}

// printMessage prints one message as a header, its subject, its body
// (cut to maxBytes and maxLines unless they are 0) and its attachments.
func printMessage(w io.Writer, now time.Time, m messageView, maxBytes, maxLines int) {
	var h strings.Builder
	fmt.Fprintf(&h, "#%d from %s to %s · %s", m.ID, oneLine(m.From, 64), oneLine(strings.Join(m.To, ", "), 200), ago(now, m.CreatedAt))
	if m.ReplyTo != 0 {
		fmt.Fprintf(&h, " · reply to #%d", m.ReplyTo)
	}
	if m.Thread != "" && m.Thread != strconv.FormatInt(m.ID, 10) && m.Thread != strconv.FormatInt(m.ReplyTo, 10) {
		fmt.Fprintf(&h, " · thread %s", oneLine(m.Thread, 64))
	}
	if m.Importance != "" && m.Importance != hub.ImportanceNormal {
		h.WriteString(" · " + m.Importance)
	}
	if m.AckRequired {
		switch m.State {
		case hub.DeliveryAcked:
			h.WriteString(" · acked")
		case "": // not the reader's own delivery
			h.WriteString(" · ack requested")
		default:
			fmt.Fprintf(&h, " · ack requested (parley ack %d)", m.ID)
		}
	}
	fmt.Fprintln(w, h.String())
	if m.Subject != "" {
		fmt.Fprintf(w, "  subject: %s\n", oneLine(m.Subject, 200))
	}
	body, cutHere := cut(m.Body, maxBytes, maxLines)
	body = strings.TrimRight(clean(body, true), "\n")
	for _, line := range strings.Split(body, "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
	if cutHere || m.Truncated {
		size := m.Size
		if size < len(m.Body) {
			size = len(m.Body)
		}
		fmt.Fprintf(w, "  … %d bytes in all; the rest: parley show %d\n", size, m.ID)
	}
	for _, a := range m.Attachments {
		fmt.Fprintf(w, "  [%s]\n", describeAttachment(a))
	}
}

func describeAttachment(a hub.Attachment) string {
	var b strings.Builder
	b.WriteString(a.Kind)
	if a.Path != "" {
		b.WriteString(" " + oneLine(a.Path, 200))
	} else if a.Name != "" {
		b.WriteString(" " + oneLine(a.Name, 200))
	}
	if a.StartLine > 0 {
		fmt.Fprintf(&b, ":%d-%d", a.StartLine, a.EndLine)
	}
	if a.Content != "" {
		fmt.Fprintf(&b, ", %d bytes", len(a.Content))
	}
	if len(a.SHA256) >= 12 {
		b.WriteString(", sha256 " + a.SHA256[:12])
	}
	return b.String()
}

// printAttachmentContent prints a file excerpt's content under its header.
func printAttachmentContent(w io.Writer, a hub.Attachment) {
	fmt.Fprintf(w, "--- %s\n", describeAttachment(a))
	content := strings.TrimRight(clean(a.Content, true), "\n")
	if content != "" {
		fmt.Fprintln(w, content)
	}
}

// isUnreachable reports whether err says the hub could not be reached.
func isUnreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// orDash returns s, or "-" for an empty table cell.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// orAnonymous names who made a post, a signal or a change, or says that
// no agent did.
func orAnonymous(name string) string {
	if name == "" {
		return "(anonymous)"
	}
	return name
}

// plural returns "1 message" or "3 messages".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
