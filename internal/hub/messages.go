package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on message fields.
const (
	maxSubjectLen    = 256
	maxThreadLen     = 128
	maxKeyLen        = 128
	maxAttachments   = 32
	eventPreviewSize = 1024
)

// Send stores a message and delivers it to every recipient it addresses.
// It returns once the message is durable.
func (s *Service) Send(ctx context.Context, c Caller, req SendRequest) (SendResult, error) {
	if !c.IsAgent() {
		return SendResult{}, Errorf(CodeForbidden, "sending needs an agent token")
	}
	addrs, err := s.validateSend(&req)
	if err != nil {
		return SendResult{}, err
	}
	var res SendResult
	var claims handoffClaims
	err = s.store.Update(ctx, func(tx Tx) error {
		var err error
		res, err = s.sendTx(ctx, tx, c, req, addrs, &claims)
		return err
	})
	if err != nil {
		s.releaseClaims(claims)
		return SendResult{}, fmt.Errorf("send from %q: %w", c.Name, err)
	}
	return res, nil
}

// Bounds of one SendBatch.
const (
	// MaxBatch is the most messages one SendBatch takes.
	MaxBatch = 500
	// MaxBatchBytes bounds the bodies plus attachments of one batch, in
	// bytes, when the message limit is smaller; each message is also
	// held to the message limit.
	MaxBatchBytes = 8 << 20
)

