package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/hub"
)

// Limits the command line checks before sending; the hub checks them too.
const (
	maxSubject = 256
	maxThread  = 128
	maxKey     = 128
	// maxInput bounds what send reads from stdin or one file; the hub's
	// body limit (1 MiB by default) refuses more anyway.
	maxInput = 64 << 20
)

type sendOptions struct {
	to         []string
	subject    string
	thread     string
	replyTo    numFlag
	importance string
	ack        bool
	key        string
	files      []string
	batch      bool
}

func newSendCmd() *cobra.Command {
	o := sendOptions{replyTo: numFlag{id: true}}
	cmd := &cobra.Command{
		Use:   "send TO... BODY",
		Short: "Send a message to agents",
		Long: `Send a message. TO is an agent name, role:<role> for every agent with
that role, * for everyone, or a comma-separated list of these; name the
recipients with --to instead to give only the BODY. A BODY of - is read
from standard input. A name nobody has registered yet gets the message
when it registers.

--file PATH[:START-END] attaches a file, or lines START to END of it
(START- to the end, START alone for one line), with its SHA-256.

--batch sends many messages in one request: it reads JSON lines from
standard input, or from the one --file PATH, one message per line with
the fields of POST /messages ("to" a name, role:<role>, * or a list;
"body", "subject", "thread", "reply_to", "importance", "ack_required",
"attachments", "idempotency_key"). Every line is checked before anything
is sent. Up to 500 messages (and 8 MiB) go in one request and are
stored all or none, in order; a longer input is sent in such chunks, one
after the other, stopping at the first that fails. Give each message an
idempotency_key to make a failed run safe to repeat.`,
		Example: `  parley send bob "the API is up on :8080"
  parley send role:reviewer,carol --subject "PR 12" "please review"
  git diff | parley send bob -
  parley send bob "this loop never ends" --file src/main.go:40-58
  printf '{"to":"bob","body":"task 1"}\n{"to":"carol","body":"task 2"}\n' | parley send --batch`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSend(cmd, args, &o)
		},
		ValidArgsFunction: completePeers(true),
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.to, "to", nil, "recipient: name, role:<role>, * or a comma list (repeatable)")
	f.StringVar(&o.subject, "subject", "", "subject line")
	f.StringVar(&o.thread, "thread", "", "thread to post in (default: a new thread, or the thread of --reply-to)")
	f.Var(&o.replyTo, "reply-to", "id of the message this answers")
	f.StringVar(&o.importance, "importance", "", "low, normal, high or urgent (default normal)")
	f.BoolVar(&o.ack, "ack", false, "ask the recipients to acknowledge")
	f.StringVar(&o.key, "key", "", "idempotency key: a retried send with the same key is stored once")
	f.StringArrayVar(&o.files, "file", nil, "attach PATH or PATH:START-END (repeatable); with --batch, the JSON lines to send")
	f.BoolVar(&o.batch, "batch", false, "send the messages of JSON lines (stdin or --file), many per request")
	_ = cmd.RegisterFlagCompletionFunc("to", completePeers(true))
	return cmd
}

func runSend(cmd *cobra.Command, args []string, o *sendOptions) error {
	if o.batch {
		return runSendBatch(cmd, args, o)
	}
	req, err := buildSend(args, o, cmd.InOrStdin())
	if err != nil {
		return err
	}
	s, err := connect(cmd, needAgent)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	ctx, cancel := s.context(cmd, &raw)
	defer cancel()
	res, err := s.c.Send(ctx, req)
	if err != nil {
		return s.explain(err)
	}
	w := cmd.OutOrStdout()
	if s.g.json {
		return printJSON(w, raw)
	}
	printSent(w, res, "--key")
	return nil
}

// printSent says what happened to one sent message; keyName is how the
// idempotency key was given.
func printSent(w io.Writer, res hub.SendResult, keyName string) {
	m := res.Message
	if res.Duplicate {
		fmt.Fprintf(w, "already sent as #%d (same %s); not sent again\n", m.ID, keyName)
		return
	}
	var delivered []string
	for _, d := range res.Deliveries {
		if d.State != hub.DeliveryHeld {
			delivered = append(delivered, d.To)
		}
	}
	if len(delivered) > 0 {
		fmt.Fprintf(w, "sent #%d to %s", m.ID, strings.Join(delivered, ", "))
	} else {
		fmt.Fprintf(w, "queued #%d", m.ID)
	}
	if m.Thread != "" && m.Thread != strconv.FormatInt(m.ID, 10) {
		fmt.Fprintf(w, " in thread %s", oneLine(m.Thread, 64))
	}
	fmt.Fprintln(w)
	olds := make([]string, 0, len(res.Forwarded))
	for old := range res.Forwarded {
		olds = append(olds, old)
	}
	slices.Sort(olds)
	for _, old := range olds {
		fmt.Fprintf(w, "%s is now called %s; delivered there\n", old, res.Forwarded[old])
	}
	if len(res.Queued) > 0 {
		fmt.Fprintf(w, "held for %s: not registered yet; delivered when they register\n", strings.Join(res.Queued, ", "))
	}
	if len(res.Full) > 0 {
		fmt.Fprintf(w, "not delivered to %s: inbox full; they must read some first\n", strings.Join(res.Full, ", "))
	}
}

