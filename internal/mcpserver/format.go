package mcpserver

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// The text of tool results is written for an LLM: short, one fact per
// line, every message fenced and marked with its authenticated sender so
// that message content is never mistaken for the user's instructions.

// timeFormat is how times appear in results.
const timeFormat = "2006-01-02 15:04:05Z07:00"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeFormat)
}

// sender marks who sent something. The hub takes the sender from the
// token, never from the request, so every name it reports is
// authenticated.
func sender(name string) string {
	return name + " (authenticated)"
}

// writeMessage renders one message: a header line, the subject, the body
// between fences, attachments, and a note when the body is a preview.
func writeMessage(b *strings.Builder, m hub.Message, seq int64, state string) {
	fmt.Fprintf(b, "--- message %d from %s to %s, %s", m.ID, sender(m.From), strings.Join(m.To, ", "), fmtTime(m.CreatedAt))
	if m.Thread != "" && m.Thread != strconv.FormatInt(m.ID, 10) {
		fmt.Fprintf(b, ", thread %s", m.Thread)
	}
	if m.ReplyTo != 0 {
		fmt.Fprintf(b, ", reply to %d", m.ReplyTo)
	}
	if m.Importance != "" && m.Importance != hub.ImportanceNormal {
		fmt.Fprintf(b, ", importance %s", m.Importance)
	}
	if m.AckRequired && state != hub.DeliveryAcked {
		b.WriteString(", ACK REQUIRED")
	}
	if seq != 0 {
		fmt.Fprintf(b, ", seq %d", seq)
	}
	b.WriteString(" ---\n")
	if m.Subject != "" {
		fmt.Fprintf(b, "Subject: %s\n", unfence(m.Subject))
	}
	b.WriteString(unfence(m.Body)) // fence.go: a body cannot forge fences
	if !strings.HasSuffix(m.Body, "\n") {
		b.WriteByte('\n')
	}
	for _, a := range m.Attachments {
		writeAttachment(b, a)
	}
	if m.Truncated {
		fmt.Fprintf(b, "[preview: %d of %d bytes shown; call read with id=%d for the whole message]\n", len(m.Body), m.Size, m.ID)
	}
	fmt.Fprintf(b, "--- end of message %d ---\n", m.ID)
}

func writeAttachment(b *strings.Builder, a hub.Attachment) {
	switch {
	case a.Path != "":
		fmt.Fprintf(b, "[file %s", a.Path)
		if a.StartLine > 0 {
			fmt.Fprintf(b, " lines %d-%d", a.StartLine, a.EndLine)
		}
		if a.SHA256 != "" {
			fmt.Fprintf(b, " sha256 %.12s", a.SHA256)
		}
		b.WriteString("]\n")
	default:
		name := a.Name
		if name == "" {
			name = "data"
		}
		fmt.Fprintf(b, "[attachment %s", name)
		if a.MIME != "" {
			fmt.Fprintf(b, " (%s)", a.MIME)
		}
		b.WriteString("]\n")
	}
	if a.Content != "" {
		b.WriteString(unfence(a.Content))
		if !strings.HasSuffix(a.Content, "\n") {
			b.WriteByte('\n')
		}
		b.WriteString("[end of attachment]\n")
	}
}

// formatInbox renders a page of an inbox.
func formatInbox(res hub.ReadResult, empty string) string {
	var b strings.Builder
	if len(res.Messages) == 0 {
		b.WriteString(empty)
		b.WriteByte('\n')
	} else {
		fmt.Fprintf(&b, "%d message(s):\n", len(res.Messages))
		for _, m := range res.Messages {
			writeMessage(&b, m.Message, m.Seq, m.State)
		}
		if needsAck := ackIDs(res.Messages); len(needsAck) > 0 {
			fmt.Fprintf(&b, "The sender asked for an acknowledgement of %s: call ack once handled.\n", joinIDs(needsAck))
		}
	}
	if res.More {
		fmt.Fprintf(&b, "More messages wait: call read again (since=%d returns the next page).\n", res.Next)
	} else if res.Unread > 0 {
		fmt.Fprintf(&b, "%d unread message(s) left.\n", res.Unread)
	}
	return b.String()
}