// SendBatch sends several messages from the caller in one write
// transaction, in order, and returns their results in the same order
// once all of them are durable. It is all or nothing: every request is
// validated first, and an invalid one, or one that fails while stored
// (no recipient, an unknown reply_to), fails the whole batch with an
// error naming its index ("messages[3].to: ..."), and nothing is stored.
//
// Idempotency keys work per message as in Send: a message whose key was
// seen returns the earlier message with Duplicate set, also when the
// earlier one is in the same batch.
func (s *Service) SendBatch(ctx context.Context, c Caller, reqs []SendRequest) ([]SendResult, error) {
	if !c.IsAgent() {
		return nil, Errorf(CodeForbidden, "sending needs an agent token")
	}
	if len(reqs) == 0 {
		return nil, Errorf(CodeInvalid, "messages: at least one message is needed")
	}
	if len(reqs) > MaxBatch {
		return nil, Errorf(CodeTooLarge, "messages: %d given, at most %d in one batch", len(reqs), MaxBatch)
	}
	limit := max(MaxBatchBytes, s.opts.MaxBody)
	reqs = slices.Clone(reqs) // validation normalizes; the caller's slice stays as given
	addrs := make([][]Address, len(reqs))
	total := 0
	for i := range reqs {
		reqs[i].To = slices.Clone(reqs[i].To)
		reqs[i].Attachments = slices.Clone(reqs[i].Attachments)
		a, err := s.validateSend(&reqs[i])
		if err != nil {
			return nil, batchError(i, err)
		}
		addrs[i] = a
		total += messageSize(&reqs[i])
		if total > limit {
			return nil, Errorf(CodeTooLarge, "messages: the first %d messages hold %d bytes; a batch holds at most %d bytes (bodies plus attachments)", i+1, total, limit)
		}
	}
	res := make([]SendResult, len(reqs))
	err := s.store.Update(ctx, func(tx Tx) error {
		sender, err := tx.AgentByID(ctx, c.AgentID)
		if err != nil {
			return fmt.Errorf("sender: %w", err)
		}
		for i := range reqs {
			// No hand-off: a wait woken by a batch reads all of it.
			if res[i], err = s.sendAs(ctx, tx, c, sender, reqs[i], addrs[i], nil); err != nil {
				return batchError(i, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("send batch from %q: %w", c.Name, err)
	}
	return res, nil
}

// messageSize is what the message limit counts: body plus attachments.
func messageSize(req *SendRequest) int {
	n := len(req.Body)
	for i := range req.Attachments {
		n += len(req.Attachments[i].Content)
	}
	return n
}

// batchFields are the request fields whose errors name them first
// ("to: ..."), so that a batch error reads "messages[3].to: ...".
var batchFields = []string{"to", "body", "subject", "thread", "reply_to", "importance", "attachments", "idempotency_key"}

// batchError puts the index of the failing message in front of err's
// message, keeping its code.
func batchError(i int, err error) error {
	var e *Error
	if !errors.As(err, &e) || e.Message == "" {
		return fmt.Errorf("messages[%d]: %w", i, err)
	}
	msg := e.Message
	field := msg[:strings.IndexFunc(msg+":", func(r rune) bool { return r == ':' || r == ' ' || r == '[' || r == '.' })]
	sep := ": "
	if slices.Contains(batchFields, field) {
		sep = "."
	}
	return &Error{Code: e.Code, Message: fmt.Sprintf("messages[%d]%s%s", i, sep, msg), Cause: e.Cause}
}

func (s *Service) validateSend(req *SendRequest) ([]Address, error) {
	if len(req.To) == 0 {
		return nil, Errorf(CodeInvalid, "to: at least one recipient is needed (a name, role:<role> or *)")
	}
	if len(req.To) > MaxRecipients {
		return nil, Errorf(CodeInvalid, "to: %d recipients given, at most %d allowed", len(req.To), MaxRecipients)
	}
	addrs := make([]Address, 0, len(req.To))
	for i, to := range req.To {
		a, err := ParseAddress(to)
		if err != nil {
			return nil, Errorf(CodeInvalidName, "to[%d]: %s", i, PublicMessage(err))
		}
		addrs = append(addrs, a)
		req.To[i] = a.String()
	}
	if !utf8.ValidString(req.Body) {
		return nil, Errorf(CodeInvalid, "body: not valid UTF-8")
	}
	if strings.TrimSpace(req.Body) == "" && len(req.Attachments) == 0 {
		return nil, Errorf(CodeInvalid, "body: empty message (give a body or an attachment)")
	}
	if len(req.Subject) > maxSubjectLen || !utf8.ValidString(req.Subject) || strings.ContainsAny(req.Subject, "\r\n") {
		return nil, Errorf(CodeInvalid, "subject: must be one line of valid UTF-8, at most %d bytes", maxSubjectLen)
	}
	if len(req.Thread) > maxThreadLen || !utf8.ValidString(req.Thread) || strings.ContainsAny(req.Thread, "\r\n\x00") {
		return nil, Errorf(CodeInvalid, "thread: must be one line of at most %d bytes", maxThreadLen)
	}
	if len(req.IdempotencyKey) > maxKeyLen {
		return nil, Errorf(CodeInvalid, "idempotency_key: longer than %d bytes", maxKeyLen)
	}
	if req.ReplyTo < 0 {
		return nil, Errorf(CodeInvalid, "reply_to: must be a message id")
	}
	switch req.Importance {
	case "":
		req.Importance = ImportanceNormal
	case ImportanceLow, ImportanceNormal, ImportanceHigh, ImportanceUrgent:
	default:
		return nil, Errorf(CodeInvalid, "importance %q: must be low, normal, high or urgent", req.Importance)
	}
	size := len(req.Body)
	if len(req.Attachments) > maxAttachments {
		return nil, Errorf(CodeInvalid, "attachments: %d given, at most %d allowed", len(req.Attachments), maxAttachments)
	}
	for i := range req.Attachments {
		if err := validateAttachment(i, &req.Attachments[i]); err != nil {
			return nil, err
		}
		size += len(req.Attachments[i].Content)
	}
	if size > s.opts.MaxBody {
		return nil, Errorf(CodeTooLarge, "message is %d bytes; the limit is %d bytes (body plus attachments)", size, s.opts.MaxBody)
	}
	return addrs, nil
}

func validateAttachment(i int, a *Attachment) error {
	switch a.Kind {
	case "":
		a.Kind = "data"
		if a.Path != "" {
			a.Kind = "file"
		}
	case "file", "data":
	default:
		return Errorf(CodeInvalid, "attachments[%d].kind %q: must be file or data", i, a.Kind)
	}
	if !utf8.ValidString(a.Content) || !utf8.ValidString(a.Path) || !utf8.ValidString(a.Name) {
		return Errorf(CodeInvalid, "attachments[%d]: not valid UTF-8", i)
	}
	if len(a.Path) > 4096 || len(a.Name) > 256 || len(a.MIME) > 128 {
		return Errorf(CodeInvalid, "attachments[%d]: path, name or mime too long", i)
	}
	if a.StartLine < 0 || a.EndLine < 0 || a.EndLine != 0 && a.EndLine < a.StartLine {
		return Errorf(CodeInvalid, "attachments[%d]: line range %d-%d is not valid", i, a.StartLine, a.EndLine)
	}
	sum := sha256.Sum256([]byte(a.Content))
	got := hex.EncodeToString(sum[:])
	if a.SHA256 != "" && !strings.EqualFold(a.SHA256, got) {
		return Errorf(CodeInvalid, "attachments[%d].sha256 does not match its content (content hashes to %s)", i, got)
	}
	a.SHA256 = got
	return nil
}

// recipients is the outcome of resolving a send's addresses.
type recipients struct {
	agents    []Agent // deduplicated, in address order
	held      []string
	forwarded map[string]string
	full      []string // agents left out: their queue is full
}

// leaveOutFull moves the agents whose queue holds Options.MaxUnread
// unread messages from rs.agents to rs.full. A send that then reaches no
// one fails, naming them, with nothing stored: a full inbox must not
// take a broadcast down, but a message nobody gets is not sent.
func (s *Service) leaveOutFull(ctx context.Context, tx Tx, rs *recipients) error {
	if s.opts.MaxUnread <= 0 {
		return nil
	}
	kept := rs.agents[:0]
	for _, a := range rs.agents {
		n, err := tx.UnreadCount(ctx, a.ID)
		if err != nil {
			return err
		}
		if n >= s.opts.MaxUnread {
			rs.full = append(rs.full, a.Name)
			for old, to := range rs.forwarded {
				if to == a.Name {
					delete(rs.forwarded, old) // not delivered there either
				}
			}
			continue
		}
		kept = append(kept, a)
	}
	rs.agents = kept
	if len(rs.agents) == 0 && len(rs.held) == 0 {
		return Errorf(CodeConflict, "inbox full: %s already %s %d unread %s, the most the hub queues for an agent; nothing sent",
			strings.Join(rs.full, ", "), plural(len(rs.full), "has", "have"),
			s.opts.MaxUnread, plural(s.opts.MaxUnread, "message", "messages"))
	}
	return nil
}

// plural returns one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (s *Service) resolve(ctx context.Context, tx Tx, sender Agent, addrs []Address) (recipients, error) {
	var rs recipients
	seen := map[int64]bool{}
	heldSeen := map[string]bool{}
	add := func(a Agent) {
		if !seen[a.ID] {
			seen[a.ID] = true
			rs.agents = append(rs.agents, a)
		}
	}
	now := s.now()
	for _, addr := range addrs {
		switch {
		case addr.Broadcast || addr.Role != "":
			agents, err := tx.Agents(ctx, addr.Role)
			if err != nil {
				return rs, err
			}
			n := 0
			for _, a := range agents {
				if a.ID != sender.ID {
					add(a)
					n++
				}
			}
			if n == 0 && addr.Role != "" {
				return rs, Errorf(CodeNotFound, "no other agent has role %q", addr.Role)
			}
		default:
			a, err := tx.AgentByName(ctx, addr.Name)
			if err == nil {
				add(a)
				continue
			}
			if !errors.Is(err, ErrNotFound) {
				return rs, err
			}
			fwd, err := tx.Forward(ctx, addr.Name, now)
			if err == nil {
				if a, err := tx.AgentByID(ctx, fwd.AgentID); err == nil {
					add(a)
					if rs.forwarded == nil {
						rs.forwarded = map[string]string{}
					}
					rs.forwarded[addr.Name] = a.Name
					continue
				}
			} else if !errors.Is(err, ErrNotFound) {
				return rs, err
			}
			if !heldSeen[addr.Name] {
				heldSeen[addr.Name] = true
				rs.held = append(rs.held, addr.Name)
			}
		}
	}
	return rs, nil
}

func (s *Service) sendTx(ctx context.Context, tx Tx, c Caller, req SendRequest, addrs []Address, claims *handoffClaims) (SendResult, error) {
	sender, err := tx.AgentByID(ctx, c.AgentID)
	if err != nil {
		return SendResult{}, fmt.Errorf("sender: %w", err)
	}
	return s.sendAs(ctx, tx, c, sender, req, addrs, claims)
}

// sendAs is sendTx once the sender is known. With claims, it may hand
// the message to recipients' waits (deliver, handoff.go), recording what
// it claimed there for the caller to release should the Update fail.
func (s *Service) sendAs(ctx context.Context, tx Tx, c Caller, sender Agent, req SendRequest, addrs []Address, claims *handoffClaims) (SendResult, error) {
	if req.IdempotencyKey != "" {
		m, err := tx.MessageByKey(ctx, sender.ID, req.IdempotencyKey)
		if err == nil {
			ds, err := tx.Deliveries(ctx, m.ID)
			if err != nil {
				return SendResult{}, err
			}
			return SendResult{Message: m, Deliveries: ds, Duplicate: true}, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return SendResult{}, err
		}
	}
	if req.ReplyTo != 0 {
		parent, err := s.visibleMessage(ctx, tx, c, req.ReplyTo)
		if err != nil {
			return SendResult{}, Errorf(CodeNotFound, "reply_to: message %d not found", req.ReplyTo)
		}
		if req.Thread == "" {
			req.Thread = parent.Thread
		}
	}
	rs, err := s.resolve(ctx, tx, sender, addrs)
	if err != nil {
		return SendResult{}, err
	}
	if len(rs.agents) == 0 && len(rs.held) == 0 {
		return SendResult{}, Errorf(CodeNotFound, "no recipient: %s reaches no other agent", strings.Join(req.To, ", "))
	}
	if err := s.leaveOutFull(ctx, tx, &rs); err != nil {
		return SendResult{}, err
	}
	now := s.now()
	m, err := tx.InsertMessage(ctx, Message{
		From: sender.Name, FromID: sender.ID, To: req.To, Thread: req.Thread, ReplyTo: req.ReplyTo,
		Subject: req.Subject, Body: req.Body, Importance: req.Importance, AckRequired: req.AckRequired,
		Attachments: req.Attachments, CreatedAt: now, Size: len(req.Body), IdempotencyKey: req.IdempotencyKey,
	})
	if err != nil {
		return SendResult{}, err
	}
	res := SendResult{Message: m, Queued: rs.held, Full: rs.full, Forwarded: rs.forwarded}
	targets := make([]string, 0, len(rs.agents))
	for _, a := range rs.agents {
		seq, state, err := s.deliver(ctx, tx, m, a, now, claims)
		if err != nil {
			return SendResult{}, fmt.Errorf("deliver to %q: %w", a.Name, err)
		}
		res.Deliveries = append(res.Deliveries, DeliveryStatus{To: a.Name, State: state, Seq: seq})
		targets = append(targets, a.Name)
	}
	for _, name := range rs.held {
		if err := tx.Hold(ctx, m.ID, name, now.Add(s.opts.HoldTTL)); err != nil {
			return SendResult{}, fmt.Errorf("hold for %q: %w", name, err)
		}
		res.Deliveries = append(res.Deliveries, DeliveryStatus{To: name, State: DeliveryHeld})
	}
	ev := s.event(EventMessageSent, sender.Name, strconv.FormatInt(m.ID, 10), targets, Preview(m, eventPreviewSize))
	if err := appendEvents(ctx, tx, ev); err != nil {
		return SendResult{}, err
	}
	return res, nil
}

// Preview returns m with its body cut to at most n bytes (on a rune
// boundary) and attachment contents dropped when the message is larger.
func Preview(m Message, n int) Message {
	m.Size = len(m.Body)
	if n <= 0 || len(m.Body) <= n {
		return m
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(m.Body[cut]) {
		cut--
	}
	m.Body = m.Body[:cut]
	m.Truncated = true
	if len(m.Attachments) > 0 {
		as := make([]Attachment, len(m.Attachments))
		for i, a := range m.Attachments {
			a.Content = ""
			as[i] = a
		}
		m.Attachments = as
	}
	return m
}

// visibleMessage returns a message the caller sent or received (any
// message for the admin).
func (s *Service) visibleMessage(ctx context.Context, r Reader, c Caller, id int64) (Message, error) {
	m, err := r.Message(ctx, id)
	if err != nil {
		return Message{}, err
	}
	if c.Admin || m.FromID == c.AgentID && c.AgentID != 0 {
		return m, nil
	}
	if _, err := r.Received(ctx, c.AgentID, id); err != nil {
		return Message{}, err
	}
	return m, nil
}

// Read returns a page of the caller's inbox and, unless opts.Peek, marks
// the returned deliveries read.
func (s *Service) Read(ctx context.Context, c Caller, opts ReadOptions) (ReadResult, error) {
	return s.read(ctx, c, opts, false)
}

// read is Read. With expectMail, a read that marks does its reading and
// marking in one write: the writer's connection has every page of the
// inbox cached, where a read connection reloads them after each commit,
// and it is one trip through the store instead of two. A reader that
// probably has mail (a waiter woken by a send) takes that way; one that
// probably has none (a poll, a wait's first check) reads first and
// writes only if it found something.
func (s *Service) read(ctx context.Context, c Caller, opts ReadOptions, expectMail bool) (ReadResult, error) {
	if !c.IsAgent() {
		return ReadResult{}, Errorf(CodeForbidden, "reading an inbox needs an agent token")
	}
	if opts.Limit < 0 || opts.Since < 0 || opts.Preview < 0 {
		return ReadResult{}, Errorf(CodeInvalid, "limit, since and preview must not be negative")
	}
	if opts.Limit == 0 {
		opts.Limit = DefaultReadLimit
	}
	if opts.Limit > MaxReadLimit {
		opts.Limit = MaxReadLimit
	}
	var res ReadResult
	if expectMail && !opts.Peek {
		// A read mark lost to a power cut shows the message as unread
		// again: read twice, never lost. So the reader waits for the
		// commit only.
		err := s.store.UpdateVisible(ctx, func(tx Tx) error {
			var err error
			if res, err = s.readPage(ctx, tx, c, opts); err != nil {
				return err
			}
			return s.markRead(ctx, tx, c, &res)
		})
		if err != nil {
			return ReadResult{}, fmt.Errorf("read inbox of %q: %w", c.Name, err)
		}
		return res, nil
	}
	err := s.store.View(ctx, func(r Reader) error {
		var err error
		res, err = s.readPage(ctx, r, c, opts)
		return err
	})
	if err != nil {
		return ReadResult{}, fmt.Errorf("read inbox of %q: %w", c.Name, err)
	}
	if opts.Peek || !hasUnread(res.Messages) {
		return res, nil
	}
	// Found mail: read the page again where it is marked, in one write,
	// so that two reads at once (two sessions of one agent) do not both
	// take the same messages; the writer's connection has the inbox's
	// pages cached. An unread-only page holds just what is still unread
	// there, and may come back empty: another read took it.
	err = s.store.UpdateVisible(ctx, func(tx Tx) error {
		var err error
		if res, err = s.readPage(ctx, tx, c, opts); err != nil {
			return err
		}
		return s.markRead(ctx, tx, c, &res)
	})
	if err != nil {
		return ReadResult{}, fmt.Errorf("read inbox of %q: %w", c.Name, err)
	}
	return res, nil
}

// markRead marks the unread messages of res read, in the store and in
// res, and takes them off its unread count.
func (s *Service) markRead(ctx context.Context, tx Tx, c Caller, res *ReadResult) error {
	var seqs []int64
	for i, m := range res.Messages {
		if m.State == DeliveryUnread {
			seqs = append(seqs, m.Seq)
			res.Messages[i].State = DeliveryRead
		}
	}
	if len(seqs) == 0 {
		return nil
	}
	if err := tx.MarkRead(ctx, c.AgentID, seqs, s.now()); err != nil {
		return err
	}
	res.Unread = max(0, res.Unread-len(seqs))
	return nil
}

func hasUnread(ms []Inbound) bool {
	for _, m := range ms {
		if m.State == DeliveryUnread {
			return true
		}
	}
	return false
}

// readPage reads one page: at most opts.Limit deliveries and about
// MaxReadBytes of bodies, always at least one.
func (s *Service) readPage(ctx context.Context, r Reader, c Caller, opts ReadOptions) (ReadResult, error) {
	items, err := r.Inbox(ctx, InboxQuery{AgentID: c.AgentID, After: opts.Since, UnreadOnly: !opts.HasSince, Limit: opts.Limit + 1})
	if err != nil {
		return ReadResult{}, err
	}
	res := ReadResult{Messages: []Inbound{}, Next: opts.Since}
	bytes := 0
	for i, m := range items {
		size := len(m.Body)
		for _, a := range m.Attachments {
			size += len(a.Content)
		}
		if i == opts.Limit || i > 0 && bytes+size > MaxReadBytes {
			res.More = true
			break
		}
		bytes += size
		if opts.Preview > 0 {
			m.Message = Preview(m.Message, opts.Preview)
		}
		res.Messages = append(res.Messages, m)
		res.Next = m.Seq
	}
	if !opts.HasSince && !res.More && opts.Since == 0 {
		// The page holds every unread delivery: no need to count them.
		res.Unread = len(res.Messages)
		return res, nil
	}
	if res.Unread, err = r.UnreadCount(ctx, c.AgentID); err != nil {
		return ReadResult{}, err
	}
	return res, nil
}

// Wait blocks until the caller has something to read or timeout passes,
// then reads as Read does. It returns at once when something is pending.
func (s *Service) Wait(ctx context.Context, c Caller, opts ReadOptions, timeout time.Duration) (ReadResult, error) {
	res, p, err := s.StartWait(ctx, c, opts, timeout)
	return p.wait(ctx, res, err)
}

// StartWait is the first half of Wait: it marks the caller connected,
// subscribes to its mail, then reads its inbox once. When that read is
// the answer (mail, an error, or a timeout of 0) it returns it with a
// nil ParkedWait. Otherwise the wait must block: it returns a ParkedWait
// whose Finish blocks for the rest of the timeout. A transport uses the
// gap to move the wait off the request's goroutine (package httpapi,
// park.go: to no goroutine at all).
func (s *Service) StartWait(ctx context.Context, c Caller, opts ReadOptions, timeout time.Duration) (ReadResult, *ParkedWait, error) {
	if !c.IsAgent() {
		return ReadResult{}, nil, Errorf(CodeForbidden, "waiting needs an agent token")
	}
	timeout, err := clampWait(timeout)
	if err != nil {
		return ReadResult{}, nil, err
	}
	// A wait that finds nothing opens a handoff (handoff.go): a send may
	// then give it its message, with no read of the store.
	var h *handoff
	if timeout > 0 {
		h = newHandoff(c.AgentID, opts)
	}
	// The first read is a poll's; a read woken by a send expects mail.
	woken := false
	check := func(ctx context.Context) (ReadResult, bool, error) {
		if h != nil && woken {
			if res, ok := s.handoffs.take(h); ok {
				return res, true, nil
			}
		}
		res, err := s.read(ctx, c, opts, woken)
		woken = true
		if res.Messages == nil {
			res.Messages = []Inbound{} // an empty inbox as an empty list
		}
		done := len(res.Messages) > 0
		if h != nil && !done && err == nil {
			s.handoffs.openFor(h)
		}
		return res, done, err
	}
	release := s.Connect(ctx, c.Name)
	if h != nil {
		disconnect := release
		release = func() {
			s.endHandoff(ctx, h)
			disconnect()
		}
	}
	f := Filter{Kinds: []string{EventMessageSent, EventAgentRegistered}, Agents: []string{c.Name}}
	return startPending(ctx, s.bus, f, timeout, release, "", check)
}

// Ack acknowledges the caller's delivery of a message.
func (s *Service) Ack(ctx context.Context, c Caller, messageID int64) error {
	if !c.IsAgent() {
		return Errorf(CodeForbidden, "acknowledging needs an agent token")
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		in, err := tx.Received(ctx, c.AgentID, messageID)
		if errors.Is(err, ErrNotFound) {
			return Errorf(CodeNotFound, "message %d was not delivered to %q", messageID, c.Name)
		}
		if err != nil {
			return err
		}
		if in.State == DeliveryAcked {
			return nil
		}
		if err := tx.Ack(ctx, c.AgentID, messageID, s.now()); err != nil {
			return err
		}
		ev := s.event(EventMessageAcked, c.Name, strconv.FormatInt(messageID, 10), []string{in.From}, map[string]any{"id": messageID, "by": c.Name})
		return appendEvents(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("ack %d: %w", messageID, err)
	}
	return nil
}

// MessageView is one message with what the caller may know of its delivery.
type MessageView struct {
	Message
	// Deliveries is every recipient's state; only for the sender and admin.
	Deliveries []DeliveryStatus `json:"deliveries,omitempty"`
	// Seq and State are the caller's own delivery, when it is a recipient.
	Seq   int64  `json:"seq,omitempty"`
	State string `json:"state,omitempty"`
}

// GetMessage returns a message the caller sent or received.
func (s *Service) GetMessage(ctx context.Context, c Caller, id int64) (MessageView, error) {
	var v MessageView
	err := s.store.View(ctx, func(r Reader) error {
		m, err := r.Message(ctx, id)
		if err != nil {
			return err
		}
		v.Message = m
		if in, err := r.Received(ctx, c.AgentID, id); err == nil {
			v.Seq, v.State = in.Seq, in.State
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if c.Admin || c.AgentID != 0 && m.FromID == c.AgentID {
			v.Deliveries, err = r.Deliveries(ctx, id)
			return err
		}
		if v.State == "" {
			return ErrNotFound
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return MessageView{}, Errorf(CodeNotFound, "message %d not found", id)
	}
	return v, err
}

func normalizePage(p Page) (Page, error) {
	if p.Limit < 0 || p.Before < 0 {
		return p, Errorf(CodeInvalid, "limit and before must not be negative")
	}
	if p.Limit == 0 {
		p.Limit = DefaultReadLimit
	}
	if p.Limit > MaxReadLimit {
		p.Limit = MaxReadLimit
	}
	return p, nil
}

func (s *Service) history(ctx context.Context, q HistoryQuery) (HistoryResult, error) {
	limit := q.Limit
	q.Limit++
	if q.Search != "" {
		if err := s.store.CatchUpSearch(ctx); err != nil {
			return HistoryResult{}, fmt.Errorf("search: %w", err)
		}
	}
	var ms []Message
	err := s.store.View(ctx, func(r Reader) error {
		var err error
		ms, err = r.Messages(ctx, q)
		return err
	})
	if err != nil {
		return HistoryResult{}, err
	}
	res := HistoryResult{Messages: ms}
	if len(ms) > limit {
		res.Messages, res.More = ms[:limit], true
		res.Before = ms[limit-1].ID
	}
	if res.Messages == nil {
		res.Messages = []Message{}
	}
	return res, nil
}

func viewer(c Caller) int64 {
	if c.Admin {
		return 0
	}
	return c.AgentID
}

// Thread returns a page of a thread's messages the caller may see, newest first.
func (s *Service) Thread(ctx context.Context, c Caller, thread string, p Page) (HistoryResult, error) {
	if !c.IsAgent() && !c.Admin {
		return HistoryResult{}, Errorf(CodeForbidden, "history needs an agent token")
	}
	if thread == "" || len(thread) > maxThreadLen {
		return HistoryResult{}, Errorf(CodeInvalid, "thread: must be 1 to %d bytes", maxThreadLen)
	}
	p, err := normalizePage(p)
	if err != nil {
		return HistoryResult{}, err
	}
	res, err := s.history(ctx, HistoryQuery{Thread: thread, ViewerID: viewer(c), Before: p.Before, Limit: p.Limit})
	if err == nil && len(res.Messages) == 0 && p.Before == 0 {
		// Nothing the caller may see: an unknown thread and a thread of
		// others look the same from outside.
		return HistoryResult{}, Errorf(CodeNotFound, "thread %q not found", thread)
	}
	return res, err
}

// Conversation returns a page of what the caller and peer sent each
// other, newest first.
func (s *Service) Conversation(ctx context.Context, c Caller, peer string, p Page) (HistoryResult, error) {
	if !c.IsAgent() {
		return HistoryResult{}, Errorf(CodeForbidden, "history needs an agent token")
	}
	peer, err := NormalizeName("peer", peer)
	if err != nil {
		return HistoryResult{}, err
	}
	if p, err = normalizePage(p); err != nil {
		return HistoryResult{}, err
	}
	var other Agent
	err = s.store.View(ctx, func(r Reader) error {
		other, err = r.AgentByName(ctx, peer)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return HistoryResult{}, Errorf(CodeNotFound, "agent %q is not registered", peer)
	}
	if err != nil {
		return HistoryResult{}, err
	}
	return s.history(ctx, HistoryQuery{SelfID: c.AgentID, PeerID: other.ID, ViewerID: c.AgentID, Before: p.Before, Limit: p.Limit})
}

// Search finds messages the caller may see whose subject or body
// contains every word of query, newest first.
func (s *Service) Search(ctx context.Context, c Caller, query string, p Page) (HistoryResult, error) {
	if !c.IsAgent() && !c.Admin {
		return HistoryResult{}, Errorf(CodeForbidden, "search needs an agent token")
	}
	query = strings.TrimSpace(query)
	if query == "" || len(query) > 1024 || !utf8.ValidString(query) {
		return HistoryResult{}, Errorf(CodeInvalid, "q: give 1 to 1024 bytes of words to search for")
	}
	p, err := normalizePage(p)
	if err != nil {
		return HistoryResult{}, err
	}
	return s.history(ctx, HistoryQuery{Search: query, ViewerID: viewer(c), Before: p.Before, Limit: p.Limit})
}

// LastEventID returns the ID of the newest event, or 0.
func (s *Service) LastEventID(ctx context.Context) (int64, error) {
	var id int64
	err := s.store.View(ctx, func(r Reader) error {
		var err error
		id, err = r.LastEventID(ctx)
		return err
	})
	return id, err
}

// Events returns stored events after the given ID that pass f.
func (s *Service) Events(ctx context.Context, after int64, limit int, f Filter) ([]Event, error) {
	var out []Event
	err := s.store.View(ctx, func(r Reader) error {
		for {
			evs, err := r.Events(ctx, after, limit)
			if err != nil || len(evs) == 0 {
				return err
			}
			for _, e := range evs {
				if f.Match(e) {
					out = append(out, e)
				}
			}
			after = evs[len(evs)-1].ID
			if len(out) >= limit || len(evs) < limit {
				return nil
			}
		}
	})
	return out, err
}