// buildSend turns the command line into a request, checking everything
// that can be checked before asking the hub.
func buildSend(args []string, o *sendOptions, stdin io.Reader) (hub.SendRequest, error) {
	var to []string
	var body string
	hasBody := false
	switch {
	case len(o.to) > 0:
		if len(args) > 1 {
			return hub.SendRequest{}, fmt.Errorf("send: with --to, give only the BODY (got %d arguments)", len(args))
		}
		to = o.to
		if len(args) == 1 {
			body, hasBody = args[0], true
		}
	case len(args) >= 2:
		to, body, hasBody = args[:len(args)-1], args[len(args)-1], true
	case len(args) == 1 && len(o.files) > 0:
		to = args
	default:
		return hub.SendRequest{}, errors.New("send: give the recipients and the body: parley send TO... BODY (or --to TO BODY)")
	}
	req := hub.SendRequest{
		Subject: o.subject, Thread: o.thread, ReplyTo: o.replyTo.n,
		Importance: o.importance, AckRequired: o.ack, IdempotencyKey: o.key,
	}
	var err error
	if req.To, err = parseRecipients(to); err != nil {
		return hub.SendRequest{}, err
	}
	switch o.importance {
	case "", hub.ImportanceLow, hub.ImportanceNormal, hub.ImportanceHigh, hub.ImportanceUrgent:
	default:
		return hub.SendRequest{}, fmt.Errorf("--importance %q: must be low, normal, high or urgent", o.importance)
	}
	if len(o.subject) > maxSubject || !utf8.ValidString(o.subject) || strings.ContainsAny(o.subject, "\r\n") {
		return hub.SendRequest{}, fmt.Errorf("--subject: must be one line of at most %d bytes", maxSubject)
	}
	if len(o.thread) > maxThread || !utf8.ValidString(o.thread) || strings.ContainsAny(o.thread, "\r\n\x00") {
		return hub.SendRequest{}, fmt.Errorf("--thread: must be one line of at most %d bytes", maxThread)
	}
	if len(o.key) > maxKey {
		return hub.SendRequest{}, fmt.Errorf("--key: longer than %d bytes", maxKey)
	}
	for _, spec := range o.files {
		a, err := readExcerpt(spec)
		if err != nil {
			return hub.SendRequest{}, err
		}
		req.Attachments = append(req.Attachments, a)
	}
	if hasBody && body == "-" {
		b, err := io.ReadAll(io.LimitReader(stdin, maxInput+1))
		if err != nil {
			return hub.SendRequest{}, fmt.Errorf("send: read the body from stdin: %w", err)
		}
		if len(b) > maxInput {
			return hub.SendRequest{}, fmt.Errorf("send: the body on stdin is larger than %d bytes", maxInput)
		}
		body = strings.TrimRight(string(b), "\r\n")
	}
	if !utf8.ValidString(body) {
		return hub.SendRequest{}, errors.New("send: the body is not valid UTF-8 text")
	}
	if strings.TrimSpace(body) == "" && len(req.Attachments) == 0 {
		return hub.SendRequest{}, errors.New("send: the body is empty (give some text or --file)")
	}
	req.Body = body
	return req, nil
}

// parseRecipients splits comma lists and checks every address.
func parseRecipients(list []string) ([]string, error) {
	var to []string
	for _, item := range list {
		for _, a := range strings.Split(item, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				return nil, fmt.Errorf("send: empty recipient in %q", item)
			}
			addr, err := hub.ParseAddress(a)
			if err != nil {
				return nil, fmt.Errorf("send: %s", hub.PublicMessage(err))
			}
			if s := addr.String(); !slices.Contains(to, s) {
				to = append(to, s)
			}
		}
	}
	if len(to) > hub.MaxRecipients {
		return nil, fmt.Errorf("send: %d recipients, at most %d allowed", len(to), hub.MaxRecipients)
	}
	return to, nil
}

