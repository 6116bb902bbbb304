package mcpserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parley-dev/parley/internal/hub"
)

type sendIn struct {
	To          any    `json:"to" jsonschema:"recipients: an agent name, role:<role> for every agent with that role, or * for everyone; several as a comma-separated string or a list"`
	Body        string `json:"body" jsonschema:"the message, plain text or markdown"`
	Subject     string `json:"subject,omitempty" jsonschema:"optional one-line subject"`
	ReplyTo     int64  `json:"reply_to,omitempty" jsonschema:"id of the message this answers; the reply joins its thread"`
	Thread      string `json:"thread,omitempty" jsonschema:"thread to post in (default: a new thread, or the thread of reply_to)"`
	Importance  string `json:"importance,omitempty" jsonschema:"low, normal (default), high or urgent"`
	AckRequired bool   `json:"ack_required,omitempty" jsonschema:"ask each recipient to confirm with ack once handled"`
}

type readIn struct {
	ID    int64  `json:"id,omitempty" jsonschema:"show this one message in full (for a message shown as a preview)"`
	Since *int64 `json:"since,omitempty" jsonschema:"show every message after this sequence number, read or not (0: all)"`
	Peek  bool   `json:"peek,omitempty" jsonschema:"leave the messages unread"`
	Limit int    `json:"limit,omitempty" jsonschema:"at most this many messages (default 50)"`
}

type waitIn struct {
	TimeoutSeconds *float64 `json:"timeout_seconds,omitempty" jsonschema:"how long to wait, default 30, at most 50; call again to keep waiting"`
}

type ackIn struct {
	ID int64 `json:"id" jsonschema:"id of the message to acknowledge"`
}

type historyIn struct {
	Peer   string `json:"peer,omitempty" jsonschema:"show the conversation with this agent"`
	Thread string `json:"thread,omitempty" jsonschema:"show this thread"`
	Before int64  `json:"before,omitempty" jsonschema:"only messages with an id below this (for the next page)"`
	Limit  int    `json:"limit,omitempty" jsonschema:"at most this many messages (default 50)"`
}

type searchIn struct {
	Query  string `json:"query" jsonschema:"words that must all appear in the subject or body"`
	Before int64  `json:"before,omitempty" jsonschema:"only messages with an id below this (for the next page)"`
	Limit  int    `json:"limit,omitempty" jsonschema:"at most this many messages (default 50)"`
}

type shareFileIn struct {
	To        any    `json:"to" jsonschema:"recipients, as for send: names, role:<role> or *, as a string or a list"`
	Path      string `json:"path" jsonschema:"the file's path"`
	StartLine int    `json:"start_line,omitempty" jsonschema:"first line of the excerpt, from 1 (default 1)"`
	EndLine   int    `json:"end_line,omitempty" jsonschema:"last line of the excerpt (default: the end of the file)"`
	Content   string `json:"content,omitempty" jsonschema:"the excerpt's text; omit to read it from the file"`
	Note      string `json:"note,omitempty" jsonschema:"what to say about the excerpt"`
	ReplyTo   int64  `json:"reply_to,omitempty" jsonschema:"id of the message this answers"`
}

type sendOut struct {
	Result hub.SendResult `json:"result"`
}

type messageOut struct {
	Message hub.MessageView `json:"message"`
}

type okOut struct {
	OK bool   `json:"ok"`
	ID int64  `json:"id,omitempty"`
	By string `json:"by,omitempty"`
}

