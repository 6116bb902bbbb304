package hub

import (
	"time"
)

// Importance levels of a message.
const (
	ImportanceLow    = "low"
	ImportanceNormal = "normal"
	ImportanceHigh   = "high"
	ImportanceUrgent = "urgent"
)

// Delivery states.
const (
	DeliveryUnread = "unread"
	DeliveryRead   = "read"
	DeliveryAcked  = "acked"
	// DeliveryHeld marks mail for a name nobody has registered yet.
	DeliveryHeld = "held"
)

// Message is one message as stored; its recipients each have a delivery.
type Message struct {
	ID          int64        `json:"id"`
	From        string       `json:"from"`
	To          []string     `json:"to"`
	Thread      string       `json:"thread"`
	ReplyTo     int64        `json:"reply_to,omitempty"`
	Subject     string       `json:"subject,omitempty"`
	Body        string       `json:"body"`
	Importance  string       `json:"importance"`
	AckRequired bool         `json:"ack_required,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	// Size is the body's length in bytes; with Truncated the body is a preview.
	Size      int  `json:"size"`
	Truncated bool `json:"truncated,omitempty"`

	FromID         int64  `json:"-"`
	IdempotencyKey string `json:"-"`
}

// Attachment is data sent with a message. A file excerpt has Path,
// StartLine, EndLine, Content and SHA256.
type Attachment struct {
	Kind      string `json:"kind"` // "file" for a file excerpt, "data" otherwise
	Name      string `json:"name,omitempty"`
	Path      string `json:"path,omitempty"`
	StartLine int    `json:"start_line,omitempty"`
	EndLine   int    `json:"end_line,omitempty"`
	MIME      string `json:"mime,omitempty"`
	Content   string `json:"content"`
	SHA256    string `json:"sha256,omitempty"`
}

// Inbound is a message as its recipient sees it.
type Inbound struct {
	Message
	Seq    int64     `json:"seq"`
	State  string    `json:"state"`
	ReadAt time.Time `json:"read_at,omitzero"`
}

// DeliveryStatus is one recipient's state of a message, for its sender.
type DeliveryStatus struct {
	To      string    `json:"to"`
	State   string    `json:"state"`
	Seq     int64     `json:"seq,omitempty"`
	AckedAt time.Time `json:"acked_at,omitzero"`
}

// SendRequest is a message to send. The sender comes from the Caller.
type SendRequest struct {
	To             []string     `json:"to"`
	Subject        string       `json:"subject"`
	Body           string       `json:"body"`
	Thread         string       `json:"thread"`
	ReplyTo        int64        `json:"reply_to"`
	Importance     string       `json:"importance"`
	AckRequired    bool         `json:"ack_required"`
	Attachments    []Attachment `json:"attachments"`
	IdempotencyKey string       `json:"idempotency_key"`
}

// SendResult says what happened to a sent message.
type SendResult struct {
	Message    Message          `json:"message"`
	Deliveries []DeliveryStatus `json:"deliveries"`
	// Queued lists names nobody has registered yet; their mail is held.
	Queued []string `json:"queued,omitempty"`
	// Full lists agents the message was not delivered to because they
	// already had Options.MaxUnread unread messages.
	Full []string `json:"full,omitempty"`
	// Forwarded maps former names to the agents that now hold them.
	Forwarded map[string]string `json:"forwarded,omitempty"`
	// Duplicate is true when the idempotency key matched an earlier send.
	Duplicate bool `json:"duplicate,omitempty"`
}

// ReadOptions selects what Read returns.
type ReadOptions struct {
	// Since, when set, returns every delivery after that sequence number
	// whatever its state, for a client catching up. Otherwise Read returns
	// unread deliveries, oldest first.
	Since int64
	// HasSince tells a zero Since apart from no Since.
	HasSince bool
	// Peek leaves the returned deliveries unread.
	Peek bool
	// Limit caps the count; 0 means DefaultReadLimit.
	Limit int
	// Preview, when positive, truncates bodies longer than it.
	Preview int
}

// ReadResult is one page of an inbox.
type ReadResult struct {
	Messages []Inbound `json:"messages"`
	// More is true when further deliveries did not fit this page.
	More bool `json:"more"`
	// Next is the sequence to pass as since for the next page.
	Next int64 `json:"next"`
	// Unread counts unread deliveries left after this read.
	Unread int `json:"unread"`
}

// Page selects a slice of a history or search result.
type Page struct {
	// Before, when set, returns items with an ID smaller than it.
	Before int64
	Limit  int
}

// HistoryResult is one page of messages, newest first.
type HistoryResult struct {
	Messages []Message `json:"messages"`
	More     bool      `json:"more"`
	// Before is the value to pass as Page.Before for the next page.
	Before int64 `json:"before,omitempty"`
}

// InboxQuery is a read of one agent's deliveries, for the Store.
type InboxQuery struct {
	AgentID    int64
	After      int64 // only seq > After
	UnreadOnly bool
	Limit      int
}

// HistoryQuery is a read of messages, for the Store.
type HistoryQuery struct {
	Thread string // messages of this thread
	// SelfID and PeerID select the conversation between two agents: what
	// either sent the other.
	SelfID, PeerID int64
	// Search is an FTS5 query over subject and body.
	Search string
	// Viewer restricts results to messages the viewer sent or received,
	// unless it is zero (admin).
	ViewerID int64
	Before   int64
	Limit    int
}