// splitRange splits "PATH:START-END", "PATH:START-" or "PATH:N" from a
// file spec; a spec whose suffix is not a range is all path.
func splitRange(spec string) (path, lines string) {
	i := strings.LastIndexByte(spec, ':')
	if i < 0 {
		return spec, ""
	}
	r := spec[i+1:]
	if r == "" || strings.Trim(r, "0123456789-") != "" || r[0] < '0' || r[0] > '9' {
		return spec, ""
	}
	return spec[:i], r
}

// readExcerpt reads the file, or the lines, a --file spec names.
func readExcerpt(spec string) (hub.Attachment, error) {
	path, lines := splitRange(spec)
	if path == "" {
		return hub.Attachment{}, fmt.Errorf("--file %q: no path", spec)
	}
	start, end := 0, 0
	if lines != "" {
		from, to, dash := strings.Cut(lines, "-")
		var err1, err2 error
		start, err1 = strconv.Atoi(from)
		switch {
		case !dash:
			end = start
		case to == "":
			end = -1 // to the end of the file
		default:
			end, err2 = strconv.Atoi(to)
		}
		if err1 != nil || err2 != nil || strings.Contains(to, "-") {
			return hub.Attachment{}, fmt.Errorf("--file %s: range %q: want START-END, START- or LINE", spec, lines)
		}
		if start < 1 {
			return hub.Attachment{}, fmt.Errorf("--file %s: lines are numbered from 1", spec)
		}
		if end != -1 && end < start {
			return hub.Attachment{}, fmt.Errorf("--file %s: the range ends (line %d) before it starts (line %d)", spec, end, start)
		}
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if i := strings.LastIndexByte(path, ':'); lines == "" && i > 0 {
			if _, err := os.Stat(path[:i]); err == nil {
				return hub.Attachment{}, fmt.Errorf("--file %s: range %q: want START-END, START- or LINE", spec, path[i+1:])
			}
		}
		return hub.Attachment{}, fmt.Errorf("--file %s: no such file", path)
	case err != nil:
		return hub.Attachment{}, fmt.Errorf("--file %s: %w", path, err)
	case fi.IsDir():
		return hub.Attachment{}, fmt.Errorf("--file %s: is a directory", path)
	case fi.Size() > maxInput:
		return hub.Attachment{}, fmt.Errorf("--file %s: %d bytes is too large to attach", path, fi.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return hub.Attachment{}, fmt.Errorf("--file %s: %w", path, err)
	}
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		return hub.Attachment{}, fmt.Errorf("--file %s: not UTF-8 text; only text files can be attached", path)
	}
	content := data
	if lines != "" {
		n := bytes.Count(data, []byte{'\n'})
		if len(data) > 0 && data[len(data)-1] != '\n' {
			n++
		}
		if end == -1 {
			end = n
		}
		if start > n || end > n {
			return hub.Attachment{}, fmt.Errorf("--file %s: range %s is past the end: the file has %s", spec, lines, plural(n, "line"))
		}
		content = lineRange(data, start, end)
	}
	sum := sha256.Sum256(content)
	return hub.Attachment{
		Kind: "file", Name: filepath.Base(path), Path: filepath.ToSlash(filepath.Clean(path)),
		StartLine: start, EndLine: end, Content: string(content), SHA256: hex.EncodeToString(sum[:]),
	}, nil
}

// lineRange returns lines start to end (from 1, inclusive) of data,
// with their line endings.
func lineRange(data []byte, start, end int) []byte {
	line, from := 1, 0
	for i := 0; i < len(data) && line < start; i++ {
		if data[i] == '\n' {
			line++
			from = i + 1
		}
	}
	to := len(data)
	for i := from; i < len(data); i++ {
		if data[i] == '\n' {
			if line == end {
				to = i + 1
				break
			}
			line++
		}
	}
	return data[from:to]
}

// batchLine is one line of `parley send --batch`: the fields of
// POST /messages, with to a string (a comma list) or a list.
type batchLine struct {
	hub.SendRequest
	To recipientList `json:"to"`
}

// recipientList is a JSON string or list of strings.
type recipientList []string

func (l *recipientList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = recipientList{one}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New(`"to" must be a string or a list of strings`)
	}
	*l = list
	return nil
}

// maxBatchRequest bounds the encoded messages of one batch request, below
// the hub's limit for a batch body (8 MiB + 64 KiB).
const maxBatchRequest = hub.MaxBatchBytes