func ackIDs(ms []hub.Inbound) []int64 {
	var ids []int64
	for _, m := range ms {
		if m.AckRequired && m.State != hub.DeliveryAcked {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ", ")
}

// formatHistory renders a page of history, newest first.
func formatHistory(title string, res hub.HistoryResult) string {
	var b strings.Builder
	if len(res.Messages) == 0 {
		fmt.Fprintf(&b, "%s: no messages.\n", title)
		return b.String()
	}
	fmt.Fprintf(&b, "%s: %d message(s), newest first:\n", title, len(res.Messages))
	for _, m := range res.Messages {
		writeMessage(&b, m, 0, "")
	}
	if res.More {
		fmt.Fprintf(&b, "Older messages exist: call again with before=%d.\n", res.Before)
	}
	return b.String()
}

// formatSend renders the outcome of a send.
func formatSend(res hub.SendResult) string {
	var b strings.Builder
	m := res.Message
	if res.Duplicate {
		fmt.Fprintf(&b, "Already sent as message %d (same idempotency key); not sent again.\n", m.ID)
	} else {
		fmt.Fprintf(&b, "Sent message %d (thread %s).\n", m.ID, m.Thread)
	}
	var delivered, held []string
	for _, d := range res.Deliveries {
		if d.State == hub.DeliveryHeld {
			held = append(held, d.To)
		} else {
			delivered = append(delivered, d.To)
		}
	}
	if len(delivered) > 0 {
		fmt.Fprintf(&b, "Delivered to: %s.\n", strings.Join(delivered, ", "))
	}
	if len(held) > 0 {
		fmt.Fprintf(&b, "Queued for %s: no agent has that name yet; it is delivered when one registers.\n", strings.Join(held, ", "))
	}
	if len(res.Full) > 0 {
		fmt.Fprintf(&b, "Not delivered to %s: inbox full (as many unread messages as the hub queues); they must read some first.\n", strings.Join(res.Full, ", "))
	}
	for from, to := range res.Forwarded {
		fmt.Fprintf(&b, "%s was renamed; forwarded to %s.\n", from, to)
	}
	return b.String()
}

// formatPeer renders one agent on one line.
func formatPeer(p hub.Peer) string {
	var b strings.Builder
	b.WriteString(p.Name)
	if p.Role != "" {
		fmt.Fprintf(&b, " [role %s]", p.Role)
	}
	fmt.Fprintf(&b, " %s", p.Presence)
	if p.StatusText != "" {
		fmt.Fprintf(&b, " %q", p.StatusText)
	}
	var extra []string
	if p.Client != "" {
		extra = append(extra, p.Client)
	}
	if p.Project != "" {
		extra = append(extra, "project "+p.Project)
	}
	if p.Host != "" {
		extra = append(extra, "on "+p.Host)
	}
	if len(p.Capabilities) > 0 {
		extra = append(extra, "can "+strings.Join(p.Capabilities, ","))
	}
	if p.Unread > 0 {
		extra = append(extra, fmt.Sprintf("%d unread", p.Unread))
	}
	if !p.Online && !p.LastSeen.IsZero() {
		extra = append(extra, "last seen "+fmtTime(p.LastSeen))
	}
	if len(extra) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(extra, "; "))
	}
	if p.Description != "" {
		fmt.Fprintf(&b, " - %s", p.Description)
	}
	return b.String()
}

func formatPeers(peers []hub.Peer, self string, onlineOnly bool) string {
	var b strings.Builder
	online := 0
	for _, p := range peers {
		if p.Online {
			online++
		}
	}
	switch {
	case len(peers) == 0 && onlineOnly:
		b.WriteString("No agent is online.\n")
	case len(peers) == 0:
		b.WriteString("No agent is registered.\n")
	default:
		fmt.Fprintf(&b, "%d agent(s), %d online:\n", len(peers), online)
	}
	for _, p := range peers {
		b.WriteString("- ")
		b.WriteString(formatPeer(p))
		if p.Name == self {
			b.WriteString(" <- you")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// compactJSON shows a JSON value on one line, cut to n bytes.
func compactJSON(raw []byte, n int) string {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return ""
	}
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