// splitAddresses turns "bob, role:backend" into its addresses.
func splitAddresses(to string) []string {
	var out []string
	for _, a := range strings.Split(to, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// addresses reads a list of addresses given as a comma-separated string
// or a JSON list of strings; what names the argument in errors.
func addresses(what string, v any) ([]string, error) {
	var out []string
	switch v := v.(type) {
	case nil:
	case string:
		out = splitAddresses(v)
	case []any:
		for i, item := range v {
			s, ok := item.(string)
			if !ok {
				return nil, invalidf("%s[%d]: must be a string such as bob, role:backend or *", what, i)
			}
			out = append(out, splitAddresses(s)...)
		}
	default:
		return nil, invalidf("%s: give a string (bob, role:backend, *) or a list of strings", what)
	}
	return out, nil
}

func (s *server) addMessageTools() {
	addTool(s, &mcp.Tool{
		Name: "send",
		Description: "Send a message to another agent by name, to every agent with a role (role:backend), or to everyone (*). " +
			"Use it to tell, ask or answer another agent; to reply, pass reply_to. Mail to a name nobody has yet is queued until it registers.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in sendIn) (string, any, error) {
		to, err := addresses("to", in.To)
		if err != nil {
			return "", nil, err
		}
		if len(to) == 0 {
			return "", nil, invalidf("to: give at least one recipient (a name, role:<role> or *)")
		}
		res, err := s.b.Send(ctx, hub.SendRequest{
			To: to, Body: in.Body, Subject: in.Subject, ReplyTo: in.ReplyTo, Thread: in.Thread,
			Importance: in.Importance, AckRequired: in.AckRequired,
		})
		if err != nil {
			return "", nil, err
		}
		res.Message = hub.Preview(res.Message, s.opts.Preview)
		return formatSend(res), sendOut{Result: res}, nil
	})

	addTool(s, &mcp.Tool{
		Name: "read",
		Description: "Read your unread messages, oldest first, and mark them read. " +
			"With id, show that one message in full; with since, show everything after a sequence number again.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in readIn) (string, any, error) {
		if in.ID < 0 || in.Since != nil && *in.Since < 0 || in.Limit < 0 {
			return "", nil, invalidf("id, since and limit must not be negative")
		}
		if in.ID > 0 {
			v, err := s.b.Message(ctx, in.ID)
			if err != nil {
				return "", nil, err
			}
			var b strings.Builder
			writeMessage(&b, v.Message, v.Seq, v.State)
			for _, d := range v.Deliveries {
				fmt.Fprintf(&b, "to %s: %s\n", d.To, d.State)
			}
			return b.String(), messageOut{Message: v}, nil
		}
		opts := hub.ReadOptions{Peek: in.Peek, Limit: in.Limit, Preview: s.opts.Preview}
		if in.Since != nil {
			opts.Since, opts.HasSince = *in.Since, true
		}
		res, err := s.b.Read(ctx, opts)
		if err != nil {
			return "", nil, err
		}
		return formatInbox(res, "No unread messages."), res, nil
	})

	addTool(s, &mcp.Tool{
		Name: "wait",
		Description: "Block until a message for you arrives, then return it (marked read); returns at once if one is already waiting. " +
			"Use it for \"wait for a reply\" or \"wait for messages\". It waits on the hub without polling; when it times out, call it again to keep waiting.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in waitIn) (string, any, error) {
		timeout, err := s.waitTimeout(req, in.TimeoutSeconds)
		if err != nil {
			return "", nil, err
		}
		var res hub.ReadResult
		err = s.block(ctx, req, "waiting for messages", timeout, func(ctx context.Context) error {
			var err error
			res, err = s.b.Wait(ctx, hub.ReadOptions{Preview: s.opts.Preview}, timeout)
			return err
		})
		if err != nil {
			return "", nil, err
		}
		empty := fmt.Sprintf("No message arrived within %s. Call wait again to keep waiting.", timeout.Round(time.Second))
		if s.opts.Push {
			empty = fmt.Sprintf("No message arrived within %s. New messages also arrive as channel notifications.", timeout.Round(time.Second))
		}
		return formatInbox(res, empty), res, nil
	})

	addTool(s, &mcp.Tool{
		Name:        "ack",
		Description: "Acknowledge a message you received (required when it is marked ACK REQUIRED), telling its sender you handled it.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in ackIn) (string, any, error) {
		if in.ID <= 0 {
			return "", nil, invalidf("id: give the id of a message you received")
		}
		if err := s.b.Ack(ctx, in.ID); err != nil {
			return "", nil, err
		}
		return fmt.Sprintf("Acknowledged message %d.\n", in.ID), okOut{OK: true, ID: in.ID}, nil
	})

	addTool(s, &mcp.Tool{
		Name:        "history",
		Description: "Show past messages, newest first: the conversation with one agent (peer) or one thread.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(ctx context.Context, req *mcp.CallToolRequest, in historyIn) (string, any, error) {
		p := hub.Page{Before: in.Before, Limit: in.Limit}
		var res hub.HistoryResult
		var err error
		var title string
		switch {
		case in.Peer != "" && in.Thread != "":
			return "", nil, invalidf("give peer or thread, not both")
		case in.Peer != "":
			res, err = s.b.Conversation(ctx, in.Peer, p)
			title = "Conversation with " + in.Peer
		case in.Thread != "":
			res, err = s.b.Thread(ctx, in.Thread, p)
			title = "Thread " + in.Thread
		default:
			return "", nil, invalidf("give peer (an agent name) or thread (a thread id)")
		}
		if err != nil {
			return "", nil, err
		}
		res.Messages = previews(res.Messages, s.opts.Preview)
		return formatHistory(title, res), res, nil
	})

	addTool(s, &mcp.Tool{
		Name:        "search",
		Description: "Search the messages you sent or received for words in the subject or body, newest first.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(ctx context.Context, req *mcp.CallToolRequest, in searchIn) (string, any, error) {
		res, err := s.b.Search(ctx, in.Query, hub.Page{Before: in.Before, Limit: in.Limit})
		if err != nil {
			return "", nil, err
		}
		res.Messages = previews(res.Messages, s.opts.Preview)
		return formatHistory(fmt.Sprintf("Messages matching %q", in.Query), res), res, nil
	})

	addTool(s, &mcp.Tool{
		Name: "share_file",
		Description: "Send an excerpt of a file (path and line range, with its content and sha256) to other agents, " +
			"so they see exactly the code you mean.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in shareFileIn) (string, any, error) {
		to, err := addresses("to", in.To)
		if err != nil {
			return "", nil, err
		}
		if len(to) == 0 {
			return "", nil, invalidf("to: give at least one recipient (a name, role:<role> or *)")
		}
		if in.Path == "" {
			return "", nil, invalidf("path: give the file's path")
		}
		if in.StartLine < 0 || in.EndLine < 0 || in.EndLine != 0 && in.EndLine < max(in.StartLine, 1) {
			return "", nil, invalidf("line range %d-%d is not valid: lines count from 1 and end_line must not be before start_line", in.StartLine, in.EndLine)
		}
		a := hub.Attachment{Kind: "file", Path: in.Path, StartLine: in.StartLine, EndLine: in.EndLine, Content: in.Content}
		if a.Content == "" {
			if !s.opts.ReadFiles {
				return "", nil, invalidf("content: give the excerpt's text; this server cannot read files from your machine")
			}
			text, start, end, err := readExcerpt(in.Path, in.StartLine, in.EndLine, s.maxExcerpt())
			if err != nil {
				return "", nil, err
			}
			a.Content, a.StartLine, a.EndLine = text, start, end
		}
		body := in.Note
		if strings.TrimSpace(body) == "" {
			body = fmt.Sprintf("File excerpt: %s", in.Path)
			if a.StartLine > 0 {
				body += fmt.Sprintf(" lines %d-%d", a.StartLine, a.EndLine)
			}
		}
		res, err := s.b.Send(ctx, hub.SendRequest{To: to, Body: body, ReplyTo: in.ReplyTo, Attachments: []hub.Attachment{a}})
		if err != nil {
			return "", nil, err
		}
		res.Message = hub.Preview(res.Message, s.opts.Preview)
		return formatSend(res), sendOut{Result: res}, nil
	})
}

// maxExcerpt bounds a file excerpt read from disk: the hub's default
// message limit; the hub refuses anything larger with a clear error.
func (s *server) maxExcerpt() int { return hub.DefaultMaxBody }

func previews(ms []hub.Message, n int) []hub.Message {
	for i := range ms {
		ms[i] = hub.Preview(ms[i], n)
	}
	return ms
}

// readExcerpt reads lines start..end (from 1, inclusive; end 0 means the
// end of the file) of path, at most limit bytes.
func readExcerpt(path string, start, end, limit int) (string, int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", 0, 0, invalidf("path: %s does not exist", path)
		}
		return "", 0, 0, invalidf("path: cannot open %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return "", 0, 0, invalidf("path: %s is a directory", path)
	}
	if start == 0 {
		start = 1
	}
	rd := bufio.NewReader(f)
	var b strings.Builder
	line := 0
	last := 0
	for {
		text, err := rd.ReadString('\n')
		if text != "" {
			line++
			if line >= start && (end == 0 || line <= end) {
				if b.Len()+len(text) > limit {
					return "", 0, 0, invalidf("excerpt of %s is larger than %d bytes: choose a smaller line range", path, limit)
				}
				b.WriteString(text)
				last = line
			}
		}
		if err == io.EOF || end != 0 && line >= end {
			break
		}
		if err != nil {
			return "", 0, 0, invalidf("path: reading %s: %v", path, err)
		}
	}
	if last == 0 {
		return "", 0, 0, invalidf("%s has %d line(s); start_line %d is past its end", path, line, start)
	}
	return b.String(), start, last, nil
}