func runSendBatch(cmd *cobra.Command, args []string, o *sendOptions) error {
	if len(args) > 0 || len(o.to) > 0 || o.subject != "" || o.thread != "" || o.replyTo.n != 0 ||
		o.importance != "" || o.ack || o.key != "" {
		return errors.New("send --batch: give each message's recipients and fields in its JSON line, not as arguments or flags")
	}
	in := cmd.InOrStdin()
	name := "stdin"
	switch len(o.files) {
	case 0:
	case 1:
		if o.files[0] != "-" {
			f, err := os.Open(o.files[0])
			if err != nil {
				return fmt.Errorf("send --batch: %w", err)
			}
			defer f.Close()
			in, name = f, o.files[0]
		}
	default:
		return errors.New("send --batch: give at most one --file with the JSON lines")
	}
	reqs, err := readBatch(in, name)
	if err != nil {
		return err
	}
	chunks, err := chunkBatch(reqs)
	if err != nil {
		return err
	}
	s, err := connect(cmd, needAgent)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	var all []hub.SendResult
	for i, chunk := range chunks {
		ctx, cancel := s.context(cmd, nil)
		res, err := s.c.SendBatch(ctx, chunk)
		cancel()
		if err != nil {
			err = s.explain(err)
			if len(all) > 0 {
				err = fmt.Errorf("%w (the first %s were sent; chunk %d of %d was not, nor any after it)", err, plural(len(all), "message"), i+1, len(chunks))
			}
			if s.g.json {
				_ = printBatchJSON(w, all)
			}
			return err
		}
		all = append(all, res...)
		if !s.g.json {
			for _, r := range res {
				printSent(w, r, "idempotency_key")
			}
		}
	}
	if s.g.json {
		return printBatchJSON(w, all)
	}
	fmt.Fprintf(w, "%s sent\n", plural(len(all), "message"))
	return nil
}

func printBatchJSON(w io.Writer, res []hub.SendResult) error {
	if res == nil {
		res = []hub.SendResult{}
	}
	b, err := json.MarshalIndent(struct {
		Results []hub.SendResult `json:"results"`
		Count   int              `json:"count"`
	}{res, len(res)}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// readBatch reads and checks the JSON lines of send --batch; blank lines
// are skipped, and errors name the line.
func readBatch(in io.Reader, name string) ([]hub.SendRequest, error) {
	data, err := io.ReadAll(io.LimitReader(in, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("send --batch: read %s: %w", name, err)
	}
	if len(data) > maxInput {
		return nil, fmt.Errorf("send --batch: %s is larger than %d bytes", name, maxInput)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("send --batch: %s is not valid UTF-8", name)
	}
	var reqs []hub.SendRequest
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		req, err := parseBatchLine(line)
		if err != nil {
			return nil, fmt.Errorf("send --batch: %s line %d: %w", name, n+1, err)
		}
		reqs = append(reqs, req)
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("send --batch: no messages in %s (one JSON object per line)", name)
	}
	return reqs, nil
}

func parseBatchLine(line string) (hub.SendRequest, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	var l batchLine
	if err := dec.Decode(&l); err != nil {
		return hub.SendRequest{}, fmt.Errorf("not a message: %w", err)
	}
	if dec.More() {
		return hub.SendRequest{}, errors.New("more than one JSON value on the line")
	}
	req := l.SendRequest
	var err error
	if req.To, err = parseRecipients(l.To); err != nil {
		return hub.SendRequest{}, errors.New(strings.TrimPrefix(err.Error(), "send: "))
	}
	if len(req.To) == 0 {
		return hub.SendRequest{}, errors.New(`"to" is missing: name the recipients`)
	}
	if strings.TrimSpace(req.Body) == "" && len(req.Attachments) == 0 {
		return hub.SendRequest{}, errors.New(`"body" is empty`)
	}
	return req, nil
}

// chunkBatch splits requests into batches of at most hub.MaxBatch
// messages and about maxBatchRequest encoded bytes.
func chunkBatch(reqs []hub.SendRequest) ([][]hub.SendRequest, error) {
	var chunks [][]hub.SendRequest
	start, size := 0, 0
	for i, r := range reqs {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		if len(b) > maxBatchRequest {
			return nil, fmt.Errorf("send --batch: message %d is %d bytes encoded: too large for a batch; send it alone", i+1, len(b))
		}
		if i-start == hub.MaxBatch || size+len(b) > maxBatchRequest {
			chunks = append(chunks, reqs[start:i])
			start, size = i, 0
		}
		size += len(b) + 1
	}
	return append(chunks, reqs[start:]), nil
}
